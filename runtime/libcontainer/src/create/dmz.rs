//! The last exec of init goes through a tiny trampoline run from a sealed memfd, so that no
//! path from the container's program back to /proc/self/exe can reach the youki binary.
//!
//! Threat model (CVE-2019-5736): a malicious image makes its entrypoint resolve to
//! /proc/self/exe (a symlink, a `#!/proc/self/exe` script, or an ELF whose interpreter is
//! /proc/self/exe). The kernel would then run the runtime's own binary inside the container,
//! and a process there could keep an fd to it and reopen it for writing once the runtime has
//! exited, replacing the runtime on the host. Here init never execs the container program
//! directly: it execs `dmz` from a sealed memfd (F_SEAL_WRITE and friends), and `dmz` execs
//! the program. Whatever /proc/self/exe means at that point is the sealed memfd, which can
//! be neither written nor grown. Before that execve, init and `exec`'s child are clones of
//! youki whose /proc/PID/exe is the host binary and which container processes can see (a
//! joined pid namespace, or `exec`): both make themselves non-dumpable first, so only a
//! process with CAP_SYS_PTRACE could open that link. The cost is one memfd of ~700 bytes and one extra execve of
//! a static binary, instead of copying the 2+ MB runtime on every call. Out of scope: a host
//! whose binfmt_misc handlers point into the container, and attackers who are already root
//! on the host.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

use crate::syserror::SysError;

/// The trampoline: started with execveat(fd, "", AT_EMPTY_PATH), or else with execve of
/// /proc/self/fd/N where the seccomp profile may deny execveat (runc only uses execve).
#[derive(Debug)]
pub struct Trampoline {
    fd: OwnedFd,
}

/// A trampoline made in this process before its seccomp filter was loaded (see
/// `before_seccomp`). Only the container's init and exec children touch it, single-threaded.
static EARLY: Mutex<Option<Trampoline>> = Mutex::new(None);

/// Makes the trampoline before the seccomp filter is loaded, so that a profile without
/// memfd_create still runs.
pub fn before_seccomp() -> Result<(), SysError> {
    let fd = make()?;
    if let Ok(mut slot) = EARLY.lock() {
        *slot = Some(Trampoline { fd });
    }
    Ok(())
}

/// The trampoline for this process's last exec: the one made before seccomp, or a new one.
pub fn prepare() -> Result<Trampoline, SysError> {
    if let Some(early) = EARLY.lock().ok().and_then(|mut slot| slot.take()) {
        return Ok(early);
    }
    Ok(Trampoline { fd: make()? })
}

static DMZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/dmz"));

const MFD_EXEC: libc::c_uint = 0x10;

/// Makes the sealed memfd holding the trampoline. Done before `Ready`, so failures reach the
/// parent.
fn make() -> Result<OwnedFd, SysError> {
    let name = c"youki-dmz";
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: memfd_create with a valid name; the returned fd is owned below.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), base | MFD_EXEC) };
    if fd < 0 && nix::Error::last() == nix::Error::EINVAL {
        // Kernels before 6.3 do not know MFD_EXEC; their memfds are executable anyway.
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(name.as_ptr(), base) };
    }
    if fd < 0 {
        return Err(SysError::new("create the exec trampoline memfd", nix::Error::last()));
    }
    // SAFETY: a fresh fd from the kernel.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut written = 0;
    while written < DMZ.len() {
        let n = nix::unistd::write(&fd, &DMZ[written..]).map_err(|e| SysError::new("write the exec trampoline", e))?;
        written += n;
    }
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on our own fd.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(SysError::new("seal the exec trampoline", nix::Error::last()));
    }
    Ok(fd)
}

