//! One pod on the handler, as an operator checks a new RuntimeClass: a sandbox on the node's
//! network (no CNI needed), a sleeper container, an exec into it, then stop and removal with
//! nothing left. With `gone`, containerd must instead refuse the handler by name (after an
//! uninstall). installer/tests/containerd.sh runs both around the installer.

use std::time::Duration;

use anyhow::{bail, ensure, Result};
use k8s_cri::v1 as cri;

use crate::cri::timed;
use crate::{cgroup, pod, Env};

/// The pod and its containers on the node's network, as the kubelet sets a hostNetwork pod.
pub fn on_node_network(ns: &mut Option<cri::NamespaceOption>) {
    if let Some(ns) = ns {
        ns.network = cri::NamespaceMode::Node as i32;
    }
}

pub async fn run(env: &mut Env, gone: bool) -> Result<()> {
    let handler = env.cri.handler.clone();
    let p = env.pod(&format!("smoke-{handler}"), None);
    std::fs::create_dir_all(&p.log_dir)?;
    let mut sandbox = pod::sandbox(&p);
    // A hostNetwork pod shares the node's UTS namespace too: the kubelet sends no hostname.
    sandbox.hostname = String::new();
    if let Some(sc) = sandbox.linux.as_mut().and_then(|l| l.security_context.as_mut()) {
        on_node_network(&mut sc.namespace_options);
    }
    let (r, d) = timed(env.cri.run_pod(&sandbox)).await;
    if gone {
        return match r {
            Err(e) if e.message.contains(&format!("{handler:?}")) || e.message.contains(&handler) => {
                env.ok(&format!("RunPodSandbox refuses the handler: {}", e.message), d);
                Ok(())
            }
            Err(e) => bail!("RunPodSandbox failed, but not for the handler: {e}"),
            Ok(id) => {
                env.cri.force_remove_pod(&id).await;
                let _ = cgroup::remove(&p.cgroup_parent);
                bail!("containerd still runs pods with the handler {handler:?}")
            }
        };
    }
    let pod_id = r?;
    env.ok("RunPodSandbox on the node's network", d);
    let walked = walk(env, &pod_id, &sandbox).await;
    if walked.is_err() {
        env.cri.force_remove_pod(&pod_id).await;
        let _ = cgroup::remove(&p.cgroup_parent);
        return walked;
    }
    env.leftovers_of(&p).await
}

async fn walk(env: &mut Env, pod_id: &str, sandbox: &cri::PodSandboxConfig) -> Result<()> {
    let mut c = pod::sleeper(&env.image);
    if let Some(sc) = c.linux.as_mut().and_then(|l| l.security_context.as_mut()) {
        on_node_network(&mut sc.namespace_options);
    }
    let id = env.cri.create(pod_id, c, sandbox).await?;
    let (r, d) = timed(env.cri.start(&id)).await;
    r?;
    env.ok("CreateContainer and StartContainer", d);
    let out = env.cri.exec_sync(&id, &["/bin/sh", "-c", "echo smoke-$((6 * 7))"]).await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(out.exit_code == 0 && stdout.trim() == "smoke-42", "ExecSync: exit {}, stdout {stdout:?}", out.exit_code);
    env.ok("ExecSync into the container", Duration::ZERO);
    let (status, _) = env.cri.status(&id, false).await?;
    ensure!(status.state == cri::ContainerState::ContainerRunning as i32, "container state {} after the exec", status.state);
    env.cri.stop(&id, 0).await?;
    env.cri.remove(&id).await?;
    env.cri.stop_pod(pod_id).await?;
    env.cri.remove_pod(pod_id).await?;
    env.ok("StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox", Duration::ZERO);
    Ok(())
}
