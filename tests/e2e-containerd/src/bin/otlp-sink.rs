//! `otlp-sink ADDR COUNTS_FILE`: the test OTLP/HTTP receiver as a standalone process, for
//! benchmarks. Binds ADDR (port 0 picks one), prints the bound address on stdout, then keeps
//! COUNTS_FILE up to date with `REQUESTS SPANS ROOTS_WITH_CONTAINER_ID`, replaced atomically
//! every 100 ms, until it is killed.

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

fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename {} to {}", tmp.display(), path.display()))
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(file)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: otlp-sink ADDR COUNTS_FILE   (e.g. 127.0.0.1:0 /tmp/counts)");
    };
    let addr: SocketAddr = addr.parse().with_context(|| format!("invalid address {addr:?}"))?;
    let file = PathBuf::from(file);
    let rx = Receiver::start(addr)?;
    write_atomically(&file, &counts(0, &[]))?;
    println!("{}", rx.addr);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        write_atomically(&file, &counts(rx.requests(), &rx.spans()))?;
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
}
