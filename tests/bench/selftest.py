#!/usr/bin/env python3
"""Checks the bench's parsers and classifiers on made-up input, with no runtime and no root.

usage: python3 tests/bench/selftest.py      (exit 1 on a failed check)

- breakdown.py: an strace of a multi-threaded runtime (unfinished/resumed pairs, a thread made
  by clone(CLONE_THREAD), a child left running after the command's exit) and a youki-trace
  NDJSON (a cgroup file opened relative to a directory fd) give the right attach writes,
  processes and cut-off;
- idle.py: a process is the runtime's by its binary, a memfd copy of it or its state root,
  and an unrelated one is nobody's;
- throughput.py: the nearest-rank percentiles;
- summarize.py: the trace row's closing lines of youki-trace and of its flight recorder give
  the events, creates and drops, and the summary states the recorder's overhead and drops.
"""

import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import breakdown  # noqa: E402
import idle  # noqa: E402
import podstart  # noqa: E402
import summarize  # noqa: E402
import throughput  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))
import bench_report  # noqa: E402

failures = []


def expect(what, cond):
    print(f"{'ok  ' if cond else 'FAIL'} {what}")
    if not cond:
        failures.append(what)


STRACE = """\
100 1000.000000 execve("/usr/sbin/rt", ["rt", "create"], 0x0 /* 1 var */) = 0 <0.000100>
100 1000.001000 clone(child_stack=0x1, flags=CLONE_VM|CLONE_FS|CLONE_THREAD|CLONE_SIGHAND) = 101 <0.000050>
101 1000.002000 write(7</sys/fs/cgroup/cpu/c1/cgroup.procs>, "102", 3 <unfinished ...>
100 1000.002500 futex(0x1, FUTEX_WAIT, 0, NULL <unfinished ...>
101 1000.014000 <... write resumed>) = 3 <0.012000>
100 1000.014100 <... futex resumed>) = 0 <0.011600>
101 1000.014200 write(8</sys/fs/cgroup/memory/c1/cgroup.procs>, "102", 3) = 3 <0.000010>
100 1000.015000 clone(child_stack=NULL, flags=CLONE_NEWNS|SIGCHLD) = 102 <0.000300>
102 1000.015500 mount("proc", "/proc", "proc", 0, NULL) = 0 <0.000200>
101 1000.016000 fsync(9</run/rt/c1/state.json>) = 0 <0.003000>
100 1000.020000 exit_group(0) = ? <0.000000>
100 1000.020000 close(3</dev/null>) = 0 <0.000001>
102 1000.500000 openat(AT_FDCWD, "/exec.fifo", O_WRONLY) = 3 <0.100000>
"""

YTRACE = [
    {"event": "syscall", "pid": 10, "syscall": "execve", "args": "\"/rt\"", "ret": 0, "duration_ns": 1000, "ts_ns": 0},
    {"event": "syscall", "pid": 10, "syscall": "openat2", "args": "-1, \"/sys/fs/cgroup\"", "ret": 3,
     "duration_ns": 5000, "ts_ns": 1000},
    {"event": "syscall", "pid": 10, "syscall": "openat2", "args": "3, \"cpu/c1/cgroup.procs\"", "ret": 7,
     "duration_ns": 5000, "ts_ns": 2000},
    {"event": "syscall", "pid": 10, "syscall": "write", "args": "7, \"11\", 2", "ret": 2,
     "duration_ns": 9_000_000, "ts_ns": 3000},
    {"event": "syscall", "pid": 10, "syscall": "close", "args": "7", "ret": 0, "duration_ns": 100, "ts_ns": 9_100_000},
    {"event": "syscall", "pid": 10, "syscall": "write", "args": "7, \"x\", 1", "ret": 1, "duration_ns": 100,
     "ts_ns": 9_200_000},
    {"summary": {}},
]


def check_breakdown():
    with tempfile.TemporaryDirectory() as tmp:
        s = Path(tmp) / "rt.strace.1"
        s.write_text(STRACE)
        b = breakdown.breakdown(breakdown.parse_strace(s))
        expect("strace: two attach writes, the first 12 ms", b["attach_writes"] == 2 and abs(b["attach_first_ms"] - 12) < 1e-6)
        expect("strace: the thread counts as its process (2 processes, not 3)", b["processes"] == 2)
        expect("strace: the child's call after the command's exit is cut off",
               abs(b["wall_ms"] - 20.0) < 0.01 and b["ms"]["waiting"] < 12)
        expect("strace: the fsync is fsync+rename, the mount is mounts",
               abs(b["ms"]["fsync+rename"] - 3) < 1e-6 and abs(b["ms"]["mounts"] - 0.2) < 1e-6)
        y = Path(tmp) / "rt.ytrace.1"
        y.write_text("\n".join(json.dumps(e) for e in YTRACE) + "\n")
        b = breakdown.breakdown(breakdown.parse_ytrace(y))
        expect("youki-trace: a write to a cgroup.procs opened relative to a dir fd is an attach",
               b["attach_writes"] == 1 and abs(b["attach_first_ms"] - 9) < 1e-6)


