#!/usr/bin/env bash
# Start-up benchmark: youki, runc and crun side by side on the same busybox bundle.
# Not part of CI; run it by hand on an idle machine:
#
#   bash tests/bench/bench.sh [--force] [YOUKI_PATH [YOUKI_WASM_PATH]]
#
# (`just bench` builds everything the rows below need, then runs this; `just bench --force`.)
#
# The load gate: it waits up to BENCH_SETTLE seconds (180) for the 1-minute load average to
# fall to BENCH_LOAD_MAX (0.5) or below, and refuses to start otherwise. `--force` or
# BENCH_FORCE=1 starts anyway; the output says so, and so does every result file.
#
# YOUKI_PATH defaults to the release build in this repo's target dir. When it is not
# an executable, youki is skipped and only runc and crun are measured. YOUKI_WASM_PATH
# (`just build-wasm`; default: its place in target/wasm) adds the WebAssembly rows.
#
# Environment knobs:
#   BENCH_WARMUP (5)  BENCH_RUNS (50)  BENCH_RSS_SAMPLES (10)  BENCH_LIST_SIZE (100)
#   BENCH_CASES (all): a comma-separated subset of the interleaved cases below; `none` runs
#   none of them (for the youki-only rows alone)
#   BENCH_TP_N (1,4,16,64)  BENCH_TP_SECONDS (10)  BENCH_TP_ROUNDS (3)  BENCH_TP_COUNT (0: use
#   the seconds): the throughput case's concurrent loops, seconds per trial, rounds, or cycles
#   per worker instead of seconds
#   BENCH_IDLE_COUNT (10): the idle case's containers per runtime
#   BENCH_YOUKI_ROWS (1): the youki-only rows below: 1 all, 0 none, or a comma-separated
#   subset of trace, spans, wasm
#   BENCH_STATE_TMPFS (0): 1 mounts a tmpfs for every runtime's --root (under /run, which is
#   ext4 on this VM and a tmpfs on a node); the result files name the roots' file system
#   BENCH_OUT (bench/results in this repo): where the interleaved cases' JSON files go,
#   one per case, named <UTC date and time>-<case>.json (tests/bench/table.py makes the
#   README's tables from them)
#   BENCH_RESULTS (a new directory under /tmp): the youki-only rows' files and the summary
#   BENCH_PEERS (1): also today's runc 1.3 and crun 1.28 (scripts/peers.sh), as runc-1.3
#   and crun-1.28 beside Debian's runc and crun
#   BENCH_ATTACH_SAMPLES (10): youki-trace load+attach samples
#   YOUKI_TRACE (youki-trace next to YOUKI_PATH), YOUKI_NO_OTEL (target/no-otel's youki,
#   `just build-no-otel`), OTLP_SINK (otlp-sink next to YOUKI_PATH, from tests/e2e-containerd):
#   the tools of the trace and spans rows; a row whose tool is missing is skipped with a note
#
# The runtimes side by side, interleaved round by round by interleave.py (round r runs them
# in the list's order rotated by r; each run timed by the driver, see its docstring):
#   lifecycle  create + start + delete --force of a /bin/true container
#   limits     the same with cgroup limits set (memory, cpu shares and quota, pids)
#   run        run of the /bin/true container (run removes it when it exits)
#   exec       exec of /bin/true into a running container (`sleep`, created and started
#              before the rounds)
#   seccomp    create + start + delete --force with seccomp-docker-like.json (an allow-list
#              of ~340 syscalls, defaultAction errno, like Docker's default profile)
#   rss        peak RSS of `create`, from /usr/bin/time -v, BENCH_RSS_SAMPLES rounds
#   state      state of a created container, with BENCH_LIST_SIZE created containers
#   list       list with the same BENCH_LIST_SIZE created containers
#   throughput N concurrent create+start+delete loops (N = each of BENCH_TP_N) for
#              BENCH_TP_SECONDS per runtime, N and round: containers per second, and p50 and
#              p99 of one cycle (throughput.py; about 20 x BENCH_TP_SECONDS x BENCH_TP_ROUNDS
#              seconds with the five runtimes, plus warm-up)
#   idle       BENCH_IDLE_COUNT `sleep` containers per runtime alive side by side, created, then
#              started: the processes, memory and fds each holds, and any process the runtime
#              keeps besides the container's own (idle.py)
#
# youki alone, each a hyperfine invocation of its own (not interleaved):
#   trace      create + start + delete: plain, with `youki-trace --comm` following it
#              (traced), and with the flight recorder `youki-trace record --comm` attached
#              and idle (recorded: the creates succeed, so it writes no report); the binary
#              is linked as `youki-bench` so that only the benchmark's processes are
#              followed, not other youki runs on the machine. Then youki-trace's load+attach
#              time, from its start until it says it follows; the drops of both, and the
#              recorder's counts of creates, from their closing lines (trace-stop.txt)
#   spans      create + start + delete of a build without the `otel` feature, of the
#              default build with spans off, and with spans on, exported to otlp-sink;
#              then create alone, spans off and on (spans-create)
#
# With the wasm build, three cases side by side, each printing "hello": the busybox bundle
# running `echo hello` under youki and under youki-wasm, and hello.wasm under youki-wasm:
#   wasm-lifecycle  create + start + delete --force
#   wasm-run        run (the module is compiled, run and waited for)
#   wasm-rss        peak RSS of `run` (its child, the container process, included)
#
# crun refuses hybrid cgroup hosts, so everything runs inside hostview.sh (a private
# mount namespace without the cgroup2 mount). The driver and hyperfine are started there,
# so every runtime call sees the same host and the wrapper's cost is never timed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
hostview="$here/hostview.sh"

