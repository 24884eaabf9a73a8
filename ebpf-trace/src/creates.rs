//! Sorts the events of `youki-trace record` into creates: one per youki command that the
//! kernel side started following by its comm, with every process it started. Keeps a bounded
//! window of each create's events, lets a create that succeeds go, and hands back one that
//! fails. Pure: the recorder feeds events and the clock, and acts on what comes back
//! (pids to stop following, failed creates to report).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;

use crate::analysis::{self, RootStatus};
use crate::argv::{self, Invocation};
use crate::event::{Event, Kind};

/// Bounds on what is kept in memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Syscall events kept per create (the newest; older ones are evicted and counted).
    pub calls: usize,
    /// Process events (fork, exec, exit, rename, signal, exit_group) kept per create.
    pub lifecycle: usize,
    /// Creates followed at once; the oldest is given up when a new one would exceed it.
    pub creates: usize,
    /// How long after the root exits the events of a failed create are still collected.
    pub grace_ns: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { calls: 2048, lifecycle: 1024, creates: 32, grace_ns: 100_000_000 }
    }
}

/// A create that failed, with the events kept for it (time-sorted).
#[derive(Debug, Clone)]
pub struct FailedCreate {
    pub root: u32,
    pub args: Vec<String>,
    pub invocation: Invocation,
    /// The root's working directory when it was first seen, for a relative bundle.
    pub cwd: Option<PathBuf>,
    /// The pod facts of the bundle, read when the create began (the bundle of a create
    /// that fails may be gone by its end: containerd removes it).
    pub pod: Option<serde_json::Value>,
    pub status: RootStatus,
    pub events: Vec<Event>,
    /// Events evicted from the bounded window.
    pub evicted: u64,
    pub started_ns: u64,
    pub ended_ns: u64,
}

/// The bundle directory: `--bundle` (relative to the cwd), else the cwd.
fn bundle_dir(invocation: &Invocation, cwd: Option<&PathBuf>) -> Option<PathBuf> {
    let b = invocation.bundle.as_deref().unwrap_or(".");
    let p = PathBuf::from(b);
    if p.is_absolute() {
        return Some(p);
    }
    cwd.map(|c| if b == "." { c.clone() } else { c.join(p) })
}

impl FailedCreate {
    /// The bundle directory: `--bundle` (relative to the cwd), else the cwd.
    pub fn bundle(&self) -> Option<PathBuf> {
        bundle_dir(&self.invocation, self.cwd.as_ref())
    }
}

struct Create {
    root: u32,
    args: Vec<String>,
    invocation: Invocation,
    cwd: Option<PathBuf>,
    pod: Option<serde_json::Value>,
    pids: Vec<u32>,
    calls: VecDeque<Event>,
    lifecycle: VecDeque<Event>,
    evicted: u64,
    /// A `youki:*` stage ended abnormally.
    stage_failed: bool,
    /// The container's process was exec'd by init (`run`): the create part is over.
    started: bool,
    /// The comm each pid had in its last event, to tell init's exec from a hook's.
    comms: HashMap<u32, String>,
    ended: Option<(RootStatus, u64)>,
    started_ns: u64,
}

/// Counters of what the recorder let go without a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub succeeded: u64,
    pub failed: u64,
    pub not_creates: u64,
    /// Creates given up because too many were followed at once.
    pub given_up: u64,
}

/// Every create being followed.
pub struct Creates {
    limits: Limits,
    comm: String,
    creates: HashMap<u32, Create>,
    owner: HashMap<u32, u32>,
    untrace: Vec<u32>,
    /// Pids already handed to `untrace` whose late events (still in the ring buffer when
    /// the kernel side let go) need no second removal. Bounded by `LET_GO_MEMORY`.
    let_go: HashSet<u32>,
    pub counts: Counts,
}

/// How many let-go pids are remembered; past it the memory starts again (a pid then costs
/// at most one more map removal).
const LET_GO_MEMORY: usize = 4096;

