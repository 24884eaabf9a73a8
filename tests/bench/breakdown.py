#!/usr/bin/env python3
"""Turns breakdown.sh's traces into where a `create` spends its time, per runtime.

usage: breakdown.py DIR     (writes DIR/breakdown.json, prints markdown)

DIR holds what breakdown.sh recorded:
  RT.ytrace.I    `youki-trace --json -- RT create ...`: NDJSON syscall events (eBPF
                 tracepoints, pid, stage, syscall, args, duration_ns, ts_ns) and a summary
  RT.strace.I    `strace -f -ttt -T -y -s 128 -o ...` of the same create
  spans.ndjson   otlp-sink's spans of youki creates with spans on (otlp-sink SPANS_FILE)
  attach.json    cgroup_attach.py --json: the kernel's attach cost with no runtime
  times.json     create alone, untraced, per runtime and state root (ext4 /run, tmpfs)

Every syscall of a traced create (all its processes) falls into one category:
  cgroup attach   a write to a cgroup.procs or tasks file (a pid moved into a cgroup)
  cgroup other    mkdir and writes of other files under /sys/fs/cgroup, opens there
  fsync+rename    fsync, fdatasync, syncfs, rename* (a state file made durable and put in
                  place: on ext4 a rename over a file waits for the journal too)
  clone+ns        clone, clone3, fork, vfork, unshare, setns
  mounts          mount, umount2, pivot_root and the new mount API calls
  execve          execve, execveat (runc re-executes itself as `runc init`)
  waiting         a process blocked on another: wait4, waitid, poll/epoll/select, futex,
                  sleeps, recvmsg/recvfrom, and reads that took over 1 ms (a pipe or socket:
                  a file read of this size does not block that long)
  other           the rest
Durations are the syscalls' own (enter to exit); "waiting" overlaps the other processes' work
and is shown apart. The wall time is the first event to the last.
"""

import json
import re
import statistics
import sys
from pathlib import Path

CATEGORIES = ["cgroup attach", "cgroup other", "fsync+rename", "clone+ns", "mounts", "execve", "other", "waiting"]
MOUNTS = {"mount", "umount2", "pivot_root", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount",
          "mount_setattr", "fspick"}
CLONES = {"clone", "clone3", "fork", "vfork", "unshare", "setns"}
WAITS = {"wait4", "waitid", "poll", "ppoll", "epoll_wait", "epoll_pwait", "epoll_pwait2", "select",
         "pselect6", "futex", "nanosleep", "clock_nanosleep", "recvmsg", "recvfrom", "recvmmsg", "pause",
         "rt_sigsuspend", "rt_sigtimedwait"}
SYNCS = {"fsync", "fdatasync", "syncfs"}
RENAMES = {"rename", "renameat", "renameat2"}
WRITES = {"write", "pwrite64", "writev"}
OPENS = {"openat", "openat2", "open"}
CGROUP = "/sys/fs/cgroup"
SLOW_READ_NS = 1_000_000


def category(name, path, dur_ns):
    """The category of one syscall; path: the file its fd (or path argument) names, or ''."""
    if name in WRITES and path.startswith(CGROUP):
        return "cgroup attach" if path.endswith(("/cgroup.procs", "/tasks")) else "cgroup other"
    if name in OPENS | {"mkdir", "mkdirat", "rmdir"} and path.startswith(CGROUP):
        return "cgroup other"
    if name in SYNCS | RENAMES:
        return "fsync+rename"
    if name in CLONES:
        return "clone+ns"
    if name in MOUNTS:
        return "mounts"
    if name in ("execve", "execveat"):
        return "execve"
    if name in WAITS or (name in ("read", "readv") and dur_ns > SLOW_READ_NS):
        return "waiting"
    return "other"


def first_path(args):
    m = re.search(r'"(/[^"]*)"', args)
    return m.group(1) if m else ""


def at_path(args, fds, pid):
    """The path an *at call names: absolute, or relative to a directory fd opened before
    (runc opens /sys/fs/cgroup once and the cgroup files below it with openat2)."""
    m = re.match(r'\s*(-?\w+),\s*"([^"]*)"', args)
    if not m:
        return first_path(args)
    dirfd, rel = m.groups()
    if rel.startswith("/"):
        return rel
    base = fds.get((pid, int(dirfd)), "") if dirfd.lstrip("-").isdigit() else ""
    return f"{base.rstrip('/')}/{rel}" if base else ""


