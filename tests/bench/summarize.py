"""Turns bench.sh's results directory into markdown tables.

usage: summarize.py RESULTS_DIR RUNTIMES   (RUNTIMES comma-separated, e.g. runc,crun,youki)

Reads METRIC.json (hyperfine --export-json, one result per runtime, told apart by the
"rt" parameter), rss-RUNTIME.txt (one kB figure per line) and env.txt.
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
]


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


if __name__ == "__main__":
    main()