/// The exit status of a process-gone record, as wait(2) would report it.
fn exit_status(e: &Event) -> Option<RootStatus> {
    let st = e.ns()?.exit_code;
    let sig = (st & 0x7f) as i32;
    Some(if sig != 0 { RootStatus::Signaled(sig) } else { RootStatus::Exited(((st >> 8) & 0xff) as i32) })
}

impl Creates {
    /// Follows the commands named `comm` (the kernel side's --comm filter).
    pub fn new(comm: &str, limits: Limits) -> Self {
        Creates {
            limits,
            comm: comm.to_string(),
            creates: HashMap::new(),
            owner: HashMap::new(),
            untrace: Vec::new(),
            let_go: HashSet::new(),
            counts: Counts::default(),
        }
    }

    /// The number of creates followed now.
    pub fn len(&self) -> usize {
        self.creates.len()
    }

    /// Whether `pid` is the root of a create followed now.
    pub fn is_root(&self, pid: u32) -> bool {
        self.creates.contains_key(&pid)
    }

    /// Records the working directory of a create's root.
    pub fn set_cwd(&mut self, root: u32, cwd: PathBuf) {
        if let Some(c) = self.creates.get_mut(&root) {
            c.cwd = Some(cwd);
        }
    }

    /// The bundle directory of a create followed now, as far as known.
    pub fn bundle_of(&self, root: u32) -> Option<PathBuf> {
        self.creates.get(&root).and_then(|c| bundle_dir(&c.invocation, c.cwd.as_ref()))
    }

    /// Records the pod facts of a create's bundle.
    pub fn set_pod(&mut self, root: u32, pod: serde_json::Value) {
        if let Some(c) = self.creates.get_mut(&root) {
            c.pod = Some(pod);
        }
    }