/// Execs `exe` with `argv` through the trampoline. Returns only on failure.
pub fn exec(t: &Trampoline, exe: &CString, argv: &[CString], envp: &[CString]) -> nix::Error {
    let mut args: Vec<*const libc::c_char> = Vec::with_capacity(argv.len() + 2);
    args.push(exe.as_ptr());
    args.extend(argv.iter().map(|a| a.as_ptr()));
    args.push(std::ptr::null());
    let mut env: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    env.push(std::ptr::null());
    if crate::defences::OFF {
        // Test-only negative control: the program itself, so /proc/self/exe may be youki.
        // SAFETY: NUL-terminated arrays of valid C strings that outlive the call.
        unsafe { libc::execve(exe.as_ptr(), args[1..].as_ptr(), env.as_ptr()) };
        return nix::Error::last();
    }
    if crate::process::seccomp::may_call("execveat") {
        // SAFETY: NUL-terminated arrays of valid C strings that outlive the call.
        unsafe { libc::syscall(libc::SYS_execveat, t.fd.as_raw_fd(), c"".as_ptr(), args.as_ptr(), env.as_ptr(), libc::AT_EMPTY_PATH) };
        let e = nix::Error::last();
        if e != nix::Error::ENOSYS {
            return e;
        }
    }
    exec_by_path(&t.fd, &args, &env)
}

/// execve of /proc/self/fd/N, once that path is checked to lead to the trampoline itself (a
/// /proc the container controls could point it elsewhere, even at the runtime's binary).
fn exec_by_path(fd: &OwnedFd, args: &[*const libc::c_char], env: &[*const libc::c_char]) -> nix::Error {
    let Ok(path) = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())) else { return nix::Error::EINVAL };
    let flags = nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC;
    let reached = match nix::fcntl::open(path.as_c_str(), flags, nix::sys::stat::Mode::empty()) {
        Ok(fd) => fd,
        Err(e) => return e,
    };
    match (inode(fd), inode(&reached)) {
        (Ok(want), Ok(got)) if want == got => {}
        (Err(e), _) | (_, Err(e)) => return e,
        _ => return nix::Error::EXDEV,
    }
    // SAFETY: NUL-terminated arrays of valid C strings that outlive the call.
    unsafe { libc::execve(path.as_ptr(), args.as_ptr(), env.as_ptr()) };
    nix::Error::last()
}

/// (st_dev, st_ino) of `fd`, by a stat call the seccomp profile lets through: fstat,
/// newfstatat (glibc's fstat), or statx.
fn inode(fd: &OwnedFd) -> nix::Result<(u64, u64)> {
    let may = crate::process::seccomp::may_call;
    if may("statx") && !may("fstat") && !may("newfstatat") {
        // SAFETY: a zeroed statx is a valid out-parameter; the path is an empty C string.
        let mut stx: libc::statx = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::statx(fd.as_raw_fd(), c"".as_ptr(), libc::AT_EMPTY_PATH, libc::STATX_INO, &mut stx) } != 0 {
            return Err(nix::Error::last());
        }
        return Ok((libc::makedev(stx.stx_dev_major, stx.stx_dev_minor), stx.stx_ino));
    }
    if may("fstat") || !may("newfstatat") {
        // SAFETY: a zeroed stat is a valid out-parameter for fstat on an fd we own.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::syscall(libc::SYS_fstat, fd.as_raw_fd(), &mut st as *mut libc::stat) } != 0 {
            return Err(nix::Error::last());
        }
        return Ok((st.st_dev, st.st_ino));
    }
    nix::sys::stat::fstat(fd).map(|st| (st.st_dev, st.st_ino))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trampoline_is_small_sealed_and_runs_programs() {
        assert!(DMZ.len() < 4096, "dmz is {} bytes", DMZ.len());
        let fd = make().unwrap();
        // SAFETY: fcntl on our own fd.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        assert!(seals & libc::F_SEAL_WRITE != 0);
        assert!(nix::unistd::write(&fd, b"x").is_err());
        // dmz reads its target from argv[0]; the path of the memfd only gets us to dmz.
        use std::os::unix::process::CommandExt;
        let out = std::process::Command::new(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .arg0("/bin/sh")
            .args(["sh", "-c", "echo through dmz"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "through dmz\n");
    }

    #[test]
    fn the_path_fallback_runs_the_trampoline() {
        let t = Trampoline { fd: make().unwrap() };
        // SAFETY: the child only execs or exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let sh = CString::new("/bin/sh").unwrap();
                let argv = [c"sh".to_owned(), c"-c".to_owned(), c"exit 7".to_owned()];
                let no_execveat = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_ERRNO"}]});
                crate::process::seccomp::expect_filter(&serde_json::from_value(no_execveat).unwrap());
                exec(&t, &sh, &argv, &[]);
                // SAFETY: leaving the forked child without unwinding.
                unsafe { libc::_exit(99) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 7));
            }
        }
    }
}
