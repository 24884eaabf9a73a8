//! Turns a syscall event's raw arguments into readable text: flags, paths, argv and payloads.

use crate::event::{Event, Kind};

const CLONE_FLAGS: &[(u64, &str)] = &[
    (0x80, "CLONE_NEWTIME"),
    (0x100, "CLONE_VM"),
    (0x200, "CLONE_FS"),
    (0x400, "CLONE_FILES"),
    (0x800, "CLONE_SIGHAND"),
    (0x1000, "CLONE_PIDFD"),
    (0x2000, "CLONE_PTRACE"),
    (0x4000, "CLONE_VFORK"),
    (0x8000, "CLONE_PARENT"),
    (0x10000, "CLONE_THREAD"),
    (0x20000, "CLONE_NEWNS"),
    (0x40000, "CLONE_SYSVSEM"),
    (0x80000, "CLONE_SETTLS"),
    (0x100000, "CLONE_PARENT_SETTID"),
    (0x200000, "CLONE_CHILD_CLEARTID"),
    (0x400000, "CLONE_DETACHED"),
    (0x800000, "CLONE_UNTRACED"),
    (0x1000000, "CLONE_CHILD_SETTID"),
    (0x2000000, "CLONE_NEWCGROUP"),
    (0x4000000, "CLONE_NEWUTS"),
    (0x8000000, "CLONE_NEWIPC"),
    (0x10000000, "CLONE_NEWUSER"),
    (0x20000000, "CLONE_NEWPID"),
    (0x40000000, "CLONE_NEWNET"),
    (0x80000000, "CLONE_IO"),
    (0x100000000, "CLONE_CLEAR_SIGHAND"),
    (0x200000000, "CLONE_INTO_CGROUP"),
];

const MOUNT_FLAGS: &[(u64, &str)] = &[
    (1, "MS_RDONLY"),
    (2, "MS_NOSUID"),
    (4, "MS_NODEV"),
    (8, "MS_NOEXEC"),
    (16, "MS_SYNCHRONOUS"),
    (32, "MS_REMOUNT"),
    (64, "MS_MANDLOCK"),
    (128, "MS_DIRSYNC"),
    (256, "MS_NOSYMFOLLOW"),
    (1024, "MS_NOATIME"),
    (2048, "MS_NODIRATIME"),
    (4096, "MS_BIND"),
    (8192, "MS_MOVE"),
    (16384, "MS_REC"),
    (32768, "MS_SILENT"),
    (1 << 16, "MS_POSIXACL"),
    (1 << 17, "MS_UNBINDABLE"),
    (1 << 18, "MS_PRIVATE"),
    (1 << 19, "MS_SLAVE"),
    (1 << 20, "MS_SHARED"),
    (1 << 21, "MS_RELATIME"),
    (1 << 24, "MS_STRICTATIME"),
    (1 << 25, "MS_LAZYTIME"),
];

const OPEN_FLAGS: &[(u64, &str)] = &[
    (0x40, "O_CREAT"),
    (0x80, "O_EXCL"),
    (0x100, "O_NOCTTY"),
    (0x200, "O_TRUNC"),
    (0x400, "O_APPEND"),
    (0x800, "O_NONBLOCK"),
    (0x10000, "O_DIRECTORY"),
    (0x20000, "O_NOFOLLOW"),
    (0x80000, "O_CLOEXEC"),
    (0x200000, "O_PATH"),
];

const FSCONFIG_CMDS: &[&str] = &[
    "FSCONFIG_SET_FLAG",
    "FSCONFIG_SET_STRING",
    "FSCONFIG_SET_BINARY",
    "FSCONFIG_SET_PATH",
    "FSCONFIG_SET_PATH_EMPTY",
    "FSCONFIG_SET_FD",
    "FSCONFIG_CMD_CREATE",
    "FSCONFIG_CMD_RECONFIGURE",
    "FSCONFIG_CMD_CREATE_EXCL",
];

/// Bytes of a read or write payload shown in the arguments text.
const PAYLOAD_SHOWN: usize = 64;

