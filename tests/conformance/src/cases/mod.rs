//! The conformance cases, one small function each, grouped by what they exercise.
//!
//! Every expectation comes from the runtime-spec text (runtime.md, config.md,
//! config-linux.md) or, for CLI behaviour, from runc's manual pages, which a drop-in
//! runtime must match. Cases run against any runtime. When `--version` says runc, the
//! cases on the list for its version are expected to fail, because that runc predates or
//! deviates from the spec: they report XFAIL there (counted as skipped) and FAIL on every
//! other runtime. runc before 1.2 gets the runc 1.1 list, runc 1.2 and later the runc 1.3
//! list (`runtime::Peer`).
//!
//! ### Expected failures of runc 1.1 (Debian bookworm's 1.1.5; `Case::runc_xfail`)
//!
//! - `namespaces/time_offsets`: runc 1.1.5 does not know the `time` namespace type nor
//!   `linux.timeOffsets` (runtime-spec 1.2) and refuses the config
//!   ("namespace {"time" ""} does not exist").
//! - `namespaces/join_user_ns_with_other_mappings_refused`: runc 1.1.5 does not compare
//!   `linux.uidMappings`/`gidMappings` with the maps of the user namespace it joins by path,
//!   and runs the container (config-linux.md: an error).
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
//! - `idmap/host_root_files_are_the_containers_root`,
//!   `idmap/ridmap_maps_submounts_idmap_does_not`,
//!   `idmap/mount_mappings_differ_from_the_containers`, `idmap/bad_idmapped_mounts_refused`,
//!   `idmap/features_says_enabled`: runc 1.1.5 predates idmapped mounts (runtime-spec 1.2
//!   `idmap`, `ridmap`, `mounts[].uidMappings`); it binds the source without a mapping,
//!   creates the containers the spec says are errors, and its `features` has no
//!   `mountExtensions`.
//! - `bad_input/idmapped_mount_mapped_or_refused`: runc 1.1.5 predates idmapped mounts
//!   (runtime-spec 1.2 `mounts[].uidMappings`) and mounts them without the mapping.
//! - `faults/corrupt_state_then_delete_force`: runc 1.1.5 cannot load a corrupt state.json,
//!   so `delete --force` fails and the container's process and cgroup stay.
//! - `faults/missing_state_then_delete_force`: runc 1.1.5 removes a state directory without
//!   state.json but leaves the container's process and cgroup.
//! - `net_devices/veth_moved_renamed_up_with_address`, `net_devices/missing_device_refused`:
//!   runc 1.1.5 predates `linux.netDevices` (runtime-spec 1.2) and ignores it.
//! - `spec13/memory_policy_bind`, `spec13/memory_policy_interleave_static_nodes`,
//!   `spec13/memory_policy_bad_nodes_refused`, `spec13/memory_policy_nodes_for_local_refused`,
//!   `spec13/memory_policy_absent_node_fails_cleanly`:
//!   runc 1.1.5 predates `linux.memoryPolicy` (runtime-spec 1.3) and ignores it.
//! - `spec13/oci_version_2_refused`: runc 1.1.5 does not check `ociVersion` and runs a 2.0.0
//!   config.
//! - `spec13/user_sysctl_in_own_user_ns`: runc 1.1.5 refuses every `user.*` sysctl ("not in a
//!   separate kernel namespace"), even in a container with a new user namespace.
//! - `spec13/intel_rdt_schemata_line_with_newline_refused`: runc 1.1.5 predates
//!   `linux.intelRdt.schemata` and runs a config whose intelRdt has no field it knows.
//! - `spec13/features_document_is_1_3`: runc 1.1.5's `features` reports ociVersionMax
//!   1.0.2-dev and no memoryPolicy.
//! - `seccomp/notify_wait_killable_recv_flag`: runc 1.1.5 predates
//!   `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (runtime-spec 1.2) and refuses the config.
//! - `no_hang/kill_all_keeps_a_paused_container_paused`: runc 1.1.5 thaws the cgroup after
//!   `kill --all`, so a paused container runs again; runc-pause(8) and the runtime-spec's
//!   `paused` state want it to stay frozen until `resume`.
//! - `compat/pidfd_socket_create`, `compat/pidfd_socket_nobody_listening_refused`,
//!   `compat/pidfd_socket_run_detached`, `compat/pidfd_socket_exec`: runc 1.1.5 predates
//!   `--pidfd-socket` (runc 1.2) and refuses the flag.
//!
//! With `--systemd-cgroup` (the systemd lane of tests/vm), runc 1.1.5 also fails:
//!
//! - `cgroup_cmds/update_ignores_device_rules`: its systemd driver leaves DeviceAllow= out
//!   for a device that does not exist (a regression of runc 1.1.3, fixed in 1.1.7: runc
//!   #3671, #3708, #3845). On cgroup v2 systemd's device program and runc's must both allow
//!   an open; `update` makes systemd rebuild its program without the rule, so an allowed
//!   node with no driver behind it turns EPERM.
//! - `checkpoint/leave_running`: its restore beside the still-running original failed once
//!   in two runs in the systemd VM ("criu failed: type NOTIFY errno 0"); flaky, so a pass
//!   is a pass.
//!
//! ### Expected failures of runc 1.3 (1.3.6 from Debian sid, scripts/peers.sh; `Case::runc13_xfail`)
//!
//! - `namespaces/join_user_ns_with_other_mappings_refused`, wording only: runc 1.3 refuses
//!   mappings that differ from the joined user namespace's, but its error names neither
//!   ("both namespace path and non-matching mapping specified").
//! - `mounts/rootfs_propagation_slave`: `shared` and `unbindable` now work, but for `slave`
//!   `/` still ends up private (no master), as in runc 1.1.5.
//! - `hooks/order`: runc 1.3 still runs the poststart hooks inside `create`.
//! - `hooks/failing_poststop_is_only_a_warning`: `delete` fails at the first failing
//!   poststop hook ("error running poststop hook #0"); runtime.md step 13 makes the failure
//!   a warning and runs the remaining hooks.
//! - `bad_input/duplicate_rlimits`: still accepted, although config.md says MUST be an error.
//! - `net_devices/veth_moved_renamed_up_with_address`, `net_devices/missing_device_refused`:
//!   runc 1.3 does not implement `linux.netDevices` (runtime-spec 1.2) and ignores it.
//! - `bad_input/missing_bind_source` and `sched/bad_priority_for_policy_refused`, wording
//!   only: runc 1.3 refuses both and cleans up, but its errors name only the host source
//!   ("open /nonexistent-youki-src: no such file or directory", not the destination in the
//!   container) and "error setting scheduler: invalid argument" (not process.scheduler).
//! - `spec13/oci_version_2_refused`: runc 1.3.6 does not look at `ociVersion` and runs a
//!   2.0.0 config.
//! - `spec13/memory_policy_bind`, `spec13/memory_policy_interleave_static_nodes`,
//!   `spec13/memory_policy_bad_nodes_refused`, `spec13/memory_policy_nodes_for_local_refused`,
//!   `spec13/memory_policy_absent_node_fails_cleanly`: runc 1.3.6 predates
//!   `linux.memoryPolicy` (runtime-spec 1.3) and ignores it.
//! - `spec13/user_sysctl_in_own_user_ns`: runc 1.3.6 still refuses every `user.*` sysctl.
//! - `spec13/intel_rdt_schemata_line_with_newline_refused`: runc 1.3.6 predates
//!   `linux.intelRdt.schemata` and runs the config.
//! - `spec13/features_document_is_1_3`: runc 1.3.6's `features` says ociVersionMax 1.2.1.
//! - `idmap/bad_idmapped_mounts_refused`, wording only: runc 1.3.6 refuses them, but names the
//!   source or the mapping, not the mount's destination.
//! - `idmap/features_says_enabled`: runc 1.3.6 takes `idmap` and `ridmap` but lists neither in
//!   `features.mountOptions`.
//! - `compat/pidfd_socket_nobody_listening_refused`: runc 1.3.6 refuses a `--pidfd-socket`
//!   nobody listens on, but leaves the container's state dir behind.
//! - `seccomp/notify_wait_killable_recv_flag`: runc 1.3.6 takes
//!   `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` but sends the listener no notify fd.
//! - `seccomp/docker_2017_allowlist_no_new_privileges`,
//!   `seccomp/docker_2017_allowlist_with_privileges`, `seccomp/allowlist_kill_process_default`,
//!   `seccomp/allowlist_default_errno_ret`, `seccomp/allowlist_minus_any_call_runc_does_not_need`:
//!   under these allowlists runc 1.3.6 fails its own safe
//!   /proc/thread-self checks ("reopen exec fifo: get safe /proc/thread-self/fd handle: ... get
//!   root mount id"), which need a call the profile denies; runc 1.1.5 runs them.
//! - `faults/corrupt_state_then_delete_force`: runc 1.3.6 cannot load a corrupt state.json
//!   ("unexpected EOF"), so `delete --force` fails and the process and cgroup stay.
//! - `faults/missing_state_then_delete_force`: runc 1.3.6 removes a state directory without
//!   state.json but leaves the container's process and cgroup.
//!
//! What runc 1.3 gained over 1.1.5, so these are plain cases there: the time namespace, the
//! shared and unbindable rootfs propagation, `domainname`, the 2025/2026 /dev and console
//! symlink fixes, `linux.personality`, `process.scheduler`, `process.ioPriority`,
//! `process.execCPUAffinity` and idmapped mounts.
//!
//! A case that passes on runc although it carries a reason for that runc's version is
//! reported as a FAIL, so the lists above cannot go stale silently.
//!
//! ### Refusal cases (`Case::refusal`)
//!
//! A refusal case passes when the runtime says no: the request is one it must refuse (bad
//! input, a feature the host or the runtime lacks, an operation the container's state does
//! not allow), and the case checks the error, its exit status or wording, and that nothing
//! changed or remains. Such a pass proves a guard, not a working feature, so the report counts
//! it apart (`# of the N passed: F features, R refusals`, and `kind` in `--json`). Every
//! `bad_input/` case is one, and so is every case whose name ends in `_refused`, `_rejected`
//! or `_fails` (a unit test holds both rules). A case that runs what it was asked and then
//! checks how a failure inside was handled (a hook that fails or times out) is a feature case.

