//! Prints an analysed trace: human columns with the first failure on top and the stage
//! summary at the bottom, or NDJSON events followed by one summary object.

use std::io::{self, Write};

use serde_json::{json, Value};

use crate::analysis::{failed_call_text, stage, Analysis, RootStatus};
use crate::decode::{describe, quote_bytes};
use crate::event::{Event, Kind};
use crate::names::{errno_name, signal_name, syscall_name};

/// What to print besides the analysis.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub failed_only: bool,
    pub root: Option<RootStatus>,
    pub drops: u64,
    pub lost_enters: u64,
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn root_text(root: Option<RootStatus>) -> String {
    match root {
        Some(RootStatus::Exited(c)) => format!("exited with status {c}"),
        Some(RootStatus::Signaled(s)) => format!("was killed by {}", signal_name(s)),
        None => "not started by youki-trace (--pid or --comm)".to_string(),
    }
}

/// Namespace facts of a process record, appended to its arguments text.
fn ns_text(e: &Event) -> String {
    match e.ns() {
        Some(n) if n.pid_ns != 0 => format!(
            " [nspid {} pid:{} mnt:{} net:{} uts:{} ipc:{} cgroup:{} user:{}]",
            n.ns_pid, n.pid_ns, n.mnt_ns, n.net_ns, n.uts_ns, n.ipc_ns, n.cgroup_ns, n.user_ns
        ),
        _ => String::new(),
    }
}

/// The event-specific part of a line: syscall name, result and decoded arguments.
fn what(e: &Event) -> (String, String, String) {
    let (name, result, args) = what_bare(e);
    (name, result, args + &ns_text(e))
}

fn what_bare(e: &Event) -> (String, String, String) {
    match e.kind {
        Kind::Syscall => {
            let result = match e.errno() {
                Some(n) => format!("-1 {}", errno_name(n)),
                None if matches!(e.nr, 9 | 12 | 25) => format!("{:#x}", e.ret),
                None => e.ret.to_string(),
            };
            (syscall_name(e.nr), result, describe(e))
        }
        Kind::NoReturn => (syscall_name(e.nr), "?".into(), describe(e)),
        Kind::Fork => ("<fork>".into(), e.aux[0].to_string(), format!("child {}", e.aux[0])),
        Kind::Exec => {
            let (cut, args) = e.exec_args();
            let mut a = args.join(" ");
            if cut {
                a.insert_str(0, "...");
            }
            ("<exec>".into(), String::new(), format!("{:?} [{a}]", e.s0_text()))
        }
        Kind::Exit => {
            let mut t = if e.aux[0] == 1 { "process gone".to_string() } else { "thread".into() };
            if let Some(n) = e.ns().filter(|n| n.pid_ns != 0) {
                let st = n.exit_code;
                if st & 0x7f != 0 {
                    t.push_str(&format!(", {}", signal_name((st & 0x7f) as i32)));
                } else {
                    t.push_str(&format!(", status {}", (st >> 8) & 0xff));
                }
            }
            if e.aux[1] > 0 {
                t.push_str(&format!(", inside {}", syscall_name(i64::from(e.aux[1]) - 1)));
            }
            ("<exit>".into(), String::new(), t)
        }
        Kind::Rename => ("<rename>".into(), String::new(), format!("{} -> {}", e.s0_text(), e.s1_text())),
        Kind::Signal => (
            "<signal>".into(),
            if e.aux[2] == 0 { "delivered".into() } else { format!("result {}", e.aux[2]) },
            format!("{} -> {} ({})", signal_name(e.aux[0]), e.aux[1], e.s0_text()),
        ),
    }
}

/// The first failure in one line, without pid or time, e.g.
/// `stage youki:process: execve("/app") = -1 ENOENT` or `stage youki:hooks > false: exit_group(1)`.
pub fn failure_line(a: &Analysis, root: Option<RootStatus>) -> String {
    let Some(f) = &a.failure else {
        return format!("no failure found in the trace (command {})", root_text(root));
    };
    match (&f.syscall, &f.exit) {
        (Some(e), _) => format!("stage {}: {}", f.stage, failed_call_text(e)),
        (None, Some(x)) => format!("stage {}: {}", f.stage, x.how.describe()),
        (None, None) => format!("stage {}: command {}", f.stage, root_text(root)),
    }
}

