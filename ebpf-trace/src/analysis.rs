//! Reads a recorded event stream and finds the first failure, who exited first and how,
//! and what each stage cost. Pure: tests feed it hand-built streams.

use std::collections::{BTreeMap, HashMap};

use crate::event::{Event, Kind};
use crate::names::{errno_name, signal_name, syscall_name};

/// How the traced command itself ended, from waitpid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootStatus {
    Exited(i32),
    Signaled(i32),
}

/// How one traced process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitHow {
    /// exit_group or exit with this status.
    Code(i32),
    /// A signal ended it; `from` is the sender when it was traced.
    Signal { sig: i32, from: Option<(u32, String)>, inside: Option<i64> },
    /// It died inside this syscall without a signal we saw (for example a seccomp kill).
    InSyscall(i64),
    /// It ended without exit_group and without a signal we saw.
    Unknown,
}

impl ExitHow {
    pub fn is_failure(&self) -> bool {
        !matches!(self, ExitHow::Code(0))
    }

    pub fn describe(&self) -> String {
        match self {
            ExitHow::Code(c) => format!("exit_group({c})"),
            ExitHow::Signal { sig, from, inside } => {
                let mut t = format!("killed by {}", signal_name(*sig));
                if *sig == 31 {
                    t.push_str(" (seccomp)");
                }
                if let Some((pid, comm)) = from {
                    t.push_str(&format!(" from pid {pid} ({comm})"));
                }
                if let Some(nr) = inside {
                    t.push_str(&format!(" inside {}", syscall_name(*nr)));
                }
                t
            }
            ExitHow::InSyscall(nr) => format!("died inside {}", syscall_name(*nr)),
            ExitHow::Unknown => "ended without exit_group".to_string(),
        }
    }
}

/// A process that ended during the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcExit {
    pub pid: u32,
    pub stage: String,
    /// The runtime stage it was forked from or had before it exec'd, when different.
    pub origin: Option<String>,
    /// The traced processes it descends from, nearest first (by who called fork or clone,
    /// so that CLONE_PARENT and double forks still lead back to the runtime).
    pub ancestors: Vec<u32>,
    pub ts_ns: u64,
    pub how: ExitHow,
}

/// The answer to "what broke first".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub stage: String,
    pub pid: u32,
    /// The failing syscall, when one explains the failure.
    pub syscall: Option<Event>,
    /// The first traced process that ended abnormally.
    pub exit: Option<ProcExit>,
    /// The last bytes that process wrote before it ended.
    pub last_output: Option<Vec<u8>>,
    /// The last bytes any traced process wrote to its stderr (fd 2).
    pub stderr: Option<Vec<u8>>,
}

/// Time and syscalls of one stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageSummary {
    pub stage: String,
    pub first_ns: u64,
    pub last_ns: u64,
    pub pids: Vec<u32>,
    pub syscalls: u64,
    pub failed: u64,
    pub counts: BTreeMap<String, u64>,
    /// The slowest syscalls: (duration, name, pid).
    pub slowest: Vec<(u64, String, u32)>,
}

/// Everything the report prints besides the event lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    pub failure: Option<Failure>,
    pub exits: Vec<ProcExit>,
    pub stages: Vec<StageSummary>,
    pub events: usize,
    pub start_ns: u64,
}

/// The stage label of a comm: the runtime's `youki:...` name, else the plain comm.
pub fn stage_of(comm: &str) -> String {
    comm.to_string()
}

/// The stage an event belongs to; a rename already belongs to the stage it starts.
pub fn stage(e: &Event) -> String {
    if e.kind == Kind::Rename {
        stage_of(&e.s1_text())
    } else {
        stage_of(&e.comm)
    }
}

