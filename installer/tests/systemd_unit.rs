//! `--restart systemd` against a real systemd: RestartUnit over D-Bus on units this test
//! writes under /run/systemd/system (containerd is not in the VM image, so a `sleep` service
//! stands in for it). Runs only where systemd is PID 1, which is the systemd VM lane
//! (tests/vm builds this executable into its layer); elsewhere each test says it skips.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use youki_installer::systemd::restart_unit;

fn skip() -> bool {
    if Path::new("/run/systemd/system").is_dir() {
        return false;
    }
    eprintln!("skipping: systemd is not PID 1 here (the systemd VM lane of tests/vm runs this)");
    true
}

fn systemctl(args: &[&str]) -> String {
    let out = Command::new("systemctl").args(args).output().expect("systemctl");
    assert!(out.status.success(), "systemctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A unit file under /run/systemd/system, removed (stopped first) on drop.
struct Unit(&'static str);

impl Unit {
    fn new(name: &'static str, service: &str) -> Self {
        let path = Path::new("/run/systemd/system").join(name);
        std::fs::write(&path, format!("[Service]\n{service}\n")).expect("unit file");
        systemctl(&["daemon-reload"]);
        Unit(name)
    }
}

impl Drop for Unit {
    fn drop(&mut self) {
        let _ = Command::new("systemctl").args(["stop", self.0]).status();
        let _ = std::fs::remove_file(Path::new("/run/systemd/system").join(self.0));
        let _ = Command::new("systemctl").arg("daemon-reload").status();
        let _ = Command::new("systemctl")
            .args(["reset-failed", self.0])
            // A unit that did not fail is not loaded any more, and systemctl says so.
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn restart(host_root: &Path, unit: &str) -> Result<(), youki_installer::systemd::SystemdError> {
    let rt = youki_installer::runtime().expect("runtime");
    rt.block_on(restart_unit(host_root, unit, Duration::from_secs(60)))
}

#[test]
fn a_running_service_is_restarted_with_a_new_main_pid() {
    if skip() {
        return;
    }
    let _unit = Unit::new("youki-inst-probe.service", "ExecStart=/bin/sleep infinity");
    systemctl(&["start", "youki-inst-probe.service"]);
    let before = systemctl(&["show", "-P", "MainPID", "youki-inst-probe.service"]);
    // The unit name without its suffix, as the installer's targets name containerd.
    restart(Path::new("/"), "youki-inst-probe").expect("restart");
    let after = systemctl(&["show", "-P", "MainPID", "youki-inst-probe.service"]);
    let state = systemctl(&["show", "-P", "ActiveState", "youki-inst-probe.service"]);
    println!("youki-inst-probe.service: MainPID {before} -> {after}, {state}");
    assert_ne!(before, "0");
    assert_ne!(after, "0");
    assert_ne!(before, after, "the service was not restarted");
    assert_eq!(state, "active");
}

#[test]
fn a_service_that_fails_to_start_is_a_failed_job() {
    if skip() {
        return;
    }
    let _unit = Unit::new("youki-inst-broken.service", "Type=oneshot\nExecStart=/bin/false");
    let err = restart(Path::new("/"), "youki-inst-broken.service").expect_err("fails");
    let text = err.to_string();
    println!("youki-inst-broken.service: {text}");
    assert!(text.contains("restarting youki-inst-broken.service ended with result \"failed\""), "{text}");
}
