//! Install and uninstall against a temp dir standing in for the host root: byte-for-byte
//! round trips, dry runs, refusals, and replacing a running binary.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Tests that write an executable and tests that fork take turns: a child forked while
/// another thread writes a file holds its write fd until exec, and running that file in the
/// window fails with ETXTBSY (a property of the test harness's threads, not of the installer,
/// which never forks while writing).
static EXEC: Mutex<()> = Mutex::new(());

use youki_installer::handler::Handlers;
use youki_installer::locate;
use youki_installer::node::Node;

fn fixture(name: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).expect("fixture")
}

/// A fake host: files at host paths, and a source dir with a `youki` binary.
struct Host {
    root: tempfile::TempDir,
    src: tempfile::TempDir,
}

impl Host {
    fn new(files: &[(&str, &str)]) -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        // Every host has /opt; the installer removes only the /opt/youki it made.
        fs::create_dir_all(root.path().join("opt")).expect("mkdir opt");
        for (p, content) in files {
            let full = root.path().join(p.trim_start_matches('/'));
            fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            fs::write(full, content).expect("write");
        }
        let src = tempfile::tempdir().expect("tempdir");
        fs::write(src.path().join("youki"), b"#!/bin/sh\necho youki v1\n").expect("write youki");
        Host { root, src }
    }

    fn path(&self, host_path: &str) -> PathBuf {
        self.root.path().join(host_path.trim_start_matches('/'))
    }

    fn node(&self, dry_run: bool) -> Node {
        Node {
            host_root: self.root.path().to_path_buf(),
            target: locate::detect(self.root.path()).expect("detect"),
            handlers: Handlers::default(),
            binaries: vec![self.src.path().join("youki")],
            dry_run,
            force: false,
        }
    }

    /// Every file under the root with its bytes, except the lock on the host's tmpfs /run.
    fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<PathBuf, String>) {
            for e in fs::read_dir(dir).expect("read dir").flatten() {
                let p = e.path();
                let rel = p.strip_prefix(base).expect("under base").to_path_buf();
                if p.is_dir() {
                    out.insert(rel.clone(), "<dir>".to_string());
                    walk(&p, base, out);
                } else if rel != Path::new("run/youki-installer.lock") {
                    out.insert(rel, String::from_utf8_lossy(&fs::read(&p).expect("read")).into_owned());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.root.path(), self.root.path(), &mut out);
        out.remove(Path::new("run"));
        out
    }
}

fn round_trip(files: &[(&str, &str)], edited: &str) {
    let host = Host::new(files);
    let before = host.snapshot();
    let out = host.node(false).install().expect("install");
    assert!(out.config_changed);
    assert!(fs::read_to_string(host.path(edited)).expect("edited").contains("youki"));
    assert!(host.path("/opt/youki/bin/youki").is_file());
    let again = host.node(false).install().expect("second install");
    assert!(!again.config_changed, "a repeated install changes nothing: {:?}", again.messages);
    assert!(host.node(false).status().expect("status").0);
    host.node(false).uninstall().expect("uninstall");
    assert_eq!(host.snapshot(), before, "uninstall must leave the host as it was found");
    host.node(false).uninstall().expect("a second uninstall is a no-op");
}

#[test]
fn vanilla_v2_round_trip() {
    round_trip(&[("/etc/containerd/config.toml", &fixture("containerd-v2.toml"))], "/etc/containerd/config.toml");
}

#[test]
fn containerd_1x_round_trip() {
    round_trip(&[("/etc/containerd/config.toml", &fixture("containerd-1x.toml"))], "/etc/containerd/config.toml");
}

#[test]
fn v3_round_trip() {
    round_trip(&[("/etc/containerd/config.toml", &fixture("containerd-v3.toml"))], "/etc/containerd/config.toml");
}

#[test]
fn comments_and_imports_round_trip() {
    round_trip(&[("/etc/containerd/config.toml", &fixture("comments-imports.toml"))], "/etc/containerd/config.toml");
}

#[test]
fn existing_youki_handler_comes_back_on_uninstall() {
    round_trip(&[("/etc/containerd/config.toml", &fixture("already-youki.toml"))], "/etc/containerd/config.toml");
}

#[test]
fn absent_config_is_created_then_removed() {
    round_trip(&[("/etc/containerd/.keep", "")], "/etc/containerd/config.toml");
}

#[test]
fn k3s_existing_template_round_trip() {
    let dir = "/var/lib/rancher/k3s/agent/etc/containerd";
    round_trip(
        &[
            (&format!("{dir}/config.toml"), &fixture("k3s-config.toml")),
            (&format!("{dir}/config.toml.tmpl"), &fixture("k3s-config.toml.tmpl")),
        ],
        &format!("{dir}/config.toml.tmpl"),
    );
}

#[test]
fn k3s_new_template_round_trip() {
    let dir = "/var/lib/rancher/k3s/agent/etc/containerd";
    round_trip(&[(&format!("{dir}/config.toml"), &fixture("k3s-config.toml"))], &format!("{dir}/config.toml.tmpl"));
}

