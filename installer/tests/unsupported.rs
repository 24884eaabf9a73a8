//! A node whose containerd config links into a read-only store (NixOS): `run` refuses to
//! edit it, labels the node `youki.dev/runtime=unsupported`, records the reason as a node
//! Event, and stays up; the store and the link are untouched.

#[allow(dead_code)]
mod support;

use std::fs;
use std::path::{Path, PathBuf};
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

/// A read-only tmpfs at a directory, unmounted on drop.
struct ReadOnlyMount(PathBuf);

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn read_only_store(dir: &Path, file: &str, content: &str) -> Option<ReadOnlyMount> {
    use nix::mount::{mount, MsFlags};
    fs::create_dir_all(dir).expect("mkdir");
    if let Err(e) = mount(Some("tmpfs"), dir, Some("tmpfs"), MsFlags::empty(), None::<&str>) {
        eprintln!("skipped: cannot mount tmpfs ({e})");
        return None;
    }
    let m = ReadOnlyMount(dir.to_path_buf());
    fs::write(dir.join(file), content).expect("write");
    mount(None::<&str>, dir, None::<&str>, MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None::<&str>).expect("remount ro");
    Some(m)
}

#[test]
fn a_read_only_config_labels_the_node_unsupported_with_an_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = dir.path().join("host");
    for d in ["etc/containerd", "opt", "run"] {
        fs::create_dir_all(host.join(d)).expect("mkdir");
    }
    let Some(_ro) = read_only_store(&host.join("nix/store/abc-containerd-config"), "config.toml", "version = 2\n") else {
        return;
    };
    std::os::unix::fs::symlink("/nix/store/abc-containerd-config/config.toml", host.join("etc/containerd/config.toml")).expect("symlink");
    fs::create_dir_all(dir.path().join("src")).expect("mkdir");
    fs::write(dir.path().join("src/youki"), "#!/bin/sh\n").expect("youki");
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
            .args(["--restart", "none", "run", "--poll", "1", "--listen", "127.0.0.1:18795"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start run"),
    );
    let start = Instant::now();
    while api.label("node-a", "youki.dev/runtime").is_none() {
        assert!(start.elapsed() < Duration::from_secs(20), "never labelled");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(api.label("node-a", "youki.dev/runtime").as_deref(), Some("unsupported"));
    while api.events().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(20), "no event recorded");
        std::thread::sleep(Duration::from_millis(100));
    }
    let events = api.events();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["involvedObject"]["kind"], "Node");
    assert_eq!(e["involvedObject"]["name"], "node-a");
    assert_eq!(e["reason"], "YoukiUnsupported");
    let message = e["message"].as_str().unwrap_or_default();
    assert!(message.contains("/nix/store/abc-containerd-config/config.toml") && message.contains("read-only"), "{message}");
    // Nothing changed on the host: the link, the store, no binary placed.
    assert_eq!(
        fs::read_link(host.join("etc/containerd/config.toml")).expect("link"),
        Path::new("/nix/store/abc-containerd-config/config.toml")
    );
    assert_eq!(fs::read_to_string(host.join("nix/store/abc-containerd-config/config.toml")).expect("store"), "version = 2\n");
    assert!(!host.join("opt/youki").exists());
}
