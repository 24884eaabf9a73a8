//! Turns a failed create into the lines of its NDJSON report: a header object (who, where,
//! the first failure in one line and the human report), one object per kept event, and the
//! summary object of `--json`. Also prints a stored header back for `youki-trace why`.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::analysis::{self, RootStatus};
use crate::creates::FailedCreate;
use crate::loader::Drops;
use crate::names::signal_name;
use crate::render;
use crate::store::HEADER_KEY;

/// What the recorder knows about a failure besides its events.
#[derive(Debug, Clone)]
pub struct Context {
    pub unix_ms: u128,
    /// Losses of the kernel side while this create ran.
    pub drops: Drops,
    pub bundle: Option<PathBuf>,
    /// The CRI annotations of the bundle's config.json, when readable.
    pub pod: Option<Value>,
}

/// `2026-12-06T05:39:25.123Z` for a Unix time in milliseconds.
pub fn utc(unix_ms: u128) -> String {
    let secs = (unix_ms / 1000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a proleptic Gregorian date, counting 400-year eras from
    // 0000-03-01 so that the leap day falls at the end of each counted year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, unix_ms % 1000)
}

fn status_json(s: RootStatus) -> Value {
    match s {
        RootStatus::Exited(c) => json!({"exit_code": c}),
        RootStatus::Signaled(sig) => json!({"signal": signal_name(sig)}),
    }
}

/// A failure report ready to store.
#[derive(Debug, Clone)]
pub struct Report {
    /// Header, events, summary: one JSON object each.
    pub lines: Vec<String>,
    /// The first failure in one line, as in the header.
    pub first_failure: String,
}

/// Builds the report of a failed create.
pub fn build(f: &FailedCreate, ctx: &Context) -> Report {
    let a = analysis::analyse(&f.events, Some(f.status));
    let opts = render::Options { failed_only: true, root: Some(f.status), drops: ctx.drops.ring, lost_enters: ctx.drops.enters };
    let mut human = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = render::human(&mut human, &f.events, &a, &opts);
    let first_failure = render::failure_line(&a, Some(f.status));
    let header = json!({ HEADER_KEY: {
        "version": 1,
        "time": utc(ctx.unix_ms),
        "time_unix_ms": ctx.unix_ms as u64,
        "container_id": f.invocation.container_id,
        "subcommand": f.invocation.subcommand,
        "bundle": ctx.bundle.as_ref().map(|b| b.display().to_string()),
        "pod": ctx.pod,
        "command": f.args,
        "root_pid": f.root,
        "status": status_json(f.status),
        "duration_ns": f.ended_ns.saturating_sub(f.started_ns),
        "first_failure": first_failure,
        "dropped": {
            "ring": ctx.drops.ring,
            "enters": ctx.drops.enters,
            "untraced": ctx.drops.untraced,
        },
        "evicted": f.evicted,
        // The recorder keeps failed calls and writes only (loader::Syscalls::Failures), so
        // the stage summary counts those, and no call has a duration.
        "syscalls": "failed and writes",
        "human": String::from_utf8_lossy(&human),
    }});
    let mut out = vec![header.to_string()];
    out.extend(f.events.iter().map(|e| render::event_json(e).to_string()));
    out.push(render::summary_json(&a, &opts).to_string());
    Report { lines: out, first_failure }
}

/// The human form of a stored report, for `youki-trace why`.
pub fn describe(header: &Value, path: &std::path::Path) -> String {
    let id = header["container_id"].as_str().unwrap_or("?");
    let mut t = format!("container {id}");
    let pod = &header["pod"];
    if let (Some(ns), Some(name)) = (pod["namespace"].as_str(), pod["name"].as_str()) {
        t.push_str(&format!(" (pod {ns}/{name}"));
        if let Some(c) = pod["container"].as_str() {
            t.push_str(&format!(", container {c}"));
        }
        t.push(')');
    }
    let sub = header["subcommand"].as_str().unwrap_or("create");
    t.push_str(&format!(": {sub} failed at {}\n", header["time"].as_str().unwrap_or("?")));
    if let Some(b) = header["bundle"].as_str() {
        t.push_str(&format!("bundle: {b}\n"));
    }
    t.push_str(&format!("report: {}\n", path.display()));
    let d = &header["dropped"];
    let lost = ["ring", "enters", "untraced"].iter().map(|k| d[k].as_u64().unwrap_or(0)).sum::<u64>();
    if lost > 0 || header["evicted"].as_u64().unwrap_or(0) > 0 {
        t.push_str(&format!(
            "incomplete: {} events lost to a full ring buffer, {} syscall enters lost, {} \
             processes not followed, {} older events evicted from the window\n",
            d["ring"], d["enters"], d["untraced"], header["evicted"]
        ));
    }
    if header["syscalls"].as_str() == Some("failed and writes") {
        t.push_str(
            "recorded: failed syscalls and writes only, without durations (for every call, run \
             youki-trace around the command)\n",
        );
    }
    t.push('\n');
    t.push_str(header["human"].as_str().unwrap_or(""));
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::argv::Invocation;
    use crate::event::{Event, Kind};

    #[test]
    fn formats_utc_times() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc(1_796_535_565_123), "2026-12-06T05:39:25.123Z");
    }

    #[test]
    fn a_report_has_a_header_events_and_a_summary() {
        let mut call = Event::new(Kind::Syscall, 10, 7, "youki:process");
        call.nr = 21;
        call.ret = -2;
        call.s0 = b"/app".to_vec();
        let mut gone = Event::new(Kind::Exit, 20, 7, "youki:process");
        gone.aux[0] = 1;
        gone.s2 = vec![0; 48];
        gone.s2[0] = 1;
        gone.s2[28..32].copy_from_slice(&(1u32 << 8).to_ne_bytes());
        let f = FailedCreate {
            root: 6,
            args: vec!["youki".into(), "create".into(), "c1".into()],
            invocation: Invocation { subcommand: Some("create".into()), container_id: Some("c1".into()), bundle: None },
            cwd: None,
            pod: None,
            status: RootStatus::Exited(1),
            events: vec![call, gone],
            evicted: 0,
            started_ns: 1,
            ended_ns: 30,
        };
        let ctx = Context {
            unix_ms: 0,
            drops: Drops::default(),
            bundle: Some(PathBuf::from("/b")),
            pod: Some(json!({"namespace": "ns", "name": "p", "container": "app"})),
        };
        let r = build(&f, &ctx);
        let l = &r.lines;
        assert_eq!(l.len(), 4);
        assert_eq!(r.first_failure, r#"stage youki:process: access("/app") = -1 ENOENT"#);
        let h: Value = serde_json::from_str(&l[0]).unwrap();
        let h = &h[HEADER_KEY];
        assert_eq!(h["first_failure"], r#"stage youki:process: access("/app") = -1 ENOENT"#);
        assert_eq!(h["container_id"], "c1");
        let text = describe(h, std::path::Path::new("/r/x.ndjson"));
        assert!(text.starts_with("container c1 (pod ns/p, container app): create failed at 1970-"), "{text}");
        assert!(text.contains("FIRST FAILURE: stage youki:process pid 7: access(\"/app\")"));
        let last: Value = serde_json::from_str(&l[3]).unwrap();
        assert_eq!(last["summary"]["first_failure"]["errno"], "ENOENT");
    }
}
