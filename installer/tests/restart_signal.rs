//! `--restart signal` through the CLI: the process stopped is the one that serves the
//! manager's socket under the host root, never a process found by its name. A decoy named
//! `containerd` runs beside a fake server (a python process listening on the socket).
//!
//! Safety on a shared machine: the CLI gets `--proc-dir` pointing at a fake proc tree that
//! lists only the decoy, so even an installer that signals by name (the old behaviour) can
//! only reach the decoy, never another containerd on this host.

use std::fs;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::os::unix::process::ExitStatusExt;

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn comm(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim_end().to_string()
}

#[test]
fn signal_stops_the_process_serving_the_socket_not_one_named_containerd() {
    if Command::new("python3").arg("-c").arg("pass").status().is_err() {
        eprintln!("skipped: no python3 for the fake server");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("host");
    fs::create_dir_all(root.join("etc/containerd")).expect("mkdir");
    fs::create_dir_all(root.join("opt")).expect("mkdir");
    fs::create_dir_all(root.join("run/containerd")).expect("mkdir");
    // /var/run -> /run, absolute, as on most hosts: the socket is named through it.
    fs::create_dir_all(root.join("var")).expect("mkdir");
    std::os::unix::fs::symlink("/run", root.join("var/run")).expect("symlink");
    fs::write(root.join("etc/containerd/config.toml"), "version = 2\n").expect("config");
    let src = dir.path().join("src");
    fs::create_dir_all(&src).expect("mkdir");
    fs::write(src.join("youki"), "#!/bin/sh\n").expect("youki");

    // The decoy: sleep under the name containerd.
    let decoy_bin = dir.path().join("containerd");
    fs::copy("/bin/sleep", &decoy_bin).expect("copy sleep");
    let mut decoy = Kill(Command::new(&decoy_bin).arg("60").spawn().expect("decoy"));
    let decoy_pid = decoy.0.id();
    wait_for("the decoy's exec", || comm(decoy_pid) == "containerd");

    // The fake server: listens on the socket and sleeps.
    let socket = root.join("run/containerd/containerd.sock");
    let mut server = Kill(
        Command::new("python3")
            .arg("-c")
            .arg("import socket,sys,time\ns=socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[1])\ns.listen(8)\ntime.sleep(60)\n")
            .arg(&socket)
            .spawn()
            .expect("fake server"),
    );
    wait_for("the fake server's socket", || socket.exists());

    // A fake proc tree listing only the decoy (see the module comment).
    let proc_dir = dir.path().join("proc");
    fs::create_dir_all(proc_dir.join(decoy_pid.to_string())).expect("mkdir");
    fs::write(proc_dir.join(format!("{decoy_pid}/comm")), "containerd\n").expect("comm");

    // Plays the supervisor: once the server is gone, a new one listens on the socket.
    let sock = socket.clone();
    let supervisor = std::thread::spawn(move || {
        let status = server.0.wait().expect("wait server");
        let _ = fs::remove_file(&sock);
        let listener = UnixListener::bind(&sock).ok();
        (status, listener)
    });

    let out = Command::new(env!("CARGO_BIN_EXE_youki-installer"))
        .arg("--host-root")
        .arg(&root)
        .arg("--source-dir")
        .arg(&src)
        .args(["--containerd-config", "/etc/containerd/config.toml"])
        .args(["--socket", "/var/run/containerd/containerd.sock"])
        .args(["--restart", "signal", "--timeout", "3"])
        .arg("--proc-dir")
        .arg(&proc_dir)
        .arg("install")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run installer");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // The decoy must still run: the installer did not signal by name.
    assert_eq!(decoy.0.try_wait().expect("try_wait"), None, "the decoy named containerd was signalled:\n{log}");
    let (status, _listener) = supervisor.join().expect("supervisor");
    assert_eq!(status.signal(), Some(libc::SIGTERM), "the socket's server was not stopped by SIGTERM:\n{log}");
    assert!(log.contains("restarted containerd (Signal)"), "{log}");
    let _ = decoy.0.kill();
    assert!(Path::new(&socket).exists());
}

#[test]
fn a_pid_file_names_the_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let mut child = Kill(Command::new("sleep").arg("60").spawn().expect("sleep"));
    let pid = child.0.id();
    fs::create_dir_all(root.join("run/containerd")).expect("mkdir");
    fs::write(root.join("run/containerd/containerd.pid"), format!("{pid}\n")).expect("pid file");
    let socket = root.join("none.sock");
    let m = youki_installer::restart::Manager {
        host_root: root,
        unit: "containerd",
        process: "containerd",
        pid: None,
        proc_dir: Path::new("/nonexistent"),
        pid_file: Some(Path::new("/run/containerd/containerd.pid")),
        socket: &socket,
    };
    let err = youki_installer::restart::restart(youki_installer::restart::Restart::Signal, &m, Duration::from_secs(1))
        .expect_err("no socket after the restart");
    assert!(err.to_string().contains("did not answer"), "{err}");
    let status = child.0.wait().expect("wait");
    assert_eq!(status.signal(), Some(libc::SIGTERM));
}
