//! Plans the process fields beyond the basics: the LSM labels, `scheduler`, `ioPriority` and
//! `execCPUAffinity` of a process, and `linux.personality`. Pure: every bad value is refused
//! here, before anything is made, with the field named.

use oci_spec::runtime::{
    IOPriorityClass, LinuxPersonality, LinuxPersonalityDomain, LinuxSchedulerFlag, LinuxSchedulerPolicy, Process, Scheduler,
};

use crate::plan::cpu_list::{self, CpuListError};
use crate::process::lsm::{self, ExecLabels, LabelError};

/// The extra settings of one process, as the syscalls want them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraPlan {
    pub labels: ExecLabels,
    pub scheduler: Option<SchedAttr>,
    pub io_priority: Option<IoPriority>,
    /// `linux.personality`, as the persona value of personality(2).
    pub personality: Option<u64>,
    pub affinity: ExecAffinity,
}

/// The fields of `struct sched_attr` (sched_setattr(2)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedAttr {
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

/// An I/O scheduling class (IOPRIO_CLASS_*) and its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoPriority {
    pub class: u16,
    pub level: u16,
}

impl IoPriority {
    /// The value ioprio_set(2) takes: class in the top 3 bits of 16.
    pub fn value(self) -> i32 {
        (i32::from(self.class) << 13) | i32::from(self.level)
    }
}

/// `execCPUAffinity`: only for processes that `exec` adds; the container's init ignores it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecAffinity {
    /// Set on the runtime's child before it joins the container's cgroup.
    pub initial: Option<Vec<u32>>,
    /// Set by the process itself once it is in the cgroup.
    pub last: Option<Vec<u32>>,
}

// Policies and flags from linux/sched.h and uapi/linux/sched.h.
pub const SCHED_OTHER: u32 = 0;
pub const SCHED_FIFO: u32 = 1;
pub const SCHED_RR: u32 = 2;
pub const SCHED_BATCH: u32 = 3;
pub const SCHED_IDLE: u32 = 5;
pub const SCHED_DEADLINE: u32 = 6;
/// The kernel refuses a deadline runtime below 2^10 ns.
const DL_MIN_RUNTIME: u64 = 1 << 10;
pub const PER_LINUX: u64 = 0x0000;
pub const PER_LINUX32: u64 = 0x0008;
pub const IOPRIO_CLASS_RT: u16 = 1;
pub const IOPRIO_CLASS_BE: u16 = 2;
pub const IOPRIO_CLASS_IDLE: u16 = 3;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtraError {
    #[error(transparent)]
    Label(#[from] LabelError),
    #[error("invalid process.scheduler: {0}")]
    Scheduler(String),
    #[error("invalid process.ioPriority.priority {0}: must be 0 (highest) to 7 (lowest)")]
    IoPriority(i64),
    #[error("invalid process.execCPUAffinity.{field}: {source}")]
    CpuList {
        field: &'static str,
        #[source]
        source: CpuListError,
    },
    #[error("invalid linux.personality.flags {0:?}: runtime-spec 1.2 supports no flag")]
    PersonalityFlags(Vec<String>),
}

/// Plans the extra settings of `p`. `selinux_on` says whether the host has SELinux.
pub fn plan(p: &Process, selinux_on: bool) -> Result<ExtraPlan, ExtraError> {
    let labels = lsm::plan_labels(p.apparmor_profile().as_deref(), p.selinux_label().as_deref(), selinux_on)?;
    let scheduler = p.scheduler().as_ref().map(sched_attr).transpose()?;
    let io_priority = p
        .io_priority()
        .as_ref()
        .map(|io| {
            if !(0..=7).contains(&io.priority()) {
                return Err(ExtraError::IoPriority(io.priority()));
            }
            let class = match io.class() {
                IOPriorityClass::IoprioClassRt => IOPRIO_CLASS_RT,
                IOPriorityClass::IoprioClassBe => IOPRIO_CLASS_BE,
                IOPriorityClass::IoprioClassIdle => IOPRIO_CLASS_IDLE,
            };
            Ok(IoPriority { class, level: io.priority() as u16 })
        })
        .transpose()?;
    let cpus = |field: &'static str, list: &Option<String>| -> Result<Option<Vec<u32>>, ExtraError> {
        // An empty list means: leave the affinity as it is.
        match list.as_deref() {
            None | Some("") => Ok(None),
            Some(l) => cpu_list::parse(l).map(Some).map_err(|source| ExtraError::CpuList { field, source }),
        }
    };
    let affinity = match p.exec_cpu_affinity() {
        Some(a) => ExecAffinity { initial: cpus("initial", a.initial())?, last: cpus("final", a.cpu_affinity_final())? },
        None => ExecAffinity::default(),
    };
    Ok(ExtraPlan { labels, scheduler, io_priority, personality: None, affinity })
}

