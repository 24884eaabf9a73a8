//! Capability labels in DaemonSet mode, against the fake API server: `run` probes the node
//! and patches `youki.dev/feature.<name>` labels in one merge patch before the ready label;
//! features the node lacks are removed (a JSON null), so a node that lost one is unlabelled.

#[allow(dead_code)]
mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
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

/// A youki stand-in whose `features` names seccomp notify and the wasmtime executor.
const YOUKI_WITH_WASMTIME: &str = r#"#!/bin/sh
[ "$1" = features ] && echo '{"annotations":{"io.github.youki.executors":"wasmtime,default"},"linux":{"seccomp":{"enabled":true,"actions":["SCMP_ACT_ALLOW","SCMP_ACT_NOTIFY"]}}}'
"#;
/// A youki stand-in with seccomp notify and only the default executor.
const YOUKI_PLAIN: &str = r#"#!/bin/sh
[ "$1" = features ] && echo '{"annotations":{"io.github.youki.executors":"default"},"linux":{"seccomp":{"enabled":true,"actions":["SCMP_ACT_ALLOW","SCMP_ACT_NOTIFY"]}}}'
"#;

#[test]
fn run_labels_the_nodes_features_before_the_ready_label() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = dir.path().join("host");
    for d in ["etc/containerd", "opt", "run", "usr/sbin"] {
        fs::create_dir_all(host.join(d)).expect("mkdir");
    }
    fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/containerd-v2.toml"), host.join("etc/containerd/config.toml"))
        .expect("config");
    fs::write(host.join("usr/sbin/criu"), "").expect("criu");
    fs::create_dir_all(dir.path().join("src")).expect("mkdir");
    // The wasm labels come from youki-wasm, the binary behind the youki-wasm handler.
    for (name, script) in [("youki", YOUKI_PLAIN), ("youki-wasm", YOUKI_WITH_WASMTIME)] {
        let bin = dir.path().join("src").join(name);
        fs::write(&bin, script).expect("write binary");
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let api = FakeApiServer::start(&["node-a"]);
    let _run = Running(
        Command::new(env!("CARGO_BIN_EXE_youki-installer"))
            .env("KUBECONFIG", api.kubeconfig(dir.path()))
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("NODE_NAME", "node-a")
            .arg("--host-root")
            .arg(&host)
            .arg("--source-dir")
            .arg(dir.path().join("src"))
            .args(["--restart", "none", "run", "--poll", "1", "--listen", "127.0.0.1:18804"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start run"),
    );
    let start = Instant::now();
    while api.label("node-a", "youki.dev/runtime").is_none() {
        assert!(start.elapsed() < Duration::from_secs(20), "never labelled");
        std::thread::sleep(Duration::from_millis(100));
    }
    let label = |k: &str| api.label("node-a", &format!("youki.dev/feature.{k}"));
    assert_eq!(label("seccomp-notify").as_deref(), Some("true"));
    assert_eq!(label("wasm").as_deref(), Some("true"));
    assert_eq!(label("wasm-wasmtime").as_deref(), Some("true"));
    assert_eq!(label("criu").as_deref(), Some("true"));
    assert_eq!(label("wasm-wasmer"), None);
    let config = fs::read_to_string(host.join("etc/containerd/config.toml")).expect("config");
    assert!(config.contains(r#"BinaryName = "/opt/youki/bin/youki-wasm""#), "the youki-wasm handler: {config}");
    let v2 =
        nix::sys::statfs::statfs("/sys/fs/cgroup").map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC).unwrap_or(false);
    assert_eq!(label("cgroup-v2").is_some(), v2);
    // One patch with every feature label, set or removed, and it comes before the ready label.
    let patches: Vec<String> = api.log().into_iter().filter(|l| l.starts_with("PATCH /api/v1/nodes/node-a")).collect();
    assert!(patches.len() >= 2, "{patches:#?}");
    assert!(
        patches[0].contains(r#""youki.dev/feature.wasm-wasmer":null"#) && patches[0].contains(r#""youki.dev/feature.criu":"true""#),
        "{patches:#?}"
    );
    assert!(patches[1].contains(r#""youki.dev/runtime":"ready""#), "{patches:#?}");
}

#[test]
fn a_youki_with_wasm_but_no_wasm_handler_gets_no_wasm_label() {
    // The youki-wasm RuntimeClass selects the wasm label: a node without the youki-wasm
    // handler must not have it, whatever the youki binary was built with.
    let dir = tempfile::tempdir().expect("tempdir");
    let host = dir.path().join("host");
    for d in ["etc/containerd", "opt", "run"] {
        fs::create_dir_all(host.join(d)).expect("mkdir");
    }
    fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/containerd-v2.toml"), host.join("etc/containerd/config.toml"))
        .expect("config");
    fs::create_dir_all(dir.path().join("src")).expect("mkdir");
    let youki = dir.path().join("src/youki");
    fs::write(&youki, YOUKI_WITH_WASMTIME).expect("youki");
    fs::set_permissions(&youki, fs::Permissions::from_mode(0o755)).expect("chmod");
    let api = FakeApiServer::start(&["node-a"]);
    let _run = Running(
        Command::new(env!("CARGO_BIN_EXE_youki-installer"))
            .env("KUBECONFIG", api.kubeconfig(dir.path()))
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("NODE_NAME", "node-a")
            .arg("--host-root")
            .arg(&host)
            .arg("--source-dir")
            .arg(dir.path().join("src"))
            .args(["--restart", "none", "run", "--poll", "1", "--listen", "127.0.0.1:18805"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start run"),
    );
    let start = Instant::now();
    while api.label("node-a", "youki.dev/runtime").is_none() {
        assert!(start.elapsed() < Duration::from_secs(20), "never labelled");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(api.label("node-a", "youki.dev/feature.seccomp-notify").as_deref(), Some("true"));
    assert_eq!(api.label("node-a", "youki.dev/feature.wasm"), None);
    let config = fs::read_to_string(host.join("etc/containerd/config.toml")).expect("config");
    assert!(!config.contains("youki-wasm"), "{config}");
}
