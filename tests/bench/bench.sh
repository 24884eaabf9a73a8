#!/usr/bin/env bash
# Start-up benchmark: runc, crun and youki side by side on the same busybox bundle.
# Not part of CI; run it by hand on an idle machine:
#
#   bash tests/bench/bench.sh [YOUKI_PATH [YOUKI_WASM_PATH]]
#
# YOUKI_PATH defaults to the release build in this repo's target dir. When it is not
# an executable, youki is skipped and only runc and crun are measured. YOUKI_WASM_PATH
# (`just build-wasm`; default: its place in target/wasm) adds the WebAssembly rows.
#
# Environment knobs:
#   BENCH_WARMUP (5)  BENCH_RUNS (50)  BENCH_RSS_SAMPLES (10)  BENCH_LIST_SIZE (5)
#   BENCH_RESULTS (a new directory under /tmp): where JSON exports and tables go
#
# Metrics, one hyperfine invocation each, all runtimes in the same invocation:
#   lifecycle  create + start + delete --force of a /bin/true container
#   limits     the same with cgroup limits set (memory, cpu shares and quota, pids)
#   run        run of the /bin/true container (run removes it when it exits)
#   state      state of a created container
#   list       list with BENCH_LIST_SIZE created containers
#   rss        peak RSS of `create`, from /usr/bin/time -v, BENCH_RSS_SAMPLES samples
#
# With the wasm build, three cases side by side, each printing "hello": the busybox bundle
# running `echo hello` under youki and under youki-wasm, and hello.wasm under youki-wasm:
#   wasm-lifecycle  create + start + delete --force
#   wasm-run        run (the module is compiled, run and waited for)
#   wasm-rss        peak RSS of `run` (its child, the container process, included)
#
# crun refuses hybrid cgroup hosts, so everything runs inside hostview.sh (a private
# mount namespace without the cgroup2 mount). hyperfine itself is started there, so
# every runtime call sees the same host and the wrapper's cost is never timed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
hostview="$here/hostview.sh"

youki_path=${1:-$repo/target/x86_64-unknown-linux-gnu/release/youki}
wasm_path=${2:-$repo/target/wasm/x86_64-unknown-linux-gnu/release/youki}
warmup=${BENCH_WARMUP:-5}
runs=${BENCH_RUNS:-50}
rss_samples=${BENCH_RSS_SAMPLES:-10}
list_size=${BENCH_LIST_SIZE:-5}
results=${BENCH_RESULTS:-${TMPDIR:-/tmp}/youki-bench-$(date +%Y%m%d-%H%M%S)}

note() { echo "bench: $*" >&2; }
die() {
    note "$*"
    exit 1
}

[[ $(id -u) == 0 ]] || die "run as root: the runtimes create namespaces and cgroups"

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

runtimes=(runc crun)
wasm_cases=()
ln -s "$(command -v runc)" "$bin/runc"
ln -s "$(command -v crun)" "$bin/crun"
if [[ -f $youki_path && -x $youki_path ]]; then
    runtimes+=(youki)
    ln -s "$(realpath "$youki_path")" "$bin/youki"
else
    note "no executable youki at $youki_path: measuring runc and crun only"
    note "(build it with: cargo build --release -p youki)"
fi
runtime_list=$(
    IFS=,
    echo "${runtimes[*]}"
)

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

# A runtime call as hyperfine sees it; {rt} is hyperfine's parameter.
rt_cmd="$bin/{rt} --root $state/{rt}"

# hf METRIC HYPERFINE_ARGS...: one hyperfine run over all runtimes, exported as JSON.
hf() {
    local metric=$1
    shift
    note "metric $metric"
    if ! "$hostview" hyperfine --warmup "$warmup" --runs "$runs" --style basic \
        -L rt "$runtime_list" -n "{rt} $metric" --export-json "$results/$metric.json" "$@"; then
        note "metric $metric failed; it is left out of the summary"
        rm -f "$results/$metric.json"
    fi
}

lc="$ids_prefix-lc"
hf lifecycle \
    --prepare "$rt_cmd delete --force $lc >/dev/null 2>&1 || true" \
    "$rt_cmd create --bundle $bundle $lc && $rt_cmd start $lc && $rt_cmd delete --force $lc"

lim="$ids_prefix-lim"
hf limits \
    --prepare "$rt_cmd delete --force $lim >/dev/null 2>&1 || true" \
    "$rt_cmd create --bundle $limited $lim && $rt_cmd start $lim && $rt_cmd delete --force $lim"

rn="$ids_prefix-run"
hf run -N \
    --prepare "sh -c '$rt_cmd delete --force $rn >/dev/null 2>&1 || true'" \
    "$rt_cmd run --bundle $bundle $rn"

st="$ids_prefix-st"
hf state -N \
    --setup "$rt_cmd create --bundle $bundle $st" \
    --cleanup "$rt_cmd delete --force $st" \
    "$rt_cmd state $st"

list_ids=$(seq -f "$ids_prefix-ls%g" 1 "$list_size" | tr '\n' ' ')
hf list -N \
    --setup "sh -c 'for c in $list_ids; do $rt_cmd create --bundle $bundle \$c || exit 1; done'" \
    --cleanup "sh -c 'for c in $list_ids; do $rt_cmd delete --force \$c; done'" \
    "$rt_cmd list"

# Peak RSS of create: GNU time's "Maximum resident set size", one line per sample.
note "metric rss ($rss_samples samples of create)"
rss_id="$ids_prefix-rss"
for rt in "${runtimes[@]}"; do
    out="$results/rss-$rt.txt"
    : >"$out"
    for _ in $(seq "$rss_samples"); do
        "$hostview" /usr/bin/time -v -o "$work/time.txt" \
            "$bin/$rt" --root "$state/$rt" create --bundle "$bundle" "$rss_id"
        "$hostview" "$bin/$rt" --root "$state/$rt" delete --force "$rss_id"
        sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$work/time.txt" >>"$out"
    done
done

# WebAssembly against busybox: each case is a directory with `rt` (the binary) and `bundle`.
if [[ -x $wasm_path && -x $youki_path ]]; then
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

# Versions and host, for the README block.
{
    for rt in "${runtimes[@]}"; do
        printf '%s: %s\n' "$rt" "$("$bin/$rt" --version 2>&1 | head -n1)"
    done
    printf 'host: %s cores, kernel %s, %s\n' "$(nproc)" "$(uname -r)" "$(hyperfine --version)"
    printf 'runs: %s (+%s warmup), rss samples: %s, list size: %s\n' \
        "$runs" "$warmup" "$rss_samples" "$list_size"
} >"$results/env.txt"

python3 "$here/summarize.py" "$results" "$runtime_list" | tee "$results/summary.md"
note "raw results in $results"
