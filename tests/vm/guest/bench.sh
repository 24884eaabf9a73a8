#!/bin/bash
# Runs inside the guest in bench mode (tests/vm/run.sh --bench RUNS): create + start +
# delete --force of the busybox /bin/true bundle, youki, runc 1.3 and crun 1.28 taking
# turns round by round (the order rotated each round), each cycle timed with bash's
# EPOCHREALTIME around the three calls. Writes `RUNTIME ROUND MICROSECONDS` lines to
# OUT/bench.txt (warm-up rounds have a negative ROUND) and `RUNTIME VERSION...` to
# OUT/bench-versions.txt. Under TCG absolute times mean little; the host reports ratios.
#
#   bench.sh LAYER OUT RUNS WARMUP
set -u
layer=$1 out=$2 runs=$3 warmup=$4
# runc and crun from sid are linked against sid's libc at this fixed path (scripts/peers.sh).
peers_lib=/opt/youki-peers/root/usr/lib/x86_64-linux-gnu
mkdir -p "$peers_lib"
cp -a "$layer/peers/lib/." "$peers_lib/"
declare -A bin=([youki]=$layer/bin/youki [runc]=$layer/peers/bin/runc [crun]=$layer/peers/bin/crun)
order=(youki runc crun)
bundle=$layer/bench-bundle
: > "$out/bench.txt"
: > "$out/bench-versions.txt"
for rt in "${order[@]}"; do
  echo "$rt $("${bin[$rt]}" --version 2>&1 | head -1)" >> "$out/bench-versions.txt"
done
failures=0
for ((r = -warmup; r < runs; r++)); do
  k=$(((r + warmup) % ${#order[@]}))
  for rt in "${order[@]:k}" "${order[@]:0:k}"; do
    id=b-$rt-$((r + warmup))
    root=/run/bench-$rt
    t0=$EPOCHREALTIME
    if "${bin[$rt]}" --root "$root" create --bundle "$bundle" "$id" > /dev/null 2>> "$out/bench-errors.txt" &&
      "${bin[$rt]}" --root "$root" start "$id" 2>> "$out/bench-errors.txt" &&
      "${bin[$rt]}" --root "$root" delete --force "$id" 2>> "$out/bench-errors.txt"; then
      t1=$EPOCHREALTIME
      echo "$rt $r $((${t1/./} - ${t0/./}))" >> "$out/bench.txt"
    else
      failures=$((failures + 1))
      echo "$rt $r failed" >> "$out/bench.txt"
      "${bin[$rt]}" --root "$root" delete --force "$id" > /dev/null 2>&1
    fi
  done
done
echo "$failures" > "$out/bench.rc"
