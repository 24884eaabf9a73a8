//! Restarting the container manager. `systemd`: the installer's D-Bus client against a fake
//! systemd manager on a private dbus-daemon whose socket sits where the host's system bus
//! would be (HOST/run/dbus/system_bus_socket); this machine's PID 1 is not systemd, so there
//! is no real one to ask here (the systemd VM lane has one). `signal`: a stand-in process.
//! Skipped, with the reason, without dbus-daemon.

use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use youki_installer::restart::{pids_named, restart, Manager, Restart, RestartError};
use zbus::blocking::MessageIterator;
use zbus::message::Type;
use zbus::zvariant::ObjectPath;

/// Held by each test: a fork in one test thread inherits the write fd of a file another
/// thread is writing, and exec of that file then fails with ETXTBSY.
static EXEC: Mutex<()> = Mutex::new(());

const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const PATH: &str = "/org/freedesktop/systemd1";

/// A private bus, listening where the host's system bus socket is under `host`.
struct Bus(Child);

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_bus(host: &Path) -> Option<Bus> {
    let daemon = ["/usr/bin/dbus-daemon", "/bin/dbus-daemon"].into_iter().find(|p| Path::new(p).exists());
    let Some(daemon) = daemon else {
        eprintln!("skipped: needs dbus-daemon (apt-get install dbus-daemon) for a private bus");
        return None;
    };
    let socket = host.join("run/dbus/system_bus_socket");
    std::fs::create_dir_all(socket.parent().expect("parent")).expect("mkdir");
    let config = host.join("bus.conf");
    std::fs::write(
        &config,
        format!(
            "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n \
             \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
             <busconfig><type>custom</type><listen>unix:path={}</listen><auth>EXTERNAL</auth>\
             <policy context=\"default\"><allow user=\"*\"/><allow own=\"*\"/>\
             <allow send_destination=\"*\"/><allow receive_sender=\"*\"/></policy></busconfig>\n",
            socket.display()
        ),
    )
    .expect("bus config");
    let child = {
        let _serial = EXEC.lock().unwrap_or_else(|e| e.into_inner());
        Command::new(daemon)
            .arg(format!("--config-file={}", config.display()))
            .arg("--nofork")
            .stdout(Stdio::null())
            // It warns that root may not raise its fd limit here (no CAP_SYS_RESOURCE).
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon")
    };
    let bus = Bus(child);
    let start = Instant::now();
    while !socket.exists() {
        assert!(start.elapsed() < Duration::from_secs(10), "the private bus did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(bus)
}

/// A fake systemd manager on the bus: answers Subscribe, and RestartUnit with job 42, then
/// announces the end of another job and, unless `result` is None, of job 42 with `result`.
/// Returns the units it was asked to restart, once the bus goes away.
/// The fake answers on its own thread; the receiver gets the units it was asked to restart
/// once it has handled RestartUnit (nothing, if it never was asked).
fn fake_systemd(host: &Path, result: Option<&'static str>) -> std::sync::mpsc::Receiver<Vec<String>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let address = format!("unix:path={}", host.join("run/dbus/system_bus_socket").display());
    let conn = zbus::blocking::connection::Builder::address(address.as_str())
        .expect("address")
        .name("org.freedesktop.systemd1")
        .expect("name")
        .build()
        .expect("fake systemd on the bus");
    std::thread::spawn(move || {
        let mut restarted = Vec::new();
        for msg in MessageIterator::from(&conn) {
            let Ok(msg) = msg else { break };
            let header = msg.header();
            if header.message_type() != Type::MethodCall {
                continue;
            }
            match header.member().map(|m| m.as_str()) {
                Some("Subscribe") => conn.reply(&header, &()).expect("reply"),
                Some("RestartUnit") => {
                    let (unit, mode): (String, String) = msg.body().deserialize().expect("args");
                    assert_eq!(mode, "replace");
                    let job = ObjectPath::try_from("/org/freedesktop/systemd1/job/42").expect("path");
                    conn.reply(&header, &job).expect("reply");
                    let other = ObjectPath::try_from("/org/freedesktop/systemd1/job/41").expect("path");
                    conn.emit_signal(None::<()>, PATH, MANAGER, "JobRemoved", &(41u32, other, "other.service", "failed")).expect("signal");
                    if let Some(result) = result {
                        conn.emit_signal(None::<()>, PATH, MANAGER, "JobRemoved", &(42u32, job, unit.as_str(), result)).expect("signal");
                    }
                    restarted.push(unit);
                    let _ = tx.send(restarted);
                    return;
                }
                _ => {}
            }
        }
        let _ = tx.send(restarted);
    });
    rx
}

fn manager<'a>(host: &'a Path, socket: &'a Path) -> Manager<'a> {
    Manager { host_root: host, unit: "containerd", process: "containerd", pid: None, proc_dir: Path::new("/proc"), pid_file: None, socket }
}

/// Restarts through a fake systemd that ends the job with `result` (never, with None), with
/// the manager's socket answering when `answering`. Returns the outcome and the units the
/// fake was asked to restart; None when there is no dbus-daemon.
fn restart_via_fake(result: Option<&'static str>, answering: bool, timeout: Duration) -> Option<(Result<(), RestartError>, Vec<String>)> {
    let host = tempfile::tempdir().expect("tempdir");
    let _bus = start_bus(host.path())?;
    let systemd = fake_systemd(host.path(), result);
    let socket = host.path().join("containerd.sock");
    let _listener = answering.then(|| UnixListener::bind(&socket).expect("bind"));
    let outcome = restart(Restart::Systemd, &manager(host.path(), &socket), timeout);
    // Not a join: when the restart gives up before RestartUnit (a slow, loaded machine), the
    // fake would wait for it forever, and so would the test.
    Some((outcome, systemd.recv_timeout(Duration::from_secs(10)).unwrap_or_default()))
}

#[test]
fn systemd_restart_waits_for_the_job_and_then_for_the_socket() {
    let Some((outcome, units)) = restart_via_fake(Some("done"), true, Duration::from_secs(5)) else {
        return;
    };
    outcome.expect("restart");
    assert_eq!(units, vec!["containerd.service".to_string()]);
}

#[test]
fn a_failed_job_is_reported_with_its_result() {
    let Some((outcome, _)) = restart_via_fake(Some("failed"), false, Duration::from_secs(5)) else {
        return;
    };
    assert_eq!(
        outcome.expect_err("fails").to_string(),
        "systemd job /org/freedesktop/systemd1/job/42 restarting containerd.service ended with \
         result \"failed\" (see `journalctl -u containerd.service` on the node)"
    );
}

#[test]
fn a_job_that_never_ends_times_out() {
    let Some((outcome, _)) = restart_via_fake(None, false, Duration::from_secs(1)) else {
        return;
    };
    assert_eq!(
        outcome.expect_err("times out").to_string(),
        "systemd job /org/freedesktop/systemd1/job/42 restarting containerd.service did not finish within 1s"
    );
}

#[test]
fn no_bus_under_the_host_root_is_a_clear_error() {
    let host = tempfile::tempdir().expect("tempdir");
    let socket = host.path().join("none.sock");
    let err = restart(Restart::Systemd, &manager(host.path(), &socket), Duration::from_secs(1)).expect_err("no bus");
    assert_eq!(
        err.to_string(),
        format!(
            "no D-Bus system bus at {:?}: the host runs no dbus-daemon (use --restart signal there)",
            host.path().join("run/dbus/system_bus_socket")
        )
    );
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
        assert!(start.elapsed() < Duration::from_secs(5), "sleep never showed up in /proc");
        std::thread::sleep(Duration::from_millis(10));
    }
    let socket = dir.path().join("none.sock");
    let m = Manager {
        host_root: dir.path(),
        unit: "x",
        process: "sleep",
        pid: Some(pid),
        proc_dir: Path::new("/proc"),
        pid_file: None,
        socket: &socket,
    };
    let waiter = std::thread::spawn(move || child.wait().expect("wait"));
    let err = restart(Restart::Signal, &m, Duration::from_secs(1)).expect_err("no socket");
    assert!(err.to_string().ends_with("did not answer within 1s after the restart"), "{err}");
    assert!(!waiter.join().expect("join").success(), "SIGTERM ended the process");
}
