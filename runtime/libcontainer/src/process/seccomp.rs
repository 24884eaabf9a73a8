//! linux.seccomp through libseccomp: the filter is built from the spec (every action,
//! operator, architecture and flag), loaded in init, and with SCMP_ACT_NOTIFY its listener fd
//! goes to `listenerPath` with the container process state, as the runtime-spec defines.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::str::FromStr;

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompFilterFlag, LinuxSeccompOperator as Op};

use crate::plan::validate::SpecError;
use crate::process::seccomp_bpf;
use crate::syserror::SysError;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp: {op}")]
    Lib {
        op: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    #[error("seccomp: {op} the exported filter")]
    Export {
        op: String,
        #[source]
        source: std::io::Error,
    },
}

fn lib(op: impl Into<String>) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError {
    let op = op.into();
    move |source| SeccompError::Lib { op, source }
}

/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (runtime-spec 1.2 `linux.seccomp.flags`), which
/// oci-spec 0.8.4's `LinuxSeccompFilterFlag` cannot hold.
pub const WAIT_KILLABLE_RECV: &str = "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV";

/// linux.seccomp as youki keeps it in the plan and the state file: the spec's object, and
/// the filter flags oci-spec cannot parse (stored beside it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    #[serde(flatten)]
    pub spec: LinuxSeccomp,
    /// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` was among `flags`.
    #[serde(default, rename = "youkiWaitKillableRecv", skip_serializing_if = "std::ops::Not::not")]
    pub wait_killable_recv: bool,
}

impl From<LinuxSeccomp> for Profile {
    fn from(spec: LinuxSeccomp) -> Self {
        Profile { spec, wait_killable_recv: false }
    }
}

impl std::ops::Deref for Profile {
    type Target = LinuxSeccomp;
    fn deref(&self) -> &LinuxSeccomp {
        &self.spec
    }
}

/// What the raw config.json says that oci-spec cannot parse: taken out of `raw` so that the
/// rest parses, and put back into the plan with `restore`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawFlags {
    wait_killable_recv: bool,
}

impl RawFlags {
    /// Removes the flags oci-spec does not know from /linux/seccomp/flags of `raw`.
    pub fn take(raw: &mut serde_json::Value) -> RawFlags {
        let Some(flags) = raw.pointer_mut("/linux/seccomp/flags").and_then(|f| f.as_array_mut()) else { return RawFlags::default() };
        let before = flags.len();
        flags.retain(|f| f.as_str() != Some(WAIT_KILLABLE_RECV));
        RawFlags { wait_killable_recv: flags.len() != before }
    }

    pub fn any(&self) -> bool {
        self.wait_killable_recv
    }

    pub fn restore(self, profile: Option<&mut Profile>) {
        if let Some(p) = profile {
            p.wait_killable_recv |= self.wait_killable_recv;
        }
    }
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

/// A compiled profile: the program (the ENOSYS stub, then libseccomp's) and the flags of
/// its load. See `seccomp_bpf`.
#[derive(Clone)]
pub struct Filter {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
}

impl Filter {
    pub(crate) fn from_parts(program: Vec<libc::sock_filter>, flags: libc::c_ulong) -> Filter {
        Filter { program, flags }
    }

    pub(crate) fn flags(&self) -> libc::c_ulong {
        self.flags
    }

    /// The instructions as the kernel takes them (8 bytes each, native order).
    pub(crate) fn program_bytes(&self) -> Vec<u8> {
        self.program.iter().flat_map(|i| [&i.code.to_ne_bytes()[..], &[i.jt, i.jf], &i.k.to_ne_bytes()].concat()).collect()
    }