fn failure_lines(a: &Analysis, opts: &Options) -> Vec<String> {
    let mut out = Vec::new();
    let Some(f) = &a.failure else {
        out.push(format!("FIRST FAILURE: no failure (command {})", root_text(opts.root)));
        return out;
    };
    match &f.syscall {
        Some(e) => out.push(format!(
            "FIRST FAILURE: stage {} pid {}: {} at +{:.3}ms",
            f.stage,
            f.pid,
            failed_call_text(e),
            ms(e.ts_ns.saturating_sub(a.start_ns))
        )),
        None => {
            let how = f.exit.as_ref().map_or_else(String::new, |x| x.how.describe());
            out.push(format!("FIRST FAILURE: stage {} pid {}: {how}", f.stage, f.pid));
        }
    }
    if let Some(x) = &f.exit {
        out.push(format!(
            "  first to exit abnormally: pid {} ({}) {} at +{:.3}ms",
            x.pid,
            x.stage,
            x.how.describe(),
            ms(x.ts_ns.saturating_sub(a.start_ns))
        ));
    }
    if let Some(b) = &f.last_output {
        out.push(format!("  its last write: {}", quote_bytes(b)));
    }
    if let Some(b) = &f.stderr {
        let text = String::from_utf8_lossy(b.trim_ascii_end()).replace(['\n', '\r'], " | ");
        out.push(format!("  last stderr line: {text}"));
    }
    out.push(format!("  command {}", root_text(opts.root)));
    out
}

/// Writes the human report.
pub fn human(w: &mut dyn Write, events: &[Event], a: &Analysis, opts: &Options) -> io::Result<()> {
    for l in failure_lines(a, opts) {
        writeln!(w, "{l}")?;
    }
    writeln!(w, "events: {}, dropped: {}, unpaired enters lost: {}\n", a.events, opts.drops, opts.lost_enters)?;
    writeln!(w, "{:>10} {:>7} {:>7} {:<16} {:<16} {:>12} {:>9}  ARGS", "TIME(ms)", "PID", "TID", "STAGE", "SYSCALL", "RESULT", "DUR(us)")?;
    for e in events {
        if opts.failed_only && e.errno().is_none() {
            continue;
        }
        let (name, result, args) = what(e);
        writeln!(
            w,
            "{:>10.3} {:>7} {:>7} {:<16} {:<16} {:>12} {:>9.1}  {}",
            ms(e.ts_ns.saturating_sub(a.start_ns)),
            e.pid,
            e.tid,
            stage(e),
            name,
            result,
            e.dur_ns as f64 / 1e3,
            args
        )?;
    }
    writeln!(w, "\nSTAGE SUMMARY")?;
    writeln!(w, "{:<16} {:>10} {:>6} {:>9} {:>7}  {:<40} SLOWEST", "STAGE", "TIME(ms)", "PIDS", "SYSCALLS", "FAILED", "TOP SYSCALLS")?;
    for s in &a.stages {
        let mut top: Vec<_> = s.counts.iter().collect();
        top.sort_by(|x, y| y.1.cmp(x.1));
        let top = top.iter().take(3).map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(" ");
        let slow = s.slowest.iter().map(|(d, n, _)| format!("{n} {:.0}us", *d as f64 / 1e3)).collect::<Vec<_>>().join(", ");
        writeln!(
            w,
            "{:<16} {:>10.3} {:>6} {:>9} {:>7}  {:<40} {}",
            s.stage,
            ms(s.last_ns.saturating_sub(s.first_ns)),
            s.pids.len(),
            s.syscalls,
            s.failed,
            top,
            slow
        )?;
    }
    Ok(())
}

/// One NDJSON object for an event.
pub fn event_json(e: &Event) -> Value {
    let (name, _, args) = what(e);
    let kind = match e.kind {
        Kind::Syscall | Kind::NoReturn => "syscall",
        Kind::Fork => "fork",
        Kind::Exec => "exec",
        Kind::Exit => "exit",
        Kind::Rename => "rename",
        Kind::Signal => "signal",
    };
    json!({
        "ts_ns": e.ts_ns,
        "pid": e.pid,
        "tid": e.tid,
        "comm": e.comm,
        "stage": stage(e),
        "event": kind,
        "syscall": if matches!(e.kind, Kind::Syscall | Kind::NoReturn) { Value::from(name) } else { Value::Null },
        "args": args,
        "ret": if e.kind == Kind::Syscall { Value::from(e.ret) } else { Value::Null },
        "errno": e.errno().map(errno_name),
        "duration_ns": e.dur_ns,
        "ns": e.ns().filter(|n| n.pid_ns != 0).map(|n| json!({
            "pid": n.ns_pid, "pid_ns": n.pid_ns, "mnt_ns": n.mnt_ns, "net_ns": n.net_ns,
            "uts_ns": n.uts_ns, "ipc_ns": n.ipc_ns, "cgroup_ns": n.cgroup_ns, "user_ns": n.user_ns,
        })),
    })
}