/// Failures that are part of normal operation and never explain a broken create.
fn benign(e: &Event, errno: i64) -> bool {
    const EINTR: i64 = 4;
    const EAGAIN: i64 = 11;
    const ECHILD: i64 = 10;
    const EEXIST: i64 = 17;
    const ENOENT: i64 = 2;
    // futex, sleeps, waits and signal returns fail as part of normal scheduling.
    const WAITS: [i64; 9] = [15, 35, 61, 202, 230, 232, 247, 281, 7];
    matches!(errno, EINTR | EAGAIN | ECHILD | 512..=516)
        || WAITS.contains(&e.nr)
        || (errno == EEXIST && matches!(e.nr, 83 | 258))
        || (e.nr == 21 && e.s0 == b"/etc/ld.so.preload")
        || (errno == ENOENT && matches!(e.nr, 87 | 263))
}

/// Sorts events by time (syscalls carry their enter time) keeping arrival order for ties.
pub fn sort(events: &mut [Event]) {
    events.sort_by_key(|e| e.ts_ns);
}

/// Works out each process's end from exit_group calls, signals and exit records.
fn process_exits(events: &[Event]) -> Vec<ProcExit> {
    let mut code: HashMap<u32, i32> = HashMap::new();
    let mut signal: HashMap<u32, (i32, Option<(u32, String)>)> = HashMap::new();
    let mut exits = Vec::new();
    // comm names per pid: the current one, the one before the last rename, and the one
    // the process had when it exec'd (its runtime stage, for hooks and the container process).
    let mut current: HashMap<u32, String> = HashMap::new();
    let mut before: HashMap<u32, String> = HashMap::new();
    let mut origin: HashMap<u32, String> = HashMap::new();
    let mut parent: HashMap<u32, u32> = HashMap::new();
    for e in events {
        match e.kind {
            Kind::Fork => {
                current.insert(e.aux[0] as u32, e.comm.clone());
                parent.insert(e.aux[0] as u32, e.pid);
            }
            Kind::Rename => {
                before.insert(e.pid, e.s0_text());
                current.insert(e.pid, e.s1_text());
            }
            Kind::Exec => {
                if let Some(b) = before.get(&e.pid) {
                    origin.insert(e.pid, b.clone());
                }
            }
            Kind::NoReturn => {
                code.insert(e.pid, e.args[0] as i32);
            }
            Kind::Signal if e.aux[2] == 0 && fatal_by_default(e.aux[0]) => {
                let target = e.aux[1] as u32;
                signal.insert(target, (e.aux[0], Some((e.pid, e.comm.clone()))));
            }
            Kind::Exit if e.aux[0] == 1 => {
                let sent = signal.get(&e.pid).or(signal.get(&e.tid));
                let inside = (e.aux[1] > 0).then(|| i64::from(e.aux[1]) - 1);
                // The kernel's own exit status word, when the record carries it.
                let status = e.ns().map(|n| n.exit_code).filter(|_| e.s2.iter().any(|&b| b != 0));
                let how = if let Some(st) = status {
                    let sig = (st & 0x7f) as i32;
                    if sig == 0 {
                        ExitHow::Code(((st >> 8) & 0xff) as i32)
                    } else {
                        let from = sent.filter(|(s, _)| *s == sig).and_then(|(_, f)| f.clone());
                        ExitHow::Signal { sig, from, inside }
                    }
                } else if let Some(c) = code.get(&e.pid) {
                    ExitHow::Code(*c)
                } else if let Some((sig, from)) = sent {
                    ExitHow::Signal { sig: *sig, from: from.clone(), inside }
                } else if e.aux[1] > 0 {
                    ExitHow::InSyscall(i64::from(e.aux[1]) - 1)
                } else {
                    ExitHow::Unknown
                };
                let stage = stage_of(&e.comm);
                let origin = origin.get(&e.pid).map(|o| stage_of(o)).filter(|o| *o != stage);
                let mut ancestors = Vec::new();
                let mut at = e.pid;
                while let Some(&p) = parent.get(&at) {
                    if ancestors.contains(&p) || p == e.pid {
                        break;
                    }
                    ancestors.push(p);
                    at = p;
                }
                exits.push(ProcExit { pid: e.pid, stage, origin, ancestors, ts_ns: e.ts_ns, how });
            }
            _ => {}
        }
    }
    exits
}

fn fatal_by_default(sig: i32) -> bool {
    matches!(sig, 1..=9 | 11 | 13..=16 | 24..=27 | 31)
}

/// The last non-benign failed syscall of `pid` (in `stage`, when given) before `until`:
/// the one nearest the end, since earlier failures are usually probes that the runtime
/// handled. When the runtime's error text named an errno (`hint`), the last failure with
/// that errno wins over later ones (cleanup after an error probes too).
fn failed_of(events: &[Event], pid: u32, stage: Option<&str>, until: u64, hint: Option<i64>) -> Option<Event> {
    let mut candidates = events
        .iter()
        .rev()
        .filter(|e| e.pid == pid && e.ts_ns <= until)
        .filter(|e| stage.is_none_or(|s| self::stage(e) == s))
        .filter(|e| e.errno().is_some_and(|n| !benign(e, n)));
    let first = candidates.clone().next().cloned();
    match hint {
        Some(h) => candidates.find(|e| e.errno() == Some(h)).cloned().or(first),
        None => first,
    }
}

/// The errno that a runtime's error text names: Rust's `(os error N)`, or the `"errno":N`
/// of a child error sent home. The last one in `text` counts.
pub fn errno_hint(text: &[u8]) -> Option<i64> {
    let t = String::from_utf8_lossy(text);
    let number_after = |key: &str| -> Option<(usize, i64)> {
        let at = t.rfind(key)?;
        let digits: String = t[at + key.len()..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok().map(|n| (at, n))
    };
    match (number_after("os error "), number_after("\"errno\":")) {
        (Some(a), Some(b)) => Some(if a.0 > b.0 { a.1 } else { b.1 }),
        (a, b) => a.or(b).map(|x| x.1),
    }
    .filter(|n| (1..4096).contains(n))
}

fn last_failed_before(events: &[Event], until: u64) -> Option<Event> {
    events.iter().rev().filter(|e| e.ts_ns <= until).find(|e| e.errno().is_some_and(|n| !benign(e, n))).cloned()
}

/// The last payload written by `pid` (or by anyone to fd 2 when `pid` is None).
fn last_output(events: &[Event], pid: Option<u32>, until: u64) -> Option<Vec<u8>> {
    events
        .iter()
        .filter(|e| pid.map_or(e.args[0] == 2, |p| e.pid == p) && e.ts_ns <= until)
        .filter(|e| matches!(e.nr, 1 | 44))
        .rfind(|e| e.kind == Kind::Syscall && !e.payload().is_empty())
        .map(|e| e.payload().to_vec())
}

/// Finds the first failure: the first process to end abnormally, and the failed syscall or
/// signal that explains it. `root` is how the traced command ended, when known.
pub fn first_failure(events: &[Event], exits: &[ProcExit], root: Option<RootStatus>) -> Option<Failure> {
    let culprit = exits.iter().find(|x| x.how.is_failure()).cloned();
    let root_failed = matches!(root, Some(RootStatus::Exited(c)) if c != 0) || matches!(root, Some(RootStatus::Signaled(_)));
    let Some(exit) = culprit else {
        if !root_failed {
            return None;
        }
        let until = events.last().map_or(0, |e| e.ts_ns);
        let syscall = last_failed_before(events, until);
        return Some(Failure {
            stage: syscall.as_ref().map_or_else(String::new, |e| stage_of(&e.comm)),
            pid: syscall.as_ref().map_or(0, |e| e.pid),
            syscall,
            exit: None,
            last_output: None,
            stderr: last_output(events, None, u64::MAX),
        });
    };
    // A failed syscall in the stage where the process ended explains the end, even when the
    // parent then killed it; without one, the signal or the dying syscall is the answer.
    // A kill by a third party (a hook, an operator) is itself the answer; a kill by the
    // runtime that started the process is its cleanup after the child reported an error.
    let killed_by_other = matches!(&exit.how,
        ExitHow::Signal { from: Some((p, _)), .. } if !exit.ancestors.contains(p) && *p != exit.pid);
    // A seccomp kill (SIGSYS) happens before the syscall runs: the signal is the answer.
    let seccomp = matches!(&exit.how, ExitHow::Signal { sig: 31, .. });
    let its_output = last_output(events, Some(exit.pid), exit.ts_ns);
    let stderr = last_output(events, None, u64::MAX);
    let hint = its_output.as_deref().and_then(errno_hint).or_else(|| stderr.as_deref().and_then(errno_hint));
    let own = if killed_by_other || seccomp { None } else { failed_of(events, exit.pid, Some(&exit.stage), exit.ts_ns, hint) };
    // EPIPE on its own write: the runtime above it had already given up and closed the
    // channel, so the runtime's failed syscall before that write is the answer.
    let own = match own {
        Some(e) if e.errno() == Some(32) => exit.ancestors.iter().find_map(|a| failed_of(events, *a, None, e.ts_ns, hint)).or(Some(e)),
        other => other,
    };
    // Killed by the runtime that started it, with nothing failed of its own: the runtime
    // gave up because of its own failure (a cgroup write, the state file), so that is the answer.
    let killer = match &exit.how {
        ExitHow::Signal { from: Some((p, _)), .. } if exit.ancestors.contains(p) && !seccomp => Some(*p),
        _ => None,
    };
    let syscall = own.or_else(|| killer.and_then(|k| failed_of(events, k, None, exit.ts_ns, hint)));
    let stage = match (&syscall, &exit.origin) {
        (Some(e), _) => stage(e),
        (None, Some(o)) => format!("{o} > {}", exit.stage),
        (None, None) => exit.stage.clone(),
    };
    let pid = syscall.as_ref().map_or(exit.pid, |e| e.pid);
    Some(Failure { stage, pid, syscall, last_output: its_output, stderr, exit: Some(exit) })
}

/// Per-stage time, counts and slowest syscalls, in order of first appearance.
pub fn stage_summaries(events: &[Event]) -> Vec<StageSummary> {
    let mut order: Vec<String> = Vec::new();
    let mut map: HashMap<String, StageSummary> = HashMap::new();
    for e in events {
        let stage = stage(e);
        let s = map.entry(stage.clone()).or_insert_with(|| {
            order.push(stage.clone());
            StageSummary { stage, first_ns: e.ts_ns, ..Default::default() }
        });
        s.last_ns = s.last_ns.max(e.ts_ns + e.dur_ns);
        if !s.pids.contains(&e.pid) {
            s.pids.push(e.pid);
        }
        if e.kind == Kind::Syscall || e.kind == Kind::NoReturn {
            s.syscalls += 1;
            let name = syscall_name(e.nr);
            *s.counts.entry(name.clone()).or_default() += 1;
            if e.errno().is_some() {
                s.failed += 1;
            }
            s.slowest.push((e.dur_ns, name, e.pid));
            s.slowest.sort_by_key(|x| std::cmp::Reverse(x.0));
            s.slowest.truncate(3);
        }
    }
    order.into_iter().filter_map(|k| map.remove(&k)).collect()
}

/// Analyses a sorted event stream.
pub fn analyse(events: &[Event], root: Option<RootStatus>) -> Analysis {
    let exits = process_exits(events);
    Analysis {
        failure: first_failure(events, &exits, root),
        stages: stage_summaries(events),
        events: events.len(),
        start_ns: events.first().map_or(0, |e| e.ts_ns),
        exits,
    }
}

/// One-line text of a failed syscall: `name(args) = -1 ENOENT`.
pub fn failed_call_text(e: &Event) -> String {
    let errno = e.errno().map_or_else(|| e.ret.to_string(), |n| format!("-1 {}", errno_name(n)));
    format!("{}({}) = {errno}", syscall_name(e.nr), crate::decode::describe(e))
}

#[cfg(test)]
#[path = "analysis_tests.rs"]
mod tests;
