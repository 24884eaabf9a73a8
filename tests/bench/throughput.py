"""The `throughput` case: N concurrent create+start+delete loops per runtime, interleaved.

interleave.py runs it (`--cases throughput`); it is not a script of its own. For each round
and each N of --tp-n (1,4,16,64), every runtime in turn (the order rotated by round and by
N, as in the other cases) gets a trial: N worker threads, each with a container id of its
own, first make one untimed create+start+delete each, then wait at a barrier, and from its
release loop create + start + delete --force of the busybox `/bin/true` bundle until
--tp-seconds have passed (a cycle begun before the end runs to its end), or, with
--tp-count, for that many cycles per worker.

A trial gives:
- throughput: completed cycles / the wall time from the barrier's release until the last
  worker is done (containers per second);
- latency: every completed cycle's create+start+delete time, each call timed like the
  other cases (posix_spawn + waitpid of the runtime binary, no shell).

A worker's failed cycle is not counted; it deletes its container (untimed) and goes on, and
the trial records the error. Python threads are enough for the driver: a worker spends its
time in waitpid, which releases the GIL. The driver's share of the 2 cores is part of every
runtime's figure alike; `spawn_baseline_ms` in the file says what one call of it costs.

The file keeps each trial's raw latencies in microseconds, its cycle count, wall time and
failures, and per runtime and N: the median throughput over the rounds and the p50, p90, p99
and max latency over all the rounds' cycles, with youki's ratios.
"""

import math
import statistics
import threading
import time

TITLE = "throughput of N concurrent create+start+delete loops"
MAX_ERRORS_KEPT = 5  # per trial: the first errors, with their count


def percentile(sorted_values, p):
    """The nearest-rank percentile (p in 0..100) of a sorted list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


class Trial:
    """One runtime at one N: the workers' threads and what they measured."""

    def __init__(self, bench, rt, n, seconds, count, bundle):
        self.bench, self.rt, self.n = bench, rt, n
        self.seconds, self.count, self.bundle = seconds, count, str(bundle)
        self.latencies = [[] for _ in range(n)]
        self.errors = []
        self.failed = 0
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(n + 1)
        self.end = None
        self.done_ns = [0] * n

    def ident(self, w):
        return f"{self.bench.prefix}-{self.rt}-tp{w}"

    def cycle(self, w):
        """ns of one create+start+delete, or raises RunFailed."""
        ident = self.ident(w)
        return self.bench.timed(self.rt, [
            ("create", "create", "--bundle", self.bundle, ident),
            ("start", "start", ident),
            ("delete", "delete", "--force", ident),
        ], stderr=f"{self.rt}-tp{w}")

    def fail(self, w, err):
        with self.lock:
            self.failed += 1
            if len(self.errors) < MAX_ERRORS_KEPT:
                self.errors.append(str(err))
        self.bench.quiet(self.rt, "delete", "--force", self.ident(w))

    def worker(self, w, run_failed):
        self.bench.quiet(self.rt, "delete", "--force", self.ident(w))
        try:
            self.cycle(w)  # warm-up, untimed
        except run_failed as e:
            self.fail(w, f"warm-up: {e}")
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            return  # the driver gave up on the warm-up
        done = 0
        while True:
            if self.count is not None:
                if done >= self.count:
                    break
            elif time.perf_counter_ns() >= self.end:
                break
            try:
                self.latencies[w].append(self.cycle(w))
            except run_failed as e:
                self.fail(w, e)
            done += 1
        self.done_ns[w] = time.perf_counter_ns()

    def run(self, run_failed, timeout):
        threads = [threading.Thread(target=self.worker, args=(w, run_failed), daemon=True) for w in range(self.n)]
        for t in threads:
            t.start()
        # A far end until the barrier opens; the real one is set as it opens. A worker that
        # reads the far one runs a cycle more, and its wall time counts.
        self.end = time.perf_counter_ns() + 10**18
        try:
            self.barrier.wait(timeout=2 * timeout)
        except threading.BrokenBarrierError:
            self.bench.spawn.kill_all()
            for t in threads:
                t.join()
            return {"n": self.n, "cycles": 0, "failed": self.failed + 1, "wall_ns": 0, "per_second": 0.0,
                    "errors": self.errors + [f"warm-up did not end within {2 * timeout:g} s"], "latency_us": []}
        t0 = time.perf_counter_ns()
        self.end = t0 + int(self.seconds * 1e9)
        limit = (self.count or 1) * timeout + (0 if self.count else self.seconds)
        for t in threads:
            t.join(max(0.0, t0 / 1e9 + limit - time.perf_counter_ns() / 1e9))
        if any(t.is_alive() for t in threads):
            # A call that hangs: killed, so that its cycle fails and the worker ends.
            with self.lock:
                self.errors.append(f"killed the calls still running {limit:g} s after the start")
            self.bench.spawn.kill_all()
            for t in threads:
                t.join()
        wall = max(self.done_ns) - t0
        lat = [v for per in self.latencies for v in per]
        return {
            "n": self.n,
            "cycles": len(lat),
            "failed": self.failed,
            "wall_ns": wall,
            "per_second": round(len(lat) / (wall / 1e9), 3) if wall > 0 else 0.0,
            "errors": self.errors,
            "latency_us": [round(v / 1000) for v in lat],
        }


