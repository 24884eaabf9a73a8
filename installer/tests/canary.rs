//! The safe rollout (`rollout`) on a temp host root against the fake API server, through the
//! installer's real kube client: the previous binary kept and put back byte for byte when
//! the canary fails, the ready label held during the canary and given back, and the
//! `YoukiCanaryFailed` Event with the CRI's error. The canary itself is a stand-in here; the
//! real one (a pod through a real containerd) runs in tests/containerd.sh.

#[allow(dead_code)]
mod support;

use std::fs;
use std::path::Path;

use serde_json::Value;
use support::apiserver::FakeApiServer;
use youki_installer::hostfs::HostRoot;
use youki_installer::kube_api::KubeNodes;
use youki_installer::labels::{NodeApi, READY_LABEL};
use youki_installer::rollout::{previous_path, Change, Label, Outcome, Rollout};

const BIN: &str = "/opt/youki/bin/youki";
const CRI_ERROR: &str = "canary RunPodSandbox with runtime handler \"youki\": OCI runtime create failed: exit status 1";

fn nodes(api: &FakeApiServer) -> KubeNodes {
    let rt = youki_installer::runtime().expect("runtime");
    let config = kube::Config::new(format!("http://{}", api.addr).parse().expect("url"));
    let client = {
        let _entered = rt.enter();
        kube::Client::try_from(config).expect("client")
    };
    KubeNodes::from_client(rt, client)
}

/// A host root with `placed` as youki (None: nothing placed), and a node labelled `label`.
fn setup(placed: Option<&[u8]>, label: Option<&str>) -> (tempfile::TempDir, HostRoot, FakeApiServer, KubeNodes) {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = HostRoot::open(dir.path()).expect("host root");
    if let Some(bytes) = placed {
        host.replace_atomically(Path::new(BIN), bytes, 0o755).expect("place the old binary");
    }
    let api = FakeApiServer::start(&["node-a"]);
    let kube = nodes(&api);
    if let Some(l) = label {
        kube.set_label("node-a", READY_LABEL, Some(l)).expect("label");
    }
    (dir, host, api, kube)
}

/// What the installer's `install` does between prepare and finish.
fn place(host: &HostRoot, new: &[u8]) {
    host.replace_atomically(Path::new(BIN), new, 0o755).expect("place the new binary");
}

fn canary_events(api: &FakeApiServer) -> Vec<Value> {
    api.events().into_iter().filter(|e| e["reason"] == "YoukiCanaryFailed").collect()
}

#[test]
fn a_failed_canary_puts_the_previous_binary_back_with_its_label_and_an_event() {
    let (dir, host, api, kube) = setup(Some(b"youki v1"), Some("ready"));
    let mut r = Rollout::prepare(&host, Path::new(BIN), b"broken v2").expect("prepare");
    assert_eq!(r.change(), Change::Upgrade);
    r.hold_label(&kube, "node-a").expect("hold the label");
    assert_eq!(api.label("node-a", READY_LABEL), None, "no youki pod may land while the canary is pending");
    place(&host, b"broken v2");

    // The new binary fails; the restored one passes.
    let mut calls = Vec::new();
    let mut canary = || {
        let bin = fs::read(dir.path().join("opt/youki/bin/youki")).expect("read the placed binary");
        calls.push(String::from_utf8_lossy(&bin).into_owned());
        if bin == b"broken v2" {
            Outcome::Failed(CRI_ERROR.to_string())
        } else {
            Outcome::Passed
        }
    };
    let mut log = Vec::new();
    let v = r.finish(&host, &kube, "node-a", &mut canary, &mut log).expect("finish");
    assert_eq!(calls, ["broken v2", "youki v1"], "the restored binary gets a canary of its own");
    assert!(!v.pod_ready);
    assert_eq!(v.label, Label::Restore(Some("ready".into())));
    assert_eq!(fs::read(dir.path().join("opt/youki/bin/youki")).expect("read"), b"youki v1", "previous binary restored byte for byte");
    assert_eq!(api.label("node-a", READY_LABEL).as_deref(), Some("ready"), "the label is back as it was");
    let events = canary_events(&api);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["involvedObject"]["kind"], "Node");
    assert_eq!(events[0]["involvedObject"]["name"], "node-a");
    assert_eq!(events[0]["type"], "Warning");
    let message = events[0]["message"].as_str().expect("message");
    assert!(message.contains("previous binary is back") && message.contains(CRI_ERROR), "{message}");
    // No temp file is left, and the marker is gone: the next start compares binaries again.
    let mut left: Vec<String> = fs::read_dir(dir.path().join("opt/youki/bin"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["youki", "youki.prev"]);
    assert!(!host.exists(Path::new("/opt/youki/installer/canary-pending")));
}

#[test]
fn a_passed_canary_keeps_the_new_binary_and_leaves_the_label_to_the_installer() {
    let (dir, host, api, kube) = setup(Some(b"youki v1"), Some("ready"));
    let mut r = Rollout::prepare(&host, Path::new(BIN), b"youki v2").expect("prepare");
    r.hold_label(&kube, "node-a").expect("hold");
    place(&host, b"youki v2");
    let v = r.finish(&host, &kube, "node-a", &mut || Outcome::Passed, &mut Vec::new()).expect("finish");
    assert!(v.pod_ready);
    assert_eq!(v.label, Label::Ready);
    assert_eq!(fs::read(dir.path().join("opt/youki/bin/youki")).expect("read"), b"youki v2");
    assert_eq!(host.read_optional(&previous_path(Path::new(BIN))).expect("read").as_deref(), Some(&b"youki v1"[..]));
    assert!(canary_events(&api).is_empty());
    assert!(!host.exists(Path::new("/opt/youki/installer/canary-pending")));
    // An unchanged binary on the next start needs no canary and keeps the label.
    let mut again = Rollout::prepare(&host, Path::new(BIN), b"youki v2").expect("prepare");
    kube.set_label("node-a", READY_LABEL, Some("ready")).expect("label");
    again.hold_label(&kube, "node-a").expect("hold");
    assert!(!again.needs_canary());
    assert_eq!(api.label("node-a", READY_LABEL).as_deref(), Some("ready"));
}

#[test]
fn a_failed_fresh_install_has_nothing_to_restore_leaves_the_node_unlabelled_and_stays_pending() {
    let (dir, host, api, kube) = setup(None, None);
    let mut r = Rollout::prepare(&host, Path::new(BIN), b"broken").expect("prepare");
    assert_eq!(r.change(), Change::Fresh);
    r.hold_label(&kube, "node-a").expect("hold");
    place(&host, b"broken");
    let mut runs = 0;
    let v = r
        .finish(
            &host,
            &kube,
            "node-a",
            &mut || {
                runs += 1;
                Outcome::Failed(CRI_ERROR.to_string())
            },
            &mut Vec::new(),
        )
        .expect("finish");
    assert_eq!(runs, 1);
    assert!(!v.pod_ready);
    assert_eq!(api.label("node-a", READY_LABEL), None);
    assert_eq!(fs::read(dir.path().join("opt/youki/bin/youki")).expect("read"), b"broken");
    let events = canary_events(&api);
    assert_eq!(events.len(), 1);
    assert!(events[0]["message"].as_str().expect("message").contains("no previous binary to restore"));
    // The pod restarts: the binary is up to date, but its canary is still due.
    assert_eq!(Rollout::prepare(&host, Path::new(BIN), b"broken").expect("prepare").change(), Change::Pending);
}
