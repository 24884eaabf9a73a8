//! Scheduling and security facts of the checker itself: personality, sched_getattr(2),
//! ioprio_get(2), the CPU affinity, and the LSM label in /proc/self/attr/current.

use crate::json::Json;

/// `struct sched_attr`, SCHED_ATTR_SIZE_VER0 (48 bytes).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

fn personality() -> Json {
    // SAFETY: 0xffffffff only queries the current persona.
    let p = unsafe { libc::personality(0xffff_ffff) };
    if p < 0 {
        Json::Null
    } else {
        Json::num(p)
    }
}

fn sched_attr() -> Json {
    let mut a = SchedAttr::default();
    // SAFETY: the buffer is as large as the size passed, and lives for the call.
    let rc = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &mut a as *mut SchedAttr, std::mem::size_of::<SchedAttr>() as u32, 0u32) };
    if rc < 0 {
        return Json::Null;
    }
    Json::Obj(vec![
        ("policy".into(), Json::num(a.policy)),
        ("flags".into(), Json::num(a.flags)),
        ("nice".into(), Json::num(a.nice)),
        ("priority".into(), Json::num(a.priority)),
        ("runtime".into(), Json::num(a.runtime)),
        ("deadline".into(), Json::num(a.deadline)),
        ("period".into(), Json::num(a.period)),
    ])
}

fn ioprio() -> Json {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: ioprio_get takes two integers.
    let v = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
    if v < 0 {
        return Json::Null;
    }
    Json::Obj(vec![("class".into(), Json::num(v >> 13)), ("level".into(), Json::num(v & 0x1fff))])
}

fn affinity() -> Json {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above, with its true size.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } != 0 {
        return Json::Null;
    }
    let cpus = (0..libc::CPU_SETSIZE as usize).filter(|c| unsafe { libc::CPU_ISSET(*c, &set) });
    Json::Arr(cpus.map(Json::num).collect())
}

fn lsm_label() -> Json {
    match std::fs::read("/proc/self/attr/current") {
        Ok(bytes) => Json::str(String::from_utf8_lossy(&bytes).trim_end_matches(['\n', '\0']).to_string()),
        Err(_) => Json::Null,
    }
}

pub fn facts() -> Vec<(String, Json)> {
    vec![
        ("personality".into(), personality()),
        ("sched".into(), sched_attr()),
        ("ioprio".into(), ioprio()),
        ("cpus".into(), affinity()),
        ("lsm_label".into(), lsm_label()),
    ]
}
