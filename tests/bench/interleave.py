#!/usr/bin/env python3
"""Times the runtimes round by round, interleaved, and writes one JSON file per case.

usage: interleave.py --bin DIR --state DIR --bundles DIR --out DIR --runtimes youki,runc,...
                     [--cases lifecycle,...] [--runs N] [--warmup N] [--rss-samples N]
                     [--list-size N] [--stamp STAMP] [--forced REASON] [--repo DIR]

Meant to run inside hostview.sh (bench.sh starts it there), so that every runtime call sees
the same host and the view's own cost is never timed. DIR/bin/NAME is each runtime, its
--root is STATE/NAME. BUNDLES holds the bundles bench.sh made: bundle (busybox /bin/true),
limited (the same with cgroup limits), sleeper (sleep 3600) and seccomp (the Docker-like
profile).

Why not hyperfine: it runs all runs of one command as a block, so a load that drifts during
the case falls on one runtime more than another. hyperfine cannot interleave its commands,
and one hyperfine process per run would put its own start-up (and its shell-spawn
calibration) into every run. So the driver times each run itself: perf_counter_ns around
posix_spawn + waitpid of the runtime binary (no shell), untimed set-up before it and untimed
clean-up after it. Round r runs the runtimes in the order of the list rotated by r
(A B C, B C A, C A B, ...), so each runtime takes each place equally often.

What a run includes: the runtime's own time plus the driver's fork (vfork) + exec + wait per
call. That cost is measured the same way on a static busybox `true` (spawn_baseline in every
file) and is NOT subtracted; a case with three calls per run (create, start, delete) pays it
three times.

Each file: machine facts, the runtimes' versions, the youki commit, the load average at the
start and end of the case and at each round, the raw value of every run (ns, or kB for rss)
in round order with each round's order, and per runtime median, p25, p75, MAD, min, max,
mean and the ratio of its median to youki's.
"""

import argparse
import datetime
import importlib
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

# name: (title, unit of the statistics, calls per run)
CASES = {
    "lifecycle": ("create+start+delete", "ms", 3),
    "limits": ("create+start+delete, with cgroup limits", "ms", 3),
    "run": ("run", "ms", 1),
    "exec": ("exec /bin/true into a running container", "ms", 1),
    "seccomp": ("create+start+delete, Docker-like seccomp", "ms", 3),
    "rss": ("peak RSS of create", "MiB", 1),
    "state": ("state, with N containers", "ms", 1),
    "list": ("list, with N containers", "ms", 1),
}
# Cases with a driver of their own (not rounds of one timed run per runtime): module names.
SCALE_CASES = {"throughput": "throughput", "idle": "idle"}
MAX_FAILURES = 3  # failed runs after which a runtime leaves the case
# A run that outlives --timeout seconds (a set-up: that times 1 + list size) is killed and
# counted as failed; the alarm is armed before the timed part starts.


class RunFailed(Exception):
    pass


class Spawner:
    """posix_spawn + waitpid with stdin and stdout on /dev/null, stderr to a file per runtime."""

    def __init__(self, work):
        self.work = Path(work)
        self.devnull = os.open("/dev/null", os.O_RDWR)
        self.err = {}
        self.live = set()  # pids being waited for (the throughput case calls from threads)
        self.lock = threading.Lock()

    def err_fd(self, rt):
        with self.lock:
            if rt not in self.err:
                self.err[rt] = os.open(self.work / f"stderr-{rt}", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            return self.err[rt]

    def kill_all(self):
        """SIGKILL to every call being waited for."""
        with self.lock:
            for pid in self.live:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def reset(self, rt):
        fd = self.err_fd(rt)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)

    def stderr_tail(self, rt):
        fd = self.err_fd(rt)
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 1 << 16).decode(errors="replace").strip().splitlines()
        return "\n".join(data[-3:])

    def call(self, rt, argv, err=None):
        """Exit code of argv (a path, no shell); stderr to the file of `err` (default: rt)."""
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, self.devnull, 0),
            (os.POSIX_SPAWN_DUP2, self.devnull, 1),
            (os.POSIX_SPAWN_DUP2, self.err_fd(err or rt), 2),
        ])
        with self.lock:
            self.live.add(pid)
        try:
            _, status = os.waitpid(pid, 0)
        except Deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise RunFailed(f"{os.path.basename(argv[0])} {' '.join(argv[3:4])}: killed at the deadline")
        finally:
            with self.lock:
                self.live.discard(pid)
        return os.waitstatus_to_exitcode(status)


