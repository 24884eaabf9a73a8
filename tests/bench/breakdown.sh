#!/usr/bin/env bash
# Where a `create` spends its time, per runtime, on this host (issue 17, item 2). Not part of
# CI; run it by hand on an idle machine:
#
#   bash tests/bench/breakdown.sh [--force] [YOUKI_PATH]
#
# It records, for a busybox `/bin/true` bundle, into BREAKDOWN_OUT (a new directory under /tmp):
#   times.json    create alone, untraced, each runtime BREAKDOWN_RUNS times in a rotating order,
#                 with the state root (--root) on /run as the bench has it (ext4 on this VM)
#                 and on a tmpfs (as /run is on most nodes)
#   attach.json   the kernel's cgroup attach with no runtime (cgroup_attach.py)
#   RT.ytrace.I   `youki-trace --json -- RT create`: every syscall of every process, eBPF
#   RT.strace.I   `strace -f -ttt -T -y` of the same create (the container is deleted once the
#                 create has returned; breakdown.py keeps what came before)
#   spans.ndjson  youki's OpenTelemetry spans of BREAKDOWN_RUNS creates (otlp-sink)
# then prints breakdown.py's tables (also in report.md). Everything runs inside hostview.sh,
# like the bench, so crun runs on this hybrid host and every runtime sees the same view.
#
# Environment: BREAKDOWN_RUNS (10), BREAKDOWN_OUT, BENCH_PEERS (1: also runc 1.3 and crun
# 1.28 from scripts/peers.sh), BENCH_LOAD_MAX (0.5), YOUKI_TRACE (youki-trace next to
# YOUKI_PATH), OTLP_SINK (otlp-sink next to YOUKI_PATH, else the debug build).
# A row whose tool is missing is skipped with a note. About 2 minutes at 10 runs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
note() { echo "breakdown: $*" >&2; }
die() {
    note "$*"
    exit 1
}
[[ $(id -u) == 0 ]] || die "run as root: the runtimes create namespaces and cgroups"

# shellcheck source=loadgate.sh
source "$here/loadgate.sh"
bench_split_args "$@"
youki=$(realpath "${positional[0]:-$repo/target/x86_64-unknown-linux-gnu/release/youki}")
runs=${BREAKDOWN_RUNS:-10}

if [[ ${BREAKDOWN_IN_VIEW:-} != 1 ]]; then
    load=$(cut -d' ' -f1 /proc/loadavg)
    if awk -v a="$load" -v b="${BENCH_LOAD_MAX:-0.5}" 'BEGIN { exit !(a > b) }'; then
        [[ $force == 1 ]] || die "refusing to start: 1-minute load average $load > ${BENCH_LOAD_MAX:-0.5} (--force runs anyway)"
        note "FORCED: 1-minute load average $load; these figures check the script, they are not figures"
        BREAKDOWN_FORCED="load average $(cut -d' ' -f1-3 /proc/loadavg)"
        export BREAKDOWN_FORCED
    fi
    command -v strace >/dev/null || die "strace is missing (apt-get install strace)"
    [[ -x $youki ]] || die "no youki at $youki (cargo build --release -p youki)"
    BREAKDOWN_IN_VIEW=1 exec "$here/hostview.sh" bash "$0" "${positional[@]}"
fi

out=${BREAKDOWN_OUT:-${TMPDIR:-/tmp}/youki-breakdown-$(date -u +%Y%m%dT%H%M%SZ)}
work=$(mktemp -d "${TMPDIR:-/tmp}/youki-breakdown.XXXXXX")
mkdir -p "$out" "$work/bin" "$work/bundle/rootfs/bin" "$work/tmpfs"
roots="/run/youki-breakdown.$$"
ids="bd$$"
bin="$work/bin"

runtimes=(youki runc crun)
ln -s "$youki" "$bin/youki"
ln -s "$(command -v runc)" "$bin/runc"
ln -s "$(command -v crun)" "$bin/crun"
if [[ ${BENCH_PEERS:-1} != 0 ]] && bash "$repo/scripts/peers.sh" >/dev/null 2>&1; then
    for peer in runc-1.3 crun-1.28; do
        runtimes+=("$peer")
        ln -s "/opt/youki-peers/bin/$peer" "$bin/$peer"
    done
fi