#[test]
fn k0s_drop_in_round_trip() {
    round_trip(
        &[("/etc/k0s/containerd.toml", &fixture("k0s-containerd.toml")), ("/etc/k0s/containerd.d/.keep", "")],
        "/etc/k0s/containerd.d/youki.toml",
    );
}

#[test]
fn someone_elses_later_edit_survives_uninstall() {
    let host = Host::new(&[("/etc/containerd/config.toml", &fixture("containerd-v2.toml"))]);
    host.node(false).install().expect("install");
    let path = host.path("/etc/containerd/config.toml");
    let edited =
        fs::read_to_string(&path).expect("read").replace("sandbox_image = \"registry.k8s.io/pause:3.9\"", "sandbox_image = \"pause:4\"");
    fs::write(&path, &edited).expect("edit");
    host.node(false).uninstall().expect("uninstall");
    let after = fs::read_to_string(&path).expect("read");
    assert!(after.contains("pause:4") && !after.contains("runtimes.youki"), "{after}");
}

#[test]
fn dry_run_prints_a_diff_and_changes_nothing() {
    let host = Host::new(&[("/etc/containerd/config.toml", &fixture("containerd-v2.toml"))]);
    let before = host.snapshot();
    let out = host.node(true).install().expect("dry run");
    let text = out.messages.join("\n");
    assert!(text.contains("--- a/etc/containerd/config.toml"), "{text}");
    assert!(text.contains("+        [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.youki]"), "{text}");
    assert!(text.contains("would place"), "{text}");
    assert_eq!(host.snapshot(), before);
}

#[test]
fn corrupt_config_is_refused_and_untouched() {
    let host = Host::new(&[("/etc/containerd/config.toml", &fixture("corrupt.toml"))]);
    let before = host.snapshot();
    let err = format!("{}", host.node(false).install().expect_err("refused"));
    assert!(err.starts_with("parse containerd config \"/etc/containerd/config.toml\""), "{err}");
    assert_eq!(host.snapshot(), before);
}

#[test]
fn uninstall_is_refused_while_youki_containers_run() {
    let host = Host::new(&[("/etc/containerd/config.toml", &fixture("containerd-v2.toml"))]);
    host.node(false).install().expect("install");
    let state = host.path("/run/containerd/youki/k8s.io/abc");
    fs::create_dir_all(&state).expect("mkdir");
    fs::write(state.join("state.json"), "{}").expect("state");
    let err = host.node(false).uninstall().expect_err("refused").to_string();
    assert!(err.starts_with("refusing to uninstall: 1 youki container(s)"), "{err}");
    assert!(host.path("/opt/youki/bin/youki").exists());
}

#[test]
fn a_running_binary_is_replaced_without_etxtbsy() {
    let _serial = EXEC.lock().unwrap_or_else(|e| e.into_inner());
    let host = Host::new(&[("/etc/containerd/config.toml", &fixture("containerd-v2.toml"))]);
    // The placed binary is a real executable that keeps running during the upgrade.
    fs::copy("/bin/sleep", host.src.path().join("youki")).expect("copy sleep");
    host.node(false).install().expect("install");
    let mut child = Command::new(host.path("/opt/youki/bin/youki")).arg("30").spawn().expect("run placed binary");
    fs::write(host.src.path().join("youki"), b"#!/bin/sh\necho v2\n").expect("new version");
    let out = host.node(false).install().expect("upgrade while running");
    assert!(out.messages.iter().any(|m| m.starts_with("placed")), "{:?}", out.messages);
    assert!(!out.config_changed, "an upgrade keeps the config");
    assert_eq!(fs::read(host.path("/opt/youki/bin/youki")).expect("read"), b"#!/bin/sh\necho v2\n");
    assert!(child.try_wait().expect("poll").is_none(), "the old binary keeps running");
    child.kill().expect("kill");
    let _ = child.wait();
}

