//! The DaemonSet mode (`run`) and the pre-delete hook (`cleanup`) against a fake API server:
//! a `kubectl` stand-in that keeps node labels as files. Covers the ready label, /healthz and
//! /readyz, SIGTERM keeping the node installed, and the uninstall request.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A kubectl that understands the four calls the installer makes; labels live in
/// `$FAKE_API/<node>/<label key with / as _>`.
const FAKE_KUBECTL: &str = r#"#!/bin/sh
set -e
api=$FAKE_API
case "$1 $2" in
"label node")
    node=$3; kv=$(echo "$4" | tr / _)
    mkdir -p "$api/$node"
    case "$kv" in
    *-) rm -f "$api/$node/${kv%-}" ;;
    *=*) printf '%s' "${kv#*=}" > "$api/$node/${kv%%=*}" ;;
    esac ;;
"get node")
    key=$(echo "$5" | sed -e 's/^jsonpath={.metadata.labels.//' -e 's/}$//' -e 's/\\\././g' | tr / _)
    cat "$api/$3/$key" 2>/dev/null || true ;;
"get nodes")
    names=""
    for d in "$api"/*/; do
        n=$(basename "$d")
        if [ "$3" = "-l" ] && [ ! -e "$d/$(echo "$4" | tr / _)" ]; then continue; fi
        names="$names $n"
    done
    echo $names ;;
*) echo "fake kubectl: unexpected $*" >&2; exit 1 ;;
esac
"#;

/// Writing the fake kubectl and forking children never overlap: a child forked while another
/// test writes its script would hold the write fd until exec, and running the script in that
/// window fails with ETXTBSY. `spawn` returns only after the child's exec.
static EXEC: Mutex<()> = Mutex::new(());

fn spawn(cmd: &mut Command) -> Child {
    let _serial = EXEC.lock().unwrap_or_else(|e| e.into_inner());
    cmd.spawn().expect("spawn installer")
}

fn output(cmd: &mut Command) -> Output {
    spawn(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()))
        .wait_with_output()
        .expect("wait")
}

struct Cluster {
    dir: tempfile::TempDir,
}

impl Cluster {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in [
            "api/node-a",
            "host/etc/containerd",
            "host/opt",
            "host/run",
            "src",
        ] {
            fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        let original = fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/containerd-v2.toml"),
        )
        .expect("fixture");
        fs::write(dir.path().join("host/etc/containerd/config.toml"), original).expect("config");
        fs::write(dir.path().join("src/youki"), "#!/bin/sh\n").expect("youki");
        let kubectl = dir.path().join("kubectl");
        let _serial = EXEC.lock().unwrap_or_else(|e| e.into_inner());
        fs::write(&kubectl, FAKE_KUBECTL).expect("kubectl");
        fs::set_permissions(&kubectl, fs::Permissions::from_mode(0o755)).expect("chmod");
        Cluster { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn label(&self, key: &str) -> Option<String> {
        fs::read_to_string(self.path("api/node-a").join(key.replace('/', "_"))).ok()
    }

    fn installer(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_youki-installer"));
        cmd.env("FAKE_API", self.path("api"))
            .env("YOUKI_KUBECTL", self.path("kubectl"))
            .env("NODE_NAME", "node-a")
            .arg("--host-root")
            .arg(self.path("host"))
            .arg("--source-dir")
            .arg(self.path("src"))
            .args(["--restart", "none"])
            .args(args);
        cmd
    }

    fn start(&self, port: u16) -> Running {
        Running(
            self.installer(&[
                "run",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--poll",
                "1",
            ])
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
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
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
    wait_until("readyz", || {
        get(18781, "/readyz").is_some_and(|l| l.contains("200"))
    });
    assert!(get(18781, "/healthz").is_some_and(|l| l.contains("200")));
    assert_eq!(c.label("youki.dev/runtime").as_deref(), Some("ready"));
    assert!(c.path("host/opt/youki/bin/youki").exists());
    assert!(sigterm(&mut run).success());
    // A rolling update: the binary, the config and the label stay for the next pod.
    assert!(c.path("host/opt/youki/bin/youki").exists());
    assert!(
        fs::read_to_string(c.path("host/etc/containerd/config.toml"))
            .expect("read")
            .contains("runtimes.youki")
    );
    assert_eq!(c.label("youki.dev/runtime").as_deref(), Some("ready"));
}

#[test]
fn pre_delete_request_uninstalls_and_cleanup_waits_for_it() {
    let c = Cluster::new();
    let mut run = c.start(18782);
    wait_until("ready label", || c.label("youki.dev/runtime").is_some());
    // Another node without an installer must not hold the hook up.
    fs::create_dir_all(c.path("api/node-b")).expect("mkdir");
    let hook = output(&mut c.installer(&["cleanup", "--wait", "20"]));
    assert!(
        hook.status.success(),
        "{}",
        String::from_utf8_lossy(&hook.stderr)
    );
    assert_eq!(c.label("youki.dev/runtime"), None);
    assert_eq!(c.label("youki.dev/uninstall"), None);
    assert!(!c.path("api/node-b/youki.dev_uninstall").exists());
    assert!(!c.path("host/opt/youki").exists());
    let original = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/containerd-v2.toml"),
    )
    .expect("fixture");
    assert_eq!(
        fs::read_to_string(c.path("host/etc/containerd/config.toml")).expect("read"),
        original
    );
    wait_until("readyz off", || {
        get(18782, "/readyz").is_some_and(|l| l.contains("503"))
    });
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
    assert!(String::from_utf8_lossy(&hook.stderr)
        .contains("nodes not clean after 3s (youki pods still running there?): node-a"));
    assert!(c.path("host/opt/youki/bin/youki").exists());
    wait_until("ready again", || c.label("youki.dev/runtime").is_some());
    // Once the pod is gone, the next request goes through.
    fs::remove_dir_all(c.path("host/run/containerd/youki")).expect("rm state");
    let hook = output(&mut c.installer(&["cleanup", "--wait", "20"]));
    assert!(
        hook.status.success(),
        "{}",
        String::from_utf8_lossy(&hook.stderr)
    );
    assert!(!c.path("host/opt/youki").exists());
    assert!(sigterm(&mut run).success());
}
