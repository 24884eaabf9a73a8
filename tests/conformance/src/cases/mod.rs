//! The conformance cases, one small function each, grouped by what they exercise.
//!
//! Every expectation comes from the runtime-spec text (runtime.md, config.md,
//! config-linux.md) or, for CLI behaviour, from runc's manual pages, which a drop-in
//! runtime must match. Cases run against any runtime; when `--version` says runc, the
//! following cases are expected to fail because runc 1.1.5 predates or deviates from the
//! spec. They report XFAIL there (counted as skipped) and FAIL on every other runtime:
//!
//! - `namespaces/time_offsets`: runc 1.1.5 does not know the `time` namespace type nor
//!   `linux.timeOffsets` (runtime-spec 1.2) and refuses the config
//!   ("namespace {"time" ""} does not exist").
//! - `mounts/rootfs_propagation_shared`, `mounts/rootfs_propagation_slave`,
//!   `mounts/rootfs_propagation_unbindable`: with the rootfs on a shared host mount, runc
//!   1.1.5 makes the mount holding the rootfs private before pivot_root, and `/` in the
//!   container ends up with no peer group, no master and no `unbindable` flag, whatever
//!   `linux.rootfsPropagation` asks for (config-linux.md "Rootfs Mount Propagation").
//! - `process/domainname`: runc 1.1.5 ignores `domainname`; the container's uts namespace
//!   keeps "(none)" (config.md "Domainname").
//! - `hooks/order`: runc 1.1.5 runs the poststart hooks inside `create`, before `start` runs
//!   the user program; config.md wants them after the program is executed, during `start`.
//! - `hooks/failing_poststop_is_only_a_warning`: runc 1.1.5 stops at the first failing
//!   poststop hook and skips the remaining ones; runtime.md step 13 says the remaining hooks
//!   run as if it had succeeded (delete itself does succeed).
//! - `bad_input/duplicate_rlimits`: runc 1.1.5 accepts two `process.rlimits` entries of the
//!   same type, which config.md says MUST generate an error.
//! - `security/dev_symlink_out_of_the_rootfs` (CVE-2026-41579),
//!   `security/masked_path_with_dev_null_swapped_for_a_symlink` (CVE-2025-31133) and
//!   `security/console_swapped_for_a_symlink` (CVE-2025-52565): runc 1.1.5 predates these
//!   fixes and makes /dev/ptmx and the /dev symlinks, binds /dev/null onto masked paths and
//!   binds the pty onto /dev/console by name, following the symlinks the cases plant.
//! - `sched/personality_linux32`, `sched/scheduler_batch_nice_flags`, `sched/io_priority`,
//!   `sched/exec_cpu_affinity_final`, `sched/bad_scheduler_policy_refused`,
//!   `sched/bad_priority_for_policy_refused`: runc 1.1.5 predates `linux.personality`,
//!   `process.scheduler`, `process.ioPriority` and `process.execCPUAffinity` (runtime-spec
//!   1.2, config.md "Linux Process", config-linux.md "Personality") and ignores them.
//! - `bad_input/idmapped_mount_refused`: runc 1.1.5 predates idmapped mounts (runtime-spec
//!   1.2 `mounts[].uidMappings`) and mounts them without the mapping.
//! - `net_devices/veth_moved_renamed_up_with_address`, `net_devices/missing_device_refused`:
//!   runc 1.1.5 predates `linux.netDevices` (runtime-spec 1.2) and ignores it.
//! - `no_hang/kill_all_keeps_a_paused_container_paused`: runc 1.1.5 thaws the cgroup after
//!   `kill --all`, so a paused container runs again; runc-pause(8) and the runtime-spec's
//!   `paused` state want it to stay frozen until `resume`.
//!
//! With `--systemd-cgroup` (the systemd lane of tests/vm), runc 1.1.5 also fails:
//!
//! - `cgroup_cmds/update_ignores_device_rules`: its systemd driver leaves DeviceAllow= out
//!   for a device that does not exist (a regression of runc 1.1.3, fixed in 1.1.7: runc
//!   #3671, #3708, #3845). On cgroup v2 systemd's device program and runc's must both allow
//!   an open; `update` makes systemd rebuild its program without the rule, so an allowed
//!   node with no driver behind it turns EPERM.
//!
//! A case that passes on runc although it carries a `runc_xfail` or `runc_systemd_xfail`
//! reason is reported as a FAIL, so the lists above cannot go stale silently.

use crate::cgroup_driver::CgroupDriver;
use crate::ctx::Ctx;
use anyhow::Result;

