"""Turns bench.sh's results directory into markdown tables.

usage: summarize.py RESULTS_DIR RUNTIMES   (RUNTIMES comma-separated, e.g. runc,crun,youki)

Reads METRIC.json (hyperfine --export-json, one result per runtime, told apart by the
"rt" parameter), rss-RUNTIME.txt (one kB figure per line) and env.txt; for the youki-only
rows trace.json and spans.json (told apart by "mode"), trace-attach.txt (per sample: wall ms
until youki-trace follows, and its own load+attach figure), trace-stop.txt (youki-trace's
last stderr line after the traced run) and spans-sink.txt (otlp-sink's counts).
"""

import json
import statistics
import sys
from pathlib import Path

METRICS = [
    ("lifecycle", "create+start+delete"),
    ("limits", "same, with cgroup limits"),
    ("run", "run"),
    ("state", "state"),
    ("list", "list"),
    ("exec", "exec /bin/true (running container)"),
    ("seccomp", "create+start+delete, Docker-like seccomp"),
]

# Targets the issues set, checked in the youki-only sections.
TRACE_OVERHEAD_MAX = 30.0  # percent, issue 6
TRACE_ATTACH_MAX = 150.0  # ms, issue 6
SPANS_ON_MAX = 2.0  # ms added to a create, issue 7


def load_timings(results, metric):
    """{runtime: {"median": ms, "mean": ms, "stddev": ms}} for one metric, or None."""
    return load_timings_by(results, metric, "rt")


def load_rss(results, runtime):
    """{"median": MiB, "max": MiB} of the create samples, or None."""
    path = results / f"rss-{runtime}.txt"
    if not path.exists():
        return None
    kb = [int(line) for line in path.read_text().split() if line.strip()]
    if not kb:
        return None
    return {"median": statistics.median(kb) / 1024.0, "max": max(kb) / 1024.0}


def ratio(value, base):
    return f"{value / base:.2f}×" if base else "n/a"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main():
    results = Path(sys.argv[1])
    runtimes = sys.argv[2].split(",")
    timings = {m: load_timings(results, m) for m, _ in METRICS}
    rss = {rt: load_rss(results, rt) for rt in runtimes}

    for metric, title in METRICS:
        data = timings[metric]
        print(f"## {title}\n")
        if data is None:
            print("(failed; see hyperfine's output above)\n")
            continue
        rows = []
        for rt in runtimes:
            if rt not in data:
                continue
            d = data[rt]
            rows.append([
                rt,
                f"{d['median']:.2f}",
                f"{d['mean']:.2f} ± {d['stddev']:.2f}",
                ratio(d["median"], data.get("crun", {}).get("median")),
                ratio(d["median"], data.get("runc", {}).get("median")),
            ])
        print(table(["runtime", "median ms", "mean ± σ ms", "vs crun", "vs runc"], rows))
        print()

    print("## peak RSS of create\n")
    base = {rt: (rss[rt] or {}).get("median") for rt in ("crun", "runc")}
    rows = [
        [rt, f"{r['median']:.1f}", f"{r['max']:.1f}",
         ratio(r["median"], base["crun"]), ratio(r["median"], base["runc"])]
        for rt, r in rss.items() if r
    ]
    print(table(["runtime", "median MiB", "max MiB", "vs crun", "vs runc"], rows))
    print()

    # The block for the README: medians, then ratios (to crun / to runc).
    names = [title for _, title in METRICS] + ["peak RSS (create)"]
    medians, ratios = [], []
    for rt in runtimes:
        cells, rcells = [rt], [rt]
        for metric, _ in METRICS:
            data = timings[metric] or {}
            if rt in data:
                med = data[rt]["median"]
                cells.append(f"{med:.1f} ms")
                rcells.append(
                    ratio(med, data.get("crun", {}).get("median")) + " / "
                    + ratio(med, data.get("runc", {}).get("median"))
                )
            else:
                cells.append("–")
                rcells.append("–")
        if rss[rt]:
            cells.append(f"{rss[rt]['median']:.1f} MiB")
            rcells.append(ratio(rss[rt]["median"], base["crun"]) + " / "
                          + ratio(rss[rt]["median"], base["runc"]))
        else:
            cells.append("–")
            rcells.append("–")
        medians.append(cells)
        ratios.append(rcells)

    wasm_summary(results)
    trace_summary(results)
    spans_summary(results)

    env_path = results / "env.txt"
    env = env_path.read_text().strip().splitlines() if env_path.exists() else []
    print("## README block\n")
    print("```markdown")
    print("Median wall time of each operation (busybox bundle running /bin/true); lower is better.\n")
    print(table(["runtime"] + names, medians))
    print("\nRatio to crun / to runc:\n")
    print(table(["runtime"] + names, ratios))
    print()
    for line in env:
        print(f"- {line}")
    print("```")


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


def trace_summary(results):
    """create+start+delete plain and under youki-trace, load+attach, and the drops."""
    data = load_timings_by(results, "trace", "mode")
    attach_path = results / "trace-attach.txt"
    if data is None and not attach_path.exists():
        return
    print("## youki-trace (youki create+start+delete, plain and traced)\n")
    if data and "plain" in data and "traced" in data:
        plain, traced = data["plain"]["median"], data["traced"]["median"]
        over = (traced / plain - 1.0) * 100.0 if plain else float("nan")
        rows = [[m, f"{data[m]['median']:.2f}", f"{data[m]['mean']:.2f} ± {data[m]['stddev']:.2f}"]
                for m in ("plain", "traced")]
        print(table(["mode", "median ms", "mean ± σ ms"], rows))
        print(f"\noverhead: {over:+.1f}% (target ≤ {TRACE_OVERHEAD_MAX:.0f}%: {verdict(over <= TRACE_OVERHEAD_MAX)})")
    stop_path = results / "trace-stop.txt"
    if stop_path.exists() and stop_path.read_text().strip():
        last = stop_path.read_text().strip().splitlines()[-1]
        # "youki-trace: load+attach X ms, N events, D dropped"
        words = last.replace(",", "").split()
        try:
            events, dropped = int(words[-4]), int(words[-2])
            print(f"traced run: {events} events, {dropped} dropped (target 0: {verdict(dropped == 0)})")
        except (IndexError, ValueError):
            print(f"traced run: {last}")
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
