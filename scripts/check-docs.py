#!/usr/bin/env python3
"""Keeps the tables of README.md and docs/ equal to the committed results they cite.

usage: check-docs.py             check every generated table and every relative link
       check-docs.py --write     regenerate every table in place (then review and commit)
       check-docs.py --self-test show on a scratch copy that a tampered table, missing
                                 results and a broken link each fail the check

A generated table sits between two marker comments, each at the start of a line:

    <!-- table:NAME [key=value] -->
    ...what the generator prints...
    <!-- /table -->

NAME is one of:
  bench               tests/bench/table.py over one run in bench/results/ (the newest run,
                      or `run=2026-12-06T0207Z` to pin one); its output is kept as printed.
                      Without `cases=`, the cases of one timed value per run (not the scale
                      cases throughput and idle, which have tables of their own); with
                      `cases=throughput` (a comma-separated list), those cases only, from the
                      newest run that has them
  conformance         passed/failed/skipped/expected failures per runtime, one row per
                      tests/conformance/results/*.json (what `conformance --json FILE` writes):
                      youki, then runc, then crun, then others, each by version
  conformance-areas   the same files, per area (the part of a case name before the `/`)

The check fails (exit 1) naming the file, the line and the table when a block differs from
what the generator makes now, when a table's results are missing, or when a relative link
(`[text](path)`) points at nothing. Only README.md, CONTRIBUTING.md and docs/**/*.md are read.
"""

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^<!-- table:(?P<name>[a-z0-9-]+)(?P<args>[^>]*?) -->\n(?P<body>.*?)^<!-- /table -->", re.S | re.M)
OPENER = re.compile(r"^<!-- table:", re.M)
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)|!\[[^\]\n]*\]\(([^)\s]+)\)")
CONFORMANCE_DIR = "tests/conformance/results"
BENCH_DIR = "bench/results"
KINDS = ["PASS", "FAIL", "SKIP", "XFAIL"]


class NoResults(Exception):
    """The results a table cites are not committed (or cannot be read)."""


def doc_files(root):
    files = [root / "README.md", root / "CONTRIBUTING.md"]
    files += sorted((root / "docs").rglob("*.md")) if (root / "docs").is_dir() else []
    return [f for f in files if f.is_file()]


def parse_args(text):
    args = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if not sep:
            raise ValueError(f"marker argument {word!r} is not key=value")
        args[key] = value
    return args


# --- bench -------------------------------------------------------------------------------

# The cases tests/bench/table.py renders one table per file for; a `bench` table without
# `cases=` leaves them out.
SCALE_CASES = {"throughput", "idle", "podstart", "vm-v2", "vm-systemd"}
# A result file's name: the run's stamp, then the case (which may hold dashes: `vm-v2`).
RESULT_NAME = re.compile(r"^(\d{4}-\d\d-\d\dT\d{4}Z)-(.+)$")


def bench_table(root, args):
    results = root / BENCH_DIR
    files = sorted(f for f in results.glob("*.json") if RESULT_NAME.match(f.stem)) if results.is_dir() else []
    case_of = lambda f: RESULT_NAME.match(f.stem).group(2)  # noqa: E731
    run_of = lambda f: RESULT_NAME.match(f.stem).group(1)  # noqa: E731
    if "cases" in args:
        wanted = set(args["cases"].split(","))
        files = [f for f in files if case_of(f) in wanted]
    else:
        files = [f for f in files if case_of(f) not in SCALE_CASES]
    runs = sorted({run_of(f) for f in files})
    if not runs:
        which = f" of the cases {args['cases']}" if "cases" in args else ""
        raise NoResults(f"no committed results{which} in {BENCH_DIR}/ (run `just bench`, commit its files)")
    run = args.get("run", runs[-1])
    chosen = [f for f in files if run_of(f) == run]
    if not chosen:
        raise NoResults(f"no files of run {run} in {BENCH_DIR}/ (runs there: {', '.join(runs)})")
    script = root / "tests/bench/table.py"
    cmd = [sys.executable, str(script)] + [str(f.relative_to(root)) for f in chosen]
    out = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if out.returncode != 0:
        raise NoResults(f"tests/bench/table.py failed on run {run}: {out.stderr.strip()}")
    return out.stdout.strip()


