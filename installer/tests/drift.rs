//! Drift repair in DaemonSet mode (`run`), against the fake API server: a config rewritten
//! under the running installer gets its handler back (woken by inotify, well before the poll
//! interval), a deleted binary is placed again, each repair is a node Event and the ready
//! label is dropped while the node is not ready, and a tool that keeps rewriting the config
//! stops the repairs after the limit, with an Event that says why.
//! The same repair against a real containerd is in containerd.sh.

#[allow(dead_code)]
mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::apiserver::FakeApiServer;

struct Node {
    dir: tempfile::TempDir,
    api: FakeApiServer,
    original: String,
}

/// The `run` process; killed when the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Node {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["host/etc/containerd", "host/opt", "host/run", "src"] {
            fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        let original =
            fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/containerd-v2.toml")).expect("fixture");
        fs::write(dir.path().join("host/etc/containerd/config.toml"), &original).expect("config");
        fs::write(dir.path().join("src/youki"), "#!/bin/sh\n").expect("youki");
        let api = FakeApiServer::start(&["node-a"]);
        Node { dir, api, original }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn config(&self) -> String {
        fs::read_to_string(self.path("host/etc/containerd/config.toml")).unwrap_or_default()
    }

    /// Rewrites the config in place, as a node upgrade or config management would.
    fn rewrite(&self) {
        fs::write(self.path("host/etc/containerd/config.toml"), &self.original).expect("rewrite");
    }

    fn start(&self, port: u16, args: &[&str]) -> Running {
        Running(
            Command::new(env!("CARGO_BIN_EXE_youki-installer"))
                .env("KUBECONFIG", self.api.kubeconfig(self.dir.path()))
                .env_remove("KUBERNETES_SERVICE_HOST")
                .env("NODE_NAME", "node-a")
                .arg("--host-root")
                .arg(self.path("host"))
                .arg("--source-dir")
                .arg(self.path("src"))
                .args(["--restart", "none", "run", "--listen", &format!("127.0.0.1:{port}")])
                .args(args)
                .stdout(Stdio::null())
                .spawn()
                .expect("start run"),
        )
    }

    fn ready(&self) -> bool {
        self.api.label("node-a", "youki.dev/runtime").as_deref() == Some("ready")
    }

    fn events(&self, reason: &str) -> Vec<Value> {
        self.api.events().into_iter().filter(|e| e["reason"] == reason).collect()
    }
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn message(e: &Value) -> &str {
    e["message"].as_str().unwrap_or_default()
}

#[test]
fn a_rewritten_config_gets_its_handler_back_with_a_repair_event() {
    let n = Node::new();
    // A poll far longer than the wait below: only the inotify watch can wake the repair.
    let _run = n.start(18801, &["--poll", "120"]);
    wait_until("ready label", 20, || n.ready());
    let log_before = n.api.log().len();

    n.rewrite();
    assert!(!n.config().contains("runtimes.youki"));
    wait_until("the handler back", 10, || n.config().contains("runtimes.youki"));
    wait_until("the repair event", 10, || !n.events("YoukiRepaired").is_empty());
    wait_until("ready again", 10, || n.ready());

    let events = n.events("YoukiRepaired");
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["involvedObject"]["kind"], "Node");
    assert_eq!(events[0]["involvedObject"]["name"], "node-a");
    assert!(
        message(&events[0]).contains(r#"/etc/containerd/config.toml lost the "youki" handler"#)
            && message(&events[0]).contains("repair 1 of at most 3 an hour"),
        "{}",
        message(&events[0])
    );
    // The label went while the node was not ready, and came back after the repair.
    let patches: Vec<String> = n.api.log()[log_before..].iter().filter(|l| l.starts_with("PATCH /api/v1/nodes/node-a")).cloned().collect();
    assert_eq!(
        patches.iter().map(|l| l.ends_with(r#"{"metadata":{"labels":{"youki.dev/runtime":null}}}"#)).collect::<Vec<_>>(),
        vec![true, false],
        "{patches:#?}"
    );
    assert!(patches[1].ends_with(r#"{"metadata":{"labels":{"youki.dev/runtime":"ready"}}}"#));
    // The first backup is kept: an uninstall still restores the original.
    assert_eq!(fs::read_to_string(n.path("host/opt/youki/installer/etc_containerd_config.toml.orig")).expect("backup"), n.original);
}

#[test]
fn a_deleted_binary_is_placed_again() {
    let n = Node::new();
    let _run = n.start(18802, &["--poll", "1"]);
    wait_until("ready label", 20, || n.ready());
    fs::remove_file(n.path("host/opt/youki/bin/youki")).expect("rm youki");
    wait_until("the binary back", 10, || n.path("host/opt/youki/bin/youki").exists());
    wait_until("the repair event", 10, || !n.events("YoukiRepaired").is_empty());
    let events = n.events("YoukiRepaired");
    assert!(message(&events[0]).contains("/opt/youki/bin/youki is gone"), "{events:#?}");
    // The config was not touched, so it is not called drifted.
    assert!(!message(&events[0]).contains("config.toml"), "{events:#?}");
}

#[test]
fn a_tool_that_keeps_rewriting_the_config_stops_the_repairs_after_the_limit() {
    let n = Node::new();
    let mut run = n.start(18803, &["--poll", "1", "--repair-limit", "2"]);
    wait_until("ready label", 20, || n.ready());
    // The other tool: whenever the handler is back, it writes its own config again.
    let start = Instant::now();
    while n.events("YoukiRepairStopped").is_empty() {
        assert!(start.elapsed() < Duration::from_secs(30), "the repairs never stopped: {:#?}", n.api.events());
        if n.config().contains("runtimes.youki") {
            n.rewrite();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // A few more polls: no more repairs, no more events; the installer is still up.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!n.config().contains("runtimes.youki"));
    assert_eq!(n.events("YoukiRepaired").len(), 2, "{:#?}", n.api.events());
    let stopped = n.events("YoukiRepairStopped");
    assert_eq!(stopped.len(), 1, "{stopped:#?}");
    assert!(
        message(&stopped[0]).contains("repaired 2 time(s) within the last hour")
            && message(&stopped[0]).contains(r#"lost the "youki" handler"#),
        "{}",
        message(&stopped[0])
    );
    // Not ready: the label is gone, so the RuntimeClass no longer schedules here.
    assert_eq!(n.api.label("node-a", "youki.dev/runtime"), None);
    assert!(matches!(run.0.try_wait(), Ok(None)), "run exited");
}
