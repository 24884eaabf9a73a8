# shellcheck shell=bash
# The load gate of every benchmark (sourced): figures taken beside other work are not
# figures. A build just before (as in `just bench`) leaves the load high for a minute or
# two, so it waits up to BENCH_SETTLE seconds (180) for the 1-minute load average to fall to
# BENCH_LOAD_MAX (0.5) or below. Then it refuses to start, unless FORCE is 1; a forced run
# says so on stderr and through the array `forced` (`--forced REASON` for the drivers, whose
# result files carry it).
#
#   bench_split_args "$@"    # sets force and positional
#   bench_load_gate FORCE    # sets load_max and forced; exits 1 when it refuses

# shellcheck disable=SC2034 # load_max and forced are the caller's
bench_load_gate() {
    local force=$1 waited=0
    load_max=${BENCH_LOAD_MAX:-0.5}
    local settle=${BENCH_SETTLE:-180}
    forced=()
    while bench_load_above "$(bench_load1)" "$load_max" && ((waited < settle)) && [[ $force == 0 ]]; do
        ((waited == 0)) && echo "bench: 1-minute load average $(bench_load1) > $load_max: waiting up to ${settle}s for it to settle" >&2
        sleep 10
        waited=$((waited + 10))
    done
    bench_load_above "$(bench_load1)" "$load_max" || return 0
    if [[ $force == 0 ]]; then
        echo "bench: refusing to start: 1-minute load average $(bench_load1) > $load_max (busiest: $(ps -eo pcpu=,comm= --sort=-pcpu | head -n3 | awk '{print $2 " " $1 "%"}' | paste -sd,))
bench: rerun on an idle machine, or force it with --force or BENCH_FORCE=1 (the results then say so)" >&2
        exit 1
    fi
    forced=(--forced "load average $(cut -d' ' -f1-3 /proc/loadavg) above $load_max at the start")
    echo "bench: FORCED: 1-minute load average $(bench_load1) > $load_max; these figures are not figures, and every result file says so" >&2
}

# bench_split_args ARGS...: sets force (1 with --force among ARGS, or BENCH_FORCE=1) and
# positional (the other ARGS, in order).
# shellcheck disable=SC2034 # force and positional are the caller's
bench_split_args() {
    force=${BENCH_FORCE:-0}
    positional=()
    local arg
    for arg in "$@"; do
        case $arg in
        --force) force=1 ;;
        *) positional+=("$arg") ;;
        esac
    done
}

bench_load1() { cut -d' ' -f1 /proc/loadavg; }
bench_load_above() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }
