//! `otlp-sink ADDR COUNTS_FILE [SPANS_FILE]`: the test OTLP/HTTP receiver as a standalone
//! process, for benchmarks. Binds ADDR (port 0 picks one), prints the bound address on stdout,
//! then keeps COUNTS_FILE up to date with `REQUESTS SPANS ROOTS_WITH_CONTAINER_ID`, replaced
//! atomically every 100 ms, until it is killed. With SPANS_FILE, every span received so far
//! goes there too, one JSON object a line (trace, id, parent, name, start and end in ns since
//! the epoch, attributes), for tests/bench/breakdown.sh.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use e2e_containerd::otlp::{Receiver, SpanView};

/// One line: requests, spans, and root spans (`youki ...` without a parent in youki's trace)
/// that carry a container.id, which proves the spans are the runtime's real ones.
fn counts(requests: usize, spans: &[SpanView]) -> String {
    let roots = spans.iter().filter(|s| s.name.starts_with("youki ") && s.attrs.contains_key("container.id")).count();
    format!("{requests} {} {roots}\n", spans.len())
}

/// One JSON object per span, a line each.
fn span_lines(spans: &[SpanView]) -> String {
    let mut out = String::new();
    for s in spans {
        let line = serde_json::json!({
            "trace": s.trace, "id": s.id, "parent": s.parent, "name": s.name,
            "start": s.start, "end": s.end, "attrs": s.attrs, "error": s.error,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename {} to {}", tmp.display(), path.display()))
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(file)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: otlp-sink ADDR COUNTS_FILE [SPANS_FILE]   (e.g. 127.0.0.1:0 /tmp/counts)");
    };
    let spans_file = args.next().map(PathBuf::from);
    let addr: SocketAddr = addr.parse().with_context(|| format!("invalid address {addr:?}"))?;
    let file = PathBuf::from(file);
    let rx = Receiver::start(addr)?;
    write_atomically(&file, &counts(0, &[]))?;
    println!("{}", rx.addr);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let spans = rx.spans();
        write_atomically(&file, &counts(rx.requests(), &spans))?;
        if let Some(path) = &spans_file {
            write_atomically(path, &span_lines(&spans))?;
        }
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("otlp-sink: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_youki_roots_with_a_container_id() {
        let mut root = SpanView { name: "youki create".into(), ..Default::default() };
        root.attrs.insert("container.id".into(), "c1".into());
        let child = SpanView { name: "clone".into(), ..Default::default() };
        let bare = SpanView { name: "youki list".into(), ..Default::default() };
        assert_eq!(counts(2, &[root, child, bare]), "2 3 1\n");
    }

    #[test]
    fn span_lines_give_one_json_object_per_span_with_its_times() {
        let mut a = SpanView { name: "clone".into(), parent: "p1".into(), start: 10, end: 25, ..Default::default() };
        a.attrs.insert("pid".into(), "42".into());
        let b = SpanView { name: "cgroup".into(), start: 30, end: 31, ..Default::default() };
        let text = span_lines(&[a, b]);
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["name"], "clone");
        assert_eq!(lines[0]["end"].as_u64().unwrap() - lines[0]["start"].as_u64().unwrap(), 15);
        assert_eq!(lines[0]["attrs"]["pid"], "42");
        assert_eq!(lines[1]["parent"], "");
    }
}