# --- conformance -------------------------------------------------------------------------

def runtime_label(stem):
    """`runc-1.3.6` -> `runc 1.3.6`; `youki` stays `youki`."""
    return re.sub(r"-(?=\d)", " ", stem, count=1)


# Row order: youki, then runc, then crun, then any other runtime by name; each by version.
FAMILIES = ["youki", "runc", "crun"]


def row_order(f):
    """`crun-1.8.1` sorts before `crun-1.28`: versions compare number by number."""
    family, _, version = f.stem.partition("-")
    rank = FAMILIES.index(family) if family in FAMILIES else len(FAMILIES)
    numbers = tuple(int(n) for n in re.findall(r"\d+", version))
    return (rank, family, numbers, f.stem)


def load_conformance(root):
    results = root / CONFORMANCE_DIR
    files = sorted(results.glob("*.json")) if results.is_dir() else []
    if not files:
        raise NoResults(f"no committed results in {CONFORMANCE_DIR}/ (see docs/conformance.md)")
    files.sort(key=row_order)
    loaded = []
    for f in files:
        try:
            cases = json.loads(f.read_text())
            kinds = [(c["name"], c["result"]) for c in cases]
        except (ValueError, TypeError, KeyError) as err:
            raise NoResults(f"{f.relative_to(root)}: not a `conformance --json` report: {err}") from None
        unknown = {k for _, k in kinds if k not in KINDS}
        if unknown:
            raise NoResults(f"{f.relative_to(root)}: unknown result kinds {sorted(unknown)}")
        loaded.append((f, kinds))
    return loaded


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def source_lines(root, loaded):
    names = ", ".join(f"`{f.relative_to(root)}`" for f, _ in loaded)
    return ["", f"From {names} (`conformance --json`); `python3 scripts/check-docs.py --write` rewrites this table."]


def conformance_table(root, args):
    loaded = load_conformance(root)
    rows = []
    for f, kinds in loaded:
        count = {k: sum(1 for _, r in kinds if r == k) for k in KINDS}
        rows.append([runtime_label(f.stem), str(count["PASS"]), str(count["FAIL"]), str(count["SKIP"]),
                     str(count["XFAIL"]), str(len(kinds))])
    header = ["runtime", "passed", "failed", "skipped", "expected failures (XFAIL)", "cases"]
    return "\n".join(md_table(header, rows) + source_lines(root, loaded))


def conformance_areas_table(root, args):
    loaded = load_conformance(root)
    areas = []
    for _, kinds in loaded:
        for name, _ in kinds:
            area = name.split("/", 1)[0]
            if area not in areas:
                areas.append(area)
    rows = []
    for area in areas:
        row = [area]
        for _, kinds in loaded:
            mine = [r for n, r in kinds if n.split("/", 1)[0] == area]
            if not mine:
                row.append("–")
                continue
            p, f = mine.count("PASS"), mine.count("FAIL")
            s = mine.count("SKIP") + mine.count("XFAIL")
            row.append(f"{p}/{f}/{s}")
        rows.append(row)
    header = ["area"] + [runtime_label(f.stem) for f, _ in loaded]
    intro = ["Each cell: passed/failed/skipped, expected failures (XFAIL) counted as skipped.", ""]
    return "\n".join(intro + md_table(header, rows) + source_lines(root, loaded))


GENERATORS = {
    "bench": bench_table,
    "conformance": conformance_table,
    "conformance-areas": conformance_areas_table,
}


# --- the check ---------------------------------------------------------------------------

def first_difference(have, want):
    a, b = have.splitlines(), want.splitlines()
    for i, (x, y) in enumerate(zip(a, b), 1):
        if x != y:
            return f"line {i} of the table is\n      {x}\n    the results give\n      {y}"
    return f"the table has {len(a)} lines, the results give {len(b)}"


