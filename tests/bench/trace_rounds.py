#!/usr/bin/env python3
"""The trace row, interleaved: youki create+start+delete plain, under `youki-trace --comm`
(traced) and with the flight recorder attached and idle (recorded), round by round.

usage: trace_rounds.py --youki PATH --root DIR --bundle DIR --id ID --tracer-sh PATH
                       --youki-trace PATH --comm NAME --work DIR --out FILE --stop-file FILE
                       [--rounds N] [--per-round K] [--warmup N]

Why not hyperfine: it runs each mode's runs as one block (with the tracer attached once per
block), so a load that drifts falls on one mode more than another, and the overhead
(a few percent) drowns in it. Here round r runs the modes in the order of the list rotated
by r; in each round a mode's tracer is started (tracer.sh start, untimed), K cycles are
timed one by one (perf_counter_ns around the three youki calls, each posix_spawn + waitpid,
no shell), and the tracer is stopped (tracer.sh stop; its closing counts line is appended
to --stop-file). The first --warmup cycles of every mode in round 0 are not kept.

--out is written in hyperfine's --export-json shape (results[].parameters.mode, times in
seconds, median, mean, stddev), which summarize.py reads, plus each mode's CPU time of the
youki calls per cycle (children's rusage, seconds) under "cpu".
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

MODES = ("plain", "traced", "recorded")


def spawn(argv):
    """Runs argv to its end; its exit status."""
    pid = os.posix_spawn(argv[0], argv, os.environ)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cycle(a):
    """One create+start+delete, timed; raises when a call fails."""
    base = [a.youki, "--root", a.root]
    t = time.perf_counter_ns()
    for args in (["create", "--bundle", a.bundle, a.id], ["start", a.id], ["delete", "--force", a.id]):
        rc = spawn(base + args)
        if rc != 0:
            raise RuntimeError(f"youki {args[0]} exited {rc}")
    return (time.perf_counter_ns() - t) / 1e9


def tracer(a, cmd, mode, stop_file=None):
    d = os.path.join(a.work, mode)
    if cmd == "start":
        subprocess.run([a.tracer_sh, "start", d, mode, a.youki_trace, a.comm], check=True, stdout=subprocess.DEVNULL)
    else:
        with open(stop_file, "a") as out:
            subprocess.run([a.tracer_sh, "stop", d, mode], check=True, stdout=out)


def summary(times):
    return {
        "median": statistics.median(times),
        "mean": statistics.mean(times),
        "stddev": statistics.stdev(times) if len(times) > 1 else 0.0,
        "min": min(times),
        "max": max(times),
    }


def main():
    p = argparse.ArgumentParser()
    for name in ("youki", "root", "bundle", "id", "tracer-sh", "youki-trace", "comm", "work", "out", "stop-file"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--per-round", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3)
    a = p.parse_args()
    times = {m: [] for m in MODES}
    cpu = {m: [] for m in MODES}
    orders = []
    for r in range(a.rounds):
        order = MODES[r % len(MODES):] + MODES[: r % len(MODES)]
        orders.append(list(order))
        for m in order:
            if m != "plain":
                tracer(a, "start", m)
            try:
                if r == 0:
                    for _ in range(a.warmup):
                        cycle(a)
                c0 = children_cpu()
                for _ in range(a.per_round):
                    times[m].append(cycle(a))
                cpu[m].append((children_cpu() - c0) / a.per_round)
            finally:
                spawn([a.youki, "--root", a.root, "delete", "--force", a.id])
                if m != "plain":
                    tracer(a, "stop", m, a.stop_file)
    results = []
    for m in MODES:
        results.append({"command": f"{m} trace", "parameters": {"mode": m}, "times": times[m],
                        "cpu": statistics.mean(cpu[m]), **summary(times[m])})
    doc = {"results": results, "interleaved": {"rounds": a.rounds, "per_round": a.per_round, "orders": orders}}
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
    for res in results:
        print(f"{res['parameters']['mode']:9s} median {res['median'] * 1000:7.2f} ms  cpu of the youki calls "
              f"{res['cpu'] * 1000:6.2f} ms/cycle  n={len(res['times'])}", file=sys.stderr)


if __name__ == "__main__":
    main()
