//! The DaemonSet mode (`run`) and the pre-delete hook (`cleanup`) against a fake API server
//! (`support/apiserver.rs`: in process, plain HTTP), because no Kubernetes API server can run
//! on this machine. The installer binary reaches it through a KUBECONFIG with its real kube
//! client. Covers the ready label (only once the runtime answers), /healthz and /readyz,
//! SIGTERM keeping the node installed, the uninstall request, and API errors.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::apiserver::{write_kubeconfig, FakeApiServer};

fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("run installer")
}

struct Cluster {
    dir: tempfile::TempDir,
    api: FakeApiServer,
}

impl Cluster {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["host/etc/containerd", "host/opt", "host/run", "src"] {
            fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        let original =
            fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/containerd-v2.toml")).expect("fixture");
        fs::write(dir.path().join("host/etc/containerd/config.toml"), original).expect("config");
        fs::write(dir.path().join("src/youki"), "#!/bin/sh\n").expect("youki");
        let api = FakeApiServer::start(&["node-a"]);
        Cluster { dir, api }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn label(&self, key: &str) -> Option<String> {
        self.api.label("node-a", key)
    }

    fn installer(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_youki-installer"));
        cmd.env("KUBECONFIG", self.api.kubeconfig(self.dir.path()))
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("NODE_NAME", "node-a")
            .arg("--host-root")
            .arg(self.path("host"))
            .arg("--source-dir")
            .arg(self.path("src"))
            .args(args);
        if !args.contains(&"--restart") {
            cmd.args(["--restart", "none"]);
        }
        cmd
    }