#[test]
fn cli_dry_run_and_status() {
    let _serial = EXEC.lock().unwrap_or_else(|e| e.into_inner());
    let host = Host::new(&[("/etc/containerd/config.toml", &fixture("containerd-1x.toml"))]);
    let bin = env!("CARGO_BIN_EXE_youki-installer");
    let run = |args: &[&str]| {
        Command::new(bin)
            .arg("--host-root")
            .arg(host.root.path())
            .arg("--source-dir")
            .arg(host.src.path())
            .args(["--restart", "none"])
            .args(args)
            .output()
            .expect("run installer")
    };
    let out = run(&["--dry-run", "install"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("+      [plugins.cri.containerd.runtimes.youki]"));
    let status = run(&["status"]);
    assert_eq!(status.status.code(), Some(1), "nothing is installed yet");
    assert!(run(&["install"]).status.success());
    assert!(run(&["status"]).status.success());
    assert!(run(&["uninstall"]).status.success());
    assert_eq!(fs::read_to_string(host.path("/etc/containerd/config.toml")).expect("read"), fixture("containerd-1x.toml"));
}

#[test]
fn an_import_that_replaces_the_cri_section_is_refused() {
    let host = Host::new(&[
        ("/etc/containerd/config.toml", &fixture("comments-imports.toml")),
        (
            "/etc/containerd/conf.d/10-mirrors.toml",
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n",
        ),
        ("/etc/containerd/conf.d/20-metrics.toml", "version = 2\n[metrics]\n  address = \"127.0.0.1:1339\"\n"),
    ]);
    let before = host.snapshot();
    let err = host.node(false).install().expect_err("refused").to_string();
    assert!(err.starts_with(r#"imported file "/etc/containerd/conf.d/10-mirrors.toml" defines the CRI plugin section"#), "{err}");
    assert_eq!(host.snapshot(), before);
}

#[test]
fn imports_without_the_cri_section_are_fine() {
    round_trip(
        &[
            ("/etc/containerd/config.toml", &fixture("comments-imports.toml")),
            ("/etc/containerd/conf.d/20-metrics.toml", "version = 2\n[metrics]\n  address = \"127.0.0.1:1339\"\n"),
        ],
        "/etc/containerd/config.toml",
    );
}

#[test]
fn concurrent_installers_take_turns() {
    let host = Host::new(&[("/etc/containerd/config.toml", &fixture("containerd-v2.toml"))]);
    let before = host.snapshot();
    let nodes: Vec<Node> = (0..4).map(|_| host.node(false)).collect();
    let results: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = nodes.iter().map(|n| s.spawn(move || n.install().map(|o| o.config_changed))).collect();
        handles.into_iter().map(|h| h.join().expect("join").expect("install")).collect()
    });
    assert_eq!(results.iter().filter(|changed| **changed).count(), 1, "exactly one installer edits the config");
    let config = fs::read_to_string(host.path("/etc/containerd/config.toml")).expect("read");
    assert_eq!(config.matches("runtimes.youki]").count(), 1);
    host.node(false).uninstall().expect("uninstall");
    assert_eq!(host.snapshot(), before);
}

#[test]
fn the_wasm_build_gets_its_handler_and_both_go_on_uninstall() {
    let host = Host::new(&[("/etc/containerd/config.toml", &fixture("containerd-v2.toml"))]);
    let before = host.snapshot();
    fs::write(host.src.path().join("youki-wasm"), b"#!/bin/sh\necho youki-wasm v1\n").expect("write youki-wasm");
    let wasm_node = || Node {
        handlers: Handlers::new(true),
        binaries: vec![host.src.path().join("youki"), host.src.path().join("youki-wasm")],
        ..host.node(false)
    };
    assert!(wasm_node().install().expect("install").config_changed);
    let config = fs::read_to_string(host.path("/etc/containerd/config.toml")).expect("config");
    assert!(config.contains(r#"BinaryName = "/opt/youki/bin/youki-wasm""#), "{config}");
    assert!(host.path("/opt/youki/bin/youki-wasm").is_file());
    let (ok, lines) = wasm_node().status().expect("status");
    assert!(ok && lines.iter().any(|l| l.contains(r#"handler "youki-wasm" present"#)), "{lines:#?}");
    // An image without the wasm build takes the handler out; the binary stays until
    // uninstall (a running wasm pod's shim may still call it).
    assert!(host.node(false).install().expect("install without wasm").config_changed);
    let config = fs::read_to_string(host.path("/etc/containerd/config.toml")).expect("config");
    assert!(!config.contains("youki-wasm"), "{config}");
    assert!(host.path("/opt/youki/bin/youki-wasm").is_file());
    // Uninstall by that image still removes the wasm binary it owns.
    host.node(false).uninstall().expect("uninstall");
    assert_eq!(host.snapshot(), before, "uninstall must leave the host as it was found");
}

#[test]
fn uninstall_waits_for_containers_of_the_wasm_handler() {
    let host = Host::new(&[("/etc/containerd/config.toml", &fixture("containerd-v2.toml"))]);
    host.node(false).install().expect("install");
    let state = host.path("/run/containerd/youki-wasm/k8s.io/abc");
    fs::create_dir_all(&state).expect("mkdir");
    fs::write(state.join("state.json"), "{}").expect("state");
    let err = host.node(false).uninstall().unwrap_err().to_string();
    assert!(err.starts_with("refusing to uninstall: 1 youki container(s)"), "{err}");
    fs::remove_dir_all(host.path("/run/containerd")).expect("clean");
    host.node(false).uninstall().expect("uninstall");
}

#[test]
fn a_containerd_2_3_config_version_4_is_refused_by_name_and_untouched() {
    let host = Host::new(&[("/etc/containerd/config.toml", &fixture("containerd-v4.toml"))]);
    let before = host.snapshot();
    let err = host.node(false).install().unwrap_err().to_string();
    assert!(err.starts_with("unsupported containerd config version 4 (containerd 2.3): "), "{err}");
    assert_eq!(host.snapshot(), before, "a refused install changes nothing");
}
