//! A joined user namespace's id maps against the `linux.uidMappings`/`gidMappings` that
//! config.json gives with it (config-linux.md: a runtime joining a user namespace with
//! mappings checks they are the namespace's and errors out when they differ).
//!
//! How the maps are read: by init, right after its setns into the user namespace, from
//! /proc/self/uid_map and gid_map. A process reading its own map file sees the maps of its
//! user namespace relative to that namespace's parent, which is what config.json's hostIDs
//! mean. No other process is needed (a namespace file alone has no map file), and the answer
//! is about the very namespace the container is in, not one found through some other process.

use std::path::Path;

use crate::plan::{IdMap, IdMaps};
use crate::rootfs::procfs::ProcRoot;
use crate::syserror::SysError;

/// Parses a /proc/PID/uid_map or gid_map text: `inside outside count` per line.
pub fn parse(text: &str) -> Option<Vec<IdMap>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split_whitespace().map(|w| w.parse::<u32>().ok());
        match (f.next().flatten(), f.next().flatten(), f.next().flatten(), f.next()) {
            (Some(container), Some(host), Some(size), None) => out.push(IdMap { container, host, size }),
            _ => return None,
        }
    }
    Some(out)
}

/// The first list that differs from the namespace's, as (field, given, the namespace's). A
/// list not given (empty) is not checked; the order of the entries does not matter.
pub fn mismatch(given: &IdMaps, ns_uid: &[IdMap], ns_gid: &[IdMap]) -> Option<(&'static str, Vec<IdMap>, Vec<IdMap>)> {
    let sorted = |l: &[IdMap]| {
        let mut v = l.to_vec();
        v.sort_by_key(|m| (m.container, m.host, m.size));
        v
    };
    for (field, want, have) in [("uidMappings", &given.uid, ns_uid), ("gidMappings", &given.gid, ns_gid)] {
        if !want.is_empty() && sorted(want) != sorted(have) {
            return Some((field, want.clone(), have.to_vec()));
        }
    }
    None
}

/// `[0 100000 65536, ...]`, for an error message.
pub fn inline(maps: &[IdMap]) -> String {
    let parts: Vec<String> = maps.iter().map(|m| format!("{} {} {}", m.container, m.host, m.size)).collect();
    format!("[{}]", parts.join(", "))
}

/// Init, just inside the joined user namespace: its maps must be the ones config.json gives.
/// `proc` is a procfs root opened before the join.
pub fn check_own(proc: &ProcRoot, given: &IdMaps) -> Result<(), SysError> {
    let read = |file: &str| -> Result<Vec<IdMap>, SysError> {
        let path = Path::new("self").join(file);
        let text = proc.read(&path)?;
        parse(&text).ok_or_else(|| SysError::new(format!("parse /proc/{}", path.display()), nix::Error::EINVAL))
    };
    let (uid, gid) = (read("uid_map")?, read("gid_map")?);
    match mismatch(given, &uid, &gid) {
        None => Ok(()),
        Some((field, want, have)) => Err(SysError::new(
            format!("linux.{field} {} differ from the joined user namespace's {}", inline(&want), inline(&have)),
            nix::Error::EINVAL,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(container: u32, host: u32, size: u32) -> IdMap {
        IdMap { container, host, size }
    }

    #[test]
    fn parses_procs_format() {
        let text = "         0     100000      65536\n     65536          7          1\n";
        assert_eq!(parse(text), Some(vec![m(0, 100000, 65536), m(65536, 7, 1)]));
        assert_eq!(parse(""), Some(vec![]));
        assert_eq!(parse("0 1\n"), None);
        assert_eq!(parse("0 1 2 3\n"), None);
        assert_eq!(parse("a 1 2\n"), None);
    }

    #[test]
    fn equal_maps_in_any_order_match() {
        let ns = vec![m(0, 100000, 1000), m(1000, 5, 1)];
        let given = IdMaps { uid: vec![m(1000, 5, 1), m(0, 100000, 1000)], gid: ns.clone() };
        assert_eq!(mismatch(&given, &ns, &ns), None);
        // A list not given is not checked.
        assert_eq!(mismatch(&IdMaps { uid: vec![], gid: ns.clone() }, &[], &ns), None);
    }

    #[test]
    fn a_difference_names_the_field_and_both_maps() {
        let ns = vec![m(0, 100000, 65536)];
        let given = IdMaps { uid: ns.clone(), gid: vec![m(0, 200000, 65536)] };
        let (field, want, have) = mismatch(&given, &ns, &ns).unwrap();
        assert_eq!(field, "gidMappings");
        assert_eq!(inline(&want), "[0 200000 65536]");
        assert_eq!(inline(&have), "[0 100000 65536]");
    }

    /// The whole check in a real user namespace: a child joins one by path and reads its maps.
    #[test]
    fn checks_a_real_joined_namespace() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let maps = IdMaps { uid: vec![m(0, 4000, 10)], gid: vec![m(0, 5000, 10)] };
        let holder = crate::create::clone::clone_child(nix::sched::CloneFlags::CLONE_NEWUSER, None, || loop {
            nix::unistd::pause();
        })
        .unwrap();
        let pid = holder.pid;
        let proc = ProcRoot::host().unwrap();
        proc.write(&Path::new(&pid.to_string()).join("uid_map"), b"0 4000 10\n").unwrap();
        proc.write(&Path::new(&pid.to_string()).join("gid_map"), b"0 5000 10\n").unwrap();
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/user")).unwrap();
        let other = IdMaps { uid: maps.uid.clone(), gid: vec![m(0, 6000, 10)] };
        // The checks run in a forked child: setns(CLONE_NEWUSER) needs a single-threaded caller.
        // fork(3), not a raw clone: the test harness runs other tests on threads, and only
        // libc's fork makes malloc usable again in the child (a raw clone hung here, in a
        // futex of the allocator, once in a few runs).
        let run = |want: IdMaps| {
            // SAFETY: the child only allocates (made safe by fork), makes syscalls and exits.
            let child = match unsafe { nix::unistd::fork() }.unwrap() {
                nix::unistd::ForkResult::Child => {
                    let code = match ProcRoot::host() {
                        Ok(proc) if nix::sched::setns(std::os::fd::AsFd::as_fd(&ns), nix::sched::CloneFlags::CLONE_NEWUSER).is_ok() => {
                            if check_own(&proc, &want).is_ok() {
                                0
                            } else {
                                1
                            }
                        }
                        _ => 2,
                    };
                    // SAFETY: ends the forked child without running the harness's exit path.
                    unsafe { libc::_exit(code) }
                }
                nix::unistd::ForkResult::Parent { child } => child,
            };
            match nix::sys::wait::waitpid(child, None).unwrap() {
                nix::sys::wait::WaitStatus::Exited(_, code) => code,
                other => panic!("{other:?}"),
            }
        };
        let (same, differ) = (run(maps), run(other));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        assert_eq!((same, differ), (0, 1));
    }
}