# shellcheck source=loadgate.sh
source "$here/loadgate.sh"
bench_split_args "$@"
youki_path=${positional[0]:-$repo/target/x86_64-unknown-linux-gnu/release/youki}
wasm_path=${positional[1]:-$repo/target/wasm/x86_64-unknown-linux-gnu/release/youki}
warmup=${BENCH_WARMUP:-5}
runs=${BENCH_RUNS:-50}
rss_samples=${BENCH_RSS_SAMPLES:-10}
list_size=${BENCH_LIST_SIZE:-100}
cases=${BENCH_CASES:-lifecycle,limits,run,exec,seccomp,rss,state,list,throughput,idle}
youki_rows=${BENCH_YOUKI_ROWS:-1}
out_dir=${BENCH_OUT:-$repo/bench/results}
results=${BENCH_RESULTS:-${TMPDIR:-/tmp}/youki-bench-$(date +%Y%m%d-%H%M%S)}

note() { echo "bench: $*" >&2; }
# row_on NAME: whether BENCH_YOUKI_ROWS selects the youki-only row NAME.
row_on() {
    case $youki_rows in
    1) return 0 ;;
    0) return 1 ;;
    esac
    [[ ,$youki_rows, == *,$1,* ]]
}
die() {
    note "$*"
    exit 1
}

[[ $(id -u) == 0 ]] || die "run as root: the runtimes create namespaces and cgroups"

bench_load_gate "$force"

