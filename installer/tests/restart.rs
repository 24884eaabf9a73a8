//! Restarting the container manager: `systemd` through a stand-in `systemctl` inside a fake
//! host root (chroot, as in the DaemonSet), and `signal` against a stand-in process; both
//! then wait for the socket. Skipped, with the reason, without root or a static busybox.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use youki_installer::restart::{pids_named, restart, Manager, Restart};

/// Held by each test: a fork in one test thread inherits the write fd of a script another
/// thread is writing, and exec of that script then fails with ETXTBSY.
static EXEC: Mutex<()> = Mutex::new(());

fn skip() -> Option<&'static str> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("needs root for chroot");
    }
    if !Path::new("/bin/busybox").exists() {
        return Some("needs /bin/busybox (busybox-static) as the fake host's shell");
    }
    None
}

/// A host root with a shell and a `systemctl` that logs its arguments and exits with `code`.
fn fake_host(code: i32) -> tempfile::TempDir {
    let host = tempfile::tempdir().expect("tempdir");
    for d in ["bin", "usr/bin", "run/containerd", "tmp"] {
        fs::create_dir_all(host.path().join(d)).expect("mkdir");
    }
    fs::copy("/bin/busybox", host.path().join("bin/busybox")).expect("busybox");
    std::os::unix::fs::symlink("busybox", host.path().join("bin/sh")).expect("sh");
    let script = format!(
        "#!/bin/sh\necho \"$@\" >> /tmp/systemctl.log\necho 'unit failed' >&2\nexit {code}\n"
    );
    let ctl = host.path().join("usr/bin/systemctl");
    fs::write(&ctl, script).expect("systemctl");
    fs::set_permissions(&ctl, fs::Permissions::from_mode(0o755)).expect("chmod");
    host
}

fn manager<'a>(host: &'a Path, socket: &'a Path) -> Manager<'a> {
    Manager {
        host_root: host,
        unit: "containerd",
        process: "containerd",
        pid: None,
        proc_dir: Path::new("/proc"),
        socket,
    }
}

#[test]
fn systemd_restart_runs_systemctl_in_the_host_root_and_waits_for_the_socket() {
    let _serial = EXEC.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(why) = skip() {
        eprintln!("skipped: {why}");
        return;
    }
    let host = fake_host(0);
    let socket = host.path().join("run/containerd/containerd.sock");
    let _listener = UnixListener::bind(&socket).expect("bind");
    restart(
        Restart::Systemd,
        &manager(host.path(), &socket),
        Duration::from_secs(5),
    )
    .expect("restart");
    assert_eq!(
        fs::read_to_string(host.path().join("tmp/systemctl.log")).expect("log"),
        "restart containerd\n"
    );
}

#[test]
fn a_failed_systemctl_is_reported_with_its_stderr() {
    let _serial = EXEC.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(why) = skip() {
        eprintln!("skipped: {why}");
        return;
    }
    let host = fake_host(1);
    let socket = host.path().join("run/containerd/containerd.sock");
    let err = restart(
        Restart::Systemd,
        &manager(host.path(), &socket),
        Duration::from_secs(1),
    )
    .expect_err("fails");
    assert!(err.to_string().ends_with("failed: unit failed"), "{err}");
}

#[test]
fn signal_restart_stops_only_the_given_pid_and_times_out_without_a_socket() {
    let _serial = EXEC.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    // A process whose comm is "sleep"; the test plays the supervisor that never restarts it.
    let mut child = Command::new("sleep").arg("30").spawn().expect("sleep");
    let pid = child.id() as i32;
    // Right after fork the child still has the test's name; wait for the exec.
    let start = std::time::Instant::now();
    while !pids_named(Path::new("/proc"), "sleep").contains(&pid) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "sleep never showed up in /proc"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let socket = dir.path().join("none.sock");
    let m = Manager {
        host_root: dir.path(),
        unit: "x",
        process: "sleep",
        pid: Some(pid),
        proc_dir: Path::new("/proc"),
        socket: &socket,
    };
    let waiter = std::thread::spawn(move || child.wait().expect("wait"));
    let err = restart(Restart::Signal, &m, Duration::from_secs(1)).expect_err("no socket");
    assert!(
        err.to_string()
            .ends_with("did not answer within 1s after the restart"),
        "{err}"
    );
    assert!(
        !waiter.join().expect("join").success(),
        "SIGTERM ended the process"
    );
}
