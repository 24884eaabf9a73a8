//! Crash recovery as a node sees it: pods start at once while their shims and then
//! containerd are SIGKILLed (`crash-kill`); run.sh restarts containerd on the same root,
//! state and socket; then every pod containerd lists must stop and go through the CRI,
//! with retries of a bounded count, and leave nothing under its cgroup parent
//! (`crash-recover`). The pods of a run are recorded in WORK/crash-HANDLER between the two.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use k8s_cri::v1 as cri;

use crate::cri::{timed, Cri};
use crate::{cgroup, pod, Env};

/// How far one pod got; the order is the order of the kubelet's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Stage {
    Sandbox = 0,
    Creating = 1,
    Starting = 2,
    Running = 3,
    Failed = 4,
}

impl Stage {
    fn from_u8(v: u8) -> Stage {
        match v {
            0 => Stage::Sandbox,
            1 => Stage::Creating,
            2 => Stage::Starting,
            3 => Stage::Running,
            _ => Stage::Failed,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Stage::Sandbox => "in RunPodSandbox",
            Stage::Creating => "in CreateContainer",
            Stage::Starting => "in StartContainer",
            Stage::Running => "running",
            Stage::Failed => "failed",
        }
    }
}

/// The stages of all pods as "2 running, 1 in StartContainer, ...", in call order.
pub fn summary(stages: &[Stage]) -> String {
    let mut all = stages.to_vec();
    all.sort();
    all.dedup();
    all.iter().map(|s| format!("{} {}", stages.iter().filter(|x| *x == s).count(), s.label())).collect::<Vec<_>>().join(", ")
}

/// Whether CMDLINE (NUL-separated) is a shim of the containerd on SOCKET: containerd
/// starts each with `-namespace NS -id ID -address SOCKET`.
pub fn is_shim_of(cmdline: &[u8], socket: &str) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.windows(2).any(|w| w[0] == b"-address" && w[1] == socket.as_bytes())
}

/// Whether CMDLINE (NUL-separated) is a runtime's `create` (or youki's init, a clone of
/// it) with its state root under WORK, as the shim calls it: `--root WORK/rt/H ... create`.
pub fn is_create_under(cmdline: &[u8], work: &str) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let root = args.windows(2).any(|w| w[0] == b"--root" && w[1].starts_with(work.as_bytes()) && w[1].get(work.len()) == Some(&b'/'));
    root && args.iter().any(|a| *a == b"create")
}

/// Container cgroups under PARENTS, as PARENT/NAME with the number of hierarchies that
/// have it and the pids still in it.
fn cgroups_left(parents: &[String]) -> Vec<String> {
    let mut found: std::collections::BTreeMap<String, (usize, std::collections::BTreeSet<u32>)> = Default::default();
    for parent in parents {
        for dir in cgroup::children_of(parent) {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let e = found.entry(format!("{parent}/{name}")).or_default();
            e.0 += 1;
            e.1.extend(cgroup::procs(&dir));
        }
    }
    found
        .into_iter()
        .map(
            |(k, (n, pids))| {
                if pids.is_empty() {
                    format!("{k} (empty, in {n} hierarchies)")
                } else {
                    format!("{k} (pids {pids:?}, in {n} hierarchies)")
                }
            },
        )
        .collect()
}

