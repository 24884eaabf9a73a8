#!/usr/bin/env python3
"""Times the kernel's cgroup attach alone: a write of a pid to cgroup.procs, per hierarchy.

usage: cgroup_attach.py [--samples N] [--json FILE]

No runtime involved: a `sleep` child is moved into a fresh cgroup of each mounted hierarchy
(each cgroup v1 controller, and the cgroup2 mount when there is one) and back to where it
was, N times, each write timed with perf_counter_ns around os.write: a cold move, the first
after --gap seconds without any, and a warm one right after. Then, cold, all v1 hierarchies
in a row, as a runtime attaches a container on a v1 host (one write per hierarchy).

Why: on cgroup v1 (and v2 without `favordynmods`) moving a process takes the global
cgroup_threadgroup_rwsem for writing, a percpu rwsem whose writer waits for an RCU grace
period; a runtime that attaches its child by writing cgroup.procs pays it, and one that
creates the child inside its cgroup (clone3 with CLONE_INTO_CGROUP, cgroup v2 only) takes
the same lock in the fork path. These figures are that floor on this host, to set beside the
writes the runtimes make under strace (breakdown.sh).
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import time
from pathlib import Path


def hierarchies():
    """[(name, mount point, fstype)] of the cgroup mounts this process sees."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, right = line.split(" - ", 1)
        fstype, _src, opts = (right.split() + ["", ""])[:3]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        point = left.split()[4]
        name = "cgroup2" if fstype == "cgroup2" else next(
            (o for o in opts.split(",") if o not in ("rw", "ro", "relatime", "nosuid", "nodev", "noexec")), point)
        out.append((name, point, fstype))
    return out


def cgroup_of(pid, point, fstype):
    """pid's cgroup directory in the hierarchy mounted at point."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        hid, controllers, path = line.split(":", 2)
        name = os.path.basename(point)
        if (fstype == "cgroup2" and hid == "0") or name in controllers.split(",") or \
                controllers == f"name={name}":
            return Path(point + path)
    return Path(point)


def write_pid(directory, pid):
    fd = os.open(directory / "cgroup.procs", os.O_WRONLY)
    try:
        t0 = time.perf_counter_ns()
        os.write(fd, str(pid).encode())
        return time.perf_counter_ns() - t0
    finally:
        os.close(fd)


def ms_stats(values):
    ms = sorted(v / 1e6 for v in values)
    return {"n": len(ms), "median": round(statistics.median(ms), 4), "min": round(ms[0], 4),
            "max": round(ms[-1], 4), "mean": round(statistics.fmean(ms), 4)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--gap", type=float, default=0.2, help="seconds without a move before a cold one")
    p.add_argument("--json")
    args = p.parse_args()
    child = subprocess.Popen(["sleep", "600"])
    made = []
    result = {"samples": args.samples, "per_hierarchy": {}, "all_v1_in_a_row": None}
    try:
        places = []
        for name, point, fstype in hierarchies():
            home = cgroup_of(child.pid, point, fstype)
            test = Path(point) / f"youki-attach-{os.getpid()}"
            try:
                test.mkdir()
            except OSError as e:
                result["per_hierarchy"][name] = {"error": f"mkdir {test}: {e}"}
                continue
            made.append(test)
            if name == "cpuset":
                # A new v1 cpuset has no cpus and mems: a move into it fails with ENOSPC.
                for f in ("cpuset.cpus", "cpuset.mems"):
                    (test / f).write_text((Path(point) / f).read_text())
            places.append((name, fstype, home, test))
        for name, fstype, home, test in places:
            cold, warm = [], []
            for _ in range(args.samples):
                time.sleep(args.gap)  # no move for a while: the next one is cold
                cold.append(write_pid(test, child.pid))
                write_pid(home, child.pid)
                warm.append(write_pid(test, child.pid))
                write_pid(home, child.pid)
            result["per_hierarchy"][name] = {"fstype": fstype, "cold": ms_stats(cold), "warm": ms_stats(warm)}
        v1 = [pl for pl in places if pl[1] == "cgroup"]
        if v1:
            rows = []
            for _ in range(args.samples):
                time.sleep(args.gap)
                t0 = time.perf_counter_ns()
                for _name, _f, _home, test in v1:
                    write_pid(test, child.pid)
                rows.append(time.perf_counter_ns() - t0)
                for _name, _f, home, _test in v1:
                    write_pid(home, child.pid)
            result["all_v1_in_a_row"] = {"hierarchies": len(v1), **ms_stats(rows)}
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        for test in made:
            try:
                test.rmdir()
            except OSError:
                pass
    print(f"cgroup attach (write of a pid to cgroup.procs), median (min–max) over {args.samples} moves;"
          f" cold: the first move after {args.gap * 1000:.0f} ms without one, warm: right after another")
    for name, r in result["per_hierarchy"].items():
        if "error" in r:
            print(f"  {name:<12} {r['error']}")
            continue
        c, w = r["cold"], r["warm"]
        print(f"  {name:<12} {r['fstype']:<8} cold {c['median']:.3f} ms ({c['min']:.3f}–{c['max']:.3f}),"
              f" warm {w['median']:.3f} ms ({w['min']:.3f}–{w['max']:.3f})")
    row = result["all_v1_in_a_row"]
    if row:
        print(f"  all {row['hierarchies']} v1 hierarchies in a row, cold: {row['median']:.3f} ms"
              f" ({row['min']:.3f}–{row['max']:.3f})")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
