#!/usr/bin/env python3
"""Prints the markdown table of interleave.py's result files, stating the files it came from.

usage: table.py FILE...      e.g. tests/bench/table.py bench/results/2026-12-06T0210Z-*.json

One column per file (case), one row per runtime: the median with p25–p75, then a second table
of youki's median over each runtime's (the issue's "≤ 0.6× crun" form). Below them: the files,
whether the run was forced under load, the load averages, the host, the versions and the
driver's per-call spawn cost. The README's benchmark tables are this script's output, pasted
as printed.
"""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The columns' order, whatever the order of the files given (a shell glob sorts by name).
CASE_ORDER = ["lifecycle", "limits", "run", "exec", "seccomp", "rss", "state", "list"]


def shown(path):
    p = Path(path).resolve()
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        return str(p)


def num(value, unit):
    if unit == "MiB" or value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def cell(stats, unit):
    if not stats:
        return "failed"
    return f"{num(stats['median'], unit)} {unit} ({num(stats['p25'], unit)}–{num(stats['p75'], unit)})"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def span(values, fmt="{:.2f}"):
    lo, hi = min(values), max(values)
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}–{fmt.format(hi)}"


def main():
    paths = sys.argv[1:]
    if not paths:
        raise SystemExit("usage: table.py FILE...")
    rank = {c: i for i, c in enumerate(CASE_ORDER)}
    loaded = [(json.loads(Path(p).read_text()), p) for p in paths]
    loaded.sort(key=lambda fp: (rank.get(fp[0]["case"], len(rank)), fp[0]["started"]))
    files = [f for f, _ in loaded]
    paths = [p for _, p in loaded]
    first = files[0]
    order = list(first["runtime_order"])
    for f in files[1:]:
        order += [rt for rt in f["runtime_order"] if rt not in order]
    labels = {}
    for f in files:
        for rt, info in f["runtimes"].items():
            labels.setdefault(rt, info["label"])
    header = ["runtime"] + [f["title"] for f in files]

    forced = [f for f in files if f.get("forced")]
    if forced:
        print(f"**Forced under load ({forced[0]['forced_reason']}): a pipeline check, not figures.**\n")

    rounds = sorted({f["runs"] for f in files if f["unit"] != "MiB"})
    rss_rounds = sorted({f["runs"] for f in files if f["unit"] == "MiB"})
    print(f"Median (p25–p75) over {'/'.join(map(str, rounds)) or '–'} interleaved rounds"
          f" ({'/'.join(map(str, rss_rounds)) or '–'} for RSS); busybox bundle running `/bin/true`.\n")
    rows = [[labels[rt]] + [cell(f["stats"].get(rt), f["unit"]) for f in files] for rt in order]
    print(table(header, rows))

    print("\nyouki's median ÷ each runtime's (below 1: youki is faster or smaller):\n")
    rows = []
    for rt in order:
        if rt == "youki":
            continue
        row = [labels[rt]]
        for f in files:
            s = f["stats"].get(rt) or {}
            row.append(f"{s['youki_over_runtime']:.2f}×" if "youki_over_runtime" in s else "–")
        rows.append(row)
    print(table(header, rows))

    m = first["machine"]
    print()
    print("- files: " + ", ".join(f"`{shown(p)}`" for p in paths))
    print(f"- started {min(f['started'] for f in files)}, finished {max(f['finished'] for f in files)};"
          f" 1-minute load average {span([f['load_start'][0] for f in files])} at the starts of the cases,"
          f" {span([f['load_end'][0] for f in files])} at their ends,"
          f" {span([x for f in files for x in f['round_load_1min']] or [0.0])} over the rounds")
    print(f"- host: {m['cpu_model']}, {m['cores_usable']} cores, {m['memory_mib']} MiB, kernel {m['kernel']},"
          f" cgroups {m['cgroup_layout_host']} (the bench view: {m['cgroup_layout_bench_view']},"
          f" every runtime alike)")
    commit = first["youki_commit"]
    youki_version = first["runtimes"].get("youki", {}).get("version", "").replace("\n", "; ")
    print(f"- youki: repo at {commit['repo_head'][:12]}{' (dirty)' if commit['repo_dirty'] else ''},"
          f" binary says `{youki_version}`")
    others = [f"{info['label']} (`{info['path']}`)" for rt, info in first["runtimes"].items() if rt != "youki"]
    print(f"- peers: {', '.join(others)}")
    lists = sorted({f["list_size"] for f in files if f.get("list_size")})
    if lists:
        print(f"- state and list: with {'/'.join(map(str, lists))} created containers per runtime")
    base = first["spawn_baseline_ms"]
    print(f"- each call includes the driver's posix_spawn + wait, {base['median']:.2f} ms for a static"
          " `busybox true` (not subtracted; create+start+delete makes three calls)")
    failed = {(f["case"], rt): len(v) for f in files for rt, v in f.get("failures", {}).items()}
    if failed:
        print("- failed runs: " + ", ".join(f"{labels[rt]} {n} in {case}" for (case, rt), n in failed.items()))


if __name__ == "__main__":
    main()
