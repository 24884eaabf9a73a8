//! linux.seccomp through libseccomp: the filter is built from the spec (every action,
//! operator, architecture and flag), loaded in init, and with SCMP_ACT_NOTIFY its listener fd
//! goes to `listenerPath` with the container process state, as the runtime-spec defines.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::str::FromStr;

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompFilterFlag, LinuxSeccompOperator as Op};

use crate::syserror::SysError;
use crate::validate::SpecError;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp: {op}")]
    Lib { op: String, #[source] source: libseccomp::error::SeccompError },
}

fn lib(op: impl Into<String>) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError {
    let op = op.into();
    move |source| SeccompError::Lib { op, source }
}

/// Pure checks of linux.seccomp, run by `plan`.
pub fn validate(s: &LinuxSeccomp) -> Result<(), SpecError> {
    let bad = |why: String| Err(SpecError::Seccomp(why));
    if s.default_action() == A::ScmpActNotify {
        return bad("defaultAction must not be SCMP_ACT_NOTIFY".into());
    }
    let uses_notify = s.syscalls().iter().flatten().any(|r| r.action() == A::ScmpActNotify);
    match s.listener_path() {
        None if uses_notify => return bad("SCMP_ACT_NOTIFY needs listenerPath".into()),
        Some(p) if !p.is_absolute() => return bad(format!("listenerPath {p:?} must be absolute")),
        _ => {}
    }
    for arch in s.architectures().iter().flatten() {
        if ScmpArch::from_str(&arch_name(arch)).is_err() {
            return bad(format!("unknown architecture {}", arch_name(arch)));
        }
    }
    for rule in s.syscalls().iter().flatten() {
        if rule.names().is_empty() {
            return bad("a syscalls entry has no names".into());
        }
        for a in rule.args().iter().flatten() {
            if a.index() > 5 {
                return bad(format!("argument index {} of {:?} is above 5", a.index(), rule.names()));
            }
        }
    }
    Ok(())
}

fn arch_name(a: &oci_spec::runtime::Arch) -> String {
    serde_json::to_value(a).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

fn action(a: A, errno: Option<u32>, default_errno: Option<u32>) -> ScmpAction {
    match a {
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => ScmpAction::Errno(errno.or(default_errno).unwrap_or(libc::EPERM as u32) as i32),
        A::ScmpActNotify => ScmpAction::Notify,
        A::ScmpActTrace => ScmpAction::Trace(errno.or(default_errno).unwrap_or(libc::EPERM as u32) as u16),
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActAllow => ScmpAction::Allow,
    }
}

fn compare(a: &oci_spec::runtime::LinuxSeccompArg) -> ScmpArgCompare {
    let op = match a.op() {
        Op::ScmpCmpNe => ScmpCompareOp::NotEqual,
        Op::ScmpCmpLt => ScmpCompareOp::Less,
        Op::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        Op::ScmpCmpEq => ScmpCompareOp::Equal,
        Op::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        Op::ScmpCmpGt => ScmpCompareOp::Greater,
        Op::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(a.value()),
    };
    let datum = if matches!(a.op(), Op::ScmpCmpMaskedEq) { a.value_two().unwrap_or(0) } else { a.value() };
    ScmpArgCompare::new(a.index() as u32, op, datum)
}

/// Builds the filter. Unknown syscall names are skipped with a warning, as runc does.
pub fn build(s: &LinuxSeccomp) -> Result<ScmpFilterContext, SeccompError> {
    let default = action(s.default_action(), None, s.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default).map_err(lib("create filter"))?;
    for arch in s.architectures().iter().flatten() {
        let name = arch_name(arch);
        if let Ok(a) = ScmpArch::from_str(&name) {
            ctx.add_arch(a).map_err(lib(format!("add architecture {name}")))?;
        }
    }
    for flag in s.flags().iter().flatten() {
        match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => ctx.set_ctl_log(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
        }
        .map_err(lib(format!("set flag {flag:?}")))?;
    }
    // No no_new_privs from libseccomp: init sets it itself when the spec asks.
    ctx.set_ctl_nnp(false).map_err(lib("leave no_new_privs to the spec"))?;
    for rule in s.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret(), s.default_errno_ret());
        if act == default {
            continue; // libseccomp refuses rules that repeat the default action
        }
        let conds: Vec<ScmpArgCompare> = rule.args().iter().flatten().map(compare).collect();
        for name in rule.names() {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                tracing::warn!("seccomp: unknown syscall {name:?} skipped");
                continue;
            };
            let added = if conds.is_empty() { ctx.add_rule(act, sc) } else { ctx.add_rule_conditional(act, sc, &conds) };
            added.map_err(lib(format!("add rule for {name}")))?;
        }
    }
    Ok(ctx)
}

/// Loads the filter; with notify rules, returns the listener fd.
pub fn load(ctx: &ScmpFilterContext, notify: bool) -> Result<Option<OwnedFd>, SeccompError> {
    ctx.load().map_err(lib("load filter"))?;
    if !notify {
        return Ok(None);
    }
    let fd = ctx.get_notify_fd().map_err(lib("get the notify fd"))?;
    // SAFETY: libseccomp hands us a new fd that nothing else owns.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

pub fn uses_notify(s: &LinuxSeccomp) -> bool {
    s.syscalls().iter().flatten().any(|r| r.action() == A::ScmpActNotify)
}

/// Sends the notify fd and the container process state to the listener socket.
pub fn send_to_listener(socket: &OwnedFd, notify_fd: &OwnedFd, state: &serde_json::Value) -> Result<(), SysError> {
    let payload = serde_json::to_vec(state).unwrap_or_default();
    let fds = [notify_fd.as_raw_fd()];
    sendmsg::<()>(socket.as_raw_fd(), &[IoSlice::new(&payload)], &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)
        .map_err(|e| SysError::new("send the seccomp notify fd to listenerPath", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seccomp(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).unwrap()
    }

    fn pfc(s: &LinuxSeccomp) -> String {
        let ctx = build(s).unwrap();
        let f = tempfile::tempfile().unwrap();
        ctx.export_pfc(&f).unwrap();
        use std::io::{Read, Seek};
        let mut f = f;
        f.rewind().unwrap();
        let mut out = String::new();
        f.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn rules_and_args_reach_the_filter() {
        let s = seccomp(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                {"names": ["mkdirat", "no_such_syscall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["personality"], "action": "SCMP_ACT_KILL_PROCESS", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
            ]
        }));
        validate(&s).unwrap();
        let text = pfc(&s);
        assert!(text.contains("mkdirat"), "{text}");
        assert!(text.contains("ERRNO(13)"), "{text}");
        assert!(text.contains("personality"), "{text}");
    }

    #[test]
    fn rejections() {
        let notify_default = seccomp(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
        assert_eq!(validate(&notify_default).unwrap_err().to_string(), "invalid linux.seccomp: defaultAction must not be SCMP_ACT_NOTIFY");
        let no_listener = seccomp(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}));
        assert_eq!(validate(&no_listener).unwrap_err().to_string(), "invalid linux.seccomp: SCMP_ACT_NOTIFY needs listenerPath");
        let big_index = seccomp(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}));
        assert!(validate(&big_index).unwrap_err().to_string().contains("argument index 6"));
        let relative = seccomp(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "sock"}));
        assert_eq!(validate(&relative).unwrap_err().to_string(), r#"invalid linux.seccomp: listenerPath "sock" must be absolute"#);
    }

    #[test]
    fn default_errno_ret_is_used() {
        let s = seccomp(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}));
        let text = pfc(&s);
        assert!(text.contains("ERRNO(38)"), "{text}");
    }
}
