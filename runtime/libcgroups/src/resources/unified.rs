//! `linux.resources.unified`: raw cgroup2 file writes. They need a cgroup2 directory, so a
//! v1-only host refuses them; on a hybrid host only files present there can be written.

use std::collections::HashMap;

use super::{Controller, Placement, Probe, Write};
use crate::CgroupError;

/// Core files the runtime itself drives (membership, controllers, freezing, killing).
const RUNTIME_OWNED: &[&str] = &["cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.type", "cgroup.freeze", "cgroup.kill"];

pub(super) fn translate(map: &HashMap<String, String>, probe: &dyn Probe, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    if map.is_empty() {
        return Ok(());
    }
    if probe.placement(Controller::Unified) != Placement::V2 {
        return Err(CgroupError::RequiresV2("linux.resources.unified"));
    }
    let mut keys: Vec<_> = map.iter().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    for (key, value) in keys {
        let bad = |reason| CgroupError::UnifiedKey { key: key.clone(), reason };
        if key.is_empty() || key.contains('/') || key == "." || key == ".." {
            return Err(bad("not a file name"));
        }
        if RUNTIME_OWNED.contains(&key.as_str()) {
            return Err(bad("managed by the runtime; use the matching command instead"));
        }
        if !probe.exists(Controller::Unified, key) {
            return Err(bad("no such file in the container's cgroup v2 directory"));
        }
        out.push(Write::new(Controller::Unified, key.as_str(), value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fake::*;
    use super::super::translate;
    use super::*;

    fn hybrid() -> FakeProbe {
        FakeProbe::v1()
            .with(Controller::Unified, Placement::V2)
            .file(Controller::Unified, "hugetlb.2MB.max")
            .file(Controller::Unified, "cgroup.max.depth")
    }

    #[test]
    fn requires_cgroup_v2() {
        let r = res(r#"{"unified":{"memory.max":"1000"}}"#);
        assert_eq!(translate(&r, &FakeProbe::v1()).unwrap_err().to_string(), "linux.resources.unified requires cgroup v2");
        assert!(translate(&res(r#"{"unified":{}}"#), &FakeProbe::v1()).unwrap().is_empty());
    }

    #[test]
    fn hybrid_writes_existing_files_in_key_order() {
        let r = res(r#"{"unified":{"hugetlb.2MB.max":"4194304","cgroup.max.depth":"3"}}"#);
        assert_eq!(pairs(&translate(&r, &hybrid()).unwrap()), [("cgroup.max.depth", "3"), ("hugetlb.2MB.max", "4194304")]);
    }

    #[test]
    fn hybrid_rejects_a_missing_file_naming_the_key() {
        let r = res(r#"{"unified":{"memory.max":"1000"}}"#);
        assert_eq!(
            translate(&r, &hybrid()).unwrap_err().to_string(),
            "linux.resources.unified key \"memory.max\": no such file in the container's cgroup v2 directory"
        );
    }

    #[test]
    fn rejects_keys_that_are_not_file_names() {
        for key in ["../cgroup.procs", "", ".."] {
            let r = res(&format!(r#"{{"unified":{{"{key}":"1"}}}}"#));
            assert_eq!(translate(&r, &hybrid()).unwrap_err().to_string(), format!("linux.resources.unified key {key:?}: not a file name"));
        }
    }

    #[test]
    fn rejects_files_the_runtime_drives() {
        let probe = hybrid().file(Controller::Unified, "cgroup.procs");
        let r = res(r#"{"unified":{"cgroup.procs":"1"}}"#);
        assert_eq!(
            translate(&r, &probe).unwrap_err().to_string(),
            "linux.resources.unified key \"cgroup.procs\": managed by the runtime; use the matching command instead"
        );
    }
}
