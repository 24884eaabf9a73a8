//! Applies the scheduling side of `process_extra`: personality(2), sched_setattr(2),
//! ioprio_set(2) and sched_setaffinity(2). Each is one small step with its own error.

use nix::sched::CpuSet;
use nix::unistd::Pid;

use crate::plan::process_extra::{IoPriority, SchedAttr};
use crate::syserror::{Context, SysError};

/// Sets the execution domain of this process (inherited across execve).
pub fn set_personality(persona: u64) -> Result<(), SysError> {
    // SAFETY: personality(2) takes a plain integer.
    let rc = unsafe { libc::personality(persona as libc::c_ulong) };
    if rc < 0 {
        return Err(SysError::new(format!("personality({persona:#x})"), nix::Error::last()));
    }
    Ok(())
}

/// `struct sched_attr` of uapi/linux/sched/types.h, SCHED_ATTR_SIZE_VER1.
#[repr(C)]
struct RawSchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

/// Sets this process's scheduling policy and parameters with sched_setattr(2).
pub fn set_scheduler(a: &SchedAttr) -> Result<(), SysError> {
    let raw = RawSchedAttr {
        size: std::mem::size_of::<RawSchedAttr>() as u32,
        policy: a.policy,
        flags: a.flags,
        nice: a.nice,
        priority: a.priority,
        runtime: a.runtime,
        deadline: a.deadline,
        period: a.period,
        util_min: 0,
        // Clamping to the full range: the spec has no utilization values.
        util_max: 1024,
    };
    // SAFETY: the struct is repr(C), sized as its `size` field says, and lives for the call.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &raw as *const RawSchedAttr, 0u32) };
    if rc < 0 {
        return Err(SysError::new(format!("sched_setattr {a:?}"), nix::Error::last()));
    }
    Ok(())
}

/// Sets this process's I/O priority (IOPRIO_WHO_PROCESS, self); children inherit it.
pub fn set_io_priority(io: IoPriority) -> Result<(), SysError> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: ioprio_set takes three integers.
    let rc = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, io.value()) };
    if rc < 0 {
        return Err(SysError::new(format!("ioprio_set class {} level {}", io.class, io.level), nix::Error::last()));
    }
    Ok(())
}

/// Pins `pid` (0: this process) to `cpus`.
pub fn set_affinity(pid: i32, cpus: &[u32]) -> Result<(), SysError> {
    let mut set = CpuSet::new();
    for cpu in cpus {
        set.set(*cpu as usize).ctx(|| format!("cpu {cpu} in an affinity set"))?;
    }
    nix::sched::sched_setaffinity(Pid::from_raw(pid), &set).ctx(|| format!("set the cpu affinity of pid {pid} to {cpus:?}"))
}
