#!/usr/bin/env bash
# Soak: N container cycles in a row against any runc-compatible runtime, then nothing left.
#
#   bash tests/fault/soak.sh RUNTIME N        (`just soak N` runs it on the release build)
#
# Three kinds of cycle take turns, each with a fresh id:
#   lifecycle  create, start, exec true, kill KILL, wait for stopped, delete
#   run        run of /bin/true in the foreground (the runtime removes the container)
#   limits     run -d under a Docker-like seccomp profile (tests/bench/seccomp-docker-like.json)
#              with memory, cpu and pids limits, exec true, delete --force
# Every call must exit 0 within FAULT_TIMEOUT (10) seconds. Every 1000 cycles, and at the
# end, it prints the cycle latency (p50, p99, max, in ms) and checks the host: no state dir,
# cgroup, mount, process or fd carrying this run's tag may remain.
# Closes with `soak: 1 passed, 0 failed, 0 skipped` (or 0 passed, 1 failed); exits 1 on a
# failed cycle or a leak.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ $# -eq 2 && $2 =~ ^[0-9]+$ ]] || {
    echo "usage: $0 RUNTIME N" >&2
    exit 2
}
RT=$(realpath "$1")
N=$2
RUN=$RT
tag=ys$$
# shellcheck source=tests/fault/lib.sh
source "$here/lib.sh"
[[ $(id -u) == 0 ]] || {
    echo "soak: run as root" >&2
    exit 2
}
fault_packages
fault_setup || exit 2
cleanup() {
    local id
    for id in $(ls "$root" 2>/dev/null; cgroup_ids); do
        scrub "$id" "$work/b/$id"
    done
    rm -rf "$root" "$work"
}
cgroup_ids() {
    find /sys/fs/cgroup -maxdepth 2 -type d -name "$tag-*" -printf '%f\n' 2>/dev/null | sort -u
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One bundle per kind; config.json is rewritten for each id (its cgroupsPath is "/ID").
declare -A tmpl
mkbundle() {
    local kind=$1 filter=$2
    cp -al "$work/tmpl" "$work/b/$kind"
    tmpl[$kind]=$(jq --slurpfile sec "$here/../bench/seccomp-docker-like.json" "$filter" "$work/spec/config.tmpl.json") || exit 2
}
mkbundle lifecycle '.'
mkbundle run '.process.args = ["true"]'
# shellcheck disable=SC2016 # $sec is jq's
mkbundle limits '.linux.seccomp = $sec[0] | .linux.resources += {
    "memory": {"limit": 268435456}, "cpu": {"shares": 512, "quota": 50000, "period": 100000},
    "pids": {"limit": 100}}'

failures=() nfail=0
# call ARGS...: a runtime call that must succeed; notes the failure otherwise.
call() {
    rr "$@" && return 0
    local rc=$?
    nfail=$((nfail + 1))
    ((${#failures[@]} < 5)) && failures+=("cycle $cycle: '$1' exited $rc: $(err_text)")
    return 1
}

# wait_stopped ID: polls `state` until the container has stopped.
wait_stopped() {
    local i
    for ((i = 0; i < 500; i++)); do
        rr state "$1" || return 1
        [[ $(<"$work/out") == *'"status": "stopped"'* || $(<"$work/out") == *'"status":"stopped"'* ]] && return 0
        nap_ms 2
    done
    nfail=$((nfail + 1))
    failures+=("cycle $cycle: $1 did not stop")
    return 1
}

one_cycle() {
    local kind=$1 b=$work/b/$1
    printf '%s\n' "${tmpl[$kind]//@ID@/$ID}" >"$b/config.json"
    case $kind in
    lifecycle)
        call create --bundle "$b" "$ID" && call start "$ID" && call exec "$ID" true &&
            call kill "$ID" KILL && wait_stopped "$ID" && call delete "$ID"
        ;;
    run)
        call run --bundle "$b" "$ID"
        ;;
    limits)
        call run -d --bundle "$b" "$ID" && call exec "$ID" true && call delete --force "$ID"
        ;;
    esac
    local ok=$?
    if ((ok != 0)); then
        rr delete --force "$ID"
        scrub "$ID" "$b"
    fi
    return $ok
}

# stats FILE: "p50 X ms, p99 Y ms, max Z ms" of the latencies (µs, one a line) in FILE.
stats() {
    sort -n "$1" | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "no cycles"; exit }
        p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]
        printf "p50 %.1f ms, p99 %.1f ms, max %.1f ms", p50 / 1000, p99 / 1000, v[NR] / 1000 }'
}

leaks=0
check_host() {
    local left
    left=$(accounting "$tag")
    # The per-kind bundles stay for the whole run; only what a container left counts.
    if [[ -n $left ]]; then
        leaks=$((leaks + $(grep -c . <<<"$left")))
        echo "# soak: left on the host after $cycle cycles: $(paste -sd, <<<"$left" | cut -c1-600)"
    fi
    # Dot-names are no containers: youki and crun keep compiled seccomp programs in .cache.
    if [[ -n $(ls "$root") ]]; then
        leaks=$((leaks + 1))
        echo "# soak: state dirs left in $root: $(ls "$root" | head -5 | paste -sd' ')"
    fi
}

kinds=(lifecycle run limits)
echo "# soak: $N cycles against $RT (tag $tag)"
start=$(date +%s)
window=$work/window.us all=$work/all.us
: >"$window"
: >"$all"
for ((cycle = 1; cycle <= N; cycle++)); do
    next_id
    kind=${kinds[cycle % 3]}
    t0=${EPOCHREALTIME/./}
    one_cycle "$kind"
    t1=${EPOCHREALTIME/./}
    echo "$((t1 - t0)) $kind" >>"$all"
    echo "$((t1 - t0))" >>"$window"
    if ((cycle % 1000 == 0 || cycle == N)); then
        first=$(((cycle - 1) / 1000 * 1000 + 1))
        echo "# soak cycles $first-$cycle: $(stats "$window"); $nfail failed so far"
        : >"$window"
        check_host
    fi
done
for kind in "${kinds[@]}"; do
    awk -v k="$kind" '$2 == k {print $1}' "$all" >"$work/$kind.us"
    echo "# soak $kind cycles: $(stats "$work/$kind.us")"
done
echo "# soak: $N cycles in $(($(date +%s) - start))s, $nfail failed, $leaks leaked"
for f in "${failures[@]}"; do echo "# soak: $f"; done
if ((nfail == 0 && leaks == 0)); then
    echo "ok soak ($N cycles)"
    echo "soak: 1 passed, 0 failed, 0 skipped"
else
    echo "FAIL soak: $nfail failed cycles, $leaks leaks"
    echo "soak: 0 passed, 1 failed, 0 skipped"
    exit 1
fi
