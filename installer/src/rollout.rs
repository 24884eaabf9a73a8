//! Safe rollout of a new youki binary on one node. Before the new binary is placed, the one
//! it replaces is kept beside it (`youki.prev`, written atomically) and a canary is marked
//! pending in the installer's state dir. Once the manager knows the handler, a canary pod
//! runs through its CRI (`canary`). A canary that passes lets the node be labelled ready. One
//! that fails puts the previous binary back (temp file and rename, so a shim never sees a
//! half-written file), checks it with a second canary, gives the ready label back as it was
//! when that passes, and records a `YoukiCanaryFailed` Event on the node; the pod then stays
//! not ready, so the DaemonSet's rolling update stops at this node.
//!
//! `decide` is the pure part: the canary's outcome (and that of the restored binary) and
//! whether a previous binary exists, in; what becomes of the label, the Event and the pod's
//! readiness, out.

use std::path::{Path, PathBuf};

use crate::error::HostError;
use crate::hostfs::HostRoot;
use crate::labels::{NodeApi, READY_LABEL};
use crate::node::STATE_DIR;

/// What the previous binary is called, beside the placed one.
pub const PREVIOUS_SUFFIX: &str = ".prev";
/// The marker of a canary still to run, in the state dir; it survives a crash between
/// placing a binary and its canary, so the next start runs the canary even though the
/// binary is already up to date.
pub const PENDING: &str = "canary-pending";
/// The reason of the Event a failed canary records on the node.
pub const FAILED_REASON: &str = "YoukiCanaryFailed";

/// `binary` with the previous-binary suffix (host paths).
pub fn previous_path(binary: &Path) -> PathBuf {
    let mut name = binary.as_os_str().to_owned();
    name.push(PREVIOUS_SUFFIX);
    PathBuf::from(name)
}

fn pending_path() -> PathBuf {
    Path::new(STATE_DIR).join(PENDING)
}

/// What placing the new binary changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The placed binary is already the new one, and no canary is pending.
    Unchanged,
    /// No binary was placed before: nothing to go back to.
    Fresh,
    /// Another binary is placed: it is kept as the previous one.
    Upgrade,
    /// The binary is up to date but its canary never ran (a crash in between).
    Pending,
}

/// How a canary went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// Failed, with the CRI's answer.
    Failed(String),
}

/// What becomes of the node's ready label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    /// `youki.dev/runtime=ready`.
    Ready,
    /// Back to what it was before the rollout (None: no label).
    Restore(Option<String>),
    /// Removed: no youki pod may land here.
    Remove,
}

/// What to do after the canary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub label: Label,
    /// An Event on the node: reason and message.
    pub event: Option<(&'static str, String)>,
    /// Whether the installer pod reports ready (the rollout goes on).
    pub pod_ready: bool,
    /// Whether the canary marker may go (no canary needs to run on the next start).
    pub done: bool,
}

/// Whether a failed canary puts the previous binary back.
pub fn restores(canary: &Outcome, previous: bool) -> bool {
    matches!(canary, Outcome::Failed(_)) && previous
}

/// The pure decision. `restored` is the canary of the restored previous binary, run only
/// when `restores` said so.
pub fn decide(canary: &Outcome, previous: bool, restored: Option<&Outcome>, label_before: Option<&str>) -> Verdict {
    let failed = |label, message: String, done| Verdict { label, event: Some((FAILED_REASON, message)), pod_ready: false, done };
    match (canary, previous, restored) {
        (Outcome::Passed, _, _) => Verdict { label: Label::Ready, event: None, pod_ready: true, done: true },
        (Outcome::Failed(e), true, Some(Outcome::Passed)) => failed(
            Label::Restore(label_before.map(str::to_string)),
            format!("the new youki binary failed its canary, the previous binary is back and passed its canary, the rollout stops at this node: {e}"),
            true,
        ),
        (Outcome::Failed(e), true, Some(Outcome::Failed(again))) => failed(
            Label::Remove,
            format!("the new youki binary failed its canary: {e}; the previous binary is back but fails its canary too, so the node is unlabelled: {again}"),
            true,
        ),
        // Restored without a second canary: the previous binary worked before, so the label
        // it had stays.
        (Outcome::Failed(e), true, None) => failed(
            Label::Restore(label_before.map(str::to_string)),
            format!("the new youki binary failed its canary, the previous binary is back, the rollout stops at this node: {e}"),
            true,
        ),
        // Nothing to go back to: the canary must run again on the next start.
        (Outcome::Failed(e), false, _) => failed(
            Label::Remove,
            format!("the new youki binary failed its canary and there is no previous binary to restore, so the node is unlabelled: {e}"),
            false,
        ),
    }
}

