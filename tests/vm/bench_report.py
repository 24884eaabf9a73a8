"""The VM lane's bench results (guest/bench.sh) as a result file: bench/results/<stamp>-vm-<lane>.json.

tests/vm/run.sh --bench calls it on the host with the results it read back from the guest;
it prints the file's path. Under qemu TCG absolute times mean little, so the table shows
each runtime's median relative to youki's; the raw microseconds are kept all the same.

    python3 tests/vm/bench_report.py --results DIR --lane v2 --runs N --out DIR --repo DIR
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from interleave import dump, git, label_of, summary, utc_now  # noqa: E402


def parse(text):
    """`RUNTIME ROUND MICROSECONDS|failed` lines: {runtime: [(round, us or None)]}, in order."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        rt, rnd, value = parts
        out.setdefault(rt, []).append((int(rnd), None if value == "failed" else int(value)))
    return out


def stats_of(raw, mine="youki"):
    """Per runtime: the summary of the kept rounds (round >= 0) and its median over youki's."""
    kept = {rt: [v / 1000.0 for r, v in rows if r >= 0 and v is not None] for rt, rows in raw.items()}
    stats = {rt: summary(values) if values else {} for rt, values in kept.items()}
    base = stats.get(mine, {}).get("median")
    for rt, s in stats.items():
        if s and base:
            s["over_youki"] = s["median"] / base
            s["youki_over_runtime"] = base / s["median"]
        s["failed"] = sum(1 for r, v in raw[rt] if r >= 0 and v is None)
    return stats


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", required=True)
    p.add_argument("--lane", required=True)
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--stamp", default=time.strftime("%Y-%m-%dT%H%MZ", time.gmtime()))
    args = p.parse_args()
    results = Path(args.results)
    raw = parse((results / "bench.txt").read_text())
    if not raw:
        raise SystemExit("bench_report: no timed cycle in bench.txt")
    versions = {}
    for line in (results / "bench-versions.txt").read_text().splitlines():
        rt, _, version = line.partition(" ")
        versions[rt] = version
    facts = dict(line.split("=", 1) for line in (results / "guest-facts").read_text().splitlines() if "=" in line)
    order = [rt for rt in ("youki", "runc", "crun") if rt in raw]
    result = {
        "case": f"vm-{args.lane}",
        "title": f"create + start + delete --force in the {args.lane} VM lane (qemu TCG): ratios only",
        "unit": "ms",
        "runs": args.runs,
        "written": utc_now(),
        "guest": facts,
        "method": ("tests/vm/guest/bench.sh in the guest: per round youki, runc and crun in a rotated order, "
                   "each cycle create + start + delete --force of a busybox /bin/true bundle timed by bash's "
                   "EPOCHREALTIME (its fork + exec of each call included, alike for all); the first rounds "
                   "(negative in raw) are warm-up"),
        "youki_commit": {"repo_head": git(args.repo, "rev-parse", "HEAD"),
                         "repo_dirty": bool(git(args.repo, "status", "--porcelain", "--untracked-files=no"))},
        "runtimes": {rt: {"label": label_of(rt, versions.get(rt, "")), "version": versions.get(rt, "")}
                     for rt in order},
        "runtime_order": order,
        "raw_us": {rt: [[r, v] for r, v in raw[rt]] for rt in order},
        "stats": stats_of(raw),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.stamp}-vm-{args.lane}.json"
    path.write_text(dump(result))
    print(path)


if __name__ == "__main__":
    main()
