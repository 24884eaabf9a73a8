//! Checks on the spans the runtime exported while containerd drove a pod: each command's
//! root span, its parent (the "kubelet" context we put on the pod as an annotation), its
//! children's names and their timings inside it, the links from `start` to `create`.
//! Pure: it reads `SpanView`s, so the checks are unit-tested on hand-made trees.

use anyhow::{bail, ensure, Result};

use crate::otlp::SpanView;

/// The trace context the test hands to containerd as the pod's `io.youki.traceparent`.
#[derive(Debug, Clone)]
pub struct Parent {
    pub trace: String,
    pub span: String,
}

impl Parent {
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace, self.span)
    }
}

/// The stages every `create` reports (hooks only when the spec has some).
pub const CREATE_CHILDREN: &[&str] =
    &["load and plan", "clone", "cgroup", "init namespaces", "init mounts", "init pivot_root", "init process"];

/// The one root span NAME whose container.id is ID.
pub fn root<'a>(spans: &'a [SpanView], name: &str, id: &str) -> Result<&'a SpanView> {
    let found: Vec<&SpanView> =
        spans.iter().filter(|s| s.name == name && s.attrs.get("container.id").map(String::as_str) == Some(id)).collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => bail!("no {name:?} span for container {id}; got {:?}", names(spans)),
        many => bail!("{} {name:?} spans for container {id}", many.len()),
    }
}

pub fn children<'a>(spans: &'a [SpanView], parent: &SpanView) -> Vec<&'a SpanView> {
    let mut v: Vec<&SpanView> = spans.iter().filter(|s| s.parent == parent.id && s.trace == parent.trace).collect();
    v.sort_by_key(|s| s.start);
    v
}

fn names(spans: &[SpanView]) -> Vec<String> {
    let mut v: Vec<String> =
        spans.iter().filter(|s| s.attrs.contains_key("container.id")).map(|s| format!("{} {}", s.name, s.attrs["container.id"])).collect();
    v.sort();
    v.dedup();
    v
}

/// Every child inside its parent's time, and the parent itself well formed.
fn nested(spans: &[SpanView], parent: &SpanView) -> Result<()> {
    ensure!(parent.start <= parent.end, "{:?} ends before it starts", parent.name);
    for c in children(spans, parent) {
        ensure!(c.start <= c.end, "{:?} ends before it starts", c.name);
        ensure!(
            c.start >= parent.start && c.end <= parent.end,
            "{:?} [{}, {}] lies outside its parent {:?} [{}, {}]",
            c.name,
            c.start,
            c.end,
            parent.name,
            parent.start,
            parent.end
        );
    }
    Ok(())
}

/// `youki create` of ID: in the parent's trace, a child of its span, with every stage.
pub fn check_create<'a>(spans: &'a [SpanView], parent: &Parent, id: &str) -> Result<&'a SpanView> {
    let create = root(spans, "youki create", id)?;
    ensure!(create.trace == parent.trace, "create of {id} is in trace {}, not the pod's {}", create.trace, parent.trace);
    ensure!(create.parent == parent.span, "create of {id} has parent {}, not the pod's span {}", create.parent, parent.span);
    let kids: Vec<&str> = children(spans, create).iter().map(|c| c.name.as_str()).collect();
    for want in CREATE_CHILDREN {
        ensure!(kids.contains(want), "create of {id} lacks the {want:?} span; it has {kids:?}");
    }
    nested(spans, create)?;
    Ok(create)
}

/// `youki start` of ID, linked to its create.
pub fn check_start(spans: &[SpanView], create: &SpanView, id: &str) -> Result<()> {
    let start = root(spans, "youki start", id)?;
    ensure!(
        start.links.contains(&(create.trace.clone(), create.id.clone())),
        "start of {id} does not link to its create span {}",
        create.id
    );
    ensure!(
        children(spans, start).iter().any(|c| c.name == "exec of the container process"),
        "start of {id} lacks \"exec of the container process\""
    );
    ensure!(start.start >= create.end, "start of {id} begins before its create ended");
    nested(spans, start)
}

/// The root spans NAME of container ID.
pub fn of<'a>(spans: &'a [SpanView], name: &str, id: &str) -> Vec<&'a SpanView> {
    spans.iter().filter(|s| s.name == name && s.attrs.get("container.id").map(String::as_str) == Some(id)).collect()
}