def check_idle():
    class Bench:
        bin = Path("/b")
        state = Path("/run/x")
        prefix = "yi1"
    probe = idle.Idle.__new__(idle.Idle)
    probe.bench = Bench()
    probe.marks = {"runc": {"exe": "/usr/sbin/runc", "name": "runc", "root": "/run/x/runc", "ids": "yi1-runc-idle"},
                   "youki": {"exe": "/t/youki", "name": "youki", "root": "/run/x/youki", "ids": "yi1-youki-idle"}}
    p = lambda exe, cmd="": {"exe": exe, "cmdline": cmd}  # noqa: E731
    expect("idle: the runtime's binary is the runtime's", probe.owner(p("/t/youki")) == "youki")
    expect("idle: a memfd copy of runc is runc's", probe.owner(p("/memfd:runc_cloned:/proc/self/exe (deleted)")) == "runc")
    expect("idle: a monitor naming the state root is the runtime's",
           probe.owner(p("/usr/bin/conmon", "conmon -r /run/x/youki/c1")) == "youki")
    expect("idle: a build's rustc is nobody's", probe.owner(p("/usr/bin/rustc", "rustc --crate-name x")) is None)


def check_throughput():
    values = list(range(1, 101))
    expect("throughput: p50 of 1..100 is 50, p99 is 99, max is 100",
           (throughput.percentile(values, 50), throughput.percentile(values, 99), throughput.percentile(values, 100))
           == (50, 99, 100))
    expect("throughput: p99 of one value is that value", throughput.percentile([7], 99) == 7)


TRACED_STOP = "youki-trace: load+attach 41.3 ms, 5120 events, 0 dropped"
RECORDED_STOP = ("youki-trace record: stopped: 0 reports written; creates: 0 failed, 53 succeeded, 0 given up"
                 " (too many at once), 0 still running; 106 other commands; lost: 2 events (ring full),"
                 " 1 syscall enters, 0 processes not followed")


def check_podstart():
    samples = {"sandbox_ms": [100.0] * 99 + [300.0], "create_ms": [10.0] * 100, "start_ms": [40.0] * 100}
    samples["total_ms"] = [a + b + c for a, b, c in zip(samples["sandbox_ms"], samples["create_ms"], samples["start_ms"])]
    s = podstart.stats_of(samples)
    expect("podstart: p50 150 ms, p99 over 100 pods is the 99th (150), max 350",
           (s["p50_ms"], s["p99_ms"], s["max_ms"], s["count"]) == (150.0, 150.0, 350.0, 100))
    expect("podstart: each call's median", (s["sandbox_p50_ms"], s["create_p50_ms"], s["start_p50_ms"]) == (100.0, 10.0, 40.0))
    slow = dict(s, p50_ms=300.0, p99_ms=600.0)
    r = podstart.ratios({"youki": s, "runc": slow})
    expect("podstart: youki's ratios at p50 and p99", r == {"runc": {"p50": 0.5, "p99": 0.25}})


def check_vm_report():
    raw = bench_report.parse("youki -1 900\nyouki 0 1000\nrunc 0 1500\ncrun 0 failed\nyouki 1 1200\n"
                             "runc 1 2100\ncrun 1 800\nbad line\n")
    expect("vm report: rows per runtime, failures as None", raw["crun"] == [(0, None), (1, 800)])
    st = bench_report.stats_of(raw)
    expect("vm report: warm-up rounds are left out", st["youki"]["n"] == 2 and st["youki"]["median"] == 1.1)
    expect("vm report: median over youki's", st["runc"]["over_youki"] == 1.8 / 1.1 and st["youki"]["over_youki"] == 1.0)
    expect("vm report: a failed cycle is counted, not timed", st["crun"]["failed"] == 1 and st["crun"]["n"] == 1)


def hyperfine_result(mode, median_s, runs):
    return {"parameters": {"mode": mode}, "median": median_s, "mean": median_s, "stddev": 0.0001,
            "times": [median_s] * runs}


def check_summarize():
    expect("summarize: youki-trace's closing line gives events and drops",
           summarize.traced_counts(TRACED_STOP) == (5120, 0))
    c = summarize.recorder_counts(RECORDED_STOP) or {}
    expect("summarize: the recorder's closing line gives creates and drops (2 + 1 + 0)",
           (c.get("succeeded"), c.get("failed"), c.get("given_up"), c.get("drops")) == (53, 0, 0, 3))
    with tempfile.TemporaryDirectory() as tmp:
        r = Path(tmp)
        results = [hyperfine_result("plain", 0.0300, 50), hyperfine_result("traced", 0.0330, 50),
                   hyperfine_result("recorded", 0.0306, 50)]
        (r / "trace.json").write_text(json.dumps({"results": results}))
        (r / "trace-stop.txt").write_text(TRACED_STOP + "\n" + RECORDED_STOP + "\n")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            summarize.trace_summary(r)
        text = out.getvalue()
        expect("summarize: the recorder's overhead vs plain, +2.0%, within 3%",
               "recorder overhead, attached and idle: +2.0% (target ≤ 3%: met)" in text)
        expect("summarize: the recorder's 3 drops miss the target of 0",
               "recorder drops: 3 " in text and "(target 0: NOT met)" in text)
        expect("summarize: 53 creates seen for 50 timed runs is every create", "every create followed" in text
               and "NOT every create" not in text)


if __name__ == "__main__":
    check_breakdown()
    check_idle()
    check_throughput()
    check_summarize()
    check_podstart()
    check_vm_report()
    print(f"selftest: {'failed' if failures else 'passed'}")
    sys.exit(1 if failures else 0)
