//! A user-namespaced pod (`hostUsers: false`): the kubelet asks for the pod's own user
//! namespace (mode POD, container ids 0..65536 on host ids from a base) on the sandbox and
//! every container. Checked from inside (uid_map, gid_map, root of its namespace) and from
//! the host (one user namespace for the pod, not the host's, its processes on the mapped
//! ids). Then a host volume through an idmapped mount: the pod's root reads the host's root
//! files as its own and what it writes lands on disk as host root (without the idmap both
//! would be the mapped id, or nobody). The volume part is a known failure where the
//! runtime has no idmap mounts (run.sh asks `youki features`).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use k8s_cri::v1 as cri;
use serde_json::Value;

use crate::cri::timed;
use crate::cycle::{check_facts, facts};
use crate::pod::{self, USERNS_SIZE, USERNS_VOLUME};
use crate::{cgroup, Env};

/// What an exec reports from inside the pod.
const PROBE: &str = r#"echo uid=$(id -u)
echo uid_map=$(cat /proc/self/uid_map)
echo gid_map=$(cat /proc/self/gid_map)"#;

/// The volume probe: ownership of the host's file as seen inside, a write, its ownership.
const VOLUME_PROBE: &str = r#"echo host_owner=$(stat -c %u:%g /vol/host.txt)
echo host_text=$(cat /vol/host.txt)
echo from-pod > /vol/from-pod && echo write=yes || echo write=no
echo pod_owner=$(stat -c %u:%g /vol/from-pod 2>/dev/null)"#;

/// `0 BASE 65536`, as /proc/self/uid_map prints a line (columns collapsed by `echo`).
pub fn map_line(base: u32) -> String {
    format!("0 {base} {USERNS_SIZE}")
}

/// The host ids of PID (real uid and gid), from /proc/PID/status.
fn host_ids(pid: u32) -> Result<(u32, u32)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("read /proc/{pid}/status"))?;
    let field = |name: &str| -> Option<u32> { status.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok() };
    Ok((field("Uid:").context("no Uid in status")?, field("Gid:").context("no Gid in status")?))
}

fn user_ns(pid: &str) -> Result<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/user")).with_context(|| format!("readlink /proc/{pid}/ns/user"))
}

