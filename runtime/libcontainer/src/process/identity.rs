//! The process's identity and limits: rlimits, oom_score_adj, no_new_privs, user and groups,
//! capabilities, umask and cwd. Applied in the child, after pivot_root, in this order.

use std::path::Path;

use nix::errno::Errno;
use nix::sys::stat::SFlag;
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};

use crate::plan::{CapSets, ProcessPlan};
use crate::syserror::{Context, SysError};

pub fn set_oom_score_adj(value: i32) -> Result<(), SysError> {
    let proc = crate::rootfs::procfs::ProcRoot::open()?;
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
/// One PR_CAPBSET_DROP per capability to drop, and a read of the set only when a drop is
/// refused (dropping one that is already gone succeeds with CAP_SETPCAP).
pub fn drop_bounding(caps: &CapSets) -> Result<(), SysError> {
    for cap in caps::all() {
        if caps.bounding & (1u64 << cap.index()) != 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap.index() as libc::c_ulong, 0, 0, 0) } == 0 {
            continue;
        }
        let errno = nix::Error::last();
        // EINVAL: a capability this kernel does not know, so not in the set either.
        if errno != nix::Error::EINVAL && caps::has_cap(None, caps::CapSet::Bounding, cap).unwrap_or(false) {
            return Err(SysError::new(format!("drop {cap} from the bounding set"), errno));
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
    let set_gid = || if crate::process::seccomp::may_call("setresgid") { setresgid(gid, gid, gid) } else { nix::unistd::setgid(gid) };
    set_gid().ctx(|| format!("setgid {}", p.gid))?;
    let uid = Uid::from_raw(p.uid);
    let set_uid = || if crate::process::seccomp::may_call("setresuid") { setresuid(uid, uid, uid) } else { nix::unistd::setuid(uid) };
    set_uid().ctx(|| format!("setuid {}", p.uid))?;
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    Ok(())
}

/// Gives the process's stdio to its user, before the switch, as runc does, so that a
/// non-root process can reopen its own /dev/stdout or /dev/tty: the pty the runtime made
/// (with `terminal`; its group stays the devpts `gid=`), and pipes and sockets (a shim's
/// stdio). Host files and terminals passed through are left alone: they are the caller's,
/// not the container's. Like runc, an owner the user namespace cannot map (EINVAL, EPERM)
/// or a read-only /dev (EROFS) leaves the fd as it is.
pub fn give_stdio_to_user(uid: u32, terminal: bool) -> Result<(), SysError> {
    for fd in 0..=2 {
        // SAFETY: borrowing a standard fd number for the duration of this iteration; a
        // closed one fails fstat with EBADF and is skipped.
        let st = match nix::sys::stat::fstat(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }) {
            Ok(st) => st,
            Err(_) => continue,
        };
        if st.st_uid == uid || !stdio_goes_to_user(SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()), st.st_rdev, terminal) {
            continue;
        }
        // SAFETY: fchown on a standard fd; -1 keeps the group.
        if unsafe { libc::fchown(fd, uid, u32::MAX) } != 0 {
            match Errno::last() {
                Errno::EINVAL | Errno::EPERM | Errno::EROFS => {}
                e => return Err(SysError::new(format!("give stdio fd {fd} to uid {uid}"), e)),
            }
        }
    }
    Ok(())
}

/// Which stdio `give_stdio_to_user` hands over. Pure.
fn stdio_goes_to_user(kind: SFlag, rdev: u64, terminal: bool) -> bool {
    match kind {
        SFlag::S_IFIFO | SFlag::S_IFSOCK => true,
        // With a terminal, stdio is the pty slave the runtime just made (UNIX98 majors).
        SFlag::S_IFCHR => terminal && (136..=143).contains(&nix::sys::stat::major(rdev)),
        _ => false,
    }
}

/// runc's HOME: when the process's env has no HOME (or an empty one), it gets the home of
/// its uid in the container's /etc/passwd, or "/" when the uid has no entry. Returns the env
/// to use, or None when it stays as it is. Pure: `passwd` gives the file's text, asked for
/// only when needed.
pub fn env_with_home(env: &[String], uid: u32, passwd: impl FnOnce() -> Option<String>) -> Option<Vec<String>> {
    let has_home = env.iter().any(|e| e.strip_prefix("HOME=").is_some_and(|v| !v.is_empty()));
    if has_home {
        return None;
    }
    let home = passwd().and_then(|text| home_of(&text, uid)).unwrap_or_else(|| "/".to_string());
    let mut out: Vec<String> = env.iter().filter(|e| !e.starts_with("HOME=")).cloned().collect();
    out.push(format!("HOME={home}"));
    Some(out)
}