/// Every span in SPANS links to CREATE (start, kill, delete and exec each keep their own trace).
pub fn check_linked(spans: &[&SpanView], create: &SpanView) -> Result<()> {
    let to = (create.trace.clone(), create.id.clone());
    for s in spans {
        ensure!(
            s.links.contains(&to),
            "{:?} of {} does not link to its create span {}",
            s.name,
            s.attrs.get("container.id").map(String::as_str).unwrap_or("-"),
            create.id
        );
    }
    Ok(())
}

/// `youki kill` of ID with SIGNAL, then `youki delete` of ID after it (the shim may delete
/// more than once: on the task's exit and on its removal; one of them must succeed), both
/// linked to the create. Only a command that found the container can link: a second
/// `delete --force` of a container already gone succeeds with no state to read.
pub fn check_end(spans: &[SpanView], create: &SpanView, id: &str, signal: &str) -> Result<()> {
    let kills = of(spans, "youki kill", id);
    let signalled: Vec<&SpanView> = kills.iter().copied().filter(|k| k.attrs.get("signal").map(String::as_str) == Some(signal)).collect();
    ensure!(
        !signalled.is_empty(),
        "no \"youki kill\" of {id} with {signal}; got {:?}",
        kills.iter().map(|k| k.attrs.get("signal")).collect::<Vec<_>>()
    );
    let to = (create.trace.clone(), create.id.clone());
    ensure!(
        signalled.iter().any(|k| k.links.contains(&to)),
        "no \"youki kill\" of {id} with {signal} links to its create span {}",
        create.id
    );
    let deletes = of(spans, "youki delete", id);
    let ok: Vec<&SpanView> = deletes.iter().copied().filter(|d| d.error.is_none()).collect();
    ensure!(!ok.is_empty(), "no successful \"youki delete\" span for container {id} (of {})", deletes.len());
    ensure!(ok.iter().any(|d| d.links.contains(&to)), "no successful \"youki delete\" of {id} links to its create span {}", create.id);
    let first_kill = kills.iter().map(|k| k.start).min().unwrap_or(0);
    for d in deletes {
        ensure!(d.start >= first_kill, "a delete of {id} began before its kill");
        nested(spans, d)?;
    }
    Ok(())
}

/// A create that failed: its status carries the error, and so does the kubelet's message.
pub fn check_failed_create<'a>(spans: &'a [SpanView], id: &str) -> Result<&'a str> {
    let create = root(spans, "youki create", id)?;
    create.error.as_deref().ok_or_else(|| anyhow::anyhow!("the failed create of {id} has no error status"))
}

/// The attributes of the `exception` event on the failed create of ID: `youki.failure`
/// (`stage exec: find executable "/x" = -1 ENOENT`), `youki.errno`, `youki.stage`, the same
/// fact youki-trace's recorder reports from the kernel's side.
pub fn failure_event<'a>(spans: &'a [SpanView], id: &str) -> Result<&'a std::collections::BTreeMap<String, String>> {
    let create = root(spans, "youki create", id)?;
    let found = create.events.iter().find(|(name, _)| name == "exception").map(|(_, attrs)| attrs);
    found.ok_or_else(|| anyhow::anyhow!("the failed create of {id} has no exception event"))
}

