"""Turns bench.sh's results directory into markdown: the youki-only rows.

usage: summarize.py RESULTS_DIR

The runtimes side by side are table.py's, from interleave.py's files. This reads, for the
youki-only rows: trace.json (trace_rounds.py, interleaved) and spans.json (hyperfine
--export-json, told apart by "mode"), trace-attach.txt (per sample: wall ms until youki-trace
follows, and its own load+attach figure), trace-stop.txt (the closing counts lines of
youki-trace after the traced runs and of its flight recorder after the recorded runs),
spans-sink.txt (otlp-sink's counts), the wasm rows (wasm-*.json, told
apart by "case", wasm-rss-CASE.txt) and env.txt.
"""

import json
import re
import statistics
import sys
from pathlib import Path

# Targets the issues set, checked in the youki-only sections.
TRACE_OVERHEAD_MAX = 30.0  # percent, issue 6
TRACE_ATTACH_MAX = 150.0  # ms, issue 6
RECORD_OVERHEAD_MAX = 3.0  # percent, the idle flight recorder, issue 18
TRACE_MODES = ("plain", "traced", "recorded")

# youki-trace's closing line: "youki-trace: load+attach X ms, N events, D dropped".
TRACED_LINE = re.compile(r"youki-trace: load\+attach .*?(\d+) events, (\d+) dropped")
# The recorder's: "youki-trace record: stopped: W reports written; creates: F failed,
# S succeeded, G given up (too many at once), R still running; O other commands; lost:
# E events (ring full), Y syscall enters, U processes not followed".
RECORDED_LINE = re.compile(
    r"youki-trace record: stopped: (?P<written>\d+) reports written; creates: (?P<failed>\d+) failed,"
    r" (?P<succeeded>\d+) succeeded, (?P<given_up>\d+) given up.*?, (?P<running>\d+) still running;"
    r" (?P<other>\d+) other commands; lost: (?P<ring>\d+) events.*?, (?P<enters>\d+) syscall enters,"
    r" (?P<untraced>\d+) processes not followed")
SPANS_ON_MAX = 2.0  # ms added to a create, issue 7


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main():
    results = Path(sys.argv[1])
    wasm_summary(results)
    trace_summary(results)
    spans_summary(results)
    env_path = results / "env.txt"
    if env_path.exists():
        print("## youki-only rows: versions and host\n")
        for line in env_path.read_text().strip().splitlines():
            print(f"- {line}")


def wasm_summary(results):
    """The WebAssembly rows: busybox under youki and youki-wasm, and a module under youki-wasm."""
    cases_path = results / "wasm-cases.txt"
    if not cases_path.exists():
        return
    cases = cases_path.read_text().split()
    lifecycle = load_timings_by(results, "wasm-lifecycle", "case") or {}
    run = load_timings_by(results, "wasm-run", "case") or {}
    rows = []
    for c in cases:
        path = results / f"wasm-rss-{c}.txt"
        kb = [int(x) for x in path.read_text().split()] if path.exists() else []
        rows.append([
            c,
            f"{lifecycle[c]['median']:.1f} ms" if c in lifecycle else "–",
            f"{run[c]['median']:.1f} ms" if c in run else "–",
            f"{statistics.median(kb) / 1024.0:.1f} MiB" if kb else "–",
        ])
    print("## WebAssembly (hello world) against busybox (echo hello)\n")
    print(table(["case", "create+start+delete", "run", "peak RSS of run"], rows))
    print()


def load_timings_by(results, metric, parameter):
    """{value of `parameter`: {"median": ms, "mean": ms, "stddev": ms}}, or None."""
    path = results / f"{metric}.json"
    if not path.exists():
        return None
    return {
        r["parameters"][parameter]: {k: (r.get(k) or 0.0) * 1000.0 for k in ("median", "mean", "stddev")}
        for r in json.loads(path.read_text())["results"]
    }


def verdict(ok):
    return "met" if ok else "NOT met"


def traced_counts(line):
    """(events, dropped) from youki-trace's closing line, or None."""
    m = TRACED_LINE.search(line)
    return (int(m[1]), int(m[2])) if m else None


def recorder_counts(line):
    """The recorder's closing counts as a dict of ints (plus "drops", the three losses), or None."""
    m = RECORDED_LINE.search(line)
    if not m:
        return None
    c = {k: int(v) for k, v in m.groupdict().items()}
    c["drops"] = c["ring"] + c["enters"] + c["untraced"]
    return c


def timed_runs(results, metric, parameter, value):
    """How many timed runs hyperfine made of one parameter value (0 when unknown)."""
    path = results / f"{metric}.json"
    if not path.exists():
        return 0
    for r in json.loads(path.read_text())["results"]:
        if r["parameters"].get(parameter) == value:
            return len(r.get("times") or [])
    return 0


def overhead(data, mode):
    """A mode's median over plain's, in percent, or None."""
    if not data or "plain" not in data or mode not in data or not data["plain"]["median"]:
        return None
    return (data[mode]["median"] / data["plain"]["median"] - 1.0) * 100.0