/// The container id of a `cgroups_left` line (`PARENT/ID (pids ...)`).
fn leftover_id(line: &str) -> &str {
    let path = line.split(" (").next().unwrap_or(line);
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether containerd's log shows that it started container ID and then, its shim killed,
/// recorded an exit for it (containerd's own status 255) without asking the runtime: it
/// never deletes that task afterwards, whatever the runtime, and the container's process
/// lives on (containerd 2.1; runc leaves it the same way).
pub fn started_orphan(log: &str, id: &str) -> bool {
    log.contains(&format!(r#"StartContainer for \"{id}\" returns successfully"#))
        && log.contains(&format!(r#"received container exit event container_id:\"{id}\""#))
}

/// Removes the empty cgroups under PARENT, deepest first (a known leak's leftovers).
fn sweep(parent: &str) {
    for dir in cgroup::children_of(parent) {
        sweep(&format!("{}/{}", parent, dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()));
        let _ = std::fs::remove_dir(&dir);
    }
}

/// Whether CMDLINE is any runtime call with its state root under WORK.
fn runs_under(cmdline: &[u8], work: &str) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.windows(2).any(|w| w[0] == b"--root" && w[1].starts_with(work.as_bytes()))
}

/// Paths under DIR down to DEPTH levels (a diagnosis, so errors are skipped).
fn walk_dir(dir: &Path, depth: usize) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out = Vec::new();
    for e in rd.flatten() {
        out.push(e.path().display().to_string());
        if depth > 1 && e.path().is_dir() {
            out.extend(walk_dir(&e.path(), depth - 1));
        }
    }
    out
}

/// Pids whose command line passes TEST, with it (NULs as spaces).
fn processes(test: impl Fn(&[u8]) -> bool) -> Vec<(i32, String)> {
    let Ok(rd) = std::fs::read_dir("/proc") else { return Vec::new() };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter_map(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .ok()
                .filter(|c| test(c))
                .map(|c| (pid, String::from_utf8_lossy(&c).replace('\0', " ").trim_end().to_string()))
        })
        .collect()
}

fn sigkill(pid: i32) -> Result<()> {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
    ensure!(rc == 0, "kill -9 {pid}: {}", std::io::Error::last_os_error());
    Ok(())
}

/// Whether PID is gone or a zombie (dead, not yet reaped by its parent).
fn dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// One recorded pod: its name, uid and the sandbox id, once RunPodSandbox answered.
pub fn record_line(p: &pod::Pod, sandbox: Option<&str>) -> String {
    format!("{} {} {}\n", p.name, p.uid, sandbox.unwrap_or("-"))
}

pub fn parse_record(line: &str) -> Option<(String, String, Option<String>)> {
    let mut w = line.split_whitespace();
    let (name, uid, sandbox) = (w.next()?, w.next()?, w.next()?);
    Some((name.into(), uid.into(), (sandbox != "-").then(|| sandbox.to_string())))
}

fn record_file(env: &Env) -> PathBuf {
    env.work.join(format!("crash-{}", env.cri.handler))
}

/// The kubelet's calls for one pod, each stage marked before its call; the sandbox id
/// once RunPodSandbox answered, and the first error.
async fn start_one(mut cri: Cri, image: String, p: pod::Pod, stage: Arc<AtomicU8>) -> (Option<String>, Option<String>) {
    let sandbox = pod::sandbox(&p);
    let pod_id = match cri.run_pod(&sandbox).await {
        Ok(id) => id,
        Err(e) => {
            stage.store(Stage::Failed as u8, Ordering::SeqCst);
            return (None, Some(e.to_string()));
        }
    };
    stage.store(Stage::Creating as u8, Ordering::SeqCst);
    let started = async {
        let id = cri.create(&pod_id, pod::sleeper(&image), &sandbox).await?;
        stage.store(Stage::Starting as u8, Ordering::SeqCst);
        cri.start(&id).await
    };
    match started.await {
        Ok(()) => {
            stage.store(Stage::Running as u8, Ordering::SeqCst);
            (Some(pod_id), None)
        }
        Err(e) => {
            stage.store(Stage::Failed as u8, Ordering::SeqCst);
            (Some(pod_id), Some(e.to_string()))
        }
    }
}

/// Starts PODS pods at once; as soon as one runs, SIGKILLs the shims of the containerd on
/// SOCKET, then containerd (CONTAINERD_PID), then any shim started in between. What each
/// pod got to is recorded for recover.
pub async fn kill(env: &mut Env, socket: &Path, containerd_pid: i32, pods: usize) -> Result<()> {
    let handler = env.cri.handler.clone();
    let all: Vec<pod::Pod> = (0..pods).map(|i| env.pod(&format!("crash-{handler}-{i}"), None)).collect();
    for p in &all {
        std::fs::create_dir_all(&p.log_dir).with_context(|| format!("mkdir {}", p.log_dir))?;
    }
    let record: String = all.iter().map(|p| record_line(p, None)).collect();
    std::fs::write(record_file(env), record).with_context(|| format!("write {}", record_file(env).display()))?;

    let stages: Vec<Arc<AtomicU8>> = all.iter().map(|_| Arc::new(AtomicU8::new(Stage::Sandbox as u8))).collect();
    let began = Instant::now();
    let tasks: Vec<_> =
        all.iter().zip(&stages).map(|(p, s)| tokio::spawn(start_one(env.cri.clone(), env.image.clone(), p.clone(), s.clone()))).collect();
    let now = |stages: &[Arc<AtomicU8>]| stages.iter().map(|s| Stage::from_u8(s.load(Ordering::SeqCst))).collect::<Vec<_>>();
    // Once a pod runs, containerd has shims up and the others are on their way; the kill
    // waits (a little) for a runtime's create to be in flight, the hardest moment to die in.
    let work = env.work.display().to_string();
    let mut running_since = None;
    let creating = loop {
        let creating = processes(|c| is_create_under(c, &work));
        if now(&stages).contains(&Stage::Running) {
            let since = *running_since.get_or_insert_with(Instant::now);
            if !creating.is_empty() || since.elapsed() > Duration::from_secs(2) {
                break creating;
            }
        }
        if tasks.iter().all(|t| t.is_finished()) || began.elapsed() > Duration::from_secs(30) {
            break creating;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let socket_s = socket.display().to_string();
    let shims: Vec<i32> = processes(|c| is_shim_of(c, &socket_s)).into_iter().map(|(pid, _)| pid).collect();
    let at_kill = now(&stages);
    let shims_killed: Vec<i32> = shims.iter().copied().filter(|pid| sigkill(*pid).is_ok()).collect();
    sigkill(containerd_pid).context("containerd")?;
    let since = began.elapsed();

    let mut outcomes = Vec::new();
    for t in tasks {
        // Every call fails once containerd is gone; the bound is for a call that hangs.
        match tokio::time::timeout(Duration::from_secs(20), t).await {
            Ok(Ok(o)) => outcomes.push(o),
            Ok(Err(e)) => bail!("a pod's task: {e}"),
            Err(_) => bail!("a pod's CRI calls did not end within 20 s of containerd's SIGKILL"),
        }
    }
    let record: String = all.iter().zip(&outcomes).map(|(p, (id, _))| record_line(p, id.as_deref())).collect();
    std::fs::write(record_file(env), record).with_context(|| format!("write {}", record_file(env).display()))?;
    for _ in 0..100 {
        if dead(containerd_pid) && shims_killed.iter().all(|p| dead(*p)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ensure!(dead(containerd_pid), "containerd (pid {containerd_pid}) still runs after SIGKILL");
    // A shim containerd was spawning between the scan and its death escaped the kill (and
    // containerd may not have recorded it); it gets the same SIGKILL.
    let late: Vec<i32> = processes(|c| is_shim_of(c, &socket_s))
        .into_iter()
        .map(|(pid, _)| pid)
        .filter(|pid| !shims.contains(pid) && sigkill(*pid).is_ok())
        .collect();
    ensure!(!shims.is_empty(), "no shim of {} to kill: {}", socket.display(), summary(&at_kill));
    ensure!(at_kill.contains(&Stage::Running), "no pod ran within 30 s: {}", summary(&at_kill));
    let in_flight = match creating.first() {
        Some((pid, cmd)) => {
            let bin = cmd.split(' ').next().and_then(|b| b.rsplit('/').next()).unwrap_or("?");
            format!("{} runtime create process(es) in flight (pid {pid}: {bin} create)", creating.len())
        }
        None => "no runtime create in flight".into(),
    };
    env.ok(
        &format!(
            "{pods} pods starting at once; {} ms in, with {} and {in_flight}, SIGKILL to {} shim(s) and then containerd{}",
            since.as_millis(),
            summary(&at_kill),
            shims_killed.len(),
            if late.is_empty() { String::new() } else { format!(", then to {} shim(s) started meanwhile", late.len()) }
        ),
        Duration::ZERO,
    );
    let errors: Vec<String> = outcomes.iter().filter_map(|(_, e)| e.clone()).collect();
    if let Some(e) = errors.first() {
        println!("     {} of the pods' calls failed, as they must with containerd gone; the first: {e}", errors.len());
    }
    Ok(())
}

/// StopPodSandbox and RemovePodSandbox until both succeed, at most TRIES times a second
/// apart; the errors of the tries that failed.
async fn teardown(cri: &mut Cri, id: &str) -> Result<Vec<String>> {
    const TRIES: usize = 10;
    let mut errors = Vec::new();
    for _ in 0..TRIES {
        let r = async {
            cri.stop_pod(id).await?;
            cri.remove_pod(id).await
        };
        match r.await {
            Ok(()) => return Ok(errors),
            Err(e) => errors.push(e.to_string()),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bail!("sandbox {id}: {TRIES} tries of StopPodSandbox and RemovePodSandbox failed: {errors:?}")
}

/// After containerd's restart: it still knows every pod it acknowledged, each listed pod
/// stops and goes, and nothing is left under the pods' cgroup parents.
pub async fn recover(env: &mut Env) -> Result<()> {
    let file = record_file(env);
    let text = std::fs::read_to_string(&file).with_context(|| format!("read {} (cri-e2e crash-kill first)", file.display()))?;
    let recorded: Vec<_> = text.lines().filter_map(parse_record).collect();

    ensure!(!recorded.is_empty(), "no pod recorded in {}", file.display());

    let (listed, d) = timed(async { Ok::<_, crate::cri::CallError>((env.cri.sandboxes().await?, env.cri.containers().await?)) }).await;
    let (sandboxes, containers) = listed?;
    let ready = sandboxes.iter().filter(|s| s.state == cri::PodSandboxState::SandboxReady as i32).count();
    let running = containers.iter().filter(|c| c.state == cri::ContainerState::ContainerRunning as i32).count();
    let lost: Vec<&String> =
        recorded.iter().filter_map(|(_, _, id)| id.as_ref()).filter(|id| !sandboxes.iter().any(|s| &s.id == *id)).collect();
    ensure!(lost.is_empty(), "containerd lost the sandboxes it had acknowledged: {lost:?}");
    env.ok(
        &format!(
            "after the restart containerd lists {} sandbox(es) ({ready} ready) and {} container(s) ({running} running), every acknowledged sandbox among them",
            sandboxes.len(),
            containers.len()
        ),
        d,
    );

    let t = Instant::now();
    let mut retried = Vec::new();
    let mut stuck = Vec::new();
    for s in &sandboxes {
        match teardown(&mut env.cri, &s.id).await {
            Ok(errors) => {
                if let Some(first) = errors.first() {
                    retried.push(format!("{} after {} failed tries (first: {first})", &s.id[..12], errors.len()));
                }
            }
            Err(e) => stuck.push(format!("{e:#}")),
        }
    }
    ensure!(stuck.is_empty(), "{}", stuck.join("; "));
    let how = if retried.is_empty() { "each at the first try".to_string() } else { retried.join("; ") };
    env.ok(&format!("StopPodSandbox and RemovePodSandbox of all {} sandbox(es): {how}", sandboxes.len()), t.elapsed());

    let known = env.cri.leftovers().await?;
    ensure!(known.is_empty(), "containerd still knows {known:?}");
    let parents: Vec<String> = recorded.iter().map(|(_, uid, _)| format!("{}/pod-{uid}", env.cgroup_top)).collect();
    let left = cgroups_left(&parents);
    let verdict = if left.is_empty() {
        Ok(())
    } else {
        let work = env.work.display().to_string();
        let runtimes: Vec<String> = processes(|c| runs_under(c, &work)).into_iter().map(|(pid, cmd)| format!("{pid}: {cmd}")).collect();
        let state = env.work.join("rt").join(&env.cri.handler);
        Err(anyhow::anyhow!(
            "cgroups left under the pods' parents: {}; runtime processes: {runtimes:?}; entries in {}: {:?}",
            left.join(", "),
            state.display(),
            walk_dir(&state, 2)
        ))
    };
    let what = "nothing left: no container or sandbox in containerd, no cgroup under the pods";
    let listed = env.xfail.iter().any(|x| x == "crash-cgroups");
    let log = std::fs::read_to_string(env.work.join("containerd.log")).unwrap_or_default();
    let ids: Vec<&str> = left.iter().map(|l| leftover_id(l)).collect();
    if verdict.is_err() && !listed && ids.iter().all(|id| started_orphan(&log, id)) {
        // containerd's, for every runtime: noted, not counted, swept by run.sh.
        println!(
            "xfail {}: {what} [started-orphan]: containerd recorded an exit for the started container(s) {ids:?} when their shim died and never asked the runtime to delete them",
            env.cri.handler
        );
        std::fs::write(env.work.join("started-orphans"), ids.join("\n"))?;
        std::fs::remove_file(&file).with_context(|| format!("remove {}", file.display()))?;
        return Ok(());
    }
    match (verdict, listed) {
        // The leak is timing-dependent: a listed handler may pass, and that is no news.
        (Ok(()), true) => env.ok(&format!("{what} (the known failure [crash-cgroups] did not show this time)"), Duration::ZERO),
        (verdict, _) => env.known("crash-cgroups", what, verdict, Duration::ZERO)?,
    }
    for parent in &parents {
        if listed {
            // Empty directories go here; what still runs is run.sh's to sweep.
            sweep(parent);
            let _ = cgroup::remove(parent);
        } else {
            cgroup::remove(parent)?;
        }
    }
    std::fs::remove_file(&file).with_context(|| format!("remove {}", file.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_container_containerd_marked_exited_is_its_orphan() {
        let id = "084555d0a85e";
        let started = format!(r#"level=info msg="StartContainer for \"{id}\" returns successfully""#);
        let exited =
            format!(r#"level=info msg="received container exit event container_id:\"{id}\"  id:\"{id}\"  pid:8201  exit_status:255""#);
        assert!(started_orphan(&format!("{started}\n{exited}\n"), id));
        assert!(!started_orphan(&started, id), "started, no exit recorded: the runtime's");
        assert!(!started_orphan(&exited, id), "never started: the runtime's");
        assert!(!started_orphan(&format!("{started}\n{exited}"), "0845"), "another id");
        assert_eq!(leftover_id("/top/pod-1/084555d0a85e (pids {8201}, in 9 hierarchies)"), id);
    }

    #[test]
    fn a_shim_is_known_by_its_address_argument() {
        let shim = b"/usr/bin/containerd-shim-runc-v2\0-namespace\0k8s.io\0-id\0abc\0-address\0/tmp/w/containerd.sock\0";
        assert!(is_shim_of(shim, "/tmp/w/containerd.sock"));
        assert!(!is_shim_of(shim, "/tmp/other/containerd.sock"));
        assert!(!is_shim_of(b"/bin/sleep\x003600\0", "/tmp/w/containerd.sock"));
        assert!(!is_shim_of(b"x\0-address\0/tmp/w/containerd.sock.ttrpc\0", "/tmp/w/containerd.sock"));
    }

    #[test]
    fn a_runtime_create_is_known_by_its_root_under_work() {
        let create = b"/usr/bin/youki\0--root\0/tmp/w/rt/youki\0--log\0/b/log.json\0create\0--bundle\0/b\0abc\0";
        assert!(is_create_under(create, "/tmp/w"));
        assert!(!is_create_under(create, "/tmp/w/rt/yo"));
        assert!(!is_create_under(b"/usr/bin/youki\0--root\0/tmp/w/rt/youki\0start\0abc\0", "/tmp/w"));
        assert!(!is_create_under(b"/usr/bin/youki\0create\0abc\0", "/tmp/w"));
    }

    #[test]
    fn records_round_trip_with_and_without_a_sandbox() {
        let p = pod::Pod {
            name: "crash-youki-0".into(),
            uid: "u0".into(),
            namespace: "n".into(),
            cgroup_parent: "/t/pod-u0".into(),
            log_dir: "/l".into(),
            annotations: Default::default(),
        };
        assert_eq!(parse_record(&record_line(&p, Some("s1"))), Some(("crash-youki-0".into(), "u0".into(), Some("s1".into()))));
        assert_eq!(parse_record(&record_line(&p, None)), Some(("crash-youki-0".into(), "u0".into(), None)));
        assert_eq!(parse_record("crash-youki-0 u0"), None);
    }

    #[test]
    fn the_summary_counts_stages_in_call_order() {
        let s = [Stage::Running, Stage::Sandbox, Stage::Starting, Stage::Running];
        assert_eq!(summary(&s), "1 in RunPodSandbox, 1 in StartContainer, 2 running");
    }
}