/// The tree under ROOT, one line per span, offsets from its start, as the README shows it.
pub fn render(spans: &[SpanView], root: &SpanView) -> String {
    let ms = |a: u64, b: u64| b.saturating_sub(a) as f64 / 1e6;
    let mut out = format!(
        "{} {:.3} ms  container.id={}\n",
        root.name,
        ms(root.start, root.end),
        root.attrs.get("container.id").map(String::as_str).unwrap_or("-")
    );
    for c in children(spans, root) {
        out.push_str(&format!("  +{:8.3} ms {:8.3} ms  {}\n", ms(root.start, c.start), ms(c.start, c.end), c.name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent() -> Parent {
        Parent { trace: "t".repeat(32), span: "k".repeat(16) }
    }

    fn span(name: &str, id: &str, parent: &str, start: u64, end: u64) -> SpanView {
        SpanView {
            trace: "t".repeat(32),
            id: id.into(),
            parent: parent.into(),
            name: name.into(),
            start,
            end,
            service: "youki".into(),
            ..Default::default()
        }
    }

    fn with_id(mut s: SpanView, id: &str) -> SpanView {
        s.attrs.insert("container.id".into(), id.into());
        s
    }

    fn good_tree() -> Vec<SpanView> {
        let mut v = vec![with_id(span("youki create", "c", &"k".repeat(16), 100, 200), "ctr")];
        for (i, n) in CREATE_CHILDREN.iter().enumerate() {
            v.push(span(n, &format!("c{i}"), "c", 110 + i as u64 * 10, 115 + i as u64 * 10));
        }
        let mut start = with_id(span("youki start", "s", "", 300, 320), "ctr");
        start.trace = "other".into();
        start.links.push(("t".repeat(32), "c".into()));
        v.push(start);
        let mut exec = span("exec of the container process", "s1", "s", 305, 310);
        exec.trace = "other".into();
        v.push(exec);
        let mut kill = with_id(span("youki kill", "k1", "", 400, 410), "ctr");
        kill.attrs.insert("signal".into(), "SIGTERM".into());
        kill.links.push(("t".repeat(32), "c".into()));
        v.push(kill);
        let mut delete = with_id(span("youki delete", "d", "", 500, 520), "ctr");
        delete.links.push(("t".repeat(32), "c".into()));
        v.push(delete);
        v
    }

    #[test]
    fn a_good_lifecycle_passes() {
        let spans = good_tree();
        let create = check_create(&spans, &parent(), "ctr").unwrap();
        check_start(&spans, create, "ctr").unwrap();
        check_end(&spans, create, "ctr", "SIGTERM").unwrap();
        assert!(render(&spans, create).contains("init pivot_root"));
    }

    #[test]
    fn the_failure_event_is_found_on_the_create_only() {
        let mut spans = good_tree();
        assert!(failure_event(&spans, "ctr").is_err(), "a create without an exception event");
        let attrs = [("youki.errno".to_string(), "ENOENT".to_string())].into_iter().collect();
        spans[0].events.push(("exception".into(), attrs));
        assert_eq!(failure_event(&spans, "ctr").unwrap()["youki.errno"], "ENOENT");
        assert!(failure_event(&spans, "other").is_err());
    }

    #[test]
    fn a_child_outside_its_parent_fails() {
        let mut spans = good_tree();
        spans[3].end = 250;
        let e = check_create(&spans, &parent(), "ctr").unwrap_err().to_string();
        assert!(e.contains("lies outside its parent"), "{e}");
    }

    #[test]
    fn a_create_outside_the_pod_trace_fails() {
        let mut spans = good_tree();
        spans[0].parent = "x".repeat(16);
        assert!(check_create(&spans, &parent(), "ctr").unwrap_err().to_string().contains("not the pod's span"));
    }

    #[test]
    fn a_missing_stage_or_link_or_kill_fails() {
        let mut spans = good_tree();
        spans.retain(|s| s.name != "clone");
        assert!(check_create(&spans, &parent(), "ctr").unwrap_err().to_string().contains("\"clone\""));
        let mut spans = good_tree();
        let create = spans[0].clone();
        spans.iter_mut().find(|s| s.name == "youki start").unwrap().links.clear();
        assert!(check_start(&spans, &create, "ctr").is_err());
        let tree = good_tree();
        assert!(check_end(&tree, &tree[0], "ctr", "SIGKILL").is_err());
        let mut spans = good_tree();
        spans.iter_mut().find(|s| s.name == "youki delete").unwrap().links.clear();
        let e = check_end(&spans, &spans[0], "ctr", "SIGTERM").unwrap_err().to_string();
        assert!(e.contains("no successful \"youki delete\" of ctr links"), "{e}");
        let mut spans = good_tree();
        spans.iter_mut().find(|s| s.name == "youki kill").unwrap().links.clear();
        let e = check_end(&spans, &spans[0], "ctr", "SIGTERM").unwrap_err().to_string();
        assert!(e.contains("no \"youki kill\" of ctr with SIGTERM links"), "{e}");
        assert!(root(&good_tree(), "youki create", "other").is_err());
    }
}
