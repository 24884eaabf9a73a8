"""The `podstart` case: pod start through containerd's CRI, handlers interleaved.

tests/bench/pod-start.sh runs it inside its private view, with containerd up; it is not
meant to be run by hand. Each round gives every handler, in an order rotated by round,
one call of `cri-e2e bench` with --chunk pods: for each pod RunPodSandbox, CreateContainer
and StartContainer of one busybox sleeper are timed call by call as the kubelet sees them
(the CRI's answer), then the pod is force-removed, untimed. The first round is a warm-up
of --warmup pods per handler, not kept. Rounds go on until every handler has --runs pods.

The file keeps every pod's three call times and their sum in milliseconds, and per
handler the p50, p90, p99 and max of the sum (nearest rank) with the median of each call,
and youki's ratios to each peer at p50 and p99.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from interleave import dump, label_of, loadavg, log, machine_facts_base, run_fields, utc_now, version_of  # noqa: E402
from throughput import percentile  # noqa: E402

TITLE = "pod start through containerd (RunPodSandbox + CreateContainer + StartContainer)"
CALLS = ["sandbox_ms", "create_ms", "start_ms"]


def stats_of(samples):
    """p50/p90/p99/max of the totals and each call's median, from {call: [ms]}."""
    total = sorted(samples["total_ms"])
    out = {"count": len(total)}
    for p in (50, 90, 99):
        out[f"p{p}_ms"] = percentile(total, p)
    out["max_ms"] = total[-1] if total else None
    out["p99_over_p50"] = out["p99_ms"] / out["p50_ms"] if total else None
    for call in CALLS:
        values = sorted(samples[call])
        out[f"{call[:-3]}_p50_ms"] = percentile(values, 50)
    return out


def ratios(stats, mine="youki"):
    """youki's p50 and p99 over each other handler's."""
    out = {}
    for h, s in stats.items():
        if h == mine or not s["count"] or not stats[mine]["count"]:
            continue
        out[h] = {"p50": stats[mine]["p50_ms"] / s["p50_ms"], "p99": stats[mine]["p99_ms"] / s["p99_ms"]}
    return out


def one_call(args, handler, runs, warmup):
    """One `cri-e2e bench` call: its JSON, or SystemExit naming the handler and the error."""
    cmd = [args.cri_e2e, "--socket", args.socket, "--handler", handler, "--work", args.work,
           "--cgroup-top", args.cgroup_top, "bench", "--runs", str(runs), "--warmup", str(warmup)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"podstart: handler {handler}: cri-e2e bench took over {args.timeout:g}s")
    if out.returncode != 0:
        raise SystemExit(f"podstart: handler {handler}: cri-e2e bench failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(args):
    handlers = args.handlers.split(",")
    bins = dict(pair.split("=", 1) for pair in args.bins.split(","))
    raw = {h: {c: [] for c in [*CALLS, "total_ms"]} for h in handlers}
    order_log, load_log = [], []
    started = utc_now()
    load_start = loadavg()
    log(f"podstart: warm-up, {args.warmup} pods per handler")
    for h in handlers:
        one_call(args, h, 0, args.warmup)
    rounds = -(-args.runs // args.chunk)
    for r in range(rounds):
        order = handlers[r % len(handlers):] + handlers[:r % len(handlers)]
        order_log.append(order)
        load_log.append(loadavg()[0])
        for h in order:
            n = min(args.chunk, args.runs - len(raw[h]["total_ms"]))
            got = one_call(args, h, n, 0)
            for c in [*CALLS, "total_ms"]:
                raw[h][c].extend(got[c])
        if (r + 1) % 5 == 0 or r + 1 == rounds:
            log(f"podstart: round {r + 1}/{rounds}")
    stats = {h: stats_of(raw[h]) for h in handlers}
    runtimes = {}
    for h in handlers:
        version = version_of(bins[h])
        runtimes[h] = {"label": label_of(h, version), "path": bins[h], "version": version}
    facts = machine_facts_base(args.repo, args.work)
    return {
        "case": "podstart",
        "title": TITLE,
        "unit": "ms",
        "runs": args.runs,
        "chunk": args.chunk,
        "warmup": args.warmup,
        **run_fields(started, load_start, load_log, args.forced),
        "round_order": order_log,
        "containerd": {"lane": args.lane, "version": args.containerd_version,
                       "shim": "io.containerd.runc.v2", "cni": "bridge + host-local"},
        "raw": raw,
        "stats": stats,
        "youki_ratio": ratios(stats) if "youki" in stats else {},
        "method": ("podstart.py: per round each handler, in a rotated order, starts --chunk pods through "
                   "containerd's CRI with cri-e2e bench (RunPodSandbox, CreateContainer and StartContainer "
                   "of a busybox sleeper, each timed from request to answer; the pod is then force-removed, "
                   "untimed); percentiles are nearest-rank over every pod of every round"),
        **facts,
        "runtimes": runtimes,
        "runtime_order": handlers,
        "load_gate": {"max_1min": args.load_max, "load_at_driver_start": load_start,
                      "forced": args.forced is not None},
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cri-e2e", required=True)
    p.add_argument("--socket", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--cgroup-top", required=True)
    p.add_argument("--handlers", default="youki,runc,crun")
    p.add_argument("--bins", required=True, help="HANDLER=PATH,... (the binaries, for their versions)")
    p.add_argument("--lane", required=True)
    p.add_argument("--containerd-version", required=True)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--chunk", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds one cri-e2e call may take")
    p.add_argument("--out", required=True)
    p.add_argument("--stamp", default=time.strftime("%Y-%m-%dT%H%MZ", time.gmtime()))
    p.add_argument("--repo", default=str(Path(__file__).resolve().parents[2]))
    p.add_argument("--load-max", type=float, default=0.5)
    p.add_argument("--forced", metavar="REASON")
    args = p.parse_args()
    if args.runs < 1 or args.chunk < 1:
        raise SystemExit("podstart: --runs and --chunk must be at least 1")
    result = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.stamp}-podstart.json"
    path.write_text(dump(result))
    print(path)


if __name__ == "__main__":
    main()