class Deadline(Exception):
    """SIGALRM: a run (or a set-up) took longer than its deadline."""


def on_alarm(_signum, _frame):
    raise Deadline()


class deadline:
    """Arms SIGALRM for SECONDS around a block, outside the timed part of a run."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)


class Bench:
    def __init__(self, args):
        self.args = args
        self.bin = Path(args.bin)
        self.state = Path(args.state)
        self.bundles = Path(args.bundles)
        self.spawn = Spawner(args.work)
        self.prefix = f"yi{os.getpid()}"
        self.cases = args.cases.split(",")
        self.populated = set()  # runtimes whose state/list containers exist

    def rt(self, rt, *args):
        return [str(self.bin / rt), "--root", str(self.state / rt), *args]

    def must(self, rt, step, *args):
        code = self.spawn.call(rt, self.rt(rt, *args))
        if code != 0:
            raise RunFailed(f"{step}: exit {code}: {self.spawn.stderr_tail(rt)}")

    def quiet(self, rt, *args):
        self.spawn.call(rt, self.rt(rt, *args))

    def timed(self, rt, steps, stderr=None):
        """ns for the steps (each (name, args...)) run one after the other; stderr: the key of
        the file the runtime's stderr goes to (default: rt), one per thread when threaded."""
        argvs = [(s[0], self.rt(rt, *s[1:])) for s in steps]
        call = self.spawn.call
        err = stderr or rt
        if stderr:
            self.spawn.reset(err)
        t0 = time.perf_counter_ns()
        for step, argv in argvs:
            code = call(rt, argv, err)
            if code != 0:
                raise RunFailed(f"{step}: exit {code}: {self.spawn.stderr_tail(err)}")
        return time.perf_counter_ns() - t0

    # Each case: setup(rt) once, then per run prepare(rt) (untimed), measure(rt) -> raw value,
    # after(rt) (untimed); teardown(rt) once. The ids carry the runtime and the case: with no
    # cgroupsPath in the spec each runtime names the cgroup after the id, and the runtimes'
    # containers are alive side by side here (runc 1.3 refuses a cgroup that is not empty).
    def case_funcs(self, case):
        b = self.bundles
        ident = lambda rt, what=case: f"{self.prefix}-{rt}-{what}"  # noqa: E731
        nothing = lambda rt: None  # noqa: E731
        drop = lambda rt: self.quiet(rt, "delete", "--force", ident(rt))  # noqa: E731

        def cycle(bundle):
            return lambda rt: self.timed(rt, [
                ("create", "create", "--bundle", str(bundle), ident(rt)),
                ("start", "start", ident(rt)),
                ("delete", "delete", "--force", ident(rt)),
            ])

        if case in ("lifecycle", "limits", "seccomp"):
            bundle = {"lifecycle": b / "bundle", "limits": b / "limited", "seccomp": b / "seccomp"}[case]
            return nothing, drop, cycle(bundle), nothing, drop
        if case == "run":
            return nothing, drop, lambda rt: self.timed(rt, [("run", "run", "--bundle", str(b / "bundle"), ident(rt))]), nothing, drop
        if case == "exec":
            def setup(rt):
                drop(rt)
                self.must(rt, "setup create", "create", "--bundle", str(b / "sleeper"), ident(rt))
                self.must(rt, "setup start", "start", ident(rt))
            return setup, nothing, lambda rt: self.timed(rt, [("exec", "exec", ident(rt), "/bin/true")]), nothing, drop
        if case == "rss":
            out = Path(self.args.work) / "time.txt"

            def measure(rt):
                argv = ["/usr/bin/time", "-v", "-o", str(out)] + self.rt(rt, "create", "--bundle", str(b / "bundle"), ident(rt))
                code = self.spawn.call(rt, argv)
                if code != 0:
                    raise RunFailed(f"create: exit {code}: {self.spawn.stderr_tail(rt)}")
                for line in out.read_text().splitlines():
                    if "Maximum resident set size (kbytes):" in line:
                        return int(line.split(":")[1])
                raise RunFailed("create: no maximum resident set size in /usr/bin/time's output")
            return nothing, drop, measure, drop, drop
        if case in ("state", "list"):
            ids = lambda rt: [ident(rt, f"pop{i}") for i in range(1, self.args.list_size + 1)]  # noqa: E731

            # state and list share the containers: made once, removed after the later of the two.
            later = [c for c in self.cases if c in ("state", "list")][-1]

            def setup(rt):
                if rt in self.populated:
                    return
                for i in ids(rt):
                    self.quiet(rt, "delete", "--force", i)
                    self.must(rt, f"setup create {i}", "create", "--bundle", str(b / "bundle"), i)
                self.populated.add(rt)

            def teardown(rt):
                if case != later:
                    return
                for i in ids(rt):
                    self.quiet(rt, "delete", "--force", i)
                self.populated.discard(rt)
            if case == "state":
                measure = lambda rt: self.timed(rt, [("state", "state", ident(rt, "pop1"))])  # noqa: E731
            else:
                measure = lambda rt: self.timed(rt, [("list", "list")])  # noqa: E731
            return setup, nothing, measure, nothing, teardown
        raise SystemExit(f"interleave.py: unknown case {case!r}")

    def run_case(self, case, runtimes, facts):
        setup, prepare, measure, after, teardown = self.case_funcs(case)
        title, unit, calls = CASES[case]
        runs = self.args.rss_samples if case == "rss" else self.args.runs
        warmup = 0 if case == "rss" else self.args.warmup
        log(f"case {case}: {warmup} warmup + {runs} rounds over {', '.join(runtimes)}")
        started = utc_now()
        load_start = loadavg()
        active = []
        failures = {rt: [] for rt in runtimes}
        for rt in runtimes:
            self.spawn.reset(rt)
            try:
                with deadline(self.args.timeout * (1 + self.args.list_size)):
                    setup(rt)
                active.append(rt)
            except (RunFailed, Deadline) as e:
                failures[rt].append({"round": None, "error": f"setup: {e}"})
                log(f"  {rt}: setup failed, left out: {e}")
        raw = {rt: [] for rt in runtimes}
        orders, round_load = [], []
        try:
            for r in range(-warmup, runs):
                k = r % len(runtimes)
                order = runtimes[k:] + runtimes[:k]
                if r >= 0:
                    orders.append(order)
                    round_load.append(loadavg()[0])
                for rt in order:
                    if rt not in active:
                        if r >= 0:
                            raw[rt].append(None)
                        continue
                    prepare(rt)
                    self.spawn.reset(rt)
                    try:
                        with deadline(self.args.timeout):
                            value = measure(rt)
                    except (RunFailed, Deadline) as e:
                        value = None
                        failures[rt].append({"round": r, "error": str(e)})
                        if len(failures[rt]) >= MAX_FAILURES:
                            active.remove(rt)
                            log(f"  {rt}: {MAX_FAILURES} failures, left out: {e}")
                    after(rt)
                    if r >= 0:
                        raw[rt].append(value)
        finally:
            for rt in runtimes:
                teardown(rt)
        load_end = loadavg()
        scale = 1024.0 if unit == "MiB" else 1e6  # kB -> MiB, ns -> ms
        stats = {}
        for rt in runtimes:
            values = [v / scale for v in raw[rt] if v is not None]
            stats[rt] = summary(values) if values else None
        base = (stats.get("youki") or {}).get("median")
        for rt, s in stats.items():
            if s and base:
                s["runtime_over_youki"] = round(s["median"] / base, 4)
                s["youki_over_runtime"] = round(base / s["median"], 4)
        return {
            "case": case,
            "title": title.replace("N containers", f"{self.args.list_size} containers"),
            "unit": unit,
            "raw_unit": "kB" if unit == "MiB" else "ns",
            "calls_per_run": calls,
            "runs": runs,
            "warmup": warmup,
            "list_size": self.args.list_size if case in ("state", "list") else None,
            "started": started,
            "finished": utc_now(),
            "forced": self.args.forced is not None,
            "forced_reason": self.args.forced,
            "load_start": load_start,
            "load_end": load_end,
            "round_load_1min": round_load,
            "round_order": orders,
            "raw": raw,
            "failures": {rt: f for rt, f in failures.items() if f},
            "stats": stats,
            "method": METHOD,
            **facts,
        }

    def spawn_baseline(self, n):
        """ns of posix_spawn + waitpid of a static `busybox true`, as a run pays per call."""
        argv = [str(self.bundles / "bundle/rootfs/bin/busybox"), "true"]
        self.spawn.reset("baseline")
        out = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            self.spawn.call("baseline", argv)
            out.append(time.perf_counter_ns() - t0)
        return out