    /// The pids the kernel side should stop following, taken once.
    pub fn take_untrace(&mut self) -> Vec<u32> {
        let mut pids = std::mem::take(&mut self.untrace);
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Hands `pid` to the kernel side's removal, whether or not it was let go before: a
    /// process that is new under a pid used before (a fork, an exec, a create's own).
    fn let_go_new(&mut self, pid: u32) {
        self.let_go.remove(&pid);
        self.let_go(pid);
    }

    /// Hands `pid` to the kernel side's removal once, however many of its events follow.
    fn let_go(&mut self, pid: u32) {
        if self.let_go.len() >= LET_GO_MEMORY {
            self.let_go.clear();
        }
        if self.let_go.insert(pid) {
            self.untrace.push(pid);
        }
    }

    /// Takes one event, in the order the ring buffer gave it.
    pub fn feed(&mut self, e: Event) {
        if let Some(&root) = self.owner.get(&e.pid) {
            self.add(root, e);
            return;
        }
        if e.kind == Kind::Exec && e.comm == self.comm {
            self.start(e);
            return;
        }
        // A process of a create already let go (it forked before it was unfollowed), or
        // one whose exec record was lost: stop following it and what it started. A forked
        // child is always new, even when its pid was let go before.
        self.let_go(e.pid);
        if e.kind == Kind::Fork {
            let child = e.aux[0] as u32;
            self.let_go_new(child);
        }
    }

    fn start(&mut self, e: Event) {
        let (args, invocation) = match e.whole_args() {
            Some(all) => {
                let inv = argv::parse(&all, true, &[]);
                (all, inv)
            }
            None => {
                let head = e.head_args();
                let tail = e.exec_args().1;
                let inv = argv::parse(&head, false, &tail);
                let mut args = head;
                args.push("...".to_string());
                args.extend(tail);
                (args, inv)
            }
        };
        if !invocation.creates() {
            self.counts.not_creates += 1;
            self.let_go_new(e.pid);
            return;
        }
        if self.creates.len() >= self.limits.creates {
            if let Some(oldest) = self.creates.values().min_by_key(|c| c.started_ns).map(|c| c.root) {
                self.counts.given_up += 1;
                self.drop_create(oldest);
            }
        }
        let pid = e.pid;
        self.let_go.remove(&pid);
        let mut c = Create {
            root: pid,
            args,
            invocation,
            cwd: None,
            pod: None,
            pids: vec![pid],
            calls: VecDeque::new(),
            lifecycle: VecDeque::new(),
            evicted: 0,
            stage_failed: false,
            started: false,
            comms: HashMap::new(),
            ended: None,
            started_ns: e.ts_ns,
        };
        c.lifecycle.push_back(e);
        self.owner.insert(pid, pid);
        self.creates.insert(pid, c);
    }

    fn add(&mut self, root: u32, e: Event) {
        let Some(c) = self.creates.get_mut(&root) else {
            return;
        };
        match e.kind {
            Kind::Fork => {
                let child = e.aux[0] as u32;
                self.owner.insert(child, root);
                self.let_go.remove(&child);
                c.pids.push(child);
            }
            Kind::Exec if e.pid != root => {
                let init = format!("{}:init", self.comm);
                if c.comms.get(&e.pid) == Some(&init) {
                    c.started = true;
                }
            }
            Kind::Exit if e.aux[0] == 1 => {
                let status = exit_status(&e);
                if e.pid == root {
                    c.ended = Some((status.unwrap_or(RootStatus::Exited(0)), e.ts_ns));
                } else if c.ended.is_none()
                    && e.comm.starts_with(&format!("{}:", self.comm))
                    && status.is_some_and(|s| s != RootStatus::Exited(0))
                {
                    // Only before the root's end: after a create succeeded, `delete` kills
                    // the init it left waiting, which is no failure of the create.
                    c.stage_failed = true;
                }
            }
            _ => {}
        }
        if c.comms.get(&e.pid) != Some(&e.comm) {
            c.comms.insert(e.pid, e.comm.clone());
        }
        let (queue, cap) =
            if e.kind == Kind::Syscall { (&mut c.calls, self.limits.calls) } else { (&mut c.lifecycle, self.limits.lifecycle) };
        if queue.len() >= cap {
            queue.pop_front();
            c.evicted += 1;
        }
        queue.push_back(e);
    }

    fn drop_create(&mut self, root: u32) -> Option<Create> {
        let c = self.creates.remove(&root)?;
        for &p in &c.pids {
            self.owner.remove(&p);
            self.let_go_new(p);
        }
        Some(c)
    }

    /// Lets go of the creates whose root exited successfully, and returns those that failed
    /// once `grace_ns` has passed since their root exited (`now_ns` on the events' clock).
    pub fn finish(&mut self, now_ns: u64) -> Vec<FailedCreate> {
        let mut done = Vec::new();
        let mut ok = Vec::new();
        for c in self.creates.values() {
            // `run` in the foreground: once init has exec'd the container's process, the rest
            // is the workload, not the create; stop following it.
            if c.started && c.ended.is_none() && !c.stage_failed {
                ok.push(c.root);
                continue;
            }
            let Some((status, at)) = c.ended else {
                continue;
            };
            if status == RootStatus::Exited(0) && !c.stage_failed {
                ok.push(c.root);
            } else if now_ns.saturating_sub(at) >= self.limits.grace_ns {
                done.push(c.root);
            }
        }
        for root in ok {
            self.counts.succeeded += 1;
            self.drop_create(root);
        }
        let mut failed = Vec::new();
        for root in done {
            let Some(c) = self.drop_create(root) else {
                continue;
            };
            self.counts.failed += 1;
            let Some((status, ended_ns)) = c.ended else {
                continue;
            };
            let mut events: Vec<Event> = c.lifecycle.into_iter().chain(c.calls).collect();
            analysis::sort(&mut events);
            failed.push(FailedCreate {
                root: c.root,
                args: c.args,
                invocation: c.invocation,
                cwd: c.cwd,
                pod: c.pod,
                status,
                events,
                evicted: c.evicted,
                started_ns: c.started_ns,
                ended_ns,
            });
        }
        failed.sort_by_key(|f| f.ended_ns);
        failed
    }
}

#[cfg(test)]
#[path = "creates_tests.rs"]
mod tests;