use crate::cgroup_driver::CgroupDriver;
use crate::ctx::Ctx;
use crate::runtime::Peer;
use anyhow::Result;

mod bad_input;
mod cgroup_cmds;
mod cgroups;
mod checkpoint;
mod compat;
mod default_specs;
mod devices;
mod error_output;
mod exec;
mod faults;
mod hooks;
mod idmap;
mod lifecycle;
mod lsm;
mod mounts;
mod namespaces;
mod net_devices;
mod no_hang;
mod path_races;
mod process;
mod robustness;
mod rootless;
mod sched;
mod seccomp;
mod security;
mod spec13;

/// How a case ended when it did not fail.
#[derive(Debug)]
pub enum Outcome {
    Pass,
    Skip(String),
}

pub type CaseFn = fn(&mut Ctx) -> Result<Outcome>;

/// A known failure of one runtime in one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub why: &'static str,
    /// Seen in some runs only, so a pass is no failure of the list.
    pub may_pass: bool,
}

pub struct Case {
    /// `module/name`, what `--filter` matches.
    pub name: String,
    pub run: CaseFn,
    /// Takes long; left out with `--skip-slow`.
    pub slow: bool,
    /// Why runc 1.1 (Debian bookworm's 1.1.5) is expected to fail this case.
    pub runc_xfail: Option<&'static str>,
    /// Why runc 1.1.5 is expected to fail this case with its systemd cgroup driver.
    pub runc_systemd_xfail: Option<&'static str>,
    /// The systemd failure above comes and goes: a pass is no news either.
    pub runc_systemd_flaky: bool,
    /// Why runc 1.3 (today's 1.3.6, and any runc from 1.2 on) is expected to fail this case.
    pub runc13_xfail: Option<&'static str>,
    /// Passes only by a refusal: proves a guard, not a working feature (see the module doc).
    pub refusal: bool,
}