METHOD = ("interleave.py: rounds rotate the runtime order (A B C, B C A, ...); each run timed with "
          "perf_counter_ns around posix_spawn+waitpid of the runtime (no shell), set-up and clean-up "
          "untimed; the driver's spawn cost (spawn_baseline) is included in every call, not subtracted; "
          "rss: /usr/bin/time -v's maximum resident set size of `create`")


def summary(values):
    values = sorted(values)
    med = statistics.median(values)
    if len(values) >= 2:
        p25, _, p75 = statistics.quantiles(values, n=4, method="inclusive")
    else:
        p25 = p75 = values[0]
    out = {
        "median": med,
        "p25": p25,
        "p75": p75,
        "mad": statistics.median([abs(v - med) for v in values]),
        "min": values[0],
        "max": values[-1],
        "mean": statistics.fmean(values),
    }
    return {"n": len(values), **{k: round(v, 4) for k, v in out.items()}}


def dump(obj):
    """JSON with one key per line, but each list of numbers (or of names) on one line."""
    text = json.dumps(obj, indent=1)
    short = re.sub(r"\[\s*((?:[-\w.\"]+,\s*)*[-\w.\"]+)\s*\]",
                   lambda m: "[" + re.sub(r",\s*", ", ", m.group(1)) + "]", text)
    return (short if json.loads(short) == obj else text) + "\n"


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def loadavg():
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def run_fields(started, load_start, round_loads, forced):
    """What every result file says of its run: when, the load, and whether it was forced."""
    return {
        "started": started,
        "finished": utc_now(),
        "forced": forced is not None,
        "forced_reason": forced,
        "load_start": load_start,
        "load_end": loadavg(),
        "round_load_1min": round_loads,
    }


