//! Freezing on cgroup v2: write cgroup.freeze, then wait until cgroup.events says the
//! whole subtree reached the state ("frozen 1" / "frozen 0").

use std::{
    path::Path,
    thread,
    time::{Duration, Instant},
};

use crate::{files, CgroupError, FreezerState};

/// How long to wait for the kernel to report the new state.
const PATIENCE: Duration = Duration::from_secs(2);

pub(super) fn set(dir: &Path, state: FreezerState) -> Result<(), CgroupError> {
    let want = match state {
        FreezerState::Frozen => "1",
        FreezerState::Thawed => "0",
    };
    files::write(&dir.join("cgroup.freeze"), want)?;
    let events = dir.join("cgroup.events");
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if frozen_field(&files::read(&events)?) == Some(want) {
            return Ok(());
        }
        if start.elapsed() >= PATIENCE {
            if state == FreezerState::Frozen {
                // Leave the container running rather than half frozen.
                if let Err(e) = files::write(&dir.join("cgroup.freeze"), "0") {
                    tracing::warn!(error = %e, "thawing after a failed freeze");
                }
            }
            return Err(CgroupError::FreezeTimeout { path: events, millis: PATIENCE.as_millis() as u64 });
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// The frozen control file of `dir` when it says frozen (or freezing): cgroup.freeze, or a
/// frozen ancestor through cgroup.events. None for a directory without them.
pub(crate) fn frozen_file(dir: &Path) -> Option<std::path::PathBuf> {
    let freeze = dir.join("cgroup.freeze");
    if files::read(&freeze).is_ok_and(|v| v.trim() == "1") {
        return Some(freeze);
    }
    frozen_above(dir).then(|| dir.join("cgroup.events"))
}

/// Whether cgroup.events of `dir` says frozen (its own freeze done, or an ancestor's).
fn frozen_above(dir: &Path) -> bool {
    files::read(&dir.join("cgroup.events")).ok().is_some_and(|e| frozen_field(&e) == Some("1"))
}

/// Whether the cgroup2 directory is frozen or freezing: its own cgroup.freeze, or a frozen
/// ancestor in cgroup.events. None when there is no cgroup.freeze (a root cgroup, an old
/// kernel).
pub(crate) fn frozen(dir: &Path) -> Option<bool> {
    let own = files::read(&dir.join("cgroup.freeze")).ok()?;
    Some(own.trim() == "1" || frozen_above(dir))
}

/// The value of the "frozen" line of cgroup.events.
fn frozen_field(events: &str) -> Option<&str> {
    events.lines().find_map(|l| l.strip_prefix("frozen ")).map(str::trim)
}

#[cfg(test)]
mod tests {
    #[test]
    fn frozen_line() {
        assert_eq!(super::frozen_field("populated 1\nfrozen 1\n"), Some("1"));
        assert_eq!(super::frozen_field("populated 0\n"), None);
    }

    #[test]
    fn frozen_by_its_own_freeze_or_an_ancestor_and_unknown_without_the_file() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(super::frozen(d.path()), None);
        std::fs::write(d.path().join("cgroup.freeze"), "0\n").unwrap();
        std::fs::write(d.path().join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        assert_eq!(super::frozen(d.path()), Some(false));
        std::fs::write(d.path().join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        assert_eq!(super::frozen(d.path()), Some(true), "a frozen ancestor");
        std::fs::write(d.path().join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        std::fs::write(d.path().join("cgroup.freeze"), "1\n").unwrap();
        assert_eq!(super::frozen(d.path()), Some(true), "freezing");
    }
}
