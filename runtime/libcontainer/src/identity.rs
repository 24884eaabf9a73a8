//! The process's identity and limits: rlimits, oom_score_adj, no_new_privs, user and groups,
//! capabilities, umask and cwd. Applied in the child, after pivot_root, in this order.

use std::path::Path;

use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};

use crate::plan::{CapSets, ProcessPlan};
use crate::syserror::{Context, SysError};

pub fn set_oom_score_adj(value: i32) -> Result<(), SysError> {
    let proc = crate::procfs::ProcRoot::open()?;
    proc.write(std::path::Path::new("self/oom_score_adj"), value.to_string().as_bytes())
        .map_err(|e| SysError::new(format!("write oom_score_adj {value}: {e}"), e.source))
}

pub fn set_rlimits(p: &ProcessPlan) -> Result<(), SysError> {
    for r in &p.rlimits {
        let lim = libc::rlimit64 { rlim_cur: r.soft, rlim_max: r.hard };
        // SAFETY: prlimit64 on our own process with a valid rlimit struct.
        let rc = unsafe { libc::prlimit64(0, r.resource as _, &lim, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(SysError::new(
                format!("set rlimit {} to soft {} hard {}", rlimit_name(r.resource), r.soft, r.hard),
                nix::Error::last(),
            ));
        }
    }
    Ok(())
}

fn rlimit_name(resource: i32) -> String {
    match resource as u32 {
        libc::RLIMIT_NOFILE => "RLIMIT_NOFILE".into(),
        libc::RLIMIT_NPROC => "RLIMIT_NPROC".into(),
        libc::RLIMIT_CORE => "RLIMIT_CORE".into(),
        libc::RLIMIT_MEMLOCK => "RLIMIT_MEMLOCK".into(),
        other => format!("resource {other}"),
    }
}

/// PR_SET_DUMPABLE; execve resets it for the new program.
pub fn set_dumpable(on: bool) {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, on as libc::c_ulong, 0, 0, 0) };
}

pub fn set_no_new_privs() -> Result<(), SysError> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(SysError::new("set no_new_privs", nix::Error::last()));
    }
    Ok(())
}

/// Drops the bounding set while we still hold CAP_SETPCAP; must run before `switch_user`.
pub fn drop_bounding(caps: &CapSets) -> Result<(), SysError> {
    for cap in caps::all() {
        if caps.bounding & (1u64 << cap.index()) == 0 && caps::has_cap(None, caps::CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, caps::CapSet::Bounding, cap)
                .map_err(|_| SysError::new(format!("drop {cap} from the bounding set"), nix::Error::last()))?;
        }
    }
    Ok(())
}

/// Switches to the process's uid, gid and groups. With `keep_caps`, capabilities survive the
/// switch so that `set_capabilities` can set them exactly afterwards.
pub fn switch_user(p: &ProcessPlan, allow_setgroups: bool, keep_caps: bool) -> Result<(), SysError> {
    // SAFETY: prctl with integer arguments only.
    if keep_caps && unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) } != 0 {
        return Err(SysError::new("set keepcaps", nix::Error::last()));
    }
    if allow_setgroups {
        let groups: Vec<Gid> = p.additional_gids.iter().map(|g| Gid::from_raw(*g)).collect();
        setgroups(&groups).ctx(|| format!("setgroups {:?}", p.additional_gids))?;
    }
    // setresgid/setresuid, or setgid/setuid (which with CAP_SETGID/CAP_SETUID set all three
    // ids too, and are what runc calls) where the seccomp profile may refuse the first.
    let gid = Gid::from_raw(p.gid);
    let set_gid = || if crate::seccomp::may_call("setresgid") { setresgid(gid, gid, gid) } else { nix::unistd::setgid(gid) };
    set_gid().ctx(|| format!("setgid {}", p.gid))?;
    let uid = Uid::from_raw(p.uid);
    let set_uid = || if crate::seccomp::may_call("setresuid") { setresuid(uid, uid, uid) } else { nix::unistd::setuid(uid) };
    set_uid().ctx(|| format!("setuid {}", p.uid))?;
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    Ok(())
}

/// Sets the effective, permitted and inheritable sets, then raises the ambient ones.
pub fn set_capabilities(caps: &CapSets) -> Result<(), SysError> {
    let set_of = |mask: u64| -> caps::CapsHashSet { caps::all().into_iter().filter(|c| mask & (1u64 << c.index()) != 0).collect() };
    // Effective and inheritable are narrowed while permitted is still full; permitted last.
    for (which, mask, name) in [
        (caps::CapSet::Inheritable, caps.inheritable, "inheritable"),
        (caps::CapSet::Effective, caps.effective, "effective"),
        (caps::CapSet::Permitted, caps.permitted, "permitted"),
    ] {
        caps::set(None, which, &set_of(mask)).map_err(|_| SysError::new(format!("set {name} capabilities"), nix::Error::last()))?;
    }
    caps::clear(None, caps::CapSet::Ambient).map_err(|_| SysError::new("clear ambient capabilities", nix::Error::last()))?;
    // The kernel refuses an ambient capability that is not also permitted and inheritable;
    // like runc, we skip those instead of failing (runc's default spec has such entries).
    for cap in set_of(caps.ambient & caps.permitted & caps.inheritable) {
        caps::raise(None, caps::CapSet::Ambient, cap)
            .map_err(|_| SysError::new(format!("raise ambient capability {cap}"), nix::Error::last()))?;
    }
    Ok(())
}

pub fn set_umask(umask: Option<u32>) {
    let mask = umask.unwrap_or(0o022);
    // SAFETY: umask(2) takes any mode. Its result is not read: under a seccomp filter that
    // refuses it, it is -1 (nix would panic turning that into a mode).
    unsafe { libc::umask(mask as libc::mode_t) };
}

/// chdir to the process's cwd, then make sure it is inside the container: a cwd such as
/// /proc/self/fd/N could otherwise land on an fd the runtime still holds (CVE-2024-21626).
pub fn set_cwd(cwd: &Path) -> Result<(), SysError> {
    nix::unistd::chdir(cwd).ctx(|| format!("chdir to cwd {cwd:?}"))?;
    match nix::unistd::getcwd() {
        // Outside the root, getcwd(2) fails with ENOENT or returns "(unreachable)/...".
        Ok(p) if p.is_absolute() => Ok(()),
        Ok(_) => Err(SysError::new(format!("cwd {cwd:?} is outside the container"), nix::Error::EPERM)),
        Err(e) => Err(SysError::new(format!("cwd {cwd:?} is outside the container"), e)),
    }
}
