//! `youki-trace record --kube-api` against the installer's in-process fake API server, on
//! the real kernel: a youki create fails twice for the same container of a pod (CRI
//! annotations in its bundle, which is removed right after, as containerd does), and one
//! more fails for a bundle that names no pod. Exactly
//! one Event must arrive, on that pod, with reason YoukiCreateFailed and the report's
//! first-failure line as its message.
//!
//! Needs root, /bin/busybox and a youki binary: `YOUKI=path/to/youki cargo test -p
//! youki-trace --test kube_events` (ebpf-trace/tests/recorder.sh runs it so, with
//! YOUKI_TRACE naming the release youki-trace); without them it says so and passes.

#[allow(dead_code)]
#[path = "../../installer/tests/support/apiserver.rs"]
mod apiserver;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The comm of the copy of youki this test runs, so that the recorder follows it alone.
const COMM: &str = "youkiev";

struct Work {
    dir: PathBuf,
    recorder: Option<Child>,
    ids: Vec<String>,
}

impl Drop for Work {
    fn drop(&mut self) {
        if let Some(mut r) = self.recorder.take() {
            let _ = r.kill();
            let _ = r.wait();
        }
        for id in &self.ids {
            let _ = Command::new(self.dir.join(COMM)).args(["delete", "-f", id]).output();
        }
        if std::env::var_os("KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A busybox bundle whose process is missing; `annotations` go into config.json.
fn bundle(work: &Path, name: &str, annotations: Value) -> PathBuf {
    let dir = work.join(name);
    let bin = dir.join("rootfs/bin");
    fs::create_dir_all(&bin).unwrap();
    fs::create_dir_all(dir.join("rootfs/etc")).unwrap();
    fs::write(dir.join("rootfs/etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    for a in ["sh", "echo"] {
        symlink("busybox", bin.join(a)).unwrap();
    }
    let spec = Command::new(work.join(COMM)).arg("spec").current_dir(&dir).status().unwrap();
    assert!(spec.success(), "youki spec in {dir:?}");
    let path = dir.join("config.json");
    let mut c: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    c["process"]["terminal"] = json!(false);
    c["process"]["args"] = json!(["/bin/nonexistent"]);
    c["annotations"] = annotations;
    fs::write(&path, c.to_string()).unwrap();
    dir
}

fn wait_for(path: &Path, text: &str, within: Duration) -> bool {
    wait_for_n(path, text, 1, within)
}

/// Waits until `text` occurs `n` times in the file at `path`.
fn wait_for_n(path: &Path, text: &str, n: usize, within: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < within {
        if fs::read_to_string(path).is_ok_and(|s| s.matches(text).count() >= n) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The first-failure line of the report of container `id` under `dir`.
fn first_failure(dir: &Path, id: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap().flatten() {
        let mut first = String::new();
        BufReader::new(fs::File::open(e.path()).unwrap()).read_line(&mut first).unwrap();
        let h: Value = serde_json::from_str(&first).unwrap();
        if h["youki_failure"]["container_id"] == id {
            out.push(h["youki_failure"]["first_failure"].as_str().unwrap().to_string());
        }
    }
    out
}

#[test]
fn a_failed_create_of_a_pod_posts_one_event() {
    let youki = match std::env::var("YOUKI") {
        // SAFETY: geteuid has no preconditions.
        Ok(y) if unsafe { libc::geteuid() } == 0 => PathBuf::from(y),
        _ => {
            eprintln!("kube_events: skipped: needs root and YOUKI=path/to/youki");
            return;
        }
    };
    let trace = std::env::var("YOUKI_TRACE").map_or_else(|_| PathBuf::from(env!("CARGO_BIN_EXE_youki-trace")), PathBuf::from);
    let dir = std::env::temp_dir().join(format!("youki-trace-events-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let mut work = Work { dir: dir.clone(), recorder: None, ids: vec![] };
    fs::copy(&youki, dir.join(COMM)).unwrap();

    let pod_bundle = |name: &str| {
        bundle(
            &dir,
            name,
            json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.container-name": "app",
            "io.kubernetes.cri.sandbox-id": "5b1f0c",
            "io.kubernetes.cri.sandbox-name": "web-0",
            "io.kubernetes.cri.sandbox-namespace": "shop",
            "io.kubernetes.cri.sandbox-uid": "0f1e2d3c-uid",
            }),
        )
    };
    let pods = [pod_bundle("pod-1"), pod_bundle("pod-2")];
    let plain = bundle(&dir, "plain", json!({}));

    let api = apiserver::FakeApiServer::start(&[]);
    let reports = dir.join("failures");
    let err = dir.join("record.err");
    let recorder = Command::new(&trace)
        .args(["record", "--comm", COMM, "--node-name", "node-a", "--kube-api"])
        .arg(format!("http://{}", api.addr))
        .arg("--dir")
        .arg(&reports)
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let pid = recorder.id();
    work.recorder = Some(recorder);
    assert!(wait_for(&err, "following", Duration::from_secs(20)), "recorder not attached: {}", fs::read_to_string(&err).unwrap());

    let id = format!("yev-{}", std::process::id());
    let other = format!("yev-plain-{}", std::process::id());
    work.ids = vec![id.clone(), other.clone()];
    for (n, (bundle, id)) in [(&pods[0], &id), (&pods[1], &id), (&plain, &other)].into_iter().enumerate() {
        let out = Command::new(dir.join(COMM)).arg("create").arg("--bundle").arg(bundle).arg(id).output().unwrap();
        assert!(!out.status.success(), "create of {id} should fail");
        let _ = Command::new(dir.join(COMM)).args(["delete", "-f", id]).output();
        if n == 1 {
            // The repeat keeps its bundle until its report: its pod must be known for the
            // duplicate count to be checked, whatever the recorder's lag on a loaded machine
            // (CI once removed it before the recorder had read it, and the failure went
            // without a pod instead of as a duplicate).
            let seen = wait_for_n(&err, &format!("create of {id} failed"), 2, Duration::from_secs(10));
            assert!(seen, "{}", fs::read_to_string(&err).unwrap());
        }
        // As containerd does: the bundle of a failed create goes at once, before the
        // recorder's report; the pod must have been read when the create began.
        fs::remove_dir_all(bundle).unwrap();
    }
    assert!(wait_for(&err, &format!("create of {other} failed"), Duration::from_secs(10)), "{}", fs::read_to_string(&err).unwrap());
    // The Event is posted by the recorder's own thread; stopping waits for it.
    // SAFETY: kill(2) on the recorder's pid, which is our child and not yet waited for.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
    let status = work.recorder.take().unwrap().wait().unwrap();
    let log = fs::read_to_string(&err).unwrap();
    assert!(status.success(), "recorder: {status}: {log}");

    let lines = first_failure(&reports, &id);
    assert_eq!(lines.len(), 2, "two reports for {id}: {log}");
    assert_eq!(first_failure(&reports, &other).len(), 1, "{log}");
    let events = api.events();
    assert_eq!(events.len(), 1, "exactly one Event: {events:#?}\n{log}");
    let e = &events[0];
    assert_eq!(e["reason"], "YoukiCreateFailed");
    assert_eq!(e["type"], "Warning");
    let message = e["message"].as_str().unwrap();
    assert_eq!(message, lines[0], "{log}");
    assert!(
        message.starts_with("stage youki:process: ") && message.contains("\"/bin/nonexistent\"") && message.ends_with("ENOENT"),
        "{message}"
    );
    assert_eq!(
        e["involvedObject"],
        json!({"apiVersion": "v1", "kind": "Pod", "namespace": "shop", "name": "web-0", "uid": "0f1e2d3c-uid"})
    );
    assert_eq!(e["metadata"]["namespace"], "shop");
    assert_eq!(e["source"]["host"], "node-a");
    let posts: Vec<String> = api.log().into_iter().filter(|l| l.starts_with("POST ")).collect();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert!(posts[0].starts_with("POST /api/v1/namespaces/shop/events "), "{}", posts[0]);
    assert!(log.contains("events: 1 posted, 0 failed, 1 duplicates of a container already reported"), "{log}");
    eprintln!("kube_events: one Event on shop/web-0: {message}");
}
