//! The recorder's bookkeeping checked against hand-built event streams.

use super::*;

fn exec(ts: u64, pid: u32, args: &str) -> Event {
    let mut e = Event::new(Kind::Exec, ts, pid, "youki");
    e.head = args.split(' ').flat_map(|a| a.bytes().chain([0])).collect();
    e.aux[2] = e.head.len() as i32;
    e.s2 = vec![0; 48];
    e
}

fn fork(ts: u64, parent: u32, child: u32, comm: &str) -> Event {
    let mut e = Event::new(Kind::Fork, ts, parent, comm);
    e.aux = [child as i32, parent as i32, 0];
    e
}

fn call(ts: u64, pid: u32, comm: &str, nr: i64, ret: i64) -> Event {
    let mut e = Event::new(Kind::Syscall, ts, pid, comm);
    e.nr = nr;
    e.ret = ret;
    e
}

/// A process-gone record carrying the kernel's exit status word.
fn gone(ts: u64, pid: u32, comm: &str, status: u32) -> Event {
    let mut e = Event::new(Kind::Exit, ts, pid, comm);
    e.aux[0] = 1;
    e.s2 = vec![0; 48];
    e.s2[0] = 1; // ns pid, so the record counts as carrying process facts
    e.s2[28..32].copy_from_slice(&status.to_ne_bytes());
    e
}

fn limits() -> Limits {
    Limits { calls: 3, lifecycle: 16, creates: 2, grace_ns: 100 }
}

#[test]
fn a_successful_create_is_let_go_with_its_processes() {
    let mut c = Creates::new("youki", limits());
    c.feed(exec(1, 10, "youki create --bundle /b ok"));
    c.feed(fork(2, 10, 11, "youki"));
    c.feed(call(3, 11, "youki:mounts", 165, 0));
    c.feed(gone(4, 10, "youki", 0));
    assert!(c.finish(5).is_empty());
    assert_eq!(c.counts.succeeded, 1);
    assert_eq!(c.len(), 0);
    let mut gone_pids = c.take_untrace();
    gone_pids.sort();
    assert_eq!(gone_pids, [10, 11]);
    // the container's init keeps running: its late events (already in the ring buffer
    // when it was let go) are not kept, and cost no second removal
    c.feed(call(6, 11, "youki:init", 0, 1));
    assert!(c.take_untrace().is_empty());
    assert_eq!(c.len(), 0);
}