def process(root, write):
    """Checks (or rewrites) every table block; returns the list of problems."""
    problems = []
    for path in doc_files(root):
        rel = path.relative_to(root)
        text = path.read_text()
        out, last = [], 0
        for m in BLOCK.finditer(text):
            name, line = m["name"], text.count("\n", 0, m.start()) + 1
            where = f"{rel}:{line}: table {name}"
            out.append(text[last:m.start()])
            last = m.end()
            try:
                gen = GENERATORS.get(name)
                if gen is None:
                    raise NoResults(f"unknown table name (known: {', '.join(GENERATORS)})")
                want = gen(root, parse_args(m["args"])) + "\n"
            except (NoResults, ValueError) as err:
                problems.append(f"{where}: {err}")
                out.append(m.group(0))
                continue
            if write:
                out.append(text[m.start():m.start("body")] + want + "<!-- /table -->")
            else:
                out.append(m.group(0))
                if m["body"] != want:
                    problems.append(f"{where} differs from the committed results "
                                    f"(run `python3 scripts/check-docs.py --write`):\n    "
                                    + first_difference(m["body"], want))
        out.append(text[last:])
        new = "".join(out)
        if write and new != text:
            path.write_text(new)
            print(f"rewrote the tables of {rel}")
        if len(OPENER.findall(text)) != len(BLOCK.findall(text)):
            problems.append(f"{rel}: a `<!-- table:NAME -->` marker has no `<!-- /table -->` after it")
    return problems


def check_links(root):
    problems = []
    for path in doc_files(root):
        rel = path.relative_to(root)
        in_code = False
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("```"):
                in_code = not in_code
            if in_code:
                continue
            for m in LINK.finditer(line):
                target = m.group(1) or m.group(2)
                if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                    continue
                file_part = target.split("#", 1)[0]
                if not (path.parent / file_part).exists():
                    problems.append(f"{rel}:{number}: link to {target!r}, which does not exist")
    return problems


def run(root, write):
    problems = process(root, write) + check_links(root)
    for p in problems:
        print(f"check-docs: {p}", file=sys.stderr)
    if not problems:
        print(f"docs: tables match the committed results, links resolve ({len(doc_files(root))} files)")
    return 1 if problems else 0


# --- self test ---------------------------------------------------------------------------

def fake_throughput(like):
    """A throughput result with one N and one round, its machine and versions from `like`."""
    base = json.loads(like.read_text())
    keep = ["machine", "youki_commit", "runtimes", "runtime_order", "load_gate", "spawn_baseline_ms"]
    stat = {"rounds": 1, "cycles": 25, "failed": 0, "per_second_median": 12.5, "per_second_min": 12.5,
            "per_second_max": 12.5, "latency_p50_ms": 80.0, "latency_p90_ms": 90.0, "latency_p99_ms": 99.0,
            "latency_max_ms": 99.0, "p99_over_p50": 1.24, "youki_over_runtime": 1.0}
    return {"case": "throughput", "title": "throughput", "unit": "containers/s", "n_values": [1],
            "seconds": 2.0, "count_per_worker": None, "runs": 1, "started": "2999-01-01T00:00:00Z",
            "finished": "2999-01-01T00:01:00Z", "forced": False, "forced_reason": None,
            "load_start": [0.1, 0.1, 0.1], "load_end": [0.1, 0.1, 0.1], "round_load_1min": [0.1],
            "raw": {}, "stats": {rt: {"1": stat} for rt in base["runtime_order"]},
            **{k: base[k] for k in keep}}