def stats_for(trials):
    """Per runtime and N, over the rounds' trials."""
    rates = [t["per_second"] for t in trials]
    lat = sorted(v / 1000.0 for t in trials for v in t["latency_us"])  # ms
    out = {
        "rounds": len(trials),
        "cycles": sum(t["cycles"] for t in trials),
        "failed": sum(t["failed"] for t in trials),
        "per_second_median": round(statistics.median(rates), 3) if rates else None,
        "per_second_min": round(min(rates), 3) if rates else None,
        "per_second_max": round(max(rates), 3) if rates else None,
    }
    for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100)):
        v = percentile(lat, p)
        out[f"latency_{name}_ms"] = round(v, 3) if v is not None else None
    if lat:
        out["p99_over_p50"] = round(out["latency_p99_ms"] / out["latency_p50_ms"], 3)
    return out


def run(bench, runtimes, facts, helpers):
    """The case's result (a dict for the JSON file). helpers: interleave.py's log, loadavg,
    utc_now and RunFailed (passed in: this module is imported by a script run as __main__)."""
    log, loadavg, utc_now, run_failed = (helpers[k] for k in ("log", "loadavg", "utc_now", "RunFailed"))
    args = bench.args
    ns = [int(x) for x in args.tp_n.split(",")]
    count = args.tp_count if args.tp_count else None
    bundle = bench.bundles / "bundle"
    log(f"case throughput: N = {', '.join(map(str, ns))}, {args.tp_rounds} rounds of "
              f"{f'{count} cycles per worker' if count else f'{args.tp_seconds:g} s'} per runtime and N, "
              f"over {', '.join(runtimes)}")
    started, load_start = utc_now(), loadavg()
    raw = {rt: {str(n): [] for n in ns} for rt in runtimes}
    orders, round_load = [], []
    for r in range(args.tp_rounds):
        for i, n in enumerate(ns):
            k = (r + i) % len(runtimes)
            order = runtimes[k:] + runtimes[:k]
            orders.append({"round": r, "n": n, "order": order})
            round_load.append(loadavg()[0])
            for rt in order:
                trial = Trial(bench, rt, n, args.tp_seconds, count, bundle).run(run_failed, args.timeout)
                trial["round"] = r
                trial["load_1min"] = loadavg()[0]
                raw[rt][str(n)].append(trial)
                failed = f", {trial['failed']} failed" if trial["failed"] else ""
                log(f"  round {r} N={n} {rt}: {trial['per_second']:.1f}/s, {trial['cycles']} cycles{failed}")
    stats = {rt: {str(n): stats_for(raw[rt][str(n)]) for n in ns} for rt in runtimes}
    for rt in runtimes:
        for n in ns:
            s, base = stats[rt][str(n)], stats.get("youki", {}).get(str(n), {})
            if s["per_second_median"] and base.get("per_second_median"):
                s["youki_over_runtime"] = round(base["per_second_median"] / s["per_second_median"], 4)
    return {
        "case": "throughput",
        "title": TITLE,
        "unit": "containers/s",
        "raw_unit": "us",
        "n_values": ns,
        "seconds": None if count else args.tp_seconds,
        "count_per_worker": count,
        "runs": args.tp_rounds,
        "warmup": 1,
        **helpers["run_fields"](started, load_start, round_load, args.forced),
        "round_order": orders,
        "raw": raw,
        "stats": stats,
        "method": ("throughput.py: per round and N, each runtime in a rotated order runs N threads, each "
                   "looping create+start+delete --force of the /bin/true bundle with its own id (one "
                   "untimed warm-up cycle each) for the given seconds from a common barrier; "
                   "containers/s = completed cycles / wall time until the last worker is done; latency = "
                   "one cycle, each call timed as posix_spawn+waitpid of the runtime (no shell)"),
        **facts,
    }