/// Joins the names of the bits set in `v`, with any unnamed rest in hex; `0` when empty.
pub fn flags(v: u64, table: &[(u64, &str)]) -> String {
    let mut parts = Vec::new();
    let mut rest = v;
    for (bit, name) in table {
        if v & bit != 0 {
            parts.push((*name).to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() {
        "0".to_string()
    } else {
        parts.join("|")
    }
}

/// Clone and unshare flags; the low byte of clone() is the exit signal.
pub fn clone_flags(v: u64) -> String {
    flags(v, CLONE_FLAGS)
}

pub fn mount_flags(v: u64) -> String {
    flags(v, MOUNT_FLAGS)
}

pub fn open_flags(v: u64) -> String {
    let access = match v & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    };
    let rest = flags(v & !3, OPEN_FLAGS);
    if rest == "0" {
        access.to_string()
    } else {
        format!("{access}|{rest}")
    }
}

/// A bounded payload prefix as a quoted string with control bytes escaped.
pub fn quote_bytes(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        match c {
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(char::from(c)),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

fn q(s: &str) -> String {
    format!("{s:?}")
}

fn dirfd(v: u64) -> String {
    if v as i32 == -100 {
        "AT_FDCWD".to_string()
    } else {
        (v as i32).to_string()
    }
}

fn le_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

fn le_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

/// Readable arguments of a syscall event, without the syscall name.
pub fn describe(e: &Event) -> String {
    if e.kind == Kind::Syscall && e.aux[2] == -1 {
        return "<arguments not seen: refused before it ran, by seccomp, or its entry was lost>".to_string();
    }
    let a = &e.args;
    // For writev and sendmsg only the first buffer is captured; the total is the result.
    let total = if matches!(e.nr, 20 | 46) { u64::MAX } else { a[2] };
    let payload = || {
        let shown = &e.payload()[..e.payload().len().min(PAYLOAD_SHOWN)];
        let p = quote_bytes(shown);
        if (shown.len() as u64) < total && e.ret > shown.len() as i64 {
            format!("{p}...")
        } else {
            p
        }
    };
    match e.nr {
        0 | 45 => format!("{}, {}, {}", a[0] as i32, payload(), a[2]),
        1 | 44 => format!("{}, {}, {}", a[0] as i32, payload(), a[2]),
        20 => format!("{}, [{}, ...], {}", a[0] as i32, payload(), a[2]),
        46 => format!("{}, {{iov: [{}, ...]}}, {:#x}", a[0] as i32, payload(), a[2]),
        2 => format!("{}, {}", q(&e.s0_text()), open_flags(a[1])),
        257 => format!("{}, {}, {}", dirfd(a[0]), q(&e.s0_text()), open_flags(a[2])),
        437 => format!("{}, {}", dirfd(a[0]), q(&e.s0_text())),
        4 | 6 | 21 | 80 | 83 | 84 | 87 | 89 | 161 | 430 => q(&e.s0_text()),
        166 => format!("{}, {:#x}", q(&e.s0_text()), a[1]),
        258..=263 | 267..=269 | 332 | 439 => format!("{}, {}", dirfd(a[0]), q(&e.s0_text())),
        59 | 322 => {
            let mut argv = e.argv().iter().map(|s| q(s)).collect::<Vec<_>>().join(", ");
            if e.aux[2] != 0 {
                argv.push_str(", ...");
            }
            format!("{}, [{argv}]", q(&e.s0_text()))
        }
        88 | 155 => format!("{}, {}", q(&e.s0_text()), q(&e.s1_text())),
        266 => format!("{}, {}", q(&e.s0_text()), q(&e.s1_text())),
        165 => format!("{}, {}, {}, {}", q(&e.s0_text()), q(&e.s1_text()), q(&e.s2_text()), mount_flags(a[3])),
        56 => format!("{}, exit_signal={}, child_stack={:#x}", clone_flags(a[0] & !0xff), a[0] & 0xff, a[1]),
        435 => {
            let f = le_u64(&e.s2, 0);
            format!("{{flags={}, exit_signal={}}}", clone_flags(f), le_u64(&e.s2, 32))
        }
        272 => clone_flags(a[0]),
        308 => format!("{}, {}", a[0] as i32, clone_flags(a[1])),
        428 | 433 | 442 => format!("{}, {}, {:#x}", dirfd(a[0]), q(&e.s0_text()), a[2]),
        429 => format!("{}, {}, {}, {}, {:#x}", dirfd(a[0]), q(&e.s0_text()), dirfd(a[2]), q(&e.s1_text()), a[4]),
        431 => {
            let cmd = usize::try_from(a[1]).ok().and_then(|i| FSCONFIG_CMDS.get(i)).map_or_else(|| a[1].to_string(), |s| (*s).to_string());
            format!("{}, {cmd}, {}, {}", a[0] as i32, q(&e.s2_text()), q(&e.s0_text()))
        }
        432 => format!("{}, {:#x}, {:#x}", a[0] as i32, a[1], a[2]),
        126 => format!(
            "effective={:#x}, permitted={:#x}, inheritable={:#x}",
            u64::from(le_u32(&e.s2, 0)) | (u64::from(le_u32(&e.s2, 12)) << 32),
            u64::from(le_u32(&e.s2, 4)) | (u64::from(le_u32(&e.s2, 16)) << 32),
            u64::from(le_u32(&e.s2, 8)) | (u64::from(le_u32(&e.s2, 20)) << 32),
        ),
        117 | 119 => format!("{}, {}, {}", a[0] as i32, a[1] as i32, a[2] as i32),
        105 | 106 | 146 => (a[0] as i32).to_string(),
        116 => format!("{}", a[0]),
        157 if a[0] == 15 => format!("PR_SET_NAME, {}", q(&e.s0_text())),
        157 => format!("{}, {:#x}", a[0], a[1]),
        317 => format!("{}, {:#x}", a[0], a[1]),
        170 | 171 => quote_bytes(e.payload()),
        62 => format!("{}, {}", a[0] as i32, crate::names::signal_name(a[1] as i32)),
        200 => format!("{}, {}", a[0] as i32, crate::names::signal_name(a[1] as i32)),
        234 => format!("{}, {}, {}", a[0] as i32, a[1] as i32, crate::names::signal_name(a[2] as i32)),
        60 | 231 => (a[0] as i32).to_string(),
        3 => (a[0] as i32).to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Kind};

    fn call(nr: i64, args: [u64; 6]) -> Event {
        let mut e = Event::new(Kind::Syscall, 0, 1, "youki:ns");
        e.nr = nr;
        e.args = args;
        e
    }

    #[test]
    fn names_clone3_namespace_flags() {
        let mut e = call(435, [0x1000; 6]);
        e.s2 = vec![0; 48];
        e.s2[..8].copy_from_slice(&(0x20000u64 | 0x20000000 | 0x4000000).to_le_bytes());
        e.s2[32..40].copy_from_slice(&17u64.to_le_bytes());
        assert_eq!(describe(&e), "{flags=CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWPID, exit_signal=17}");
    }

    #[test]
    fn names_mount_and_open_flags() {
        let mut e = call(165, [0, 0, 0, 4096 | 16384, 0, 0]);
        e.s0 = b"/src".to_vec();
        e.s1 = b"/rootfs/data".to_vec();
        e.s2 = b"none\0".to_vec();
        assert_eq!(describe(&e), r#""/src", "/rootfs/data", "none", MS_BIND|MS_REC"#);
        assert_eq!(open_flags(0x80000 | 0x10000), "O_RDONLY|O_DIRECTORY|O_CLOEXEC");
        assert_eq!(clone_flags(0x400000000), "0x400000000");
    }

    #[test]
    fn shows_execve_argv_and_write_payload() {
        let mut e = call(59, [0; 6]);
        e.s0 = b"/bin/sh".to_vec();
        e.s1 = vec![0; 128];
        e.s1[..2].copy_from_slice(b"sh");
        e.s1[32..34].copy_from_slice(b"-c");
        e.aux = [0, 2, 1];
        assert_eq!(describe(&e), r#""/bin/sh", ["sh", "-c", ...]"#);

        let mut w = call(1, [2, 0, 5, 0, 0, 0]);
        w.s0 = b"err!\n".to_vec();
        w.aux[0] = 5;
        w.ret = -32;
        assert_eq!(describe(&w), r#"2, "err!\n", 5"#);

        let mut m = call(46, [5, 0, 0x4000, 0, 0, 0]);
        m.s0 = b"{\"Failed\"".to_vec();
        m.aux[0] = 9;
        m.ret = 120;
        assert_eq!(describe(&m), r#"5, {iov: ["{\"Failed\""..., ...]}, 0x4000"#);
    }

    #[test]
    fn decodes_setns_and_prctl() {
        assert_eq!(describe(&call(308, [5, 0x40000000, 0, 0, 0, 0])), "5, CLONE_NEWNET");
        let mut p = call(157, [15, 0, 0, 0, 0, 0]);
        p.s0 = b"youki:init".to_vec();
        assert_eq!(describe(&p), r#"PR_SET_NAME, "youki:init""#);
    }

    #[test]
    fn a_call_refused_before_entry_says_its_arguments_were_not_seen() {
        let mut e = call(59, [0; 6]);
        e.ret = -1;
        e.aux[2] = -1;
        assert!(describe(&e).starts_with("<arguments not seen: refused before it ran"));
    }
}