def cgroup_mounts(mountinfo):
    """The cgroup mounts of a mountinfo file: [{path, fstype, options}]."""
    out = []
    for line in Path(mountinfo).read_text().splitlines():
        left, right = line.split(" - ", 1)
        fstype, _source, options = (right.split() + ["", ""])[:3]
        if fstype in ("cgroup", "cgroup2"):
            out.append({"path": left.split()[4], "fstype": fstype, "options": options})
    return out


def layout(mounts):
    kinds = {m["fstype"] for m in mounts}
    if kinds == {"cgroup", "cgroup2"}:
        return "hybrid"
    return {"cgroup": "v1", "cgroup2": "v2"}.get(next(iter(kinds), ""), "none")


def state_fs(path):
    """The file system type of the runtimes' roots (`ext4`, `tmpfs`)."""
    try:
        out = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", path], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except OSError as e:
        return f"unknown: {e}"


def version_of(path):
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
        return (out.stdout + out.stderr).strip()
    except OSError as e:
        return f"unknown: {e}"


def label_of(name, version):
    """`runc 1.1.5`, `crun 1.28`, `youki`: the family and the version number of its first line."""
    family = name.split("-")[0]
    if family == "youki":
        return "youki"
    words = version.splitlines()[0].split() if version else []
    number = words[-1].split("+")[0] if words else "?"
    return f"{family} {number}"