/// The uid mappings a spec asks for, on the process (linux.uidMappings) or on the mount at DEST.
pub fn spec_maps(spec: &Value, dest: Option<&str>) -> Vec<(u64, u64, u64)> {
    let maps = match dest {
        None => &spec["linux"]["uidMappings"],
        Some(d) => spec["mounts"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["destination"] == d))
            .map(|m| &m["uidMappings"])
            .unwrap_or(&Value::Null),
    };
    maps.as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    (
                        m["containerID"].as_u64().unwrap_or(u64::MAX),
                        m["hostID"].as_u64().unwrap_or(u64::MAX),
                        m["size"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// PLAIN_VOLUME mounts the volume without the pod's mappings (a negative control: the
/// ownership checks must then fail).
pub async fn run(env: &mut Env, host_base: u32, plain_volume: bool) -> Result<()> {
    let handler = env.cri.handler.clone();
    let map = pod::userns_mapping(host_base);
    let p = env.pod(&format!("userns-{handler}"), None);
    std::fs::create_dir_all(&p.log_dir)?;
    let vol = env.work.join(format!("vol-userns-{handler}"));
    std::fs::create_dir_all(&vol)?;
    std::fs::set_permissions(&vol, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    std::fs::write(vol.join("host.txt"), "from-the-host\n")?;
    let _ = std::fs::remove_file(vol.join("from-pod"));

    // containerd 2.x pins the pod's user namespace itself and hands it to the runtime as a
    // path, with the mappings it was made with (runc checks that they match).
    let sandbox = pod::userns_sandbox(&p, &map);
    let (r, d) = timed(env.cri.run_pod(&sandbox)).await;
    let what =
        format!("RunPodSandbox with its own user namespace (0 -> {host_base}, size {USERNS_SIZE}; joined by path, with its mappings)");
    let (pod_id, verdict) = match r {
        Ok(id) => (Some(id), Ok(())),
        Err(e) => (None, Err(anyhow!("{e}"))),
    };
    let known = env.known("userns-pod", &what, verdict, d);
    let pod_id = match (known, pod_id) {
        (Ok(()), Some(id)) => id,
        (Ok(()), None) => return cgroup::remove(&p.cgroup_parent),
        (Err(e), id) => {
            if let Some(id) = id {
                env.cri.force_remove_pod(&id).await;
            }
            let _ = cgroup::remove(&p.cgroup_parent);
            return Err(e);
        }
    };
    // containerd 2.1 starts no container of such a pod on a runtime whose `features` lack
    // idmap mounts ("failed to validate OCI runtime features"), volume or not.
    let walked = walk(env, &sandbox, &pod_id, &map, host_base, &vol, plain_volume).await;
    let walked = env.known(
        "idmap",
        "the pod's containers (containerd requires the runtime's idmap mounts) and its idmapped volume",
        walked,
        Duration::ZERO,
    );
    env.cri.force_remove_pod(&pod_id).await;
    if walked.is_err() {
        let _ = cgroup::remove(&p.cgroup_parent);
        return walked;
    }
    env.leftovers_of(&p).await
}

async fn walk(
    env: &mut Env,
    sandbox: &cri::PodSandboxConfig,
    pod_id: &str,
    map: &[cri::IdMapping],
    base: u32,
    vol: &Path,
    plain_volume: bool,
) -> Result<()> {
    let info = env.cri.pod_info(pod_id).await?;
    let pause = info["pid"].as_u64().context("PodSandboxStatus verbose info has no pid")?.to_string();
    let want_map = vec![(0, u64::from(base), u64::from(USERNS_SIZE))];
    ensure!(
        spec_maps(&info["runtimeSpec"], None) == want_map,
        "the sandbox's spec asks for uid mappings {:?}, want {want_map:?}",
        spec_maps(&info["runtimeSpec"], None)
    );

    let id = env.cri.create(pod_id, pod::userns_container("in-userns", &env.image, map, None), sandbox).await?;
    let (r, d) = timed(env.cri.start(&id)).await;
    r?;
    env.ok("CreateContainer and StartContainer in the pod's user namespace", d);
    let r = env.cri.exec_sync(&id, &["/bin/sh", "-c", PROBE]).await?;
    ensure!(r.exit_code == 0, "probe exited {}: {}", r.exit_code, String::from_utf8_lossy(&r.stderr));
    let f = facts(&String::from_utf8_lossy(&r.stdout));
    let line = map_line(base);
    check_facts(&f, &[("uid", "0"), ("uid_map", &line), ("gid_map", &line)])?;
    env.ok(&format!("exec: uid 0, /proc/self/uid_map and gid_map \"{line}\""), Duration::ZERO);

    let (_, cinfo) = env.cri.status(&id, true).await?;
    let pid = cinfo.as_ref().and_then(|i| i["pid"].as_u64()).context("ContainerStatus verbose info has no pid")?.to_string();
    let (ns_c, ns_p, ns_host) = (user_ns(&pid)?, user_ns(&pause)?, user_ns("self")?);
    ensure!(ns_c == ns_p, "the container is in user namespace {ns_c:?}, its sandbox in {ns_p:?}: want the pod's one");
    ensure!(ns_c != ns_host, "the container is in the host's user namespace {ns_host:?}");
    let ids = host_ids(pid.parse()?)?;
    ensure!(ids == (base, base), "the container's root runs as host uid:gid {}:{}, want {base}:{base}", ids.0, ids.1);
    env.ok(
        &format!("host side: sandbox and container share one user namespace ({}), not the host's; root is host uid {base}", ns_c.display()),
        Duration::ZERO,
    );
    env.cri.stop(&id, 0).await?;
    env.cri.remove(&id).await?;

    volume(env, sandbox, pod_id, map, vol, plain_volume).await?;
    env.ok("idmapped host volume: the host's root file is the pod root's, the pod root's write lands as host uid 0", Duration::ZERO);
    Ok(())
}

/// The idmapped volume: the spec containerd wrote, then the ownership both ways.
async fn volume(
    env: &mut Env,
    sandbox: &cri::PodSandboxConfig,
    pod_id: &str,
    map: &[cri::IdMapping],
    vol: &Path,
    plain: bool,
) -> Result<()> {
    let mut config = pod::userns_container("idmapped-volume", &env.image, map, Some(vol));
    if plain {
        config.mounts.iter_mut().for_each(|m| (m.uid_mappings, m.gid_mappings) = (Vec::new(), Vec::new()));
    }
    let sent = config.mounts[0].uid_mappings.clone();
    let id = env.cri.create(pod_id, config, sandbox).await?;
    let checked = volume_checks(env, &id, &sent, vol).await;
    let _ = env.cri.stop(&id, 0).await;
    let _ = env.cri.remove(&id).await;
    checked
}

/// SENT: the mount's mappings as asked for, which containerd must put on the spec's mount.
async fn volume_checks(env: &mut Env, id: &str, sent: &[cri::IdMapping], vol: &Path) -> Result<()> {
    let (_, info) = env.cri.status(id, true).await?;
    let spec = info.as_ref().map(|i| i["runtimeSpec"].clone()).unwrap_or(Value::Null);
    let want: Vec<(u64, u64, u64)> = sent.iter().map(|m| (u64::from(m.container_id), u64::from(m.host_id), u64::from(m.length))).collect();
    let got = spec_maps(&spec, Some(USERNS_VOLUME));
    ensure!(got == want, "the spec's mount at {USERNS_VOLUME} carries uidMappings {got:?}, want {want:?}");
    if let Some(m) = spec["mounts"].as_array().and_then(|m| m.iter().find(|m| m["destination"] == USERNS_VOLUME)) {
        println!("spec mount {USERNS_VOLUME}: type {}, options {}, uidMappings {}", m["type"], m["options"], m["uidMappings"]);
    }
    env.cri.start(id).await.map_err(|e| anyhow!("StartContainer with the idmapped volume: {}", e.message))?;
    let r = env.cri.exec_sync(id, &["/bin/sh", "-c", VOLUME_PROBE]).await?;
    let f = facts(&String::from_utf8_lossy(&r.stdout));
    check_facts(&f, &[("host_owner", "0:0"), ("host_text", "from-the-host"), ("write", "yes"), ("pod_owner", "0:0")])?;
    let meta = std::fs::metadata(vol.join("from-pod")).context("the pod's file on the host")?;
    ensure!(
        (meta.uid(), meta.gid()) == (0, 0),
        "the pod's file is host uid:gid {}:{} on the volume, want 0:0 (the idmap)",
        meta.uid(),
        meta.gid()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_maps_reads_the_process_and_the_mount_mappings() {
        let spec = serde_json::json!({
            "linux": {"uidMappings": [{"containerID": 0, "hostID": 65536, "size": 65536}]},
            "mounts": [{"destination": "/proc"}, {"destination": "/vol", "uidMappings": [{"containerID": 0, "hostID": 65536, "size": 65536}]}]
        });
        assert_eq!(spec_maps(&spec, None), [(0, 65536, 65536)]);
        assert_eq!(spec_maps(&spec, Some("/vol")), [(0, 65536, 65536)]);
        assert!(spec_maps(&spec, Some("/proc")).is_empty());
        assert!(spec_maps(&spec, Some("/none")).is_empty());
        assert_eq!(map_line(131072), "0 131072 65536");
    }
}