# Installs whatever is missing, and nothing when all is there.
ensure_packages() {
    local missing=()
    command -v hyperfine >/dev/null || missing+=(hyperfine)
    command -v runc >/dev/null || missing+=(runc)
    command -v crun >/dev/null || missing+=(crun)
    command -v python3 >/dev/null || missing+=(python3)
    command -v unshare >/dev/null || missing+=(util-linux)
    [[ -x /usr/bin/time ]] || missing+=(time)
    dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' ||
        missing+=(busybox-static)
    if ((${#missing[@]})); then
        note "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}
ensure_packages

busybox=$(command -v busybox)
if ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked; install busybox-static"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/youki-bench.XXXXXX")
state="/run/youki-bench.$$"          # every runtime's --root lives below here
bundle="$work/bundle"
bin="$work/bin"                      # runc, crun, youki as symlinks: one name per runtime
ids_prefix="yb$$"
mkdir -p "$results" "$state" "$bin" "$bundle/rootfs/bin"
# BENCH_STATE_TMPFS=1 puts the roots on a tmpfs, as /run is on a node; on this VM /run is
# ext4, where youki's fsynced state commits wait for the journal (docs/performance.md, "Where
# the time of a create goes"). Mounted in the host's namespace, so every view sees it.
if [[ ${BENCH_STATE_TMPFS:-0} == 1 ]]; then
    mount -t tmpfs -o mode=0700 youki-bench "$state"
fi

runtimes=(runc crun)
wasm_cases=()
ln -s "$(command -v runc)" "$bin/runc"
ln -s "$(command -v crun)" "$bin/crun"
# Today's runc 1.3 and crun 1.28 beside Debian's: scripts/peers.sh installs them from Debian
# sid under /opt/youki-peers (quick when done). BENCH_PEERS=0 leaves them out.
if [[ ${BENCH_PEERS:-1} != 0 ]]; then
    if peers_log=$(bash "$repo/scripts/peers.sh" 2>&1); then
        for peer in runc-1.3 crun-1.28; do
            runtimes+=("$peer")
            ln -s "/opt/youki-peers/bin/$peer" "$bin/$peer"
        done
    else
        note "today's runc 1.3 and crun 1.28 left out: scripts/peers.sh failed: $(tail -n 1 <<<"$peers_log")"
    fi
fi
if [[ -f $youki_path && -x $youki_path ]]; then
    runtimes+=(youki)
    ln -s "$(realpath "$youki_path")" "$bin/youki"
else
    note "no executable youki at $youki_path: measuring runc and crun only"
    note "(build it with: cargo build --release -p youki)"
fi

# Removes every container the benchmark may have left behind, then the scratch dirs.
cleanup() {
    local rt id
    for rt in "${runtimes[@]}" "${wasm_cases[@]}"; do
        [[ -d $state/$rt ]] || continue
        local exe="$bin/$rt"
        [[ -e $exe ]] || exe="$work/cases/$rt/rt"
        for id in "$state/$rt"/*/; do
            [[ -d $id ]] || continue
            "$hostview" "$exe" --root "$state/$rt" delete --force "$(basename "$id")" \
                >/dev/null 2>&1 || true
        done
    done
    # The youki-only rows: their roots, a tracer or sink a failed row left running.
    for id in "$state"/trace/*/ "$state"/spans/*/; do
        [[ -d $id && -x $youki_path ]] || continue
        "$hostview" "$youki_path" --root "$(dirname "$id")" delete --force "$(basename "$id")" \
            >/dev/null 2>&1 || true
    done
    local pidfile
    for pidfile in "$work"/trace/*/pid; do
        [[ -f $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    [[ -n ${sink_pid:-} ]] && kill "$sink_pid" 2>/dev/null || true
    if mountpoint -q "$state"; then umount "$state"; fi
    rm -rf "$state" "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM   # so that cleanup runs on Ctrl-C too

# The bundle: static busybox with its applet links, and runc's default spec running
# /bin/true without a terminal.
make_bundle() {
    cp "$busybox" "$bundle/rootfs/bin/busybox"
    local applet
    for applet in $("$busybox" --list); do
        [[ $applet == busybox ]] || ln -sf busybox "$bundle/rootfs/bin/$applet"
    done
    (cd "$bundle" && runc spec)
    python3 - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as f:
    spec = json.load(f)
spec["process"]["terminal"] = False
spec["process"]["args"] = ["/bin/true"]
with open(path, "w") as f:
    json.dump(spec, f, indent=2)
PY
}
make_bundle

# The same bundle with cgroup resources, sharing the rootfs (by absolute path: runc
# refuses a rootfs that is a symlink).
limited="$work/limited"
mkdir -p "$limited"
python3 - "$bundle/config.json" "$limited/config.json" "$bundle/rootfs" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["root"]["path"] = sys.argv[3]
spec["linux"]["resources"].update({
    "memory": {"limit": 268435456},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000},
    "pids": {"limit": 100},
})
json.dump(spec, open(sys.argv[2], "w"), indent=2)
PY

# exec into a running container: a `sleep` bundle sharing the rootfs.
sleeper="$work/sleeper"
mkdir -p "$sleeper"
python3 - "$bundle/config.json" "$sleeper/config.json" "$bundle/rootfs" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["root"]["path"] = sys.argv[3]
spec["process"]["args"] = ["/bin/sleep", "3600"]
json.dump(spec, open(sys.argv[2], "w"), indent=2)
PY

# seccomp: the /bin/true bundle with a Docker-like default profile.
secbundle="$work/seccomp"
mkdir -p "$secbundle"
python3 - "$bundle/config.json" "$secbundle/config.json" "$bundle/rootfs" "$here/seccomp-docker-like.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["root"]["path"] = sys.argv[3]
spec["linux"]["seccomp"] = json.load(open(sys.argv[4]))
json.dump(spec, open(sys.argv[2], "w"), indent=2)
PY

# The runtimes side by side, interleaved: one JSON file per case in $out. youki leads the
# list (the ratios are to youki); the rotation gives every runtime every place in turn.
ordered=()
[[ " ${runtimes[*]} " == *" youki "* ]] && ordered+=(youki)
for rt in "${runtimes[@]}"; do
    [[ $rt == youki ]] || ordered+=("$rt")
done
driver_list=$(
    IFS=,
    echo "${ordered[*]}"
)
stamp=$(date -u +%Y-%m-%dT%H%MZ)
mkdir -p "$work/driver"
: >"$work/driver/files"
if [[ $cases == none ]]; then
    note "interleaved cases left out (BENCH_CASES=none)"
else
    "$hostview" python3 "$here/interleave.py" --bin "$bin" --state "$state" --bundles "$work" \
        --work "$work/driver" --out "$out_dir" --runtimes "$driver_list" --cases "$cases" \
        --runs "$runs" --warmup "$warmup" --rss-samples "$rss_samples" --list-size "$list_size" \
        --load-max "$load_max" --stamp "$stamp" --repo "$repo" "${forced[@]}" \
        --tp-n "${BENCH_TP_N:-1,4,16,64}" --tp-seconds "${BENCH_TP_SECONDS:-10}" \
        --tp-rounds "${BENCH_TP_ROUNDS:-3}" --tp-count "${BENCH_TP_COUNT:-0}" \
        --idle-count "${BENCH_IDLE_COUNT:-10}" >"$work/driver/files" ||
        note "the interleaved cases failed; files written so far: $(paste -sd' ' "$work/driver/files")"
fi
mapfile -t case_files <"$work/driver/files"

# A youki-only row: hyperfine over the parameter `mode`, exported like the others.
# yhf METRIC MODES HYPERFINE_ARGS...
yhf() {
    local metric=$1 modes=$2
    shift 2
    note "metric $metric"
    if ! "$hostview" hyperfine --warmup "$warmup" --runs "$runs" --style basic \
        -L mode "$modes" -n "{mode} $metric" --export-json "$results/$metric.json" "$@"; then
        note "metric $metric failed; it is left out of the summary"
        rm -f "$results/$metric.json"
    fi
}

# trace: the same youki plain, under youki-trace and under its flight recorder.
youki_trace=${YOUKI_TRACE:-$(dirname "$youki_path")/youki-trace}
if ! row_on trace; then
    note "trace row left out (BENCH_YOUKI_ROWS=$youki_rows)"
elif [[ ! -x $youki_path ]]; then
    note "trace row skipped: no youki"
elif [[ ! -x $youki_trace ]]; then
    note "trace row skipped: no youki-trace at $youki_trace (just build, or set YOUKI_TRACE)"
else
    tdir="$work/trace"
    mkdir -p "$tdir"
    ln -s "$(realpath "$youki_path")" "$tdir/youki-bench"
    tid="$ids_prefix-tr"
    : >"$results/trace-stop.txt"
    # Interleaved round by round (trace_rounds.py): the overheads are a few percent, less
    # than the drift between hyperfine's blocks. Each round starts and stops each mode's tracer.
    note "metric trace (interleaved: $((runs / 5 > 4 ? runs / 5 : 4)) rounds of 5 per mode)"
    if ! "$hostview" python3 "$here/trace_rounds.py" --youki "$tdir/youki-bench" --root "$state/trace" \
        --bundle "$bundle" --id "$tid" --tracer-sh "$here/tracer.sh" --youki-trace "$youki_trace" \
        --comm youki-bench --work "$tdir" --out "$results/trace.json" --stop-file "$results/trace-stop.txt" \
        --rounds $((runs / 5 > 4 ? runs / 5 : 4)) --per-round 5 --warmup "$warmup"; then
        note "metric trace failed; it is left out of the summary"
        rm -f "$results/trace.json"
    fi
    "$hostview" "$tdir/youki-bench" --root "$state/trace" delete --force "$tid" >/dev/null 2>&1 || true
    # load+attach: from its start until it says it follows (wall), and its own figure.
    note "metric trace-attach (${BENCH_ATTACH_SAMPLES:-10} samples)"
    : >"$results/trace-attach.txt"
    for _ in $(seq "${BENCH_ATTACH_SAMPLES:-10}"); do
        wall=$("$here/tracer.sh" start "$tdir/attach" traced "$youki_trace" youki-bench)
        own=$("$here/tracer.sh" stop "$tdir/attach" traced | sed -n 's/.*load+attach \([0-9.]*\) ms.*/\1/p')
        echo "$wall ${own:-nan}" >>"$results/trace-attach.txt"
    done
fi

# spans: no `otel` feature, spans off, spans on (exported to otlp-sink on loopback).
no_otel=${YOUKI_NO_OTEL:-$repo/target/no-otel/x86_64-unknown-linux-gnu/release/youki}
otlp_sink=${OTLP_SINK:-$(dirname "$youki_path")/otlp-sink}
if ! row_on spans; then
    :
elif [[ ! -x $youki_path ]]; then
    note "spans row skipped: no youki"
elif [[ ! -x $no_otel ]]; then
    note "spans row skipped: no build without otel at $no_otel (just build-no-otel, or set YOUKI_NO_OTEL)"
elif [[ ! -x $otlp_sink ]]; then
    note "spans row skipped: no otlp-sink at $otlp_sink (cargo build --release -p e2e-containerd, or set OTLP_SINK)"
else
    sdir="$work/spans"
    mkdir -p "$sdir/no-otel" "$sdir/off" "$sdir/on"
    # One binary per mode, each named youki, so that the three differ in nothing else.
    ln -s "$(realpath "$no_otel")" "$sdir/no-otel/youki"
    ln -s "$(realpath "$youki_path")" "$sdir/off/youki"
    ln -s "$(realpath "$youki_path")" "$sdir/on/youki"
    "$otlp_sink" 127.0.0.1:0 "$results/spans-sink.txt" >"$sdir/sink.addr" 2>"$sdir/sink.err" &
    sink_pid=$!
    for _ in $(seq 100); do
        [[ -s $sdir/sink.addr ]] && break
        sleep 0.05
    done
    sink_addr=$(head -n1 "$sdir/sink.addr")
    if [[ -z $sink_addr ]]; then
        note "spans row skipped: otlp-sink did not start: $(cat "$sdir/sink.err")"
    else
        # The endpoint is set in the command for `on` only: an `export` is a shell builtin,
        # so the three commands pay the same shell.
        sp_cmd="$sdir/{mode}/youki --root $state/spans"
        spid="$ids_prefix-sp"
        endpoint="http://$sink_addr"
        yhf spans no-otel,off,on \
            --prepare "$sp_cmd delete --force $spid >/dev/null 2>&1 || true" \
            "if [ {mode} = on ]; then export OTEL_EXPORTER_OTLP_ENDPOINT=$endpoint; fi; $sp_cmd create --bundle $bundle $spid && $sp_cmd start $spid && $sp_cmd delete --force $spid"
        # The target is about a create: the same, create alone (the delete is untimed).
        yhf spans-create off,on \
            --prepare "$sp_cmd delete --force $spid >/dev/null 2>&1 || true" \
            "if [ {mode} = on ]; then export OTEL_EXPORTER_OTLP_ENDPOINT=$endpoint; fi; $sp_cmd create --bundle $bundle $spid"
        "$hostview" "$sdir/off/youki" --root "$state/spans" delete --force "$spid" >/dev/null 2>&1 || true
        sleep 0.3   # the sink rewrites its counts every 100 ms
    fi
    kill "$sink_pid" 2>/dev/null || true
    wait "$sink_pid" 2>/dev/null || true
fi

# WebAssembly against busybox: each case is a directory with `rt` (the binary) and `bundle`.
if ! row_on wasm; then
    :
elif [[ -x $wasm_path && -x $youki_path ]]; then
    note "metric wasm ($wasm_path)"
    hello="$bundle/rootfs/hello.wasm"
    if [[ -x $(dirname "$wasm_path")/wat2wasm ]]; then
        "$(dirname "$wasm_path")/wat2wasm" "$repo/tests/wasm/modules/hello.wat" "$hello"
    else
        hello="$bundle/rootfs/hello.wat"
        cp "$repo/tests/wasm/modules/hello.wat" "$hello"
    fi
    # case NAME BINARY ARGS_JSON
    add_case() {
        mkdir -p "$work/cases/$1/bundle"
        ln -s "$(realpath "$2")" "$work/cases/$1/rt"
        python3 - "$bundle/config.json" "$work/cases/$1/bundle/config.json" "$bundle/rootfs" "$3" <<'PY'
import json, sys
src, dst, rootfs, args = sys.argv[1:5]
spec = json.load(open(src))
spec["root"]["path"] = rootfs
spec["process"]["args"] = json.loads(args)
json.dump(spec, open(dst, "w"), indent=2)
PY
        wasm_cases+=("$1")
    }
    add_case youki-busybox "$youki_path" '["/bin/echo", "hello"]'
    add_case youki-wasm-busybox "$wasm_path" '["/bin/echo", "hello"]'
    add_case youki-wasm-module "$wasm_path" "[\"/$(basename "$hello")\"]"
    case_list=$(IFS=,; echo "${wasm_cases[*]}")
    case_cmd="$work/cases/{case}/rt --root $state/{case}"
    wid="$ids_prefix-wasm"
    whf() {
        local metric=$1
        shift
        if ! "$hostview" hyperfine --warmup "$warmup" --runs "$runs" --style basic -L case "$case_list" \
            -n "{case} $metric" --export-json "$results/$metric.json" "$@"; then
            note "metric $metric failed; it is left out of the summary"
            rm -f "$results/$metric.json"
        fi
    }
    whf wasm-lifecycle \
        --prepare "$case_cmd delete --force $wid >/dev/null 2>&1 || true" \
        "$case_cmd create --bundle $work/cases/{case}/bundle $wid >/dev/null && $case_cmd start $wid && $case_cmd delete --force $wid"
    whf wasm-run -N \
        --prepare "sh -c '$case_cmd delete --force $wid >/dev/null 2>&1 || true'" \
        "$case_cmd run --bundle $work/cases/{case}/bundle $wid"
    for c in "${wasm_cases[@]}"; do
        out="$results/wasm-rss-$c.txt"
        : >"$out"
        for _ in $(seq "$rss_samples"); do
            "$hostview" /usr/bin/time -v -o "$work/time.txt" \
                "$work/cases/$c/rt" --root "$state/$c" run --bundle "$work/cases/$c/bundle" "$wid" >/dev/null
            sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$work/time.txt" >>"$out"
        done
    done
    printf '%s\n' "${wasm_cases[@]}" >"$results/wasm-cases.txt"
else
    note "no wasm build at $wasm_path (just build-wasm): the WebAssembly rows are skipped"
fi

# Versions and host, for the youki-only rows.
{
    for rt in "${runtimes[@]}"; do
        printf '%s: %s\n' "$rt" "$("$bin/$rt" --version 2>&1 | head -n1)"
    done
    printf 'host: %s cores, kernel %s, %s\n' "$(nproc)" "$(uname -r)" "$(hyperfine --version)"
    printf 'runs: %s (+%s warmup)\n' "$runs" "$warmup"
    if ((${#forced[@]})); then printf 'FORCED: %s\n' "${forced[1]}"; fi
} >"$results/env.txt"

{
    if ((${#case_files[@]})); then
        python3 "$here/table.py" "${case_files[@]}"
        echo
    fi
    python3 "$here/summarize.py" "$results"
} | tee "$results/summary.md"
if ((${#case_files[@]})); then note "interleaved cases: ${case_files[*]}"; fi
note "youki-only rows and the summary in $results"
((${#forced[@]} == 0)) || note "FORCED under load: ${forced[1]}"