cleanup() {
    local rt root
    for root in "$roots" "$work/tmpfs"; do
        for rt in "${runtimes[@]}"; do
            for d in "$root/$rt"/*/; do
                [[ -d $d ]] && "$bin/$rt" --root "$root/$rt" delete --force "$(basename "$d")" >/dev/null 2>&1
            done
        done
    done
    [[ -n ${sink_pid:-} ]] && kill "$sink_pid" 2>/dev/null
    mountpoint -q "$work/tmpfs" && umount "$work/tmpfs"
    rm -rf "$roots" "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

busybox=$(command -v busybox)
cp "$busybox" "$work/bundle/rootfs/bin/busybox"
ln -s busybox "$work/bundle/rootfs/bin/true"
(cd "$work/bundle" && runc spec)
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["/bin/true"]
json.dump(spec, open(sys.argv[1], "w"), indent=2)
PY
mount -t tmpfs breakdown "$work/tmpfs"

# 1. create alone, untraced: the state root on /run and on a tmpfs.
note "create alone, $runs runs per runtime and root"
run_list=$(IFS=,; echo "${runtimes[*]}")
python3 - "$bin" "$work/bundle" "$roots" "$work/tmpfs" "$run_list" "$runs" "$ids" "$out/times.json" <<'PY'
import json, os, statistics, subprocess, sys, time
bin_dir, bundle, run_root, tmpfs, names, runs, ids, dest = sys.argv[1:]
runtimes, runs = names.split(","), int(runs)
fstype = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", "/run"], capture_output=True, text=True).stdout.strip()
roots = {f"/run ({fstype})": run_root, "tmpfs": tmpfs}
devnull = os.open(os.devnull, os.O_RDWR)
def call(argv):
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0),
        (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)])
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
raw = {r: {rt: [] for rt in runtimes} for r in roots}
for i in range(runs + 1):  # round 0 warms up
    for label, root in roots.items():
        k = i % len(runtimes)
        for rt in runtimes[k:] + runtimes[:k]:
            base = [f"{bin_dir}/{rt}", "--root", f"{root}/{rt}"]
            t0 = time.perf_counter_ns()
            code = call(base + ["create", "--bundle", bundle, f"{ids}-t"])
            t = time.perf_counter_ns() - t0
            call(base + ["delete", "--force", f"{ids}-t"])
            if code == 0 and i > 0:
                raw[label][rt].append(t / 1e6)
med = {r: {rt: round(statistics.median(v), 3) for rt, v in per.items() if v} for r, per in raw.items()}
json.dump({"runs": runs, "runtimes": runtimes, "roots": med, "raw_ms": raw,
           "forced": os.environ.get("BREAKDOWN_FORCED"),
           "load": open("/proc/loadavg").read().split()[:3]}, open(dest, "w"), indent=1)
PY

# 2. The kernel's attach cost alone.
note "cgroup attach alone"
python3 "$here/cgroup_attach.py" --samples "$runs" --json "$out/attach.json" >/dev/null

# 3. youki-trace of each runtime's create.
youki_trace=${YOUKI_TRACE:-$(dirname "$youki")/youki-trace}
if [[ -x $youki_trace ]]; then
    note "youki-trace, $runs creates per runtime"
    for i in $(seq "$runs"); do
        for rt in "${runtimes[@]}"; do
            r=(--root "$roots/$rt")
            "$youki_trace" --json -o "$out/$rt.ytrace.$i" -- "$bin/$rt" "${r[@]}" create --bundle "$work/bundle" "$ids-y" \
                >/dev/null 2>>"$out/ytrace.err" || note "youki-trace of $rt create failed (see $out/ytrace.err)"
            "$bin/$rt" "${r[@]}" delete --force "$ids-y" >/dev/null 2>&1 || true
        done
    done
else
    note "youki-trace rows skipped: no youki-trace at $youki_trace (just build, or set YOUKI_TRACE)"
fi

# 4. strace of each runtime's create. strace -f follows the container's init, which waits
# for `start`: once the create command (the trace's first pid) has exited, the container is
# deleted, and strace ends.
note "strace, $runs creates per runtime"
for i in $(seq "$runs"); do
    for rt in "${runtimes[@]}"; do
        r=(--root "$roots/$rt")
        strace -f -ttt -T -y -s 128 -o "$out/$rt.strace.$i" "$bin/$rt" "${r[@]}" create --bundle "$work/bundle" "$ids-s" &
        tracer=$!
        trace="$out/$rt.strace.$i"
        for _ in $(seq 600); do
            top=$(awk '{ print $1; exit }' "$trace" 2>/dev/null) || true
            if [[ -n $top ]] && grep -q "^$top .*+++ exited" "$trace"; then break; fi
            kill -0 "$tracer" 2>/dev/null || break
            sleep 0.05
        done
        "$bin/$rt" "${r[@]}" delete --force "$ids-s" >/dev/null 2>&1 || true
        wait "$tracer" || note "strace of $rt create failed"
    done
done

# 5. youki's spans of create, received by otlp-sink.
sink=${OTLP_SINK:-$(dirname "$youki")/otlp-sink}
[[ -x $sink ]] || sink="$repo/target/x86_64-unknown-linux-gnu/debug/otlp-sink"
if [[ -x $sink ]]; then
    note "spans of $runs youki creates"
    "$sink" 127.0.0.1:0 "$work/sink.counts" "$out/spans.ndjson" >"$work/sink.addr" 2>"$work/sink.err" &
    sink_pid=$!
    for _ in $(seq 100); do
        [[ -s $work/sink.addr ]] && break
        sleep 0.05
    done
    endpoint="http://$(head -n1 "$work/sink.addr")"
    for _ in $(seq "$runs"); do
        OTEL_EXPORTER_OTLP_ENDPOINT=$endpoint "$bin/youki" --root "$roots/youki" create --bundle "$work/bundle" "$ids-o" >/dev/null
        "$bin/youki" --root "$roots/youki" delete --force "$ids-o" >/dev/null
    done
    sleep 0.3  # the sink rewrites its files every 100 ms
    kill "$sink_pid"
    wait "$sink_pid" 2>/dev/null || true
    sink_pid=
else
    note "spans skipped: no otlp-sink (cargo build -p e2e-containerd --bin otlp-sink, or set OTLP_SINK)"
fi

{
    [[ -z ${BREAKDOWN_FORCED:-} ]] || printf '**Forced under load (%s): a check of the script, not figures.**\n\n' "$BREAKDOWN_FORCED"
    python3 "$here/breakdown.py" "$out"
} | tee "$out/report.md"
note "traces, breakdown.json and report.md in $out"