def parse_ytrace(path):
    """[(pid, syscall, path, dur_ns, ts_ns)] of a youki-trace --json file; fd paths from opens."""
    fds, out = {}, []
    for line in path.read_text().splitlines():
        if not line.startswith("{"):
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") != "syscall":
            continue
        name, pid, args, ret = ev["syscall"], ev["pid"], ev.get("args") or "", ev.get("ret")
        target = ""
        if name in OPENS | {"mkdir", "mkdirat", "rmdir"}:
            target = at_path(args, fds, pid) if name != "mkdir" else first_path(args)
            if name in OPENS and isinstance(ret, int) and ret >= 0:
                fds[(pid, ret)] = target
        elif name in WRITES | SYNCS | {"read"}:
            fd = args.split(",", 1)[0].strip()
            target = fds.get((pid, int(fd)), "") if fd.isdigit() else ""
        elif name == "close":
            fd = args.split(",", 1)[0].strip()
            if fd.isdigit():
                fds.pop((pid, int(fd)), None)
        out.append((pid, name, target, ev.get("duration_ns") or 0, ev.get("ts_ns") or 0))
    return out


STRACE = re.compile(r"^(?P<pid>\d+)\s+(?P<ts>\d+\.\d+)\s+(?P<rest>.*)$")


def parse_strace(path):
    """The same tuples from `strace -f -ttt -T -y` output (unfinished/resumed pairs joined).
    strace names threads by their tid: a thread made by clone(CLONE_THREAD) is counted as the
    process (thread group) that made it."""
    pending, out, tgid = {}, [], {}
    for line in path.read_text().splitlines():
        m = STRACE.match(line)
        if not m:
            continue
        pid, ts, rest = int(m["pid"]), float(m["ts"]), m["rest"]
        if rest.startswith("<... "):
            name = rest[5:].split()[0]
            head, start = pending.pop(pid, ("", ts))
            rest = f"{name}({head}" + rest.split("resumed>", 1)[-1]
            ts = start
        elif rest.endswith("<unfinished ...>"):
            name = rest.split("(", 1)[0]
            pending[pid] = (rest[len(name) + 1:-len("<unfinished ...>")], ts)
            continue
        mm = re.match(r"^(?P<name>\w+)\((?P<args>.*)\)\s+=\s+(?P<ret>-?\d+)?.*<(?P<dur>\d+\.\d+)>$", rest)
        if not mm:
            continue
        name, args = mm["name"], mm["args"]
        group = tgid.get(pid, pid)
        if name in ("clone", "clone3") and "CLONE_THREAD" in args and mm["ret"]:
            tgid[int(mm["ret"])] = group
        pid = group
        fdpath = re.match(r"^-?\d+<(?P<p>[^>]*)>", args)
        target = fdpath["p"] if fdpath and name not in OPENS else first_path(args)
        if name in ("mkdirat", "openat", "openat2") and not target.startswith("/"):
            target = ""
        out.append((pid, name, target, int(float(mm["dur"]) * 1e9), int(ts * 1e9)))
    return out


def breakdown(calls):
    """Per category: ms; plus wall, syscalls and the cgroup attach writes. Only what happens
    until the traced command (the first pid) exits: the container's init, left waiting for
    `start`, is traced on until the container is deleted."""
    top = calls[0][0]
    cutoff = max(ts + dur for pid, _n, _t, dur, ts in calls if pid == top)
    calls = [c for c in calls if c[4] <= cutoff]
    cats = {c: 0 for c in CATEGORIES}
    attach = []
    for _pid, name, target, dur, _ts in calls:
        c = category(name, target, dur)
        cats[c] += dur
        if c == "cgroup attach":
            attach.append(dur)
    ts = [t for *_, t in calls if t]
    return {
        "wall_ms": (max(ts) - min(ts)) / 1e6 if ts else 0.0,
        "syscalls": len(calls),
        "processes": len({c[0] for c in calls}),
        "ms": {c: v / 1e6 for c, v in cats.items()},
        "attach_writes": len(attach),
        "attach_first_ms": attach[0] / 1e6 if attach else 0.0,
        "attach_max_ms": max(attach) / 1e6 if attach else 0.0,
    }


def median_of(runs):
    """The median of each figure over the runs."""
    if not runs:
        return None
    med = lambda xs: round(statistics.median(xs), 3)  # noqa: E731
    return {
        "runs": len(runs),
        "wall_ms": med([r["wall_ms"] for r in runs]),
        "syscalls": med([r["syscalls"] for r in runs]),
        "processes": med([r["processes"] for r in runs]),
        "ms": {c: med([r["ms"][c] for r in runs]) for c in CATEGORIES},
        "attach_writes": med([r["attach_writes"] for r in runs]),
        "attach_first_ms": med([r["attach_first_ms"] for r in runs]),
        "attach_max_ms": med([r["attach_max_ms"] for r in runs]),
    }


