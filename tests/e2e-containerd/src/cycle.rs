//! The kubelet's pod cycle against one runtime handler, asserting real effects at every
//! step: what the container's process wrote to a host volume, what an exec sees inside
//! (user, caps, seccomp, mounts, network, cgroup files), the host's cgroup files before
//! and after an update, non-zero stats, a clean SIGTERM stop, and nothing left after.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use k8s_cri::v1 as cri;

use crate::cri::timed;
use crate::pod::{self, Pod};
use crate::{cgroup, spans, stream, Env};

/// The probe an ExecSync runs inside the workload: one `key=value` line per fact.
const PROBE: &str = r#"echo uid=$(id -u); echo groups=$(id -G); echo env=$E2E_GREETING; echo cwd=$(pwd)
echo capbnd=$(grep ^CapBnd /proc/self/status | cut -f2)
echo nnp=$(grep ^NoNewPrivs /proc/self/status | cut -f2)
echo seccomp=$(grep ^Seccomp: /proc/self/status | cut -f2)
echo config=$(cat /config/config.txt)
touch /config/x 2>/dev/null && echo configw=yes || echo configw=no
touch /rootfs-probe 2>/dev/null && echo rootfsw=yes || echo rootfsw=no
echo from-exec > /data/exec 2>/dev/null && echo dataw=yes || echo dataw=no
echo masked=$(for p in $MASKED; do grep -q " $p " /proc/mounts && printf '%s,' $p; done)
echo procsys=$(grep ' /proc/sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1)
echo ip=$(ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
echo hostname=$(hostname)
echo mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
echo quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)"#;

/// `key=value` lines to a map (the probe's output).
pub fn facts(stdout: &str) -> BTreeMap<String, String> {
    stdout.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect()
}

/// Compares the probe's facts with what was asked for; every mismatch is named.
pub fn check_facts(f: &BTreeMap<String, String>, want: &[(&str, &str)]) -> Result<()> {
    let bad: Vec<String> = want
        .iter()
        .filter(|(k, v)| f.get(*k).map(String::as_str) != Some(*v))
        .map(|(k, v)| format!("{k}: want {v:?}, got {:?}", f.get(*k)))
        .collect();
    ensure!(bad.is_empty(), "inside the container: {}", bad.join("; "));
    Ok(())
}

const MIB: i64 = 1 << 20;

pub async fn run(env: &mut Env) -> Result<()> {
    let handler = env.cri.handler.clone();
    let parent = spans::Parent { trace: crate::random_hex(16), span: crate::random_hex(8) };
    let p = env.pod(&format!("cycle-{handler}"), Some(&parent));
    let rw = env.work.join(format!("vol-{handler}-rw"));
    let ro = env.work.join(format!("vol-{handler}-ro"));
    for d in [&rw, &ro] {
        std::fs::create_dir_all(d).with_context(|| format!("mkdir {}", d.display()))?;
    }
    std::fs::set_permissions(&rw, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
    std::fs::write(ro.join("config.txt"), "from-the-host\n")?;
    // A second cycle on the handler (after the crash scenario) must see only its own writes.
    for stale in [rw.join("started"), rw.join("exec"), Path::new(&p.log_dir).join("workload.log")] {
        let _ = std::fs::remove_file(stale);
    }
    std::fs::create_dir_all(&p.log_dir)?;

    let sandbox = pod::sandbox(&p);
    let (r, d) = timed(env.cri.run_pod(&sandbox)).await;
    let pod_id = r?;
    env.ok("RunPodSandbox (pause image, CNI bridge)", d);
    let walked = walk(env, &p, &sandbox, &pod_id, &rw, &ro).await;
    if walked.is_err() {
        env.cri.force_remove_pod(&pod_id).await;
        let _ = cgroup::remove(&p.cgroup_parent);
        return walked.map(drop);
    }
    let ids = walked?;
    env.leftovers_of(&p).await?;
    if let Some(rx) = &env.receiver {
        let got = wait_for_spans(rx, &ids.1).await;
        let create = spans::check_create(&got, &parent, &ids.1).context("spans of the workload")?;
        spans::check_start(&got, create, &ids.1)?;
        spans::check_end(&got, create, &ids.1, "SIGTERM")?;
        let pause = spans::check_create(&got, &parent, &pod_id).context("spans of the sandbox")?;
        spans::check_start(&got, pause, &pod_id)?;
        spans::check_end(&got, pause, &pod_id, "SIGKILL")?;
        ensure!(create.attrs.get("k8s.pod.name") == Some(&p.name), "create span lacks k8s.pod.name={}", p.name);
        ensure!(
            create.attrs.get("k8s.container.name").map(String::as_str) == Some("workload"),
            "create span lacks k8s.container.name=workload"
        );
        let execs = spans::of(&got, "youki exec", &ids.1);
        ensure!(execs.len() >= 3, "{} \"youki exec\" spans with container.id={} for at least 3 execs", execs.len(), ids.1);
        spans::check_linked(&execs, create)?;
        println!("{}", spans::render(&got, create).trim_end());
        env.ok(&format!("spans: {} from {} exports; create of sandbox and workload in the pod's trace, start/kill/delete/exec linked to it, stages nested", got.len(), rx.requests()), Duration::ZERO);
    }
    Ok(())
}

/// Waits (briefly) until the delete of ID has been received: every export before it is in.
async fn wait_for_spans(rx: &crate::otlp::Receiver, id: &str) -> Vec<crate::otlp::SpanView> {
    for _ in 0..50 {
        let got = rx.spans();
        if got.iter().any(|s| s.name == "youki delete" && s.attrs.get("container.id").map(String::as_str) == Some(id)) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rx.spans()
}

/// Everything between RunPodSandbox and RemovePodSandbox; returns (sandbox, workload) ids.
async fn walk(env: &mut Env, p: &Pod, sandbox: &cri::PodSandboxConfig, pod_id: &str, rw: &Path, ro: &Path) -> Result<(String, String)> {
    let ip = env.cri.pod_ip(pod_id).await?;
    ensure!(ip.starts_with("192.0.2."), "pod IP {ip:?} is not from the CNI range 192.0.2.0/24");

    let config = pod::workload(&env.image, rw, ro, pod::limits(64 * MIB, 50_000, 512));
    let (r, d) = timed(env.cri.create(pod_id, config, sandbox)).await;
    let id = r?;
    env.ok("CreateContainer (resources, env, 2 mounts, restricted security context)", d);
    let (r, d) = timed(env.cri.start(&id)).await;
    r?;
    env.ok("StartContainer", d);

    let started = poll_file(&rw.join("started")).await?;
    let want = format!("{} {}:{}", pod::GREETING.1, pod::RUN_AS, pod::RUN_AS);
    ensure!(started == want, "the workload wrote {started:?} to its volume, want {want:?}");
    env.ok(&format!("the process ran with its env and user: the host volume holds {started:?}"), Duration::ZERO);

    let (_, info) = env.cri.status(&id, true).await?;
    let pid = info.as_ref().and_then(|i| i["pid"].as_u64()).context("ContainerStatus verbose info has no pid")? as u32;
    check_host_cgroup(pid, 64 * MIB, 50_000, 512)?;
    env.ok(&format!("host cgroup files of pid {pid}: memory 64 MiB, cfs quota 50000, shares 512"), Duration::ZERO);

    let (r, d) = timed(env.cri.exec_sync(&id, &["/bin/sh", "-c", "echo out; echo err >&2; exit 3"])).await;
    let r = r?;
    ensure!(
        (r.stdout.as_slice(), r.stderr.as_slice(), r.exit_code) == (&b"out\n"[..], &b"err\n"[..], 3),
        "ExecSync gave stdout {:?} stderr {:?} exit {}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr),
        r.exit_code
    );
    env.ok("ExecSync: stdout, stderr and exit code 3 come back", d);

    // The masked paths this kernel has (a missing one is skipped by every runtime).
    let masked: Vec<&str> = pod::MASKED_PATHS.iter().copied().filter(|m| Path::new(m).exists()).collect();
    let probe = format!("MASKED='{}'\n{PROBE}", masked.join(" "));
    let r = env.cri.exec_sync(&id, &["/bin/sh", "-c", &probe]).await?;
    ensure!(r.exit_code == 0, "probe exited {}: {}", r.exit_code, String::from_utf8_lossy(&r.stderr));
    let f = facts(&String::from_utf8_lossy(&r.stdout));
    check_facts(
        &f,
        &[
            ("uid", "1000"),
            ("groups", "1000 2000"),
            ("env", pod::GREETING.1),
            ("cwd", "/data"),
            ("capbnd", "0000000000000400"),
            ("nnp", "1"),
            ("seccomp", "2"),
        ],
    )?;
    env.ok("exec: uid 1000, groups 1000 2000, env, cwd, only CAP_NET_BIND_SERVICE, no_new_privs, seccomp filter", Duration::ZERO);
    check_facts(
        &f,
        &[
            ("config", "from-the-host"),
            ("configw", "no"),
            ("rootfsw", "no"),
            ("dataw", "yes"),
            ("masked", &format!("{},", masked.join(","))),
            ("procsys", "ro"),
        ],
    )?;
    ensure!(std::fs::read_to_string(rw.join("exec"))? == "from-exec\n", "the exec's write did not reach the host volume");
    env.ok("exec: ro and rw volumes, read-only rootfs, masked and read-only /proc paths", Duration::ZERO);
    check_facts(&f, &[("ip", &ip), ("hostname", &p.name), ("mem", &(64 * MIB).to_string()), ("quota", "50000")])?;
    env.ok(&format!("exec: pod IP {ip} on eth0, hostname, own cgroup files"), Duration::ZERO);

    let (url, d) = timed(env.cri.exec_tty(&id, &["/bin/sh"])).await;
    let url = url?;
    let s = stream::run(&url, (100, 30), "stty size; tty; echo $((6*7)); exit 7\n", Duration::from_secs(20)).await?;
    let out = String::from_utf8_lossy(&s.stdout);
    ensure!(out.contains("30 100") && out.contains("/dev/pts/") && out.contains("42"), "tty exec printed {out:?}");
    ensure!(s.exit_code == Some(7), "tty exec exit code {:?}, want 7", s.exit_code);
    env.ok("Exec with a tty over the streaming URL (websocket): size 100x30, /dev/pts, exit 7", d);

    let (r, d) = timed(env.cri.update(&id, pod::limits(96 * MIB, 30_000, 256))).await;
    r?;
    check_host_cgroup(pid, 96 * MIB, 30_000, 256)?;
    let inside = env
        .cri
        .exec_sync(&id, &["/bin/sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us"])
        .await?;
    ensure!(
        String::from_utf8_lossy(&inside.stdout) == format!("{}\n30000\n", 96 * MIB),
        "after the update the container sees {:?}",
        String::from_utf8_lossy(&inside.stdout)
    );
    env.ok("UpdateContainerResources: 96 MiB, quota 30000, shares 256 on the host and inside", d);

    let (st, d) = timed(env.cri.stats(&id)).await;
    let st = st?;
    let cpu = st.cpu.and_then(|c| c.usage_core_nano_seconds).map(|v| v.value).unwrap_or(0);
    let mem = st.memory.and_then(|m| m.working_set_bytes).map(|v| v.value).unwrap_or(0);
    ensure!(cpu > 0 && mem > 0, "ContainerStats: cpu {cpu} ns, working set {mem} bytes");
    env.ok(&format!("ContainerStats: cpu {:.1} ms, working set {} KiB", cpu as f64 / 1e6, mem / 1024), d);

    let (r, d) = timed(env.cri.stop(&id, 10)).await;
    r?;
    let (status, _) = env.cri.status(&id, false).await?;
    ensure!(status.state == cri::ContainerState::ContainerExited as i32, "after StopContainer the state is {}", status.state);
    ensure!(status.exit_code == 0, "the workload exited {} on SIGTERM, want 0 (its trap)", status.exit_code);
    ensure!(d < Duration::from_secs(8), "StopContainer took {d:?}: SIGTERM was not delivered, the timeout killed it");
    let log = std::fs::read_to_string(Path::new(&p.log_dir).join("workload.log")).unwrap_or_default();
    ensure!(log.contains(" stdout F started") && log.contains(" stdout F stopping"), "container log lacks the workload's lines: {log:?}");
    env.ok("StopContainer: SIGTERM trapped, exit 0, both lines in the CRI log", d);

    let (r, d) = timed(env.cri.remove(&id)).await;
    r?;
    env.ok("RemoveContainer", d);
    shared_pid(env, pod_id, sandbox).await?;

    let (r, d) = timed(env.cri.stop_pod(pod_id)).await;
    r?;
    env.ok("StopPodSandbox", d);
    let (r, d) = timed(env.cri.remove_pod(pod_id)).await;
    r?;
    env.ok("RemovePodSandbox", d);
    Ok((pod_id.to_string(), id))
}

/// `shareProcessNamespace`: the main process exits on SIGTERM and leaves a child; once
/// StopContainer returns, nothing may be left in the container's cgroup (the shim sends
/// `kill --all` to the runtime for exactly this).
async fn shared_pid(env: &mut Env, pod_id: &str, sandbox: &cri::PodSandboxConfig) -> Result<()> {
    let id = env.cri.create(pod_id, pod::shared_pid(&env.image), sandbox).await?;
    env.cri.start(&id).await?;
    let (_, info) = env.cri.status(&id, true).await?;
    let pid = info.as_ref().and_then(|i| i["pid"].as_u64()).context("ContainerStatus verbose info has no pid")? as u32;
    let dir = cgroup::dir_of(pid, "pids")?;
    for _ in 0..100 {
        if cgroup::procs(&dir).len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = cgroup::procs(&dir).len();
    let (r, d) = timed(env.cri.stop(&id, 10)).await;
    r?;
    let left = cgroup::procs(&dir);
    env.cri.remove(&id).await?;
    ensure!(before >= 2, "the shared-pid container had {before} processes, want its shell and a child");
    // The shim waits up to 2 s for the main process's output to drain: a child that holds
    // it until then was not killed by `kill --all` but by that timeout's cleanup.
    let verdict = if !left.is_empty() {
        Err(anyhow::anyhow!("after StopContainer ({} ms) pids {left:?} are still in {}", d.as_millis(), dir.display()))
    } else if d >= Duration::from_secs(1) {
        Err(anyhow::anyhow!(
            "StopContainer took {} ms: the child outlived the main process until the shim's 2 s output-drain timeout",
            d.as_millis()
        ))
    } else {
        Ok(())
    };
    env.known("kill-all-stopped", "shareProcessNamespace: StopContainer leaves no process in the container's cgroup", verdict, d)
}

fn check_host_cgroup(pid: u32, memory: i64, quota: i64, shares: i64) -> Result<()> {
    let got = (
        cgroup::read(pid, "memory", "memory.limit_in_bytes")?,
        cgroup::read(pid, "cpu", "cpu.cfs_quota_us")?,
        cgroup::read(pid, "cpu", "cpu.shares")?,
    );
    let want = (memory.to_string(), quota.to_string(), shares.to_string());
    if got != want {
        bail!("host cgroup files of pid {pid}: (memory, quota, shares) = {got:?}, want {want:?}");
    }
    Ok(())
}

async fn poll_file(path: &Path) -> Result<String> {
    for _ in 0..100 {
        if let Ok(s) = std::fs::read_to_string(path) {
            if s.ends_with('\n') {
                return Ok(s.trim_end().to_string());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{} did not appear within 5 s", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_parse_and_mismatches_are_named() {
        let f = facts("uid=1000\ngroups=1000 2000\nip=\nnoise\n");
        assert_eq!(f["groups"], "1000 2000");
        assert_eq!(f["ip"], "");
        check_facts(&f, &[("uid", "1000")]).unwrap();
        let e = check_facts(&f, &[("uid", "0"), ("seccomp", "2")]).unwrap_err().to_string();
        assert!(e.contains("uid: want \"0\", got Some(\"1000\")") && e.contains("seccomp: want \"2\", got None"), "{e}");
    }
}