    fn start(&self, port: u16) -> Running {
        Running(
            self.installer(&["run", "--listen", &format!("127.0.0.1:{port}"), "--poll", "1"])
                .stdout(Stdio::null())
                .spawn()
                .expect("start run"),
        )
    }
}

/// The `run` process; killed if a test fails before its SIGTERM.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.lines().next().map(str::to_string)
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sigterm(run: &mut Running) -> std::process::ExitStatus {
    let pid = nix::unistd::Pid::from_raw(run.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    run.0.wait().expect("wait")
}

#[test]
fn sigterm_keeps_the_node_installed_and_labelled() {
    let c = Cluster::new();
    let mut run = c.start(18781);
    wait_until("readyz", || get(18781, "/readyz").is_some_and(|l| l.contains("200")));
    assert!(get(18781, "/healthz").is_some_and(|l| l.contains("200")));
    assert_eq!(c.label("youki.dev/runtime").as_deref(), Some("ready"));
    assert!(c.path("host/opt/youki/bin/youki").exists());
    assert!(sigterm(&mut run).success());
    // A rolling update: the binary, the config and the label stay for the next pod.
    assert!(c.path("host/opt/youki/bin/youki").exists());
    assert!(fs::read_to_string(c.path("host/etc/containerd/config.toml")).expect("read").contains("runtimes.youki"));
    assert_eq!(c.label("youki.dev/runtime").as_deref(), Some("ready"));
}

#[test]
fn pre_delete_request_uninstalls_and_cleanup_waits_for_it() {
    let c = Cluster::new();
    let mut run = c.start(18782);
    wait_until("ready label", || c.label("youki.dev/runtime").is_some());
    // Another node without an installer must not hold the hook up.
    c.api.add_node("node-b");
    let hook = output(&mut c.installer(&["cleanup", "--wait", "20"]));
    assert!(hook.status.success(), "{}", String::from_utf8_lossy(&hook.stderr));
    assert_eq!(c.label("youki.dev/runtime"), None);
    assert_eq!(c.label("youki.dev/uninstall"), None);
    assert_eq!(c.api.label("node-b", "youki.dev/uninstall"), None);
    // The request reached node-b too, and was withdrawn by the hook.
    let log = c.api.log();
    assert!(
        log.iter()
            .any(|l| l.starts_with("PATCH /api/v1/nodes/node-b") && l.ends_with(r#"{"metadata":{"labels":{"youki.dev/uninstall":null}}}"#)),
        "{log:#?}"
    );
    assert!(!c.path("host/opt/youki").exists());
    let original = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/containerd-v2.toml")).expect("fixture");
    assert_eq!(fs::read_to_string(c.path("host/etc/containerd/config.toml")).expect("read"), original);
    wait_until("readyz off", || get(18782, "/readyz").is_some_and(|l| l.contains("503")));
    assert!(sigterm(&mut run).success());
}

#[test]
fn uninstall_is_deferred_while_youki_containers_run() {
    let c = Cluster::new();
    let mut run = c.start(18783);
    wait_until("ready label", || c.label("youki.dev/runtime").is_some());
    let state = c.path("host/run/containerd/youki/k8s.io/pod1");
    fs::create_dir_all(&state).expect("mkdir");
    fs::write(state.join("state.json"), "{}").expect("state");
    // The hook gives up after its timeout: the node keeps youki and is labelled ready again.
    let hook = output(&mut c.installer(&["cleanup", "--wait", "3"]));
    assert!(!hook.status.success());
    assert!(String::from_utf8_lossy(&hook.stderr).contains("nodes not clean after 3s (youki pods still running there?): node-a"));
    assert!(c.path("host/opt/youki/bin/youki").exists());
    wait_until("ready again", || c.label("youki.dev/runtime").is_some());
    // Once the pod is gone, the next request goes through.
    fs::remove_dir_all(c.path("host/run/containerd/youki")).expect("rm state");
    let hook = output(&mut c.installer(&["cleanup", "--wait", "20"]));
    assert!(hook.status.success(), "{}", String::from_utf8_lossy(&hook.stderr));
    assert!(!c.path("host/opt/youki").exists());
    assert!(sigterm(&mut run).success());
}

#[test]
fn the_node_is_not_labelled_while_the_runtime_does_not_answer_its_cri() {
    let c = Cluster::new();
    // The "container manager": a process to stop, and a socket that accepts connections but
    // does not speak the CRI. A socket that merely answers is not enough for the label.
    let mut manager = Command::new("sleep").arg("30").spawn().expect("sleep");
    let socket = c.path("host/run/fake.sock");
    let _listener = UnixListener::bind(&socket).expect("bind");
    let out = output(&mut c.installer(&[
        "--restart",
        "signal",
        "--containerd-pid",
        &manager.id().to_string(),
        "--socket",
        "/run/fake.sock",
        "--timeout",
        "2",
        "run",
        "--listen",
        "127.0.0.1:18784",
    ]));
    let _ = manager.kill();
    let _ = manager.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("did not answer within 2s"), "{stderr}");
    assert_eq!(c.label("youki.dev/runtime"), None);
    assert!(!c.api.log().iter().any(|l| l.starts_with("PATCH")), "{:#?}", c.api.log());
}

#[test]
fn api_errors_name_the_call_and_the_servers_answer() {
    let c = Cluster::new();
    c.api.refuse_patches(
        403,
        "Forbidden",
        r#"nodes "node-a" is forbidden: User "system:serviceaccount:youki-system:youki-installer" cannot patch resource "nodes""#,
    );
    let out = output(&mut c.installer(&["run", "--listen", "127.0.0.1:18785"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr
            .contains(r#"label node "node-a" youki.dev/runtime=ready: the API server answered 403 Forbidden: nodes "node-a" is forbidden"#),
        "{stderr}"
    );

    // No API server at all: a port nothing listens on any more.
    let dir = tempfile::tempdir().expect("tempdir");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let gone = write_kubeconfig(dir.path(), &server);
    let out = output(c.installer(&["cleanup", "--wait", "1"]).env("KUBECONFIG", &gone));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("list nodes labelled youki.dev/runtime: no answer from the API server"), "{stderr}");

    // No config: no KUBECONFIG file, no home config, not in a pod.
    let out = output(c.installer(&["cleanup", "--wait", "1"]).env("KUBECONFIG", dir.path().join("missing")).env("HOME", dir.path()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no Kubernetes API config: neither KUBECONFIG (or ~/.kube/config) nor the pod's service account"), "{stderr}");
}
