//! Loads the embedded eBPF object, seeds the lineage map with the root pid, attaches the
//! tracepoints and drains the ring buffer. Checks root, BTF and tracefs first.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use aya::maps::{Array, HashMap, MapData, RingBuf};
use aya::programs::raw_trace_point::RawTracePointLink;
use aya::programs::trace_point::TracePointLink;
use aya::programs::{RawTracePoint, TracePoint};
use aya::{Ebpf, EbpfLoader};

use crate::event::{self, Event};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/trace.bpf.o"));

const TRACEFS: &str = "/sys/kernel/tracing";
const BTF: &str = "/sys/kernel/btf/vmlinux";

/// Programs in `bpf/trace.bpf.c` and the tracepoints they attach to.
/// What the kernel side records of a followed process's syscalls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syscalls {
    /// Every call, with its duration and the strings read at entry (the tracer).
    All,
    /// Only failed calls and writes, made at exit (the recorder: a create that succeeds
    /// then costs almost nothing).
    Failures,
}

/// The tracer's syscall programs (`Syscalls::All`); `FOLLOW` is attached in both modes.
const SYSCALL_PROGRAMS: &[(&str, &str, &str)] =
    &[("trace_sys_enter", "raw_syscalls", "sys_enter"), ("trace_sys_exit", "raw_syscalls", "sys_exit")];

/// The recorder's one syscall program (`Syscalls::Failures`), on the raw tracepoint.
const LEAN_PROGRAM: (&str, &str) = ("trace_sys_exit_lean", "sys_exit");