def self_test():
    """On a scratch copy: a written table passes, a tampered one fails naming its file and
    table, missing results fail, a broken link fails."""
    failures = []

    def expect(what, cond):
        print(f"{'ok  ' if cond else 'FAIL'} {what}")
        if not cond:
            failures.append(what)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "tests/bench").mkdir(parents=True)
        for script in ("table.py", "table_scale.py"):
            shutil.copy(REPO / "tests/bench" / script, root / "tests/bench" / script)
        bench = sorted((REPO / BENCH_DIR).glob("*.json"))
        if bench:
            (root / BENCH_DIR).mkdir(parents=True)
            for f in bench:
                shutil.copy(f, root / BENCH_DIR / f.name)
        results = root / CONFORMANCE_DIR
        results.mkdir(parents=True)
        case = lambda name, result: {"name": name, "result": result, "detail": "", "seconds": 0.1}
        (results / "youki.json").write_text(json.dumps(
            [case("lifecycle/a", "PASS"), case("lifecycle/b", "PASS"), case("mounts/c", "SKIP")]))
        (results / "runc-1.1.5.json").write_text(json.dumps(
            [case("lifecycle/a", "PASS"), case("lifecycle/b", "XFAIL"), case("mounts/c", "FAIL")]))
        (root / "docs").mkdir()
        (root / "docs/other.md").write_text("back to [the front page](../README.md)\n")
        bench_block = "<!-- table:bench -->\n<!-- /table -->\n" if bench else ""
        readme = root / "README.md"
        readme.write_text("# t\n\n<!-- table:conformance -->\nstale\n<!-- /table -->\n\n"
                          + bench_block + "[docs](docs/other.md)\n")

        quiet = lambda: process(root, False) + check_links(root)
        expect("a stale table fails before --write", any("table conformance differs" in p for p in quiet()))
        process(root, True)
        expect("after --write the check passes", quiet() == [])
        body = readme.read_text()
        expect("the table counts PASS/FAIL/SKIP/XFAIL per file",
               "| youki | 2 | 0 | 1 | 0 | 3 |" in body and "| runc 1.1.5 | 1 | 1 | 0 | 1 | 3 |" in body)
        if bench:
            expect("the bench block is tests/bench/table.py's output",
                   "<!-- generated by: python3 tests/bench/table.py bench/results/" in body)
            # A newer run of a scale case leaves the bench table alone and has a table of its own.
            # Its machine and versions from the newest timed run (pod start and VM files have others).
            like = next(f for f in reversed(bench) if "spawn_baseline_ms" in json.loads(f.read_text()))
            (root / BENCH_DIR / "2999-01-01T0000Z-throughput.json").write_text(json.dumps(fake_throughput(like)))
            expect("a newer throughput file leaves the bench table as it was", quiet() == [])
            readme.write_text(body + "<!-- table:bench cases=throughput -->\n<!-- /table -->\n")
            process(root, True)
            scale_body = readme.read_text()
            expect("a `cases=throughput` table is the throughput file's",
                   "2999-01-01T0000Z-throughput.json" in scale_body and "| youki | 12.5 (12.5–12.5) |" in scale_body)
            readme.write_text(body)
            (root / BENCH_DIR / "2999-01-01T0000Z-throughput.json").unlink()

        for stem in ["crun-1.28", "runc-1.3.6", "crun-1.8.1"]:
            (results / f"{stem}.json").write_text(json.dumps([case("lifecycle/a", "PASS")]))
        process(root, True)
        block = readme.read_text().split("<!-- table:conformance -->")[1].split("<!-- /table -->")[0]
        labels = [line.split(" | ")[0][2:] for line in block.splitlines() if line.startswith("| ")]
        expect("rows: youki, runc, crun, each by version (1.8.1 before 1.28)",
               labels == ["runtime", "youki", "runc 1.1.5", "runc 1.3.6", "crun 1.8.1", "crun 1.28"])
        for stem in ["crun-1.28", "runc-1.3.6", "crun-1.8.1"]:
            (results / f"{stem}.json").unlink()
        process(root, True)

        readme.write_text(body.replace("| youki | 2 |", "| youki | 3 |"))
        got = quiet()
        expect("a tampered count fails, naming README.md and the table",
               len(got) == 1 and got[0].startswith("README.md:3: table conformance differs"))
        readme.write_text(body)

        (results / "runc-1.1.5.json").write_text(json.dumps([case("lifecycle/a", "PASS")]))
        expect("a changed results file fails the old table", any("table conformance differs" in p for p in quiet()))
        for f in results.glob("*.json"):
            f.unlink()
        got = quiet()
        expect("no committed results is a failure when a conformance table is there",
               any("table conformance: no committed results" in p for p in got))
        readme.write_text("# t\n")
        expect("no conformance table, no results: nothing to complain about", quiet() == [])

        readme.write_text("see [gone](docs/gone.md) and [web](https://example.org)\n")
        got = quiet()
        expect("a broken relative link fails, naming file and line",
               got == ["README.md:1: link to 'docs/gone.md', which does not exist"])
    print(f"self-test: {'failed' if failures else 'passed'}")
    return 1 if failures else 0


def main(argv):
    if argv == ["--self-test"]:
        return self_test()
    if argv not in ([], ["--write"]):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    return run(REPO, write=argv == ["--write"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