/// The final summary object of `--json`.
pub fn summary_json(a: &Analysis, opts: &Options) -> Value {
    let failure = a.failure.as_ref().map(|f| {
        json!({
            "stage": f.stage,
            "pid": f.pid,
            "syscall": f.syscall.as_ref().map(|e| syscall_name(e.nr)),
            "errno": f.syscall.as_ref().and_then(Event::errno).map(errno_name),
            "call": f.syscall.as_ref().map(failed_call_text),
            "first_exit": f.exit.as_ref().map(|x| json!({
                "pid": x.pid, "stage": x.stage, "how": x.how.describe(), "ts_ns": x.ts_ns,
            })),
            "last_output": f.last_output.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
            "stderr": f.stderr.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
        })
    });
    let stages: Vec<Value> = a
        .stages
        .iter()
        .map(|s| {
            json!({
                "stage": s.stage,
                "time_ns": s.last_ns.saturating_sub(s.first_ns),
                "pids": s.pids,
                "syscalls": s.syscalls,
                "failed": s.failed,
                "counts": s.counts,
                "slowest": s.slowest.iter().map(|(d, n, p)| json!({"syscall": n, "duration_ns": d, "pid": p})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let status = match opts.root {
        Some(RootStatus::Exited(c)) => json!({"exit_code": c}),
        Some(RootStatus::Signaled(s)) => json!({"signal": signal_name(s)}),
        None => Value::Null,
    };
    json!({
        "summary": {
            "events": a.events,
            "dropped": opts.drops,
            "lost_enters": opts.lost_enters,
            "status": status,
            "first_failure": failure,
            "no_failure": a.failure.is_none(),
            "stages": stages,
        }
    })
}

/// Writes NDJSON: one line per event, then the summary.
pub fn ndjson(w: &mut dyn Write, events: &[Event], a: &Analysis, opts: &Options) -> io::Result<()> {
    for e in events {
        if opts.failed_only && e.errno().is_none() {
            continue;
        }
        writeln!(w, "{}", event_json(e))?;
    }
    writeln!(w, "{}", summary_json(a, opts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::analyse;

    fn call(ts: u64, pid: u32, comm: &str, nr: i64, ret: i64, path: &str) -> Event {
        let mut e = Event::new(Kind::Syscall, ts, pid, comm);
        e.nr = nr;
        e.ret = ret;
        e.dur_ns = 2_000;
        e.s0 = path.as_bytes().to_vec();
        e
    }

    fn ended(ts: u64, pid: u32, comm: &str, code: u64) -> [Event; 2] {
        let mut g = Event::new(Kind::NoReturn, ts, pid, comm);
        g.nr = 231;
        g.args[0] = code;
        let mut x = Event::new(Kind::Exit, ts + 1, pid, comm);
        x.aux[0] = 1;
        [g, x]
    }

    fn text(events: &[Event], root: RootStatus, failed_only: bool) -> String {
        let a = analyse(events, Some(root));
        let opts = Options { failed_only, root: Some(root), ..Default::default() };
        let mut out = Vec::new();
        human(&mut out, events, &a, &opts).expect("write to a Vec");
        String::from_utf8(out).expect("utf-8 report")
    }

    #[test]
    fn says_no_failure_when_there_is_none() {
        let mut ev = vec![call(10, 5, "youki:mounts", 165, 0, "proc")];
        ev.extend(ended(20, 5, "youki:mounts", 0));
        let t = text(&ev, RootStatus::Exited(0), false);
        assert!(t.starts_with("FIRST FAILURE: no failure (command exited with status 0)"), "{t}");
        assert!(t.contains("youki:mounts"));
    }

    #[test]
    fn puts_the_first_failure_on_top_and_filters_failed_only() {
        let mut ev = vec![call(1_000, 7, "youki:process", 0, 5, ""), call(2_000, 7, "youki:process", 21, -2, "/bin/nonexistent")];
        ev.extend(ended(3_000, 7, "youki:process", 1));
        let t = text(&ev, RootStatus::Exited(1), true);
        let first = t.lines().next().unwrap_or_default();
        assert_eq!(first, r#"FIRST FAILURE: stage youki:process pid 7: access("/bin/nonexistent") = -1 ENOENT at +0.001ms"#);
        assert!(t.contains("first to exit abnormally: pid 7 (youki:process) exit_group(1)"));
        let body: Vec<&str> = t.lines().skip_while(|l| !l.contains("TIME(ms)")).skip(1).take_while(|l| !l.is_empty()).collect();
        assert_eq!(body.len(), 1, "failed-only hides successful calls:\n{t}");
        assert!(body[0].contains("access"));
    }

    #[test]
    fn json_has_one_object_per_event_and_a_summary() {
        let mut ev = vec![call(1_000, 7, "youki:process", 21, -2, "/bin/x")];
        ev.extend(ended(3_000, 7, "youki:process", 1));
        let a = analyse(&ev, Some(RootStatus::Exited(1)));
        let opts = Options { root: Some(RootStatus::Exited(1)), ..Default::default() };
        let mut out = Vec::new();
        ndjson(&mut out, &ev, &a, &opts).expect("write to a Vec");
        let lines: Vec<Value> =
            String::from_utf8(out).expect("utf-8").lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["syscall"], "access");
        assert_eq!(lines[0]["errno"], "ENOENT");
        assert_eq!(lines[0]["stage"], "youki:process");
        assert_eq!(lines[0]["duration_ns"], 2_000);
        let s = &lines[3]["summary"];
        assert_eq!(s["first_failure"]["errno"], "ENOENT");
        assert_eq!(s["no_failure"], false);
        assert_eq!(s["dropped"], 0);
    }
}
