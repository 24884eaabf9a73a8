//! The bpf(2) calls that put a device program on a cgroup: load, attach (replacing what the
//! runtime attached before), query and detach.
//!
//! Programs are attached with BPF_F_ALLOW_MULTI, the mode systemd and other runtimes use, so
//! programs of parent cgroups keep applying. When exactly one program is attached already,
//! the new one replaces it in a single call (BPF_F_REPLACE); otherwise the new one is
//! attached first and the old ones are detached after, so no moment is less strict.

use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
    path::Path,
};

use super::device_prog::Insn;
use crate::CgroupError;

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;
const BPF_F_REPLACE: u32 = 4;

#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct Attach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct Query {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdById {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// bpf(cmd, attr): the raw result, or the errno.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, properly sized repr(C) union member for `cmd`; the kernel
    // reads and writes only within the size passed.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn owned(ret: libc::c_long) -> OwnedFd {
    // SAFETY: the bpf call returned a new fd that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(ret as i32) }
}

fn failed(op: &'static str, cgroup: &Path, source: io::Error) -> CgroupError {
    CgroupError::Io { op, path: cgroup.to_path_buf(), source }
}

/// Loads `prog` as a cgroup device program; the verifier's log becomes part of the error.
pub fn load(prog: &[Insn], cgroup: &Path) -> Result<OwnedFd, CgroupError> {
    let license = c"Apache-2.0";
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    attr.prog_name[..9].copy_from_slice(b"youki_dev");
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(owned(fd)),
        Err(e) => {
            let mut log = vec![0u8; 16 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let text = String::from_utf8_lossy(&log);
            let text = text.trim_end_matches('\0').trim();
            let source = if text.is_empty() { e } else { io::Error::new(e.kind(), format!("{e}: {text}")) };
            Err(failed("load the device program for", cgroup, source))
        }
    }
}

/// Ids of the device programs attached to the cgroup directory `dir`.
pub fn attached(dir: BorrowedFd, cgroup: &Path) -> Result<Vec<u32>, CgroupError> {
    let mut ids = vec![0u32; 64];
    let mut attr = Query {
        target_fd: dir.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr).map_err(|e| failed("query the device programs of", cgroup, e))?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

fn prog_fd(id: u32, cgroup: &Path) -> Result<OwnedFd, CgroupError> {
    let mut attr = GetFdById { prog_id: id, ..Default::default() };
    bpf(BPF_PROG_GET_FD_BY_ID, &mut attr).map(owned).map_err(|e| failed("open an attached device program of", cgroup, e))
}

/// Attaches `prog` to `dir`, replacing the device programs attached there before.
pub fn attach_replacing(dir: BorrowedFd, prog: &OwnedFd, cgroup: &Path) -> Result<(), CgroupError> {
    let old = attached(dir, cgroup)?;
    let mut attr = Attach {
        target_fd: dir.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    if let [only] = old.as_slice() {
        let old_fd = prog_fd(*only, cgroup)?;
        attr.attach_flags |= BPF_F_REPLACE;
        attr.replace_bpf_fd = old_fd.as_raw_fd() as u32;
        return bpf(BPF_PROG_ATTACH, &mut attr).map(drop).map_err(|e| failed("replace the device program of", cgroup, e));
    }
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| failed("attach the device program to", cgroup, e))?;
    for id in old {
        let old_fd = prog_fd(id, cgroup)?;
        let mut detach = Attach {
            target_fd: dir.as_raw_fd() as u32,
            attach_bpf_fd: old_fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        bpf(BPF_PROG_DETACH, &mut detach).map_err(|e| failed("detach an old device program from", cgroup, e))?;
    }
    Ok(())
}
