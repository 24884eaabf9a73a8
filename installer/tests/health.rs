//! The `run` mode's /healthz and /readyz against slow and hostile clients: an idle
//! connection must not block the kubelet's next probe, and an endless request line is cut
//! off instead of being buffered.

#[allow(dead_code)]
mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::apiserver::FakeApiServer;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `run` installer on a fake host and API server, serving on 127.0.0.1:`port`.
fn start(dir: &Path, api: &FakeApiServer, port: u16) -> Running {
    for d in ["host/etc/containerd", "host/opt", "host/run", "src"] {
        fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    fs::write(dir.join("host/etc/containerd/config.toml"), "version = 2\n").expect("config");
    fs::write(dir.join("src/youki"), "#!/bin/sh\n").expect("youki");
    Running(
        Command::new(env!("CARGO_BIN_EXE_youki-installer"))
            .env("KUBECONFIG", api.kubeconfig(dir))
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("NODE_NAME", "node-a")
            .arg("--host-root")
            .arg(dir.join("host"))
            .arg("--source-dir")
            .arg(dir.join("src"))
            .args(["--restart", "none", "run", "--poll", "1", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .spawn()
            .expect("start run"),
    )
}

/// The status line of GET `path`, within `deadline`.
fn probe(port: u16, path: &str, deadline: Duration) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(deadline)).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.lines().next().map(str::to_string)
}

fn wait_healthy(port: u16) {
    let start = Instant::now();
    while !probe(port, "/healthz", Duration::from_secs(1)).is_some_and(|l| l.contains("200")) {
        assert!(start.elapsed() < Duration::from_secs(20), "never healthy");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_idle_connection_does_not_block_the_next_probe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = FakeApiServer::start(&["node-a"]);
    let _run = start(dir.path(), &api, 18791);
    wait_healthy(18791);
    // Connected, sends nothing, stays open.
    let _idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(("127.0.0.1", 18791)).expect("idle connect")).collect();
    std::thread::sleep(Duration::from_millis(200));
    let line = probe(18791, "/healthz", Duration::from_secs(1));
    assert!(line.as_deref().is_some_and(|l| l.contains("200")), "a probe behind idle connections got {line:?}");
}

#[test]
fn a_one_megabyte_request_line_is_cut_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = FakeApiServer::start(&["node-a"]);
    let _run = start(dir.path(), &api, 18792);
    wait_healthy(18792);
    let mut s = TcpStream::connect(("127.0.0.1", 18792)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut w = s.try_clone().expect("clone");
    // 1 MB with no newline, then the connection stays open.
    let writer = std::thread::spawn(move || {
        let line = format!("GET /{} HTTP/1.1", "a".repeat(1 << 20));
        let _ = w.write_all(line.as_bytes());
        w
    });
    let mut out = Vec::new();
    let started = Instant::now();
    let read = s.read_to_end(&mut out);
    let answer = String::from_utf8_lossy(&out);
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "the server should cut the line off and say so, got {:?} ({read:?}) after {:?}",
        answer.lines().next(),
        started.elapsed()
    );
    drop(writer.join());
    // And it still serves.
    assert!(probe(18792, "/healthz", Duration::from_secs(1)).is_some_and(|l| l.contains("200")));
}