/// The lineage, exec, exit, rename and signal programs.
const FOLLOW: &[(&str, &str, &str)] = &[
    ("trace_fork", "sched", "sched_process_fork"),
    ("trace_exec", "sched", "sched_process_exec"),
    ("trace_exit", "sched", "sched_process_exit"),
    ("trace_rename", "task", "task_rename"),
    ("trace_signal", "signal", "signal_generate"),
];

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("root privileges missing (effective uid is {0}): loading eBPF programs needs root")]
    NotRoot(u32),
    #[error(
        "capabilities missing: loading and attaching the tracepoints needs CAP_BPF and \
         CAP_PERFMON (or CAP_SYS_ADMIN); the effective set is {0:#x}"
    )]
    NoCaps(u64),
    #[error(
        "kernel BTF missing: {BTF} does not exist (the kernel needs CONFIG_DEBUG_INFO_BTF=y; \
         in a container, mount the host's /sys/kernel/btf)"
    )]
    NoBtf,
    #[error(
        "tracefs missing at {TRACEFS} and mounting it failed: mount it with \
         `mount -t tracefs nodev {TRACEFS}` (in a container, mount the host's {TRACEFS})"
    )]
    Tracefs(#[source] std::io::Error),
    #[error("tracepoint {0}/{1} missing in this kernel")]
    NoTracepoint(&'static str, &'static str),
    #[error("kernel refused the eBPF object (ring buffer maps need Linux 5.8)")]
    Load(#[source] aya::EbpfError),
    #[error("invalid ring buffer size {0}: a power of two of at least 4096 bytes")]
    RingSize(u32),
    #[error("eBPF program {0} missing from the embedded object")]
    NoProgram(&'static str),
    #[error("eBPF map {0} missing from the embedded object")]
    NoMap(&'static str),
    #[error("load or attach of {0}")]
    Program(&'static str, #[source] aya::programs::ProgramError),
    #[error("eBPF map {0}")]
    Map(&'static str, #[source] aya::maps::MapError),
    #[error("invalid --comm {0:?}: a comm name has 1 to 15 bytes and no NUL")]
    BadComm(String),
    #[error("poll on the ring buffer")]
    Poll(#[source] std::io::Error),
}

/// Checks privileges and kernel features, mounting tracefs when it is missing.
pub fn preflight() -> Result<(), SetupError> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Err(SetupError::NotRoot(euid));
    }
    if let Some(eff) = effective_caps() {
        if !caps_suffice(eff) {
            return Err(SetupError::NoCaps(eff));
        }
    }
    if !Path::new(BTF).exists() {
        return Err(SetupError::NoBtf);
    }
    if !Path::new(TRACEFS).join("events").exists() {
        mount_tracefs()?;
    }
    for (_, cat, name) in SYSCALL_PROGRAMS.iter().chain(FOLLOW) {
        if !Path::new(TRACEFS).join("events").join(cat).join(name).exists() {
            return Err(SetupError::NoTracepoint(cat, name));
        }
    }
    Ok(())
}

/// The effective capability set, from /proc/self/status.
fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// CAP_SYS_ADMIN alone, or CAP_BPF with CAP_PERFMON (Linux 5.8 and later).
fn caps_suffice(eff: u64) -> bool {
    const SYS_ADMIN: u64 = 1 << 21;
    const PERFMON: u64 = 1 << 38;
    const BPF: u64 = 1 << 39;
    eff & SYS_ADMIN != 0 || (eff & BPF != 0 && eff & PERFMON != 0)
}

fn mount_tracefs() -> Result<(), SetupError> {
    let target = c"/sys/kernel/tracing";
    // SAFETY: all pointers are valid NUL-terminated strings; data is null.
    let rc = unsafe { libc::mount(c"nodev".as_ptr(), target.as_ptr(), c"tracefs".as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        return Err(SetupError::Tracefs(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// The kernel's comm for `name`: at most 15 bytes, NUL-padded.
fn comm_key(name: &str) -> Result<[u8; 16], SetupError> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > 15 || b.contains(&0) {
        return Err(SetupError::BadComm(name.to_string()));
    }
    let mut key = [0u8; 16];
    key[..b.len()].copy_from_slice(b);
    Ok(key)
}

/// Records and processes the kernel side could not keep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops {
    /// Events lost because the ring buffer was full.
    pub ring: u64,
    /// Syscall enters lost because the pending map was full.
    pub enters: u64,
    /// New processes not followed because the traced map was full.
    pub untraced: u64,
}

impl Drops {
    pub fn total(&self) -> u64 {
        self.ring + self.enters + self.untraced
    }

    /// What was lost since `before`.
    pub fn since(&self, before: &Drops) -> Drops {
        Drops {
            ring: self.ring.saturating_sub(before.ring),
            enters: self.enters.saturating_sub(before.enters),
            untraced: self.untraced.saturating_sub(before.untraced),
        }
    }
}

/// A loaded, attached tracer following one process tree.
pub struct Tracer {
    ebpf: Ebpf,
    ring: RingBuf<MapData>,
    links: Vec<TracePointLink>,
    raw_links: Vec<RawTracePointLink>,
}

impl Tracer {
    /// Loads the programs, seeds the lineage with `root` and/or the `comm` to follow from
    /// exec on, and attaches every tracepoint.
    pub fn attach(root: Option<u32>, comm: Option<&str>) -> Result<Self, SetupError> {
        Self::attach_with(root, comm, None, Syscalls::All)
    }

    /// As `attach`, with a ring buffer of `ring_bytes` instead of the object's 8 MiB.
    pub fn attach_with(root: Option<u32>, comm: Option<&str>, ring_bytes: Option<u32>, syscalls: Syscalls) -> Result<Self, SetupError> {
        let mut loader = EbpfLoader::new();
        if let Some(n) = ring_bytes {
            if n < 4096 || !n.is_power_of_two() {
                return Err(SetupError::RingSize(n));
            }
            loader.map_max_entries("events", n);
        }
        let mut ebpf = loader.load(OBJECT).map_err(SetupError::Load)?;
        if let Some(root) = root {
            let map = ebpf.map_mut("traced").ok_or(SetupError::NoMap("traced"))?;
            let mut traced: HashMap<_, u32, u8> = HashMap::try_from(map).map_err(|e| SetupError::Map("traced", e))?;
            traced.insert(root, 1, 0).map_err(|e| SetupError::Map("traced", e))?;
        }
        if let Some(comm) = comm {
            let map = ebpf.map_mut("follow").ok_or(SetupError::NoMap("follow"))?;
            let mut follow: Array<_, [u8; 16]> = Array::try_from(map).map_err(|e| SetupError::Map("follow", e))?;
            follow.set(0, comm_key(comm)?, 0).map_err(|e| SetupError::Map("follow", e))?;
        }
        let mut links = Vec::new();
        let mut raw_links = Vec::new();
        if syscalls == Syscalls::Failures {
            let (prog, name) = LEAN_PROGRAM;
            let p: &mut RawTracePoint =
                ebpf.program_mut(prog).ok_or(SetupError::NoProgram(prog))?.try_into().map_err(|e| SetupError::Program(prog, e))?;
            p.load().map_err(|e| SetupError::Program(prog, e))?;
            let id = p.attach(name).map_err(|e| SetupError::Program(prog, e))?;
            raw_links.push(p.take_link(id).map_err(|e| SetupError::Program(prog, e))?);
        }
        let syscall_programs = if syscalls == Syscalls::All { SYSCALL_PROGRAMS } else { &[] };
        for (prog, cat, name) in syscall_programs.iter().chain(FOLLOW) {
            let p: &mut TracePoint =
                ebpf.program_mut(prog).ok_or(SetupError::NoProgram(prog))?.try_into().map_err(|e| SetupError::Program(prog, e))?;
            p.load().map_err(|e| SetupError::Program(prog, e))?;
            let id = p.attach(cat, name).map_err(|e| SetupError::Program(prog, e))?;
            links.push(p.take_link(id).map_err(|e| SetupError::Program(prog, e))?);
        }
        let map = ebpf.take_map("events").ok_or(SetupError::NoMap("events"))?;
        let ring = RingBuf::try_from(map).map_err(|e| SetupError::Map("events", e))?;
        Ok(Tracer { ebpf, ring, links, raw_links })
    }

    /// Detaches every tracepoint at once: each detach waits for an RCU grace period, so
    /// doing them in parallel costs one period instead of seven.
    pub fn detach(mut self) {
        let links = std::mem::take(&mut self.links);
        let raw_links = std::mem::take(&mut self.raw_links);
        std::thread::scope(|s| {
            for link in links {
                s.spawn(move || drop(link));
            }
            for link in raw_links {
                s.spawn(move || drop(link));
            }
        });
    }

    /// Waits up to `timeout` for data, then decodes every record available.
    pub fn poll(&mut self, timeout: Duration, out: &mut Vec<Event>) -> Result<usize, SetupError> {
        let mut pfd = libc::pollfd { fd: self.ring.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: pfd is a valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(SetupError::Poll(err));
            }
        }
        let mut n = 0;
        while let Some(item) = self.ring.next() {
            if let Ok(e) = event::parse(&item) {
                out.push(e);
                n += 1;
            }
        }
        Ok(n)
    }

    /// Events lost to a full ring buffer, syscall enters lost to a full pending map, and
    /// processes not followed because the traced map was full.
    pub fn drops(&self) -> Result<Drops, SetupError> {
        let map = self.ebpf.map("drops").ok_or(SetupError::NoMap("drops"))?;
        let arr: Array<_, u64> = Array::try_from(map).map_err(|e| SetupError::Map("drops", e))?;
        let get = |i| arr.get(&i, 0).map_err(|e| SetupError::Map("drops", e));
        Ok(Drops { ring: get(0)?, enters: get(1)?, untraced: get(2)? })
    }

    /// Stops following `pids` (the kernel side keeps following children forked before).
    pub fn untrace(&mut self, pids: &[u32]) -> Result<(), SetupError> {
        let map = self.ebpf.map_mut("traced").ok_or(SetupError::NoMap("traced"))?;
        let mut traced: HashMap<_, u32, u8> = HashMap::try_from(map).map_err(|e| SetupError::Map("traced", e))?;
        for pid in pids {
            // A pid that already exited is gone from the map: nothing to do.
            let _ = traced.remove(pid);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpf_and_perfmon_or_sys_admin_suffice() {
        assert!(caps_suffice(1 << 21));
        assert!(caps_suffice((1 << 38) | (1 << 39)));
        assert!(!caps_suffice(1 << 39));
        assert!(!caps_suffice(1 << 38));
        assert!(!caps_suffice(0));
    }

    #[test]
    fn comm_names_are_padded_and_bounded() {
        let k = comm_key("youki").unwrap();
        assert_eq!(&k[..6], b"youki\0");
        assert!(comm_key("").is_err());
        assert!(comm_key("sixteen-bytes-xx").is_err());
    }
}