    /// Changes the first instruction's constant: a program no compile gives.
    #[cfg(test)]
    pub(crate) fn mark_for_test(&mut self) {
        self.program[0].k ^= 0x5a5a;
    }
}

impl PartialEq for Filter {
    fn eq(&self, other: &Filter) -> bool {
        self.flags == other.flags && self.program_bytes() == other.program_bytes()
    }
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Filter {{ {} instructions, flags {:#x} }}", self.program.len(), self.flags)
    }
}

/// Compiles the profile, before anything it may deny runs. Unknown syscall names are
/// skipped with a warning, as runc does.
pub fn build(profile: &Profile) -> Result<Filter, SeccompError> {
    let s = &profile.spec;
    let ctx = context(s)?;
    let mut program = if s.default_action() == A::ScmpActAllow { Vec::new() } else { seccomp_bpf::enosys_stub(&highest_named(s)) };
    program.extend(export(&ctx)?);
    let mut flags = 0;
    for flag in s.flags().iter().flatten() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        };
    }
    if uses_notify(s) {
        flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        if profile.wait_killable_recv {
            // Only meaningful (and only accepted by the kernel, 5.19+) with a listener.
            flags |= libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
        }
        if flags & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 {
            // The kernel takes TSYNC with a listener only in this form.
            flags |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
    }
    Ok(Filter { program, flags })
}

/// Loads the filter; with notify rules, returns the listener fd.
pub fn load(f: &Filter) -> Result<Option<OwnedFd>, SysError> {
    seccomp_bpf::load(&f.program, f.flags)
}

/// libseccomp's filter context for the profile.
fn context(s: &LinuxSeccomp) -> Result<ScmpFilterContext, SeccompError> {
    let default = action(s.default_action(), None, s.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default).map_err(lib("create filter"))?;
    for arch in s.architectures().iter().flatten() {
        let name = arch_name(arch);
        if let Ok(a) = ScmpArch::from_str(&name) {
            ctx.add_arch(a).map_err(lib(format!("add architecture {name}")))?;
        }
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

/// libseccomp's BPF program for the context, through a memfd.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let io = |op: &str| {
        let op = op.to_string();
        move |e: std::io::Error| SeccompError::Export { op, source: e }
    };
    let fd = nix::sys::memfd::memfd_create(c"youki-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(|e| io("create a memfd for")(e.into()))?;
    ctx.export_bpf(&fd).map_err(lib("export the filter"))?;
    let mut file = std::fs::File::from(fd);
    use std::io::{Read, Seek};
    file.rewind().map_err(io("rewind"))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io("read"))?;
    Ok(seccomp_bpf::from_bytes(&bytes))
}

/// The highest syscall number the profile names, on every architecture of the filter
/// (the native one is always in: libseccomp adds it).
fn highest_named(s: &LinuxSeccomp) -> Vec<seccomp_bpf::ArchMax> {
    let mut arches = vec![ScmpArch::native()];
    arches.extend(s.architectures().iter().flatten().filter_map(|a| ScmpArch::from_str(&arch_name(a)).ok()));
    arches.dedup();
    let mut out = Vec::new();
    for arch in arches {
        let (audit_arch, x32) = match arch {
            ScmpArch::X8664 => (seccomp_bpf::AUDIT_ARCH_X86_64, false),
            ScmpArch::X32 => (seccomp_bpf::AUDIT_ARCH_X86_64, true),
            ScmpArch::X86 => (seccomp_bpf::AUDIT_ARCH_I386, false),
            ScmpArch::Aarch64 => (seccomp_bpf::AUDIT_ARCH_AARCH64, false),
            ScmpArch::Arm => (seccomp_bpf::AUDIT_ARCH_ARM, false),
            _ => continue, // not runnable next to x86_64 or aarch64: no stub
        };
        let max = s
            .syscalls()
            .iter()
            .flatten()
            .flat_map(|r| r.names())
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
            .map(i32::from)
            .filter(|nr| *nr >= 0) // libseccomp's negative pseudo numbers (socketcall, ipc)
            .max();
        if let Some(max) = max {
            let max = if x32 { max as u32 | seccomp_bpf::X32_SYSCALL_BIT } else { max as u32 };
            if !out.iter().any(|a: &seccomp_bpf::ArchMax| a.audit_arch == audit_arch && a.x32 == x32) {
                out.push(seccomp_bpf::ArchMax { audit_arch, x32, max });
            }
        }
    }
    out
}

/// The calls a profile surely lets through, whatever their arguments: a call whose every
/// rule allows (or logs) it and one of them unconditionally, and a call no rule names when the
/// default action allows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Allowed {
    default_allows: bool,
    named: std::collections::HashSet<String>,
    allowed: std::collections::HashSet<String>,
}

impl Allowed {
    pub fn of(s: &LinuxSeccomp) -> Allowed {
        let allowing = |a: A| matches!(a, A::ScmpActAllow | A::ScmpActLog);
        let rules = s.syscalls().iter().flatten();
        let named: std::collections::HashSet<String> = rules.clone().flat_map(|r| r.names().iter().cloned()).collect();
        let allowed = named
            .iter()
            .filter(|n| {
                let mine: Vec<_> = s.syscalls().iter().flatten().filter(|r| r.names().contains(n)).collect();
                mine.iter().all(|r| allowing(r.action())) && mine.iter().any(|r| r.args().as_ref().is_none_or(|a| a.is_empty()))
            })
            .cloned()
            .collect();
        Allowed { default_allows: allowing(s.default_action()), named, allowed }
    }