/// One rollout of the youki binary, from before the install to after the canary.
#[derive(Debug)]
pub struct Rollout {
    /// The placed binary, as the host sees it.
    dest: PathBuf,
    change: Change,
    label_before: Option<String>,
}

impl Rollout {
    /// Before the install: compares `new` with what is placed at `dest`, keeps the placed
    /// binary as the previous one when it is about to be replaced, and marks the canary
    /// pending. A previous binary left from an earlier rollout goes on a fresh install.
    pub fn prepare(host: &HostRoot, dest: &Path, new: &[u8]) -> Result<Self, HostError> {
        let prev = previous_path(dest);
        let change = match host.read_optional(dest)? {
            None => {
                host.remove_optional(&prev)?;
                Change::Fresh
            }
            // Bytes compared, not hashes: a debug build hashes a 100 MB youki slowly.
            Some(placed) if placed == new => {
                if host.exists(&pending_path()) {
                    Change::Pending
                } else {
                    Change::Unchanged
                }
            }
            Some(placed) => {
                let mode = host.mode_or(dest, 0o755);
                host.replace_atomically(&prev, &placed, mode)?;
                Change::Upgrade
            }
        };
        if change != Change::Unchanged {
            host.replace_atomically(&pending_path(), b"", 0o600)?;
        }
        Ok(Rollout { dest: dest.to_path_buf(), change, label_before: None })
    }

    pub fn change(&self) -> Change {
        self.change
    }

    /// Whether a canary must run before the node is labelled ready.
    pub fn needs_canary(&self) -> bool {
        self.change != Change::Unchanged
    }

    /// Before the new binary is placed: remembers the ready label and removes it while the
    /// canary is pending, so no youki pod lands on a binary nobody has tried yet.
    pub fn hold_label(&mut self, api: &dyn NodeApi, node: &str) -> Result<(), crate::labels::LabelError> {
        if !self.needs_canary() {
            return Ok(());
        }
        self.label_before = api.label(node, READY_LABEL)?;
        if self.label_before.is_some() {
            api.set_label(node, READY_LABEL, None)?;
        }
        Ok(())
    }

    /// After the install and the CRI check: runs `canary`, restores the previous binary when
    /// it fails (and runs `canary` again on it), applies the label and records the Event.
    /// The label stays as it is on `Label::Ready` (the caller labels the node ready after
    /// the feature labels). Returns the verdict; log lines go to `log`.
    pub fn finish(
        &self,
        host: &HostRoot,
        api: &dyn NodeApi,
        node: &str,
        canary: &mut dyn FnMut() -> Outcome,
        log: &mut Vec<String>,
    ) -> Result<Verdict, HostError> {
        let first = canary();
        let prev = previous_path(&self.dest);
        let previous = self.change != Change::Fresh && host.exists(&prev);
        let mut restored = None;
        if let Outcome::Failed(e) = &first {
            log.push(format!("canary failed: {e}"));
        }
        if restores(&first, previous) {
            self.restore(host, &prev)?;
            log.push(format!("restored the previous binary {}", host.shown(&self.dest).display()));
            restored = Some(canary());
        }
        let verdict = decide(&first, previous, restored.as_ref(), self.label_before.as_deref());
        let value = match &verdict.label {
            Label::Ready => None,
            Label::Restore(value) => Some(value.as_deref()),
            Label::Remove => Some(None),
        };
        if let Some(value) = value {
            if let Err(e) = api.set_label(node, READY_LABEL, value) {
                log.push(format!("set the ready label: {e:#}"));
            }
        }
        if let Some((reason, message)) = &verdict.event {
            log.push(message.clone());
            if let Err(e) = api.record_event(node, reason, message) {
                log.push(format!("record event {reason}: {e:#}"));
            }
        }
        if verdict.done {
            host.remove_optional(&pending_path())?;
        }
        Ok(verdict)
    }

    /// Puts the previous binary back at `dest`: a temp file renamed over it, so the path
    /// always holds a whole binary. The previous binary stays, for a manual rollback.
    fn restore(&self, host: &HostRoot, prev: &Path) -> Result<(), HostError> {
        let Some(bytes) = host.read_optional(prev)? else {
            return Err(HostError::Read { path: host.shown(prev), source: std::io::ErrorKind::NotFound.into() });
        };
        host.replace_atomically(&self.dest, &bytes, host.mode_or(prev, 0o755))
    }
}