impl Case {
    pub fn new(module: &str, name: &str, run: CaseFn) -> Case {
        Case {
            name: format!("{module}/{name}"),
            run,
            slow: false,
            runc_xfail: None,
            runc_systemd_xfail: None,
            runc_systemd_flaky: false,
            runc13_xfail: None,
            refusal: false,
        }
    }

    /// Marks a case that passes only when the runtime refuses what it asks.
    pub fn refusal(mut self) -> Case {
        self.refusal = true;
        self
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

    /// Like `runc_systemd_xfail`, for a failure seen in some runs only: a pass counts as a pass.
    pub fn runc_systemd_flaky(mut self, why: &'static str) -> Case {
        self.runc_systemd_xfail = Some(why);
        self.runc_systemd_flaky = true;
        self
    }

    pub fn runc13_xfail(mut self, why: &'static str) -> Case {
        self.runc13_xfail = Some(why);
        self
    }

    /// Why this case is expected to fail for this runtime and cgroup driver, if it is.
    pub fn expected_failure(&self, peer: Option<Peer>, driver: &CgroupDriver) -> Option<Expected> {
        let always = |why| Expected { why, may_pass: false };
        match (peer?, driver) {
            (Peer::Runc11, CgroupDriver::Systemd { .. }) => {
                self.runc_xfail.map(always).or(self.runc_systemd_xfail.map(|why| Expected { why, may_pass: self.runc_systemd_flaky }))
            }
            (Peer::Runc11, CgroupDriver::Fs { .. }) => self.runc_xfail.map(always),
            (Peer::Runc13, _) => self.runc13_xfail.map(always),
        }
    }
}

/// Every case, in the order they run.
pub fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(namespaces::cases());
    cases.extend(mounts::cases());
    cases.extend(idmap::cases());
    cases.extend(devices::cases());
    cases.extend(process::cases());
    cases.extend(hooks::cases());
    cases.extend(lifecycle::cases());
    cases.extend(default_specs::cases());
    cases.extend(cgroups::cases());
    cases.extend(cgroup_cmds::cases());
    cases.extend(exec::cases());
    cases.extend(compat::cases());
    cases.extend(rootless::cases());
    cases.extend(seccomp::cases());
    cases.extend(no_hang::cases());
    cases.extend(security::cases());
    cases.extend(path_races::cases());
    cases.extend(checkpoint::cases());
    cases.extend(lsm::cases());
    cases.extend(sched::cases());
    cases.extend(net_devices::cases());
    cases.extend(spec13::cases());
    cases.extend(bad_input::cases());
    cases.extend(error_output::cases());
    cases.extend(faults::cases());
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
        assert_eq!(case.expected_failure(Some(Peer::Runc11), &sd).map(|e| e.why), Some("why"));
        assert_eq!(case.expected_failure(Some(Peer::Runc11), &sd).map(|e| e.may_pass), Some(false));
        let flaky = Case::new("m", "n", |_| Ok(Outcome::Pass)).runc_systemd_flaky("sometimes");
        assert_eq!(flaky.expected_failure(Some(Peer::Runc11), &sd), Some(Expected { why: "sometimes", may_pass: true }));
        assert_eq!(flaky.expected_failure(Some(Peer::Runc11), &fs), None);
        assert_eq!(case.expected_failure(Some(Peer::Runc11), &fs), None);
        assert_eq!(case.expected_failure(None, &sd), None);
        assert_eq!(case.expected_failure(Some(Peer::Runc13), &sd), None);
    }

    #[test]
    fn each_runc_version_has_its_own_list() {
        let fs = CgroupDriver::for_runtime_args(&[]);
        let old = Case::new("m", "n", |_| Ok(Outcome::Pass)).runc_xfail("old");
        assert_eq!(old.expected_failure(Some(Peer::Runc11), &fs).map(|e| e.why), Some("old"));
        assert_eq!(old.expected_failure(Some(Peer::Runc13), &fs), None);
        let new = Case::new("m", "n", |_| Ok(Outcome::Pass)).runc13_xfail("new");
        assert_eq!(new.expected_failure(Some(Peer::Runc11), &fs), None);
        assert_eq!(new.expected_failure(Some(Peer::Runc13), &fs).map(|e| e.why), Some("new"));
        assert_eq!(new.expected_failure(None, &fs), None);
    }

    #[test]
    fn refusal_names_are_marked_refusals() {
        let says_no =
            |name: &str| name.starts_with("bad_input/") || ["_refused", "_rejected", "_fails"].iter().any(|end| name.ends_with(end));
        let unmarked: Vec<String> = all().into_iter().filter(|c| says_no(&c.name) && !c.refusal).map(|c| c.name).collect();
        assert!(unmarked.is_empty(), "cases named as refusals but not marked: {unmarked:?}");
        assert!(!Case::new("m", "n", |_| Ok(Outcome::Pass)).refusal);
        assert!(Case::new("m", "n", |_| Ok(Outcome::Pass)).refusal().refusal);
    }

    /// The case names written as `module/name` in `text` between the lines starting with
    /// `from` and the next line starting with `to`, on the lines `keep` accepts.
    fn names_between(text: &str, from: &str, to: &str, keep: fn(&str) -> bool) -> BTreeSet<String> {
        let start = text.lines().position(|l| l.starts_with(from)).unwrap_or_else(|| panic!("no line starts with {from:?}"));
        let known: BTreeSet<String> = all().into_iter().map(|c| c.name).collect();
        text.lines()
            .skip(start + 1)
            .take_while(|l| !l.starts_with(to))
            .filter(|l| keep(l))
            .flat_map(|l| l.split('`').skip(1).step_by(2).map(str::to_string).collect::<Vec<_>>())
            .filter(|n| known.contains(n))
            .collect()
    }

    fn marked(pick: fn(&Case) -> bool) -> BTreeSet<String> {
        all().into_iter().filter(pick).map(|c| c.name).collect()
    }

    #[test]
    fn the_documented_exceptions_match_the_marked_cases() {
        let doc: String = include_str!("mod.rs")
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
            .collect();
        let runc11 = marked(|c| c.runc_xfail.is_some() || c.runc_systemd_xfail.is_some());
        let runc13 = marked(|c| c.runc13_xfail.is_some());
        assert!(!runc13.is_empty());
        let any = |_: &str| true;
        assert_eq!(names_between(&doc, "### Expected failures of runc 1.1", "### ", any), runc11);
        assert_eq!(names_between(&doc, "### Expected failures of runc 1.3", "What runc 1.3 gained", any), runc13);
    }

    #[test]
    fn the_readme_tables_match_the_marked_cases() {
        let readme = include_str!("../../README.md");
        let runc11 = marked(|c| c.runc_xfail.is_some() || c.runc_systemd_xfail.is_some());
        let runc13 = marked(|c| c.runc13_xfail.is_some());
        // Only the table rows: the notes under a table may name other cases.
        let rows = |l: &str| l.starts_with("| `");
        assert_eq!(names_between(readme, "## Expected failures of runc 1.1.5", "## ", rows), runc11);
        assert_eq!(names_between(readme, "## Expected failures of runc 1.3.6", "## ", rows), runc13);
    }
}
