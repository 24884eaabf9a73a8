//! A spec with a given ociVersion through the CRI: containerd writes its own version
//! (2.1.9: 1.2.1) unless the handler names a base spec (`base_runtime_spec`), whose
//! ociVersion it keeps, for containers (the sandbox's spec is built without it). run.sh
//! gives handler youki-oci13 such a base with 1.3.0; a container must carry it, and the
//! runtime must run it.

use std::time::Duration;

use anyhow::{ensure, Context, Result};

use crate::cri::timed;
use crate::{cgroup, pod, Env};

/// The known-failure name of a version: `oci-MAJOR.MINOR` (run.sh lists `oci-1.3` while
/// the runtime's features stop below it).
pub fn known_name(version: &str) -> String {
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => format!("oci-{major}.{minor}"),
        _ => format!("oci-{version}"),
    }
}

pub async fn run(env: &mut Env, want: &str) -> Result<()> {
    let handler = env.cri.handler.clone();
    let p = env.pod(&format!("ociversion-{handler}"), None);
    std::fs::create_dir_all(&p.log_dir)?;
    let sandbox = pod::sandbox(&p);
    let (r, d) = timed(env.cri.run_pod(&sandbox)).await;
    let pod_id = r?;
    env.ok("RunPodSandbox", d);
    let walked = walk(env, &sandbox, &pod_id, want).await;
    env.cri.force_remove_pod(&pod_id).await;
    if walked.is_err() {
        let _ = cgroup::remove(&p.cgroup_parent);
        return walked;
    }
    env.leftovers_of(&p).await
}

async fn walk(env: &mut Env, sandbox: &k8s_cri::v1::PodSandboxConfig, pod_id: &str, want: &str) -> Result<()> {
    // containerd 2.1 builds the sandbox's spec without the handler's base spec.
    let info = env.cri.pod_info(pod_id).await?;
    let pause = info["runtimeSpec"]["ociVersion"].as_str().unwrap_or_default().to_string();
    let id = env.cri.create(pod_id, pod::sleeper(&env.image), sandbox).await?;
    let checked = match spec_version(env, &id, want).await {
        Ok(()) => {
            env.ok(&format!("the container's spec carries ociVersion {want} (the sandbox's: {pause})"), Duration::ZERO);
            let (r, d) = timed(runs(env, &id, want)).await;
            env.known(&known_name(want), &format!("the runtime runs a container with ociVersion {want}, exec works"), r, d)
        }
        Err(e) => Err(e),
    };
    let _ = env.cri.stop(&id, 0).await;
    let _ = env.cri.remove(&id).await;
    checked
}

async fn spec_version(env: &mut Env, id: &str, want: &str) -> Result<()> {
    let (_, info) = env.cri.status(id, true).await?;
    let got = info
        .as_ref()
        .and_then(|i| i["runtimeSpec"]["ociVersion"].as_str())
        .context("ContainerStatus verbose info has no runtimeSpec.ociVersion")?;
    ensure!(got == want, "the container's spec has ociVersion {got:?}, want {want:?}");
    Ok(())
}

async fn runs(env: &mut Env, id: &str, want: &str) -> Result<()> {
    env.cri.start(id).await.map_err(|e| anyhow::anyhow!("StartContainer with ociVersion {want}: {}", e.message))?;
    let r = env.cri.exec_sync(id, &["/bin/sh", "-c", "echo oci-$((6 * 7))"]).await?;
    ensure!(
        r.exit_code == 0 && String::from_utf8_lossy(&r.stdout).trim() == "oci-42",
        "ExecSync: exit {}, stdout {:?}",
        r.exit_code,
        String::from_utf8_lossy(&r.stdout)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_keep_major_and_minor() {
        assert_eq!(known_name("1.3.0"), "oci-1.3");
        assert_eq!(known_name("1.3.0-rc.1"), "oci-1.3");
        assert_eq!(known_name("2"), "oci-2");
    }
}
