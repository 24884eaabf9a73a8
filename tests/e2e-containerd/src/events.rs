//! The flight recorder's Event as a Kubernetes user meets it: `youki-trace record
//! --kube-api` follows youki under this containerd while a pod's container fails to start
//! (its command is missing), and exactly one Event must reach the fake API server in this
//! process: reason YoukiCreateFailed on that pod (namespace, name, uid from the CRI
//! annotations containerd wrote), the first-failure line as its message.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use crate::cri::timed;
use crate::pod::{self, MISSING_COMMAND};
use crate::{apiserver, cgroup, Env};

/// The recorder, stopped with SIGINT when dropped early.
struct Recorder(Option<Child>);

impl Recorder {
    /// SIGINT, then waits for it to post what is queued and exit.
    fn stop(&mut self) -> Result<std::process::ExitStatus> {
        let mut child = self.0.take().context("recorder already stopped")?;
        // SAFETY: kill(2) on our own child, not yet waited for.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        Ok(child.wait()?)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn wait_for(what: impl Fn() -> bool, within: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < within {
        if what() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    what()
}

pub async fn run(env: &mut Env, youki_trace: &Path) -> Result<()> {
    let handler = env.cri.handler.clone();
    let api = apiserver::FakeApiServer::start(&[]);
    let reports = env.work.join(format!("failures-{handler}"));
    let err_path = env.work.join(format!("record-{handler}.err"));
    let child = Command::new(youki_trace)
        .args(["record", "--node-name", "e2e-node", "--kube-api"])
        .arg(format!("http://{}", api.addr))
        .arg("--dir")
        .arg(&reports)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path)?)
        .spawn()
        .with_context(|| format!("start {}", youki_trace.display()))?;
    let mut recorder = Recorder(Some(child));
    let log = || std::fs::read_to_string(&err_path).unwrap_or_default();
    ensure!(wait_for(|| log().contains("following"), Duration::from_secs(30)), "the recorder did not attach: {}", log());

    let p = env.pod(&format!("events-{handler}"), None);
    std::fs::create_dir_all(&p.log_dir)?;
    let sandbox = pod::sandbox(&p);
    let pod_id = env.cri.run_pod(&sandbox).await?;
    let result = async {
        let id = env.cri.create(&pod_id, pod::missing_command(&env.image), &sandbox).await?;
        let (started, took) = timed(env.cri.start(&id)).await;
        ensure!(started.is_err(), "StartContainer of a missing command succeeded");
        env.cri.remove(&id).await?;
        Ok::<_, anyhow::Error>((id, took))
    }
    .await;
    env.cri.force_remove_pod(&pod_id).await;
    let (id, took) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = cgroup::remove(&p.cgroup_parent);
            return Err(e);
        }
    };
    // The report is written once the create's processes are gone; its Event follows.
    ensure!(wait_for(|| !api.events().is_empty(), Duration::from_secs(15)), "no Event reached the fake API server: {}", log());
    let status = recorder.stop()?;
    let log = log();
    ensure!(status.success(), "the recorder exited with {status}: {log}");
    let events = api.events();
    ensure!(events.len() == 1, "{} Events, want exactly one: {events:#?}\n{log}", events.len());
    let e = &events[0];
    let message = e["message"].as_str().unwrap_or_default();
    ensure!(e["reason"] == "YoukiCreateFailed", "reason {}", e["reason"]);
    ensure!(
        message.starts_with("stage youki:process: ") && message.contains(MISSING_COMMAND) && message.ends_with("ENOENT"),
        "the message is not the missing command's first failure: {message:?}"
    );
    let object = &e["involvedObject"];
    let want = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "namespace": p.namespace, "name": p.name, "uid": p.uid});
    ensure!(*object == want, "the Event is on {object}, want {want}");
    ensure!(e["metadata"]["annotations"]["youki.dev/container-id"] == id.as_str(), "container id {}", e["metadata"]);
    ensure!(e["metadata"]["annotations"]["youki.dev/container-name"] == "missing-command", "container name {}", e["metadata"]);
    env.ok(&format!("a broken pod gives exactly one Event on {}/{}: {message}", p.namespace, p.name), took);
    env.leftovers_of(&p).await?;
    Ok(())
}