/// After an uninstall: removes the previous binary and the canary marker, then the
/// directories they kept from going.
pub fn forget(host: &HostRoot, dest: &Path) -> Result<(), HostError> {
    host.remove_optional(&previous_path(dest))?;
    host.remove_optional(&pending_path())?;
    host.remove_dir_if_empty(Path::new(STATE_DIR));
    if let Some(dir) = dest.parent() {
        host.remove_dir_if_empty(dir);
        if let Some(parent) = dir.parent() {
            host.remove_dir_if_empty(parent);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(e: &str) -> Outcome {
        Outcome::Failed(e.to_string())
    }

    #[test]
    fn a_passed_canary_labels_ready_and_ends_the_rollout() {
        let v = decide(&Outcome::Passed, true, None, Some("ready"));
        assert_eq!(v, Verdict { label: Label::Ready, event: None, pod_ready: true, done: true });
        assert!(!restores(&Outcome::Passed, true));
        assert_eq!(decide(&Outcome::Passed, false, None, None).label, Label::Ready);
    }

    #[test]
    fn a_failed_upgrade_restores_the_previous_binary_and_its_label() {
        let e = failed("RunPodSandbox: OCI runtime create failed: exit status 1");
        assert!(restores(&e, true));
        let v = decide(&e, true, Some(&Outcome::Passed), Some("ready"));
        assert_eq!(v.label, Label::Restore(Some("ready".into())));
        assert!(!v.pod_ready && v.done);
        let (reason, message) = v.event.expect("an event");
        assert_eq!(reason, "YoukiCanaryFailed");
        assert!(message.contains("previous binary is back") && message.ends_with("OCI runtime create failed: exit status 1"), "{message}");
        // A node that had no label before the rollout gets none back.
        assert_eq!(decide(&e, true, Some(&Outcome::Passed), None).label, Label::Restore(None));
    }

    #[test]
    fn a_restored_binary_that_fails_too_leaves_the_node_unlabelled() {
        let v = decide(&failed("new"), true, Some(&failed("old")), Some("ready"));
        assert_eq!(v.label, Label::Remove);
        assert!(!v.pod_ready);
        let message = v.event.expect("an event").1;
        assert!(message.contains("failed its canary: new") && message.ends_with("unlabelled: old"), "{message}");
    }

    #[test]
    fn a_failed_fresh_install_has_nothing_to_restore_and_stays_pending() {
        let e = failed("StartContainer: exit status 1");
        assert!(!restores(&e, false));
        let v = decide(&e, false, None, None);
        assert_eq!(v.label, Label::Remove);
        assert!(!v.pod_ready);
        assert!(!v.done, "the canary must run again on the next start");
        assert!(v.event.expect("an event").1.contains("no previous binary to restore"));
    }

    #[test]
    fn prepare_keeps_the_placed_binary_and_marks_the_canary_pending() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = HostRoot::open(dir.path()).expect("host");
        let dest = Path::new("/opt/youki/bin/youki");
        let fresh = Rollout::prepare(&host, dest, b"v1").expect("prepare");
        assert_eq!(fresh.change(), Change::Fresh);
        assert!(host.exists(&pending_path()));
        host.replace_atomically(dest, b"v1", 0o755).expect("place");
        host.remove_optional(&pending_path()).expect("canary passed");
        assert_eq!(Rollout::prepare(&host, dest, b"v1").expect("prepare").change(), Change::Unchanged);
        let up = Rollout::prepare(&host, dest, b"v2").expect("prepare");
        assert_eq!(up.change(), Change::Upgrade);
        assert_eq!(host.read_optional(&previous_path(dest)).expect("read").as_deref(), Some(&b"v1"[..]));
        assert_eq!(host.mode_or(&previous_path(dest), 0), 0o755);
        // Placed, then a crash before the canary: the next start still runs it.
        host.replace_atomically(dest, b"v2", 0o755).expect("place");
        assert_eq!(Rollout::prepare(&host, dest, b"v2").expect("prepare").change(), Change::Pending);
        forget(&host, dest).expect("forget");
        assert!(!host.exists(&previous_path(dest)) && !host.exists(&pending_path()));
    }
}
