"""The `idle` case: what an idle container holds on the host, per runtime.

interleave.py runs it (`--cases idle`); it is not a script of its own. Every runtime makes
--idle-count containers of the `sleep 3600` bundle, one of each runtime per round in a
rotated order, and all of them stay alive side by side. The host is read twice: after every
container is created (the runtimes' init waits for `start`), and after every one is started
(`sleep` runs), each time once the calls have returned and a settle time has passed.

Processes are read from /proc. A container's own processes are the pid its runtime's `state`
reports and that pid's descendants. Any other process that appeared after the baseline (taken
before the first create) is the runtime's when it names the runtime: its executable is the
runtime's binary (or a memfd copy of it, as runc makes), or its command line holds the state
root or a container id of the case. Other new processes are the machine's (the other builds of
a busy host) and only counted. A runtime that kept a monitor per container (as conmon does for
podman, or a shim for containerd) would show it under `runtime_processes`.

Per container and phase: processes and threads, RSS (VmRSS), PSS and private memory
(/proc/PID/smaps_rollup), open fds and what they are (fd targets with the numbers dropped),
the memory cgroup's usage (cgroup v1 memory.usage_in_bytes of the container's cgroup, which
also holds kernel memory charged to it), and the bytes of the runtime's state directory for
the container. Per runtime: the median, min and max of each over the containers.
"""

import json
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

TITLE = "idle container cost"
SETTLE_SECONDS = 0.5
METRICS = ["processes", "threads", "rss_kb", "pss_kb", "private_kb", "fds", "cgroup_memory_kb",
           "state_bytes", "runtime_processes", "runtime_rss_kb", "runtime_fds"]


def read(path, default=""):
    try:
        return Path(path).read_text()
    except OSError:
        return default


