#!/bin/sh
# youki-trace for the `trace` row of bench.sh, as hyperfine's --setup and --cleanup.
#
#   tracer.sh start DIR MODE YOUKI_TRACE COMM   starts `YOUKI_TRACE --comm COMM` in the
#       background when MODE is `traced` (nothing for `plain`) and returns once it is
#       attached; prints the milliseconds from its start to then
#   tracer.sh stop DIR MODE                     stops it (SIGTERM), waits for it to exit and
#       prints its last stderr line: `youki-trace: load+attach X ms, N events, D dropped`
#
# DIR keeps its pid, stderr and report. Nothing is printed for `plain`.
set -eu
cmd=$1 dir=$2 mode=$3
[ "$mode" = traced ] || exit 0
now_ms() { echo $(($(date +%s%N) / 1000000)); }
case $cmd in
start)
    trace=$4 comm=$5
    mkdir -p "$dir"
    : >"$dir/err"
    t0=$(now_ms)
    "$trace" --comm "$comm" -o "$dir/report.txt" </dev/null >/dev/null 2>"$dir/err" &
    echo $! >"$dir/pid"
    # The "following" line comes right after the programs are attached.
    i=0
    until grep -q following "$dir/err"; do
        if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null || [ $i -ge 5000 ]; then
            echo "tracer.sh: youki-trace did not attach: $(cat "$dir/err")" >&2
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
    grep 'load+attach' "$dir/err" | tail -n1
    ;;
*)
    echo "usage: $0 start|stop DIR MODE [YOUKI_TRACE COMM]" >&2
    exit 2
    ;;
esac
