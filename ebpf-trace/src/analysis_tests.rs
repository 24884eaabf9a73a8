//! First-failure analysis checked against hand-built event streams.

use super::*;

/// A recorded stream, built one event at a time with a running clock.
struct Stream {
    events: Vec<Event>,
    now: u64,
}

fn stream() -> Stream {
    Stream { events: Vec::new(), now: 1_000 }
}

impl Stream {
    fn push(&mut self, mut e: Event) -> &mut Self {
        self.now += 1_000;
        e.ts_ns = self.now;
        self.events.push(e);
        self
    }
    fn call(&mut self, pid: u32, comm: &str, nr: i64, ret: i64, path: &str) -> &mut Self {
        let mut e = Event::new(Kind::Syscall, 0, pid, comm);
        e.nr = nr;
        e.ret = ret;
        e.dur_ns = 500;
        e.s0 = path.as_bytes().to_vec();
        self.push(e)
    }
    fn rename(&mut self, pid: u32, old: &str, new: &str) -> &mut Self {
        let mut e = Event::new(Kind::Rename, 0, pid, old);
        e.s0 = old.as_bytes().to_vec();
        e.s1 = new.as_bytes().to_vec();
        self.push(e)
    }
    fn exit_group(&mut self, pid: u32, comm: &str, code: u64) -> &mut Self {
        let mut e = Event::new(Kind::NoReturn, 0, pid, comm);
        e.nr = 231;
        e.args[0] = code;
        self.push(e)
    }
    fn signal(&mut self, from: u32, comm: &str, sig: i32, to: u32) -> &mut Self {
        let mut e = Event::new(Kind::Signal, 0, from, comm);
        e.aux = [sig, to as i32, 0];
        self.push(e)
    }
    fn gone(&mut self, pid: u32, comm: &str, inside: i32) -> &mut Self {
        let mut e = Event::new(Kind::Exit, 0, pid, comm);
        e.aux = [1, inside, 0];
        self.push(e)
    }
    fn stderr(&mut self, pid: u32, comm: &str, text: &str) -> &mut Self {
        let mut e = Event::new(Kind::Syscall, 0, pid, comm);
        e.nr = 1;
        e.args = [2, 0, text.len() as u64, 0, 0, 0];
        e.ret = text.len() as i64;
        e.s0 = text.as_bytes().to_vec();
        e.aux[0] = text.len() as i32;
        self.push(e)
    }
}

/// The runtime parent (pid 10) clones init (pid 11), which walks its stages.
fn create_until(s: &mut Stream, last: &str) {
    s.call(10, "youki", 435, 11, "");
    let mut fork = Event::new(Kind::Fork, 0, 10, "youki");
    fork.aux = [11, 10, 0];
    s.push(fork);
    s.rename(11, "youki", "youki:init");
    for stage in ["youki:ns", "youki:mounts", "youki:process"] {
        s.rename(11, "youki:init", stage);
        if stage == "youki:mounts" {
            s.call(11, stage, 332, -2, "/rootfs/dev/pts"); // a probe the runtime handles
            s.call(11, stage, 165, 0, "proc");
        }
        if stage == last {
            return;
        }
    }
}

fn failed_syscall(f: &Failure) -> (String, String, String) {
    let e = f.syscall.as_ref().expect("a failed syscall");
    (f.stage.clone(), syscall_name(e.nr), errno_name(e.errno().unwrap_or(0)))
}

#[test]
fn clean_create_has_no_failure() {
    let mut s = stream();
    create_until(&mut s, "youki:process");
    s.exit_group(11, "echo", 0).gone(11, "echo", 0).exit_group(10, "youki", 0).gone(10, "youki", 0);
    let a = analyse(&s.events, Some(RootStatus::Exited(0)));
    assert_eq!(a.failure, None);
    assert_eq!(a.exits.len(), 2);
}

#[test]
fn missing_executable_names_process_stage_and_enoent() {
    let mut s = stream();
    create_until(&mut s, "youki:process");
    s.call(11, "youki:process", 21, -2, "/bin/nonexistent")
        .exit_group(11, "youki:process", 1)
        .gone(11, "youki:process", 0)
        .stderr(10, "youki", "level=error msg=\"exec: not found\"\n")
        .exit_group(10, "youki", 1)
        .gone(10, "youki", 0);
    let a = analyse(&s.events, Some(RootStatus::Exited(1)));
    let f = a.failure.expect("a failure");
    assert_eq!(failed_syscall(&f), ("youki:process".into(), "access".into(), "ENOENT".into()));
    assert_eq!(f.exit.map(|x| (x.pid, x.how)), Some((11, ExitHow::Code(1))));
    assert_eq!(f.stderr.as_deref(), Some(&b"level=error msg=\"exec: not found\"\n"[..]));
}

