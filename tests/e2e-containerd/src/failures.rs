//! Failures as a Kubernetes user sees them: the message of a failed StartContainer is all
//! `kubectl describe` shows, so it must name the cause (the missing executable, the mount
//! that cannot be made), never just "broken pipe" or "exit status 1".

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use k8s_cri::v1 as cri;

use crate::cri::timed;
use crate::pod::{self, BAD_MOUNT_DEST, MISSING_COMMAND};
use crate::{cgroup, spans, Env};

/// One broken container and the words its error must carry (any case).
pub struct Case {
    pub what: &'static str,
    pub config: cri::ContainerConfig,
    pub must_name: &'static [&'static str],
    /// The errno the create span's `exception` event names.
    pub errno: &'static str,
}

/// Messages that say something failed without saying what.
const OPAQUE: &[&str] = &["broken pipe", "exit status 1"];

/// Whether MESSAGE names the cause: every expected word, and more than an opaque message.
/// A path may be named relative to the rootfs (crun 1.28 writes `bin/busybox/data`).
pub fn names_cause(message: &str, must_name: &[&str]) -> Result<()> {
    let lower = message.to_lowercase();
    let missing: Vec<&&str> = must_name.iter().filter(|w| !lower.contains(w.to_lowercase().trim_start_matches('/'))).collect();
    ensure!(missing.is_empty(), "the error does not name {missing:?}: {message:?}");
    for o in OPAQUE {
        if let Some(at) = lower.find(o) {
            // Allowed only as a trailing detail after the real cause, never as the cause.
            ensure!(must_name.iter().all(|w| lower[..at].contains(&w.to_lowercase())), "the error leads with {o:?}: {message:?}");
        }
    }
    Ok(())
}

pub fn cases(image: &str, host_dir: &std::path::Path) -> Vec<Case> {
    vec![
        Case {
            what: "missing command",
            config: pod::missing_command(image),
            must_name: &[MISSING_COMMAND, "no such file"],
            errno: "ENOENT",
        },
        Case {
            what: "bad mount",
            config: pod::bad_mount(image, host_dir),
            must_name: &[BAD_MOUNT_DEST, "not a directory"],
            errno: "ENOTDIR",
        },
    ]
}

pub async fn run(env: &mut Env) -> Result<()> {
    let handler = env.cri.handler.clone();
    let parent = spans::Parent { trace: crate::random_hex(16), span: crate::random_hex(8) };
    let p = env.pod(&format!("failures-{handler}"), Some(&parent));
    std::fs::create_dir_all(&p.log_dir)?;
    let host_dir = env.work.join(format!("bad-mount-src-{handler}"));
    std::fs::create_dir_all(&host_dir)?;
    let sandbox = pod::sandbox(&p);
    let pod_id = env.cri.run_pod(&sandbox).await?;
    let result = each_case(env, &sandbox, &pod_id, &host_dir).await;
    env.cri.force_remove_pod(&pod_id).await;
    if result.is_err() {
        let _ = cgroup::remove(&p.cgroup_parent);
        return result;
    }
    env.leftovers_of(&p).await?;
    env.ok("failed containers left nothing behind (containerd, cgroups)", Duration::ZERO);
    Ok(())
}

async fn each_case(env: &mut Env, sandbox: &cri::PodSandboxConfig, pod_id: &str, host_dir: &std::path::Path) -> Result<()> {
    for case in cases(&env.image, host_dir) {
        let id = env.cri.create(pod_id, case.config, sandbox).await?;
        let (r, d) = timed(env.cri.start(&id)).await;
        let err = match r {
            Ok(()) => {
                let _ = env.cri.stop(&id, 0).await;
                let _ = env.cri.remove(&id).await;
                anyhow::bail!("{}: StartContainer succeeded", case.what);
            }
            Err(e) => e.message,
        };
        let checked = names_cause(&err, case.must_name).with_context(|| format!("{}: StartContainer", case.what));
        env.cri.remove(&id).await?;
        checked?;
        env.ok(&format!("{}: StartContainer fails naming the cause: {err}", case.what), d);
        if let Some(rx) = &env.receiver {
            let got = rx.spans();
            let span_err = spans::check_failed_create(&got, &id)?;
            names_cause(span_err, case.must_name).context("the create span's error status")?;
            env.ok(&format!("{}: the create span's status carries the same cause", case.what), Duration::ZERO);
            let event = spans::failure_event(&got, &id)?;
            let line = event.get("youki.failure").cloned().unwrap_or_default();
            ensure!(
                event.get("youki.errno").map(String::as_str) == Some(case.errno) && line.ends_with(&format!("= -1 {}", case.errno)),
                "{}: the create span's exception event: {event:?}",
                case.what
            );
            names_cause(&line, &case.must_name[..1]).context("the create span's exception event")?;
            env.ok(&format!("{}: the create span's exception event says {line}", case.what), Duration::ZERO);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clear_message_passes_and_opaque_ones_fail() {
        let runc = "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"/bin/does-not-exist\": stat /bin/does-not-exist: no such file or directory: unknown";
        names_cause(runc, &[MISSING_COMMAND, "no such file"]).unwrap();
        let opaque = "failed to create shim task: OCI runtime create failed: write to child: broken pipe: unknown";
        assert!(names_cause(opaque, &[MISSING_COMMAND, "no such file"]).is_err());
        let leading = "broken pipe: exec \"/bin/does-not-exist\": no such file or directory";
        assert!(names_cause(leading, &[MISSING_COMMAND, "no such file"]).unwrap_err().to_string().contains("leads with"));
        assert!(names_cause("exit status 1", &["not a directory"]).is_err());
        let crun = "OCI runtime create failed: error creating directory `bin/busybox/data` since `bin/busybox` exists and it is not a directory: Not a directory";
        names_cause(crun, &[BAD_MOUNT_DEST, "not a directory"]).unwrap();
        assert!(names_cause("error creating directory `bin/busybox`: Not a directory", &[BAD_MOUNT_DEST]).is_err());
    }
}