def git(repo, *args):
    try:
        return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return ""


def machine_facts_base(repo, state_root):
    """The machine, the bench view's cgroups and the repo's commit: what every case records."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    host_cg = cgroup_mounts("/proc/1/mountinfo")
    view_cg = cgroup_mounts("/proc/self/mountinfo")
    commit = git(repo, "rev-parse", "HEAD")
    dirty = bool(git(repo, "status", "--porcelain", "--untracked-files=no"))
    return {
        "machine": {
            "kernel": platform.release(),
            "kernel_version": platform.version(),
            "cpu_model": cpu,
            "cores_online": os.cpu_count(),
            "cores_usable": len(os.sched_getaffinity(0)),
            "memory_mib": mem_kb // 1024,
            "cgroup_layout_host": layout(host_cg),
            "cgroup_mounts_host": host_cg,
            "cgroup_layout_bench_view": layout(view_cg),
            "cgroup_mounts_bench_view": view_cg,
            "python": platform.python_version(),
            "state_root_fs": state_fs(state_root),
        },
        "youki_commit": {"repo_head": commit, "repo_dirty": dirty},
    }


def machine_facts(args, runtimes, bench):
    rts = {}
    for rt in runtimes:
        path = bench.bin / rt
        version = version_of(str(path))
        rts[rt] = {"label": label_of(rt, version), "path": os.path.realpath(path), "version": version}
    baseline = [v / 1e6 for v in bench.spawn_baseline(200)]
    return {
        **machine_facts_base(args.repo, args.state),
        "runtimes": rts,
        "runtime_order": runtimes,
        "load_gate": {"max_1min": args.load_max, "load_at_driver_start": loadavg(),
                      "forced": args.forced is not None},
        "spawn_baseline_ms": summary(baseline),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--bundles", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--runtimes", required=True)
    p.add_argument("--repo", default=str(Path(__file__).resolve().parents[2]))
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rss-samples", type=int, default=10)
    p.add_argument("--list-size", type=int, default=100)
    p.add_argument("--stamp", default=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%MZ"))
    p.add_argument("--timeout", type=float, default=60.0, help="seconds a run may take before it is killed")
    p.add_argument("--load-max", type=float, default=0.5, help="the gate bench.sh applied")
    p.add_argument("--forced", metavar="REASON", help="the load gate was overridden, and why")
    p.add_argument("--tp-n", default="1,4,16,64", help="throughput: the numbers of concurrent loops")
    p.add_argument("--tp-seconds", type=float, default=10.0, help="throughput: seconds per trial")
    p.add_argument("--tp-count", type=int, default=0, help="throughput: cycles per worker instead of seconds")
    p.add_argument("--tp-rounds", type=int, default=3, help="throughput: rounds")
    p.add_argument("--idle-count", type=int, default=10, help="idle: containers per runtime")
    args = p.parse_args()
    runtimes = args.runtimes.split(",")
    cases = args.cases.split(",")
    for c in cases:
        if c not in CASES and c not in SCALE_CASES:
            raise SystemExit(f"interleave.py: unknown case {c!r} (known: {', '.join([*CASES, *SCALE_CASES])})")
    signal.signal(signal.SIGALRM, on_alarm)
    bench = Bench(args)
    facts = machine_facts(args, runtimes, bench)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    helpers = {"log": log, "loadavg": loadavg, "utc_now": utc_now, "RunFailed": RunFailed, "run_fields": run_fields}
    for case in cases:
        if case in SCALE_CASES:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            module = importlib.import_module(SCALE_CASES[case])
            result = module.run(bench, runtimes, facts, helpers)
        else:
            result = bench.run_case(case, runtimes, facts)
        path = out / f"{args.stamp}-{case}.json"
        path.write_text(dump(result))
        print(path)
        log(f"  wrote {path}")


if __name__ == "__main__":
    main()