#[test]
fn bad_mount_destination_wins_over_earlier_probes_and_the_cleanup_kill() {
    let mut s = stream();
    create_until(&mut s, "youki:mounts");
    s.call(11, "youki:mounts", 83, -20, "/rootfs/bin/busybox/sub")
        .call(10, "youki", 62, 0, "")
        .signal(10, "youki", 9, 11)
        .gone(11, "youki:mounts", 0)
        .exit_group(10, "youki", 1);
    let a = analyse(&s.events, Some(RootStatus::Exited(1)));
    let f = a.failure.expect("a failure");
    assert_eq!(failed_syscall(&f), ("youki:mounts".into(), "mkdir".into(), "ENOTDIR".into()));
    let how = f.exit.map(|x| x.how.describe());
    assert_eq!(how.as_deref(), Some("killed by SIGKILL from pid 10 (youki)"));
}

#[test]
fn init_killed_by_a_hook_reports_the_signal() {
    let mut s = stream();
    create_until(&mut s, "youki:ns");
    s.rename(11, "youki:ns", "youki:hooks")
        .call(11, "youki:hooks", 87, -13, "/rootfs/x") // unrelated, before the kill
        .call(12, "sh", 62, 0, "")
        .signal(12, "sh", 9, 11)
        .gone(11, "youki:hooks", 61);
    let a = analyse(&s.events, Some(RootStatus::Exited(1)));
    let f = a.failure.expect("a failure");
    assert_eq!(f.stage, "youki:hooks");
    assert!(f.syscall.is_none());
    assert_eq!(f.exit.map(|x| x.how), Some(ExitHow::Signal { sig: 9, from: Some((12, "sh".to_string())), inside: Some(60) }));
}

#[test]
fn failing_hook_is_named_with_the_stage_that_ran_it() {
    let mut s = stream();
    create_until(&mut s, "youki:ns");
    s.rename(11, "youki:ns", "youki:hooks");
    let mut fork = Event::new(Kind::Fork, 0, 11, "youki:hooks");
    fork.aux = [12, 11, 0];
    s.push(fork).rename(12, "youki:hooks", "false");
    let mut exec = Event::new(Kind::Exec, 0, 12, "false");
    exec.s0 = b"/bin/false".to_vec();
    s.push(exec).call(12, "false", 21, -2, "/etc/ld.so.preload").exit_group(12, "false", 1).gone(12, "false", 0);
    let a = analyse(&s.events, Some(RootStatus::Exited(1)));
    let f = a.failure.expect("a failure");
    assert_eq!(f.stage, "youki:hooks > false");
    assert!(f.syscall.is_none());
    assert_eq!(f.exit.map(|x| x.how), Some(ExitHow::Code(1)));
}

#[test]
fn cleanup_kill_by_a_grandparent_still_points_at_the_failed_syscall() {
    // runc: root 20 -> 21 -> 22, and 22 clones init 23 with CLONE_PARENT.
    let mut s = stream();
    for (parent, child) in [(20, 21), (21, 22), (22, 23)] {
        let mut fork = Event::new(Kind::Fork, 0, parent, "runc");
        fork.aux = [child, parent as i32, 0];
        s.push(fork);
    }
    s.call(23, "runc:[2:INIT]", 83, -20, "/rootfs/bin/busybox/sub").signal(20, "runc", 9, 23).gone(23, "runc:[2:INIT]", 0);
    let a = analyse(&s.events, Some(RootStatus::Exited(1)));
    let f = a.failure.expect("a failure");
    assert_eq!(failed_syscall(&f), ("runc:[2:INIT]".into(), "mkdir".into(), "ENOTDIR".into()));
    assert_eq!(f.exit.map(|x| x.ancestors), Some(vec![22, 21, 20]));
}

#[test]
fn kernel_exit_status_word_decides_how_a_process_ended() {
    let gone_with = |pid: u32, word: u32| {
        let mut e = Event::new(Kind::Exit, 0, pid, "youki:init");
        e.aux = [1, 0, 0];
        e.s2 = vec![0; 48];
        e.s2[4..8].copy_from_slice(&4026532180u32.to_ne_bytes()); // pid ns inode
        e.s2[28..32].copy_from_slice(&word.to_ne_bytes());
        e
    };
    let mut s = stream();
    s.signal(10, "youki", 9, 11).push(gone_with(11, 9)).push(gone_with(12, 3 << 8));
    let exits = process_exits(&s.events);
    let hows: Vec<_> = exits.iter().map(|x| x.how.describe()).collect();
    assert_eq!(hows, ["killed by SIGKILL from pid 10 (youki)", "exit_group(3)"]);
    assert_eq!(s.events[1].ns().map(|n| n.pid_ns), Some(4026532180));
}