#[test]
fn a_failed_create_comes_back_after_the_grace_period_with_its_events() {
    let mut c = Creates::new("youki", limits());
    c.feed(exec(1, 10, "youki --root /r create --bundle /b bad"));
    c.feed(fork(2, 10, 11, "youki"));
    c.feed(call(3, 11, "youki:process", 21, -2));
    c.feed(gone(4, 11, "youki:process", 1 << 8));
    c.feed(gone(5, 10, "youki", 1 << 8));
    assert!(c.finish(50).is_empty(), "still inside the grace period");
    let failed = c.finish(200);
    assert_eq!(failed.len(), 1);
    let f = &failed[0];
    assert_eq!(f.status, RootStatus::Exited(1));
    assert_eq!(f.invocation.container_id.as_deref(), Some("bad"));
    assert_eq!(f.bundle(), Some(PathBuf::from("/b")));
    assert_eq!(f.events.len(), 5);
    assert!(f.events.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
    assert_eq!(c.counts.failed, 1);
    assert!(c.finish(300).is_empty(), "reported once");
}

#[test]
fn a_stage_that_dies_fails_the_create_even_when_the_root_exits_zero() {
    let mut c = Creates::new("youki", limits());
    c.feed(exec(1, 10, "youki run x"));
    c.feed(fork(2, 10, 11, "youki"));
    c.feed(gone(3, 11, "youki:init", 9)); // SIGKILL
    c.feed(gone(4, 10, "youki", 0));
    let failed = c.finish(1_000);
    assert_eq!(failed.len(), 1);
}

#[test]
fn other_commands_are_let_go_at_once() {
    let mut c = Creates::new("youki", limits());
    c.feed(exec(1, 20, "youki delete --force x"));
    assert_eq!(c.len(), 0);
    assert_eq!(c.take_untrace(), [20]);
    assert_eq!(c.counts.not_creates, 1);
    // a fork it made before it was let go is let go too, the parent not a second time
    c.feed(fork(2, 20, 21, "youki"));
    assert_eq!(c.take_untrace(), [21]);
    // its late calls, still in the ring buffer when it was let go, cost no more removals
    for t in 3..300 {
        c.feed(call(t, 20, "youki", 0, 1));
        c.feed(call(t, 21, "youki", 0, 1));
    }
    assert!(c.take_untrace().is_empty());
    // a pid used again by a new command is let go again
    c.feed(exec(400, 21, "youki state x"));
    assert_eq!(c.take_untrace(), [21]);
    assert_eq!(c.counts.not_creates, 2);
}

#[test]
fn a_pid_let_go_then_used_by_a_create_is_let_go_when_that_create_ends() {
    let mut c = Creates::new("youki", limits());
    c.feed(exec(1, 20, "youki delete x"));
    c.feed(call(2, 30, "youki", 0, 1)); // a straggler, pid 30
    assert_eq!(c.take_untrace(), [20, 30]);
    c.feed(exec(3, 10, "youki create --bundle /b ok"));
    c.feed(fork(4, 10, 30, "youki")); // pid 30 again, now a child of the create
    c.feed(gone(5, 10, "youki", 0));
    assert!(c.finish(6).is_empty());
    assert_eq!(c.take_untrace(), [10, 30]);
}

#[test]
fn the_window_keeps_the_newest_calls_and_counts_the_rest() {
    let mut c = Creates::new("youki", limits());
    c.feed(exec(1, 10, "youki create b"));
    for i in 0..5 {
        c.feed(call(2 + i, 10, "youki", 0, 1));
    }
    c.feed(gone(9, 10, "youki", 1 << 8));
    let f = c.finish(1_000).remove(0);
    assert_eq!(f.evicted, 2);
    let calls: Vec<u64> = f.events.iter().filter(|e| e.kind == Kind::Syscall).map(|e| e.ts_ns).collect();
    assert_eq!(calls, [4, 5, 6]);
    assert_eq!(f.bundle(), None, "relative bundle without a known cwd");
}

#[test]
fn too_many_creates_give_up_the_oldest() {
    let mut c = Creates::new("youki", limits());
    c.feed(exec(1, 10, "youki create a"));
    c.feed(exec(2, 20, "youki create b"));
    c.feed(exec(3, 30, "youki create c"));
    assert_eq!(c.len(), 2);
    assert!(!c.is_root(10));
    assert_eq!(c.counts.given_up, 1);
    assert_eq!(c.take_untrace(), [10]);
    c.set_cwd(30, PathBuf::from("/bundles/c"));
    c.feed(gone(4, 30, "youki", 1 << 8));
    let f = c.finish(1_000).remove(0);
    assert_eq!(f.bundle(), Some(PathBuf::from("/bundles/c")));
}

#[test]
fn the_pod_read_at_the_start_stays_with_the_failed_create() {
    let mut c = Creates::new("youki", limits());
    c.feed(exec(1, 10, "youki create --bundle rel b"));
    assert_eq!(c.bundle_of(10), None, "relative bundle without a known cwd");
    c.set_cwd(10, PathBuf::from("/run/c"));
    assert_eq!(c.bundle_of(10), Some(PathBuf::from("/run/c/rel")));
    assert_eq!(c.bundle_of(11), None);
    c.set_pod(10, serde_json::json!({"namespace": "ns", "name": "p"}));
    c.feed(gone(2, 10, "youki", 1 << 8));
    let f = c.finish(1_000).remove(0);
    assert_eq!(f.pod, Some(serde_json::json!({"namespace": "ns", "name": "p"})));
}

#[test]
fn a_foreground_run_is_let_go_once_init_execs_the_container_process() {
    let mut c = Creates::new("youki", limits());
    c.feed(exec(1, 10, "youki run x"));
    c.feed(fork(2, 10, 11, "youki"));
    c.feed(fork(3, 10, 12, "youki")); // a hook
    c.feed(call(4, 12, "youki", 0, 1));
    let mut hook = Event::new(Kind::Exec, 5, 12, "true");
    hook.s2 = vec![0; 48];
    c.feed(hook);
    assert!(c.finish(6).is_empty());
    assert_eq!(c.len(), 1, "a hook's exec does not end the create");
    c.feed(call(7, 11, "youki:init", 257, 3));
    let mut workload = Event::new(Kind::Exec, 8, 11, "sleep");
    workload.s2 = vec![0; 48];
    c.feed(workload);
    assert!(c.finish(9).is_empty());
    assert_eq!(c.len(), 0);
    assert_eq!(c.counts.succeeded, 1);
}

#[test]
fn a_delete_that_kills_init_right_after_a_successful_create_is_no_failure() {
    let mut c = Creates::new("youki", limits());
    c.feed(exec(1, 10, "youki create ok"));
    c.feed(fork(2, 10, 11, "youki"));
    c.feed(gone(3, 10, "youki", 0));
    // `youki delete -f` in the same batch, before the recorder looked at the create
    c.feed(gone(4, 11, "youki:init", 9));
    assert!(c.finish(1_000).is_empty());
    assert_eq!(c.counts.succeeded, 1);
}
