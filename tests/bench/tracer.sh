#!/bin/sh
# youki-trace for the `trace` row of bench.sh, as hyperfine's --setup and --cleanup.
#
#   tracer.sh start DIR MODE YOUKI_TRACE COMM   starts, in the background, for MODE
#       traced    `YOUKI_TRACE --comm COMM` (every event printed to DIR/report.txt)
#       recorded  `YOUKI_TRACE record --comm COMM` (the flight recorder, idle: its failure
#                 reports go to DIR/failures, and a create that succeeds leaves nothing)
#       and returns once it says it follows; prints the milliseconds from its start to then
#   tracer.sh stop DIR MODE                     stops it (SIGTERM), waits for it to exit and
#       prints its closing counts line (a note on stderr when there is none):
#       traced    `youki-trace: load+attach X ms, N events, D dropped`
#       recorded  `youki-trace record: stopped: W reports written; creates: F failed,
#                 S succeeded, G given up ...; lost: E events (ring full), ...`
#
# DIR keeps its pid, stderr and reports. Nothing is started or printed for `plain`.
set -eu
cmd=$1 dir=$2 mode=$3
case $mode in
traced) closing='load+attach' ;;
recorded) closing='record: stopped:' ;;
*) exit 0 ;;
esac
now_ms() { echo $(($(date +%s%N) / 1000000)); }
case $cmd in
start)
    trace=$4 comm=$5
    mkdir -p "$dir"
    : >"$dir/err"
    t0=$(now_ms)
    if [ "$mode" = traced ]; then
        "$trace" --comm "$comm" -o "$dir/report.txt" </dev/null >/dev/null 2>"$dir/err" &
    else
        "$trace" record --comm "$comm" --dir "$dir/failures" </dev/null >/dev/null 2>"$dir/err" &
    fi
    echo $! >"$dir/pid"
    # Both print a line with "following" right after the programs are attached.
    i=0
    until grep -q following "$dir/err"; do
        if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null || [ $i -ge 5000 ]; then
            echo "tracer.sh: youki-trace ($mode) did not attach: $(cat "$dir/err")" >&2
            exit 1
        fi
        i=$((i + 1))
        sleep 0.002
    done
    echo $(($(now_ms) - t0))
    ;;
stop)
    pid=$(cat "$dir/pid")
    kill -TERM "$pid"
    i=0
    while kill -0 "$pid" 2>/dev/null; do
        [ $i -lt 3000 ] || { echo "tracer.sh: youki-trace $pid did not stop" >&2; exit 1; }
        i=$((i + 1))
        sleep 0.01
    done
    rm -f "$dir/pid"
    if ! grep "$closing" "$dir/err" | tail -n1 | grep .; then
        echo "tracer.sh: youki-trace ($mode) printed no closing counts: $(tail -n3 "$dir/err")" >&2
    fi
    ;;
*)
    echo "usage: $0 start|stop DIR MODE [YOUKI_TRACE COMM]" >&2
    exit 2
    ;;
esac
