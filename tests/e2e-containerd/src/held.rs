//! A pod held across a change of the node (installer/tests/containerd.sh: an upgrade of the
//! youki binary under a running pod). `hold` starts a pod on the node's network with a
//! sleeper and leaves it running, its ids in WORK/held; `release` checks it still answers
//! an exec, then stops and removes it, and nothing may be left.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{ensure, Context, Result};

use crate::smoke::on_node_network;
use crate::{pod, Env};

fn held_file(env: &Env) -> PathBuf {
    env.work.join("held")
}

/// The held pod as one line: sandbox id, container id, pod name, pod uid.
pub fn line(pod_id: &str, id: &str, p: &pod::Pod) -> String {
    format!("{pod_id} {id} {} {}\n", p.name, p.uid)
}

pub fn parse(line: &str) -> Option<(String, String, String, String)> {
    let mut w = line.split_whitespace().map(str::to_string);
    Some((w.next()?, w.next()?, w.next()?, w.next()?))
}

pub async fn hold(env: &mut Env) -> Result<()> {
    let handler = env.cri.handler.clone();
    let p = env.pod(&format!("held-{handler}"), None);
    std::fs::create_dir_all(&p.log_dir)?;
    let mut sandbox = pod::sandbox(&p);
    sandbox.hostname = String::new();
    if let Some(sc) = sandbox.linux.as_mut().and_then(|l| l.security_context.as_mut()) {
        on_node_network(&mut sc.namespace_options);
    }
    let pod_id = env.cri.run_pod(&sandbox).await?;
    let mut c = pod::sleeper(&env.image);
    if let Some(sc) = c.linux.as_mut().and_then(|l| l.security_context.as_mut()) {
        on_node_network(&mut sc.namespace_options);
    }
    let id = env.cri.create(&pod_id, c, &sandbox).await?;
    env.cri.start(&id).await?;
    std::fs::write(held_file(env), line(&pod_id, &id, &p))?;
    env.ok(&format!("a pod held running (sandbox {}, container {})", &pod_id[..12], &id[..12]), Duration::ZERO);
    Ok(())
}

pub async fn release(env: &mut Env) -> Result<()> {
    let text = std::fs::read_to_string(held_file(env)).context("no held pod (cri-e2e hold first)")?;
    let (pod_id, id, name, uid) = parse(&text).context("malformed held file")?;
    let mut p = env.pod(&name, None);
    p.cgroup_parent = format!("{}/pod-{uid}", env.cgroup_top);
    let out = env.cri.exec_sync(&id, &["/bin/sh", "-c", "echo exec-$((6 * 7))"]).await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.exit_code == 0 && stdout.trim() == "exec-42",
        "ExecSync into the held container: exit {}, stdout {stdout:?}",
        out.exit_code
    );
    env.ok("ExecSync into the held container", Duration::ZERO);
    env.cri.stop(&id, 10).await?;
    env.cri.remove(&id).await?;
    env.cri.stop_pod(&pod_id).await?;
    env.cri.remove_pod(&pod_id).await?;
    env.ok("StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox of the held pod", Duration::ZERO);
    std::fs::remove_file(held_file(env))?;
    env.leftovers_of(&p).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_held_line_round_trips() {
        let p = pod::Pod {
            name: "held-youki".into(),
            uid: "u1".into(),
            namespace: "n".into(),
            cgroup_parent: "/t/pod-u1".into(),
            log_dir: "/l".into(),
            annotations: Default::default(),
        };
        let l = line("s1", "c1", &p);
        assert_eq!(parse(&l), Some(("s1".into(), "c1".into(), "held-youki".into(), "u1".into())));
        assert_eq!(parse("s1 c1"), None);
    }
}