/// The home directory of `uid` in passwd(5) text (name:password:uid:gid:gecos:home:shell).
fn home_of(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 6 && fields[2].parse::<u32>().ok() == Some(uid)).then(|| fields[5].to_string())
    })
}

/// The container's /etc/passwd, after pivot_root: resolved inside the root, a regular file
/// only (never a fifo or device to block on), at most 4 MiB. None when it is not there.
pub fn read_passwd() -> Option<String> {
    use std::io::Read;
    let root = crate::rootfs::in_root::Root::open(Path::new("/")).ok()?;
    let fd = root.open_at(Path::new("/etc/passwd"), nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK).ok()?;
    match crate::rootfs::in_root::kind_of(&fd) {
        Ok((SFlag::S_IFREG, _)) => {}
        _ => return None,
    }
    let mut text = String::new();
    std::fs::File::from(fd).take(4 << 20).read_to_string(&mut text).ok()?;
    Some(text)
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
    check_cwd_inside(cwd)
}

/// The first try at the cwd, made before the user switch with the runtime's rights, as runc
/// does: a directory the process's user may not search is still reached. `Ok(false)` when
/// that was refused (EACCES, EPERM: a root-squashed or user-owned directory), and
/// `set_cwd` must try again as the user.
pub fn set_cwd_before_user(cwd: &Path) -> Result<bool, SysError> {
    match nix::unistd::chdir(cwd) {
        Ok(()) => check_cwd_inside(cwd).map(|()| true),
        Err(Errno::EACCES | Errno::EPERM) => Ok(false),
        Err(e) => Err(SysError::new(format!("chdir to cwd {cwd:?}"), e)),
    }
}

fn check_cwd_inside(cwd: &Path) -> Result<(), SysError> {
    if crate::defences::OFF {
        return Ok(());
    }
    match nix::unistd::getcwd() {
        // Outside the root, getcwd(2) fails with ENOENT or returns "(unreachable)/...".
        Ok(p) if p.is_absolute() => Ok(()),
        Ok(_) => Err(SysError::new(format!("cwd {cwd:?} is outside the container"), nix::Error::EPERM)),
        Err(e) => Err(SysError::new(format!("cwd {cwd:?} is outside the container"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_comes_from_passwd_when_env_has_none() {
        let passwd = || Some("root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n".to_string());
        let env = |e: &[&str]| -> Vec<String> { e.iter().map(|s| s.to_string()).collect() };
        assert_eq!(env_with_home(&env(&["PATH=/bin"]), 0, passwd), Some(env(&["PATH=/bin", "HOME=/root"])));
        assert_eq!(env_with_home(&env(&["PATH=/bin"]), 1000, passwd), Some(env(&["PATH=/bin", "HOME=/home/bob"])));
        // No entry, or no passwd: "/".
        assert_eq!(env_with_home(&env(&[]), 2000, passwd), Some(env(&["HOME=/"])));
        assert_eq!(env_with_home(&env(&[]), 0, || None), Some(env(&["HOME=/"])));
        // An empty HOME counts as none and is replaced; a set one stays, passwd unread.
        assert_eq!(env_with_home(&env(&["HOME=", "A=1"]), 0, passwd), Some(env(&["A=1", "HOME=/root"])));
        assert_eq!(env_with_home(&env(&["HOME=/x"]), 0, || panic!("read passwd")), None);
    }

    #[test]
    fn stdio_handed_over_is_pipes_sockets_and_our_pty() {
        let pty = nix::sys::stat::makedev(136, 3);
        let null = nix::sys::stat::makedev(1, 3);
        assert!(stdio_goes_to_user(SFlag::S_IFIFO, 0, false));
        assert!(stdio_goes_to_user(SFlag::S_IFSOCK, 0, false));
        assert!(stdio_goes_to_user(SFlag::S_IFCHR, pty, true));
        // Without a terminal a pty on stdio is the caller's, as are /dev/null and files.
        assert!(!stdio_goes_to_user(SFlag::S_IFCHR, pty, false));
        assert!(!stdio_goes_to_user(SFlag::S_IFCHR, null, true));
        assert!(!stdio_goes_to_user(SFlag::S_IFREG, 0, true));
    }
}