    pub fn allows(&self, name: &str) -> bool {
        if self.named.contains(name) {
            self.allowed.contains(name)
        } else {
            self.default_allows
        }
    }
}

/// The profile this process loads (or is about to): the steps that run after the load pick,
/// among equivalent calls, one it allows (see `may_call`). Set only in the container's init
/// and `exec` children, each single-threaded.
static FILTER: std::sync::Mutex<Option<Allowed>> = std::sync::Mutex::new(None);

/// Notes the profile about to be loaded in this process.
pub fn expect_filter(s: &LinuxSeccomp) {
    if let Ok(mut f) = FILTER.lock() {
        *f = Some(Allowed::of(s));
    }
}

/// Whether this process may make the call `name` under its seccomp filter; true without one.
/// A kill-by-default profile written for runc lists what runc calls (setuid rather than
/// setresuid, write rather than sendto, stat rather than access), and a call it does not list
/// ends init with SIGSYS.
pub fn may_call(name: &str) -> bool {
    FILTER.lock().ok().and_then(|f| f.as_ref().map(|a| a.allows(name))).unwrap_or(true)
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
        let ctx = context(s).unwrap();
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
        let no_listener = seccomp(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
        );
        assert_eq!(validate(&no_listener).unwrap_err().to_string(), "invalid linux.seccomp: SCMP_ACT_NOTIFY needs listenerPath");
        let big_index = seccomp(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
        );
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

    #[test]
    fn newer_syscalls_than_the_profile_names_get_enosys_and_the_rest_its_actions() {
        let s = seccomp(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["read", "write", "pwritev2"], "action": "SCMP_ACT_ALLOW"}]}));
        let f = build(&s.into()).unwrap();
        let run = |arch, nr| crate::process::seccomp_bpf::tests::run(&f.program, arch, nr);
        let (x86_64, allow, eperm, enosys) = (seccomp_bpf::AUDIT_ARCH_X86_64, 0x7fff_0000, 0x0005_0001, 0x0005_0026);
        assert_eq!(run(x86_64, 0), allow, "read");
        assert_eq!(run(x86_64, 165), eperm, "mount: the default action");
        assert_eq!(run(x86_64, 328), allow, "pwritev2, the highest named");
        assert_eq!(run(x86_64, 435), enosys, "clone3");
        assert_eq!(run(x86_64, 436), enosys, "close_range");
        assert_eq!(run(seccomp_bpf::AUDIT_ARCH_I386, 436), enosys, "close_range on i386");
        // x32 numbers its compat calls 512-547 (pwritev2 is 546): above those.
        assert_eq!(run(x86_64, seccomp_bpf::X32_SYSCALL_BIT | 548), enosys, "x32");
        assert_eq!(run(x86_64, seccomp_bpf::X32_SYSCALL_BIT | 1), allow, "write on x32");
        assert_eq!(f.flags, 0);
    }

    #[test]
    fn an_allow_default_gets_no_stub_and_notify_asks_for_a_listener() {
        let s =
            seccomp(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/l", "flags": ["SECCOMP_FILTER_FLAG_TSYNC"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}));
        let f = build(&s.into()).unwrap();
        assert_eq!(crate::process::seccomp_bpf::tests::run(&f.program, seccomp_bpf::AUDIT_ARCH_X86_64, 436), 0x7fff_0000);
        assert_eq!(
            f.flags,
            libc::SECCOMP_FILTER_FLAG_TSYNC | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH
        );
    }

    #[test]
    fn calls_are_surely_allowed_only_by_an_unconditional_allow_or_an_allowing_default() {
        let p = |v: serde_json::Value| Allowed::of(&seccomp(v)).allows("execveat");
        assert!(p(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW"})));
        assert!(!p(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO"})));
        assert!(p(
            serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_ALLOW"}]})
        ));
        assert!(!p(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_ERRNO"}]})
        ));
        assert!(!p(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 4, "value": 0, "op": "SCMP_CMP_EQ"}]}]})));
    }

    #[test]
    fn wait_killable_recv_is_taken_from_the_raw_config_and_reaches_the_load_flags() {
        let mut raw = serde_json::json!({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/l",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", WAIT_KILLABLE_RECV],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}}});
        assert!(
            serde_json::from_value::<LinuxSeccomp>(raw["linux"]["seccomp"].clone()).is_err(),
            "oci-spec learned the flag: drop RawFlags"
        );
        let extra = RawFlags::take(&mut raw);
        assert!(extra.any());
        let mut profile = Some(Profile::from(seccomp(raw["linux"]["seccomp"].clone())));
        extra.restore(profile.as_mut());
        let p = profile.unwrap();
        assert_eq!(
            build(&p).unwrap().flags,
            libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
        );
        // Kept in the state file beside the spec's object, read back the same.
        let stored = serde_json::to_value(&p).unwrap();
        assert_eq!(stored["youkiWaitKillableRecv"], true);
        assert_eq!(serde_json::from_value::<Profile>(stored).unwrap(), p);
        // Without a listener the flag means nothing, and the kernel would refuse it.
        let mut no_notify = Profile::from(seccomp(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW"})));
        no_notify.wait_killable_recv = true;
        assert_eq!(build(&no_notify).unwrap().flags, 0);
        assert!(!RawFlags::take(&mut serde_json::json!({"linux": {}})).any());
    }
}