def trace_summary(results):
    """create+start+delete plain, under youki-trace and under its idle flight recorder;
    load+attach, and the drops."""
    data = load_timings_by(results, "trace", "mode")
    attach_path = results / "trace-attach.txt"
    if data is None and not attach_path.exists():
        return
    print("## youki-trace (youki create+start+delete: plain, traced, and with the flight recorder)\n")
    if data:
        rows = []
        for m in (m for m in TRACE_MODES if m in data):
            over = overhead(data, m)
            rows.append([m, f"{data[m]['median']:.2f}", f"{data[m]['mean']:.2f} ± {data[m]['stddev']:.2f}",
                         "–" if over is None or m == "plain" else f"{over:+.1f}%"])
        print(table(["mode", "median ms", "mean ± σ ms", "vs plain"], rows))
        print()
        over = overhead(data, "traced")
        if over is not None:
            print(f"traced overhead: {over:+.1f}% (target ≤ {TRACE_OVERHEAD_MAX:.0f}%:"
                  f" {verdict(over <= TRACE_OVERHEAD_MAX)})")
        over = overhead(data, "recorded")
        if over is not None:
            print(f"recorder overhead, attached and idle: {over:+.1f}% (target ≤ {RECORD_OVERHEAD_MAX:.0f}%:"
                  f" {verdict(over <= RECORD_OVERHEAD_MAX)})")
    stop_path = results / "trace-stop.txt"
    lines = stop_path.read_text().splitlines() if stop_path.exists() else []
    traced = [c for c in map(traced_counts, lines) if c]
    if traced:
        # One closing line per tracer run (one per round when interleaved): their sums.
        events, dropped = (sum(c[i] for c in traced) for i in (0, 1))
        print(f"traced runs: {events} events, {dropped} dropped (target 0: {verdict(dropped == 0)})")
    if data and "recorded" in data:
        recorded = [c for c in map(recorder_counts, lines) if c]
        if not recorded:
            print("recorded runs: the recorder printed no closing counts (drops unknown: NOT met)")
        else:
            c = {k: sum(r[k] for r in recorded) for k in recorded[0]}
            runs = timed_runs(results, "trace", "mode", "recorded")
            seen = c["succeeded"] + c["failed"] + c["given_up"]
            print(f"recorded runs: {c['succeeded']} creates succeeded, {c['failed']} failed, {c['given_up']} given"
                  f" up, {c['written']} reports written ({runs} timed runs plus warm-up:"
                  f" {'every create followed' if seen >= runs else 'NOT every create followed'})")
            print(f"recorder drops: {c['drops']} ({c['ring']} events, ring full; {c['enters']} syscall enters;"
                  f" {c['untraced']} processes not followed) (target 0: {verdict(c['drops'] == 0)})")
    if attach_path.exists():
        pairs = [line.split() for line in attach_path.read_text().splitlines() if line.strip()]
        wall = [float(p[0]) for p in pairs]
        own = [float(p[1]) for p in pairs if len(p) > 1 and p[1] != "nan"]
        if wall:
            med = statistics.median(wall)
            print(f"load+attach, start until following: median {med:.1f} ms, max {max(wall):.1f} ms"
                  f" over {len(wall)} samples (target ≤ {TRACE_ATTACH_MAX:.0f} ms: {verdict(med <= TRACE_ATTACH_MAX)})")
        if own:
            print(f"load+attach as youki-trace times it: median {statistics.median(own):.1f} ms")
    print()


def spans_summary(results):
    """create+start+delete without the otel feature, with spans off and with spans on."""
    data = load_timings_by(results, "spans", "mode")
    if data is None:
        return
    print("## OpenTelemetry spans (youki create+start+delete)\n")
    base = data.get("no-otel", {}).get("median")
    rows = []
    for m in ("no-otel", "off", "on"):
        if m in data:
            d = data[m]
            diff = f"{d['median'] - base:+.2f}" if base is not None else "n/a"
            rows.append([m, f"{d['median']:.2f}", f"{d['mean']:.2f} ± {d['stddev']:.2f}", diff])
    print(table(["mode", "median ms", "mean ± σ ms", "vs no-otel ms"], rows))
    if base is not None and "off" in data:
        noise = max(data["no-otel"]["stddev"], data["off"]["stddev"])
        diff = data["off"]["median"] - base
        print(f"\noff vs no-otel: {diff:+.2f} ms, σ {noise:.2f} ms"
              f" (target within noise: {verdict(abs(diff) <= noise)})")
    if "on" in data and "off" in data:
        added = data["on"]["median"] - data["off"]["median"]
        print(f"on vs off: {added:+.2f} ms per create+start+delete (three exports: create, start, delete)")
    create = load_timings_by(results, "spans-create", "mode") or {}
    if "on" in create and "off" in create:
        added = create["on"]["median"] - create["off"]["median"]
        print(f"create alone: off {create['off']['median']:.2f} ms, on {create['on']['median']:.2f} ms:"
              f" {added:+.2f} ms (target ≤ {SPANS_ON_MAX:.0f} ms: {verdict(added <= SPANS_ON_MAX)})")
    sink = results / "spans-sink.txt"
    if sink.exists():
        req, spans, roots = (sink.read_text().split() + ["0", "0", "0"])[:3]
        print(f"otlp-sink received {req} exports, {spans} spans, {roots} root spans with a container.id")
    print()


if __name__ == "__main__":
    main()