def processes():
    """{pid: {ppid, comm, exe, cmdline}} of every process now."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = read(f"/proc/{pid}/stat")
        if not stat:
            continue
        # comm may hold spaces and parentheses: the fields after the last ')'.
        rest = stat.rsplit(")", 1)[1].split()
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            exe = ""
        out[pid] = {
            "ppid": int(rest[1]),
            "comm": read(f"/proc/{pid}/comm").strip(),
            "exe": exe,
            "cmdline": read(f"/proc/{pid}/cmdline").replace("\0", " ").strip(),
        }
    return out


def descendants(root, procs):
    """root and every process below it."""
    children = {}
    for pid, p in procs.items():
        children.setdefault(p["ppid"], []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            out.append(pid)
            todo.extend(children.get(pid, []))
    return out


def kb_field(text, name):
    m = re.search(rf"^{name}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else 0


def fd_kind(target):
    """`pipe:[123]` -> `pipe`, `/dev/null` stays, `anon_inode:[eventfd]` stays."""
    return re.sub(r":\[\d+\]$", "", target)


def process_cost(pids, normalize=fd_kind):
    """Memory and fds of the processes pids, summed; fds: their kinds (0, 1 and 2, the
    caller's, as `stdio`; the others by normalize(target)), counted."""
    cost = {"threads": 0, "rss_kb": 0, "pss_kb": 0, "private_kb": 0, "fds": 0}
    kinds = {}
    for pid in pids:
        status = read(f"/proc/{pid}/status")
        m = re.search(r"^Threads:\s+(\d+)", status, re.M)
        cost["threads"] += int(m.group(1)) if m else 0
        cost["rss_kb"] += kb_field(status, "VmRSS")
        rollup = read(f"/proc/{pid}/smaps_rollup")
        cost["pss_kb"] += kb_field(rollup, "Pss")
        cost["private_kb"] += kb_field(rollup, "Private_Clean") + kb_field(rollup, "Private_Dirty")
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            fds = []
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            kind = "stdio" if fd in ("0", "1", "2") else normalize(target)
            cost["fds"] += 1
            kinds[kind] = kinds.get(kind, 0) + 1
    return cost, kinds


def cgroup_memory_kb(pid):
    """memory.usage_in_bytes of pid's v1 memory cgroup, in kB (None without one)."""
    for line in read(f"/proc/{pid}/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            usage = read(f"/sys/fs/cgroup/memory{path}/memory.usage_in_bytes").strip()
            return int(usage) // 1024 if usage else None
    return None


def dir_bytes(path):
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


class Idle:
    def __init__(self, bench, runtimes, helpers):
        self.bench, self.runtimes = bench, runtimes
        self.log, self.run_failed, self.loadavg = helpers["log"], helpers["RunFailed"], helpers["loadavg"]
        self.count = bench.args.idle_count
        self.made = {rt: [] for rt in runtimes}
        self.marks = {rt: self.marks_of(rt) for rt in runtimes}

    def ident(self, rt, i):
        return f"{self.bench.prefix}-{rt}-idle{i}"

    def marks_of(self, rt):
        """What names the runtime in a process: its binary, its state root, the case's ids."""
        binary = os.path.realpath(self.bench.bin / rt)
        return {"exe": binary, "name": os.path.basename(binary), "root": str(self.bench.state / rt),
                "ids": f"{self.bench.prefix}-{rt}-idle"}

    def owner(self, p):
        """The runtime a process names, or None."""
        for rt, mark in self.marks.items():
            exe = p["exe"].removesuffix(" (deleted)")
            if exe == mark["exe"] or (exe.startswith(("memfd:", "/memfd:")) and mark["name"] in exe):
                return rt
            if mark["root"] in p["cmdline"] or mark["ids"] in p["cmdline"]:
                return rt
        return None

    def container_pid(self, rt, ident):
        argv = self.bench.rt(rt, "state", ident)
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise self.run_failed(f"state {ident}: exit {out.returncode}: {out.stderr.strip()[-300:]}")
        return int(json.loads(out.stdout)["pid"])

    def measure(self, phase, baseline):
        time.sleep(SETTLE_SECONDS)
        procs = processes()
        own = {}
        per = {rt: [] for rt in self.runtimes}
        for rt in self.runtimes:
            for ident in self.made[rt]:
                try:
                    pid = self.container_pid(rt, ident)
                except self.run_failed as e:
                    per[rt].append({"id": ident, "error": str(e)})
                    continue
                tree = descendants(pid, procs)
                for p in tree:
                    own[p] = rt
                root = str(self.bench.state / rt)
                cost, kinds = process_cost(tree, lambda t: fd_kind(t).replace(root, "ROOT").replace(ident, "ID"))
                per[rt].append({"id": ident, "pid": pid, "processes": len(tree),
                                "comms": sorted({procs[p]["comm"] for p in tree}), **cost, "fd_kinds": kinds,
                                "cgroup_memory_kb": cgroup_memory_kb(pid),
                                "state_bytes": dir_bytes(self.bench.state / rt / ident)})
        held = {rt: [] for rt in self.runtimes}
        machine = []
        for pid, p in procs.items():
            if pid in baseline or pid in own or pid == os.getpid():
                continue
            rt = self.owner(p)
            if rt is None:
                machine.append(p["comm"])
                continue
            cost, kinds = process_cost([pid])
            held[rt].append({"pid": pid, "ppid": p["ppid"], "comm": p["comm"], "exe": p["exe"],
                             "cmdline": p["cmdline"][:200], **cost, "fd_kinds": kinds})
        for rt in self.runtimes:
            n = max(1, len(per[rt]))
            for c in per[rt]:
                c["runtime_processes"] = len(held[rt]) / n
                c["runtime_rss_kb"] = sum(h["rss_kb"] for h in held[rt]) / n
                c["runtime_fds"] = sum(h["fds"] for h in held[rt]) / n
        self.log(f"  {phase}: " + ", ".join(
            f"{rt} {len(held[rt])} runtime processes" for rt in self.runtimes)
            + f"; {len(machine)} new processes of the machine")
        return {"containers": per, "runtime_held": held, "machine_new_processes": sorted(machine)}

    def each_round(self, step):
        for i in range(self.count):
            k = i % len(self.runtimes)
            for rt in self.runtimes[k:] + self.runtimes[:k]:
                step(rt, i)

    def run(self):
        bundle = str(self.bench.bundles / "sleeper")
        failures = {rt: [] for rt in self.runtimes}
        baseline = set(processes())
        self.loads = [self.loadavg()[0]]

        def create(rt, i):
            ident = self.ident(rt, i)
            self.bench.quiet(rt, "delete", "--force", ident)
            try:
                self.bench.must(rt, f"create {ident}", "create", "--bundle", bundle, ident)
                self.made[rt].append(ident)
            except self.run_failed as e:
                failures[rt].append(str(e))

        def start(rt, i):
            ident = self.ident(rt, i)
            if ident in self.made[rt]:
                try:
                    self.bench.must(rt, f"start {ident}", "start", ident)
                except self.run_failed as e:
                    failures[rt].append(str(e))

        try:
            self.each_round(create)
            created = self.measure("created", baseline)
            self.loads.append(self.loadavg()[0])
            self.each_round(start)
            running = self.measure("running", baseline)
            self.loads.append(self.loadavg()[0])
        finally:
            for rt in self.runtimes:
                for i in range(self.count):
                    self.bench.quiet(rt, "delete", "--force", self.ident(rt, i))
        phases = {"created": created, "running": running}
        stats = {rt: {ph: summarize(phases[ph]["containers"][rt]) for ph in phases} for rt in self.runtimes}
        return phases, stats, {rt: f for rt, f in failures.items() if f}, self.loads


def summarize(containers):
    ok = [c for c in containers if "error" not in c]
    out = {"n": len(ok)}
    for m in METRICS:
        values = [c[m] for c in ok if c.get(m) is not None]
        if values:
            out[m] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    if ok:
        out["comms"] = sorted({x for c in ok for x in c["comms"]})
        out["fd_kinds_first"] = ok[0]["fd_kinds"]
    return out


def run(bench, runtimes, facts, helpers):
    """The case's result (a dict for the JSON file)."""
    loadavg, utc_now = helpers["loadavg"], helpers["utc_now"]
    args = bench.args
    helpers["log"](f"case idle: {args.idle_count} sleep containers per runtime, alive side by side,"
                   f" over {', '.join(runtimes)}")
    started, load_start = utc_now(), loadavg()
    phases, stats, failures, loads = Idle(bench, runtimes, helpers).run()
    return {
        "case": "idle",
        "title": TITLE,
        "unit": "per container",
        "runs": args.idle_count,
        "warmup": 0,
        **helpers["run_fields"](started, load_start, loads, args.forced),
        "raw": phases,
        "failures": failures,
        "stats": stats,
        "method": ("idle.py: N `sleep 3600` containers per runtime alive side by side; /proc read after "
                   "all are created and after all are started (0.5 s settle); a container's processes "
                   "are its state pid and descendants; a runtime's are other new processes whose exe is "
                   "its binary (or a memfd copy) or whose command line names its state root or the "
                   "case's ids; RSS from status, PSS and private from smaps_rollup; cgroup v1 "
                   "memory.usage_in_bytes"),
        **facts,
    }