#[test]
fn seccomp_kill_shows_the_dying_syscall() {
    let mut s = stream();
    create_until(&mut s, "youki:process");
    s.gone(11, "youki:process", 39 + 1); // killed inside getpid, no signal seen
    let a = analyse(&s.events, None);
    let f = a.failure.expect("a failure");
    assert_eq!(f.exit.map(|x| x.how.describe()).as_deref(), Some("died inside getpid"));
}

#[test]
fn interrupted_waits_are_not_failures() {
    let mut s = stream();
    s.call(10, "runc", 202, -110, "").call(10, "runc", 35, -516, "");
    s.call(10, "runc", 257, -13, "/etc/secret").exit_group(10, "runc", 1).gone(10, "runc", 0);
    let a = analyse(&s.events, Some(RootStatus::Exited(1)));
    let f = a.failure.expect("a failure");
    assert_eq!(failed_syscall(&f), ("runc".into(), "openat".into(), "EACCES".into()));
}

#[test]
fn stage_summary_counts_time_and_slowest() {
    let mut s = stream();
    create_until(&mut s, "youki:process");
    let st = stage_summaries(&s.events);
    let names: Vec<_> = st.iter().map(|x| x.stage.as_str()).collect();
    assert_eq!(names, ["youki", "youki:init", "youki:ns", "youki:mounts", "youki:process"]);
    let mounts = &st[3];
    assert_eq!((mounts.syscalls, mounts.failed), (2, 1));
    assert_eq!(mounts.counts.get("mount"), Some(&1));
    assert_eq!(mounts.slowest.len(), 2);
}

#[test]
fn a_kill_by_the_runtime_after_its_own_failure_points_at_that_failure() {
    // The parent fails writing cpuset.cpus, probes during cleanup, then kills init.
    let mut s = stream();
    create_until(&mut s, "youki:init");
    let mut write = Event::new(Kind::Syscall, 0, 10, "youki");
    write.nr = 1;
    write.ret = -34;
    write.args = [7, 0, 2, 0, 0, 0];
    write.s0 = b"99".to_vec();
    write.aux[0] = 2;
    s.push(write)
        .call(10, "youki", 257, -2, "/run/youki/c/intel_rdt.json")
        .signal(10, "youki", 9, 11)
        .gone(11, "youki:init", 0)
        .stderr(10, "youki", "write \"99\": Numerical result out of range (os error 34)\n")
        .exit_group(10, "youki", 1)
        .gone(10, "youki", 0);
    let a = analyse(&s.events, Some(RootStatus::Exited(1)));
    let f = a.failure.expect("a failure");
    assert_eq!(failed_syscall(&f), ("youki".into(), "write".into(), "ERANGE".into()));
}

#[test]
fn the_errno_in_the_error_text_wins_over_a_later_cleanup_probe() {
    let mut s = stream();
    s.call(10, "youki", 1, -28, "")
        .call(10, "youki", 257, -2, "/run/youki/c/intel_rdt.json")
        .stderr(10, "youki", "write state: No space left on device (os error 28)\n")
        .exit_group(10, "youki", 1)
        .gone(10, "youki", 0);
    let a = analyse(&s.events, Some(RootStatus::Exited(1)));
    let f = a.failure.expect("a failure");
    assert_eq!(failed_syscall(&f).2, "ENOSPC");
    // without a hint the last failure stays the answer
    assert_eq!(errno_hint(b"no errno here"), None);
    assert_eq!(errno_hint(br#"{"Failed":{"errno":2}}"#), Some(2));
    assert_eq!(errno_hint(b"(os error 2) then (os error 13)"), Some(13));
}

#[test]
fn a_child_that_fails_on_the_closed_channel_points_at_the_runtimes_failure() {
    let mut s = stream();
    create_until(&mut s, "youki:init");
    // The runtime's cgroup write fails (ERANGE); it closes the channel, and init's next send
    // there fails with EPIPE before init exits 1 on its own.
    s.call(10, "youki", 1, -34, "99")
        .call(11, "youki:init", 44, -32, "")
        .exit_group(11, "youki:init", 1)
        .gone(11, "youki:init", 0)
        .exit_group(10, "youki", 1);
    let a = analyse(&s.events, Some(RootStatus::Exited(1)));
    let f = a.failure.expect("a failure");
    assert_eq!(failed_syscall(&f), ("youki".into(), "write".into(), "ERANGE".into()));
}