/// The personality(2) value of `linux.personality`.
pub fn personality(p: &LinuxPersonality) -> Result<u64, ExtraError> {
    if let Some(flags) = p.flags().as_ref().filter(|f| !f.is_empty()) {
        return Err(ExtraError::PersonalityFlags(flags.clone()));
    }
    Ok(match p.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    })
}

/// Checks a scheduler against sched_setattr(2)'s rules and converts it.
fn sched_attr(s: &Scheduler) -> Result<SchedAttr, ExtraError> {
    let bad = |why: String| Err(ExtraError::Scheduler(why));
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => SCHED_OTHER,
        LinuxSchedulerPolicy::SchedFifo => SCHED_FIFO,
        LinuxSchedulerPolicy::SchedRr => SCHED_RR,
        LinuxSchedulerPolicy::SchedBatch => SCHED_BATCH,
        LinuxSchedulerPolicy::SchedIdle => SCHED_IDLE,
        LinuxSchedulerPolicy::SchedDeadline => SCHED_DEADLINE,
        LinuxSchedulerPolicy::SchedIso => return bad("policy SCHED_ISO is not implemented by Linux".into()),
    };
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return bad(format!("nice {nice} must be -20 to 19"));
    }
    let priority = s.priority().unwrap_or(0);
    let realtime = policy == SCHED_FIFO || policy == SCHED_RR;
    if realtime && !(1..=99).contains(&priority) {
        return bad(format!("priority {priority} must be 1 to 99 for policy {}", s.policy()));
    }
    if !realtime && priority != 0 {
        return bad(format!("priority {priority} must be 0 for policy {}", s.policy()));
    }
    let (runtime, deadline, period) = (s.runtime().unwrap_or(0), s.deadline().unwrap_or(0), s.period().unwrap_or(0));
    if policy == SCHED_DEADLINE {
        if runtime < DL_MIN_RUNTIME {
            return bad(format!("runtime {runtime} must be at least {DL_MIN_RUNTIME} ns for SCHED_DEADLINE"));
        }
        if deadline < runtime || (period != 0 && period < deadline) {
            return bad(format!("SCHED_DEADLINE needs runtime <= deadline <= period, got {runtime}, {deadline}, {period}"));
        }
    }
    let flags = s.flags().iter().flatten().fold(0u64, |acc, f| acc | sched_flag(*f));
    Ok(SchedAttr { policy, flags, nice, priority: priority as u32, runtime, deadline, period })
}

/// oci-spec 0.8.4 spells two scheduler flags of runtime-spec 1.2 differently
/// (`SCHED_RESET_ON_FORK`, `SCHED_FLAG_D_L_OVERRUN`) and refuses the spec's names. Rewrites
/// the spec's names in a process object to the crate's; true when something changed.
pub fn respell_sched_flags(process: Option<&mut serde_json::Value>) -> bool {
    let Some(flags) = process.and_then(|p| p.pointer_mut("/scheduler/flags")).and_then(|f| f.as_array_mut()) else { return false };
    let mut changed = false;
    for f in flags.iter_mut() {
        let crate_name = match f.as_str() {
            Some("SCHED_FLAG_RESET_ON_FORK") => "SCHED_RESET_ON_FORK",
            Some("SCHED_FLAG_DL_OVERRUN") => "SCHED_FLAG_D_L_OVERRUN",
            _ => continue,
        };
        *f = serde_json::Value::from(crate_name);
        changed = true;
    }
    changed
}

/// SCHED_FLAG_* from uapi/linux/sched.h.
fn sched_flag(f: LinuxSchedulerFlag) -> u64 {
    match f {
        LinuxSchedulerFlag::SchedResetOnFork => 0x01,
        LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
        LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
        LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
    }
}

#[cfg(test)]
#[path = "process_extra_tests.rs"]
mod tests;