def spans_summary(path):
    """Median ms per span name of youki's create traces, in the order they start."""
    spans = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    roots = {s["trace"]: s for s in spans if s["name"] == "youki create" and not s["parent"]}
    by_name, offset = {}, {}
    for s in spans:
        root = roots.get(s["trace"])
        if not root:
            continue
        by_name.setdefault(s["name"], []).append((s["end"] - s["start"]) / 1e6)
        offset.setdefault(s["name"], []).append((s["start"] - root["start"]) / 1e6)
    order = sorted(by_name, key=lambda n: (n != "youki create", statistics.median(offset[n])))
    return {"creates": len(roots),
            "spans": [{"name": n, "n": len(by_name[n]), "median_ms": round(statistics.median(by_name[n]), 3),
                       "starts_at_ms": round(statistics.median(offset[n]), 3)} for n in order]}


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main():
    d = Path(sys.argv[1])
    out = {"tools": {}}
    for tool, parse in (("ytrace", parse_ytrace), ("strace", parse_strace)):
        per = {}
        for f in sorted(d.glob(f"*.{tool}.*")):
            rt = f.name.split(f".{tool}.")[0]
            calls = parse(f)
            if calls:
                per.setdefault(rt, []).append(breakdown(calls))
        order = sorted(per, key=lambda rt: (rt != "youki", rt.split("-")[0], len(rt), rt))
        out["tools"][tool] = {rt: median_of(per[rt]) for rt in order}
    for name, loader in (("spans", lambda p: spans_summary(p)), ("attach", lambda p: json.loads(p.read_text())),
                         ("times", lambda p: json.loads(p.read_text()))):
        p = d / {"spans": "spans.ndjson", "attach": "attach.json", "times": "times.json"}[name]
        if p.exists() and p.stat().st_size:
            out[name] = loader(p)
    (d / "breakdown.json").write_text(json.dumps(out, indent=1) + "\n")
    report(out)


def report(out):
    times = out.get("times")
    if times:
        print(f"### create alone, untraced (median of {times['runs']} interleaved runs, ms)\n")
        roots = list(times["roots"])
        rows = [[rt] + [f"{times['roots'][r][rt]:.1f}" if rt in times["roots"][r] else "–" for r in roots]
                for rt in times["runtimes"]]
        print(table(["runtime"] + [f"state root on {r}" for r in roots], rows))
        print()
    titles = {"ytrace": "youki-trace (eBPF tracepoints)", "strace": "strace -f -T (ptrace: every syscall"
              " slowed, figures inflated alike)"}
    for tool, per in out["tools"].items():
        if not per:
            continue
        n = max(s["runs"] for s in per.values() if s)
        print(f"### create under {titles[tool]}, median of {n} runs, ms\n")
        header = ["runtime", "wall", "syscalls", "processes"] + CATEGORIES + ["attach writes (first)"]
        rows = []
        for rt, s in per.items():
            rows.append([rt, f"{s['wall_ms']:.1f}", f"{s['syscalls']:g}", f"{s['processes']:g}"]
                        + [f"{s['ms'][c]:.2f}" for c in CATEGORIES]
                        + [f"{s['attach_writes']:g} ({s['attach_first_ms']:.2f})"])
        print(table(header, rows))
        print()
    spans = out.get("spans")
    if spans:
        print(f"### youki's spans of create (median over {spans['creates']} creates, ms)\n")
        print(table(["span", "starts at", "duration"],
                    [[s["name"], f"{s['starts_at_ms']:.2f}", f"{s['median_ms']:.2f}"] for s in spans["spans"]]))
        print()
    attach = out.get("attach")
    if attach:
        print(f"### the kernel's cgroup attach alone (cgroup_attach.py, {attach['samples']} moves, ms)\n")
        rows = [[name, r["fstype"], f"{r['cold']['median']:.3f}", f"{r['warm']['median']:.3f}"]
                for name, r in attach["per_hierarchy"].items() if "cold" in r]
        print(table(["hierarchy", "type", "cold move", "warm move"], rows))
        row = attach.get("all_v1_in_a_row")
        if row:
            print(f"\nall {row['hierarchies']} v1 hierarchies in a row, cold: {row['median']:.3f} ms")


if __name__ == "__main__":
    main()