mod bad_input;
mod cgroup_cmds;
mod cgroups;
mod checkpoint;
mod devices;
mod error_output;
mod exec;
mod hooks;
mod lifecycle;
mod lsm;
mod mounts;
mod namespaces;
mod path_races;
mod net_devices;
mod no_hang;
mod process;
mod robustness;
mod rootless;
mod sched;
mod seccomp;
mod security;

/// How a case ended when it did not fail.
#[derive(Debug)]
pub enum Outcome {
    Pass,
    Skip(String),
}

pub type CaseFn = fn(&mut Ctx) -> Result<Outcome>;

pub struct Case {
    /// `module/name`, what `--filter` matches.
    pub name: String,
    pub run: CaseFn,
    /// Takes long; left out with `--skip-slow`.
    pub slow: bool,
    /// Why runc 1.1.5 is expected to fail this case.
    pub runc_xfail: Option<&'static str>,
    /// Why runc 1.1.5 is expected to fail this case with its systemd cgroup driver.
    pub runc_systemd_xfail: Option<&'static str>,
}

impl Case {
    pub fn new(module: &str, name: &str, run: CaseFn) -> Case {
        Case {
            name: format!("{module}/{name}"),
            run,
            slow: false,
            runc_xfail: None,
            runc_systemd_xfail: None,
        }
    }

    pub fn slow(mut self) -> Case {
        self.slow = true;
        self
    }

    pub fn runc_xfail(mut self, why: &'static str) -> Case {
        self.runc_xfail = Some(why);
        self
    }

    pub fn runc_systemd_xfail(mut self, why: &'static str) -> Case {
        self.runc_systemd_xfail = Some(why);
        self
    }

    /// Why this case is expected to fail for this runtime and cgroup driver, if it is.
    pub fn expected_failure(&self, is_runc: bool, driver: &CgroupDriver) -> Option<&'static str> {
        if !is_runc {
            return None;
        }
        match driver {
            CgroupDriver::Systemd { .. } => self.runc_xfail.or(self.runc_systemd_xfail),
            CgroupDriver::Fs { .. } => self.runc_xfail,
        }
    }
}

/// Every case, in the order they run.
pub fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(namespaces::cases());
    cases.extend(mounts::cases());
    cases.extend(devices::cases());
    cases.extend(process::cases());
    cases.extend(hooks::cases());
    cases.extend(lifecycle::cases());
    cases.extend(cgroups::cases());
    cases.extend(cgroup_cmds::cases());
    cases.extend(exec::cases());
    cases.extend(rootless::cases());
    cases.extend(seccomp::cases());
    cases.extend(no_hang::cases());
    cases.extend(security::cases());
    cases.extend(path_races::cases());
    cases.extend(checkpoint::cases());
    cases.extend(lsm::cases());
    cases.extend(sched::cases());
    cases.extend(net_devices::cases());
    cases.extend(bad_input::cases());
    cases.extend(error_output::cases());
    cases.extend(robustness::cases());
    cases
}

/// Fails with a message unless the condition holds; reads like an assertion in a case.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            anyhow::bail!($($msg)+);
        }
    };
}

/// Fails unless `left == right`, showing both values.
#[macro_export]
macro_rules! check_eq {
    ($left:expr, $right:expr, $($msg:tt)+) => {
        match (&$left, &$right) {
            (l, r) => {
                if l != r {
                    anyhow::bail!("{}: expected {:?}, got {:?}", format!($($msg)+), r, l);
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn names_are_unique_and_grouped() {
        let cases = all();
        let names: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), cases.len(), "duplicate case names");
        assert!(cases.iter().all(|c| c.name.split('/').count() == 2));
    }

    #[test]
    fn systemd_only_expectations_apply_to_runc_with_systemd() {
        let case = Case::new("m", "n", |_| Ok(Outcome::Pass)).runc_systemd_xfail("why");
        let fs = CgroupDriver::for_runtime_args(&[]);
        let sd = CgroupDriver::for_runtime_args(&["--systemd-cgroup".to_string()]);
        assert_eq!(case.expected_failure(true, &sd), Some("why"));
        assert_eq!(case.expected_failure(true, &fs), None);
        assert_eq!(case.expected_failure(false, &sd), None);
    }

    #[test]
    fn the_documented_exceptions_match_the_marked_cases() {
        let doc = include_str!("mod.rs");
        for case in all()
            .iter()
            .filter(|c| c.runc_xfail.is_some() || c.runc_systemd_xfail.is_some())
        {
            assert!(
                doc.contains(&format!("`{}`", case.name)),
                "{} is not listed in the module doc",
                case.name
            );
        }
    }
}
