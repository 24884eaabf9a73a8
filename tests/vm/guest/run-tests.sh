#!/bin/bash
# Runs inside the guest, on either lane: the cgroup part of the conformance suite against
# each runtime, then the cargo test executables, writing everything to /vmtest/results
# (the layer disk, read back by the host with debugfs). Settings come from
# /vmtest/config.sh, written by tests/vm/run.sh.
set -u
lane=$1
layer=/vmtest
out=$layer/results
mkdir -p "$out"
# shellcheck source=/dev/null
. "$layer/config.sh"

uptime_s() { cut -d' ' -f1 /proc/uptime; }
say() { echo "youki-vm: $*"; }

boot=$(uptime_s)
say "tests starting in lane $lane at ${boot}s after boot (kernel $(uname -r))"
echo "boot $boot" > "$out/timings"
{
  echo "lane=$lane"
  echo "kernel=$(uname -r)"
  echo "pid1=$(cat /proc/1/comm)"
  echo "cgroup_mount=$(grep ' /sys/fs/cgroup ' /proc/self/mountinfo | cut -d' ' -f5-)"
  echo "controllers=$(cat /sys/fs/cgroup/cgroup.subtree_control)"
  echo "own_cgroup=$(cat /proc/self/cgroup)"
  echo "io_root_files=$(cd /sys/fs/cgroup && echo io.*)"
  echo "disks=$(cd /sys/block && for d in *; do printf '%s(%s) ' "$d" "$(cat "$d/dev")"; done)"
  echo "runc=$(/usr/sbin/runc --version | head -1)"
  echo "youki=$("$layer/bin/youki" --version 2>&1 | head -1)"
} > "$out/guest-facts"
cat "$out/guest-facts"

# Bench mode (run.sh --bench): the interleaved create+start+delete cycle instead of the tests.
if [ -n "${BENCH_RUNS:-}" ]; then
  say "bench: $BENCH_RUNS rounds of youki, runc and crun"
  start=$(uptime_s)
  bash "$layer/guest/bench.sh" "$layer" "$out" "$BENCH_RUNS" "${BENCH_WARMUP:-3}"
  echo "bench $start $(uptime_s)" >> "$out/timings"
  echo "end $(uptime_s)" >> "$out/timings"
  touch "$out/done"
  sync
  say "tests finished at $(uptime_s)s"
  exit 0
fi

runtime_args=()
[ "$lane" = systemd ] && runtime_args=(--runtime-arg --systemd-cgroup)

for entry in "${RUNTIMES[@]}"; do
  name=${entry%%=*}
  path=${entry#*=}
  say "conformance against $name ($path) ${runtime_args[*]}"
  start=$(uptime_s)
  "$layer/bin/conformance" --runtime "$path" "${runtime_args[@]}" "${CASE_FILTERS[@]}" \
    --json "$out/conformance-$name.json" 2>&1 | tee "$out/conformance-$name.log"
  echo "${PIPESTATUS[0]}" > "$out/conformance-$name.rc"
  echo "conformance-$name $start $(uptime_s)" >> "$out/timings"
done

if [ -d "$layer/cargo-tests" ]; then
  for exe in "$layer"/cargo-tests/*; do
    name=$(basename "$exe")
    say "cargo test executable $name"
    start=$(uptime_s)
    # The same flags cargo test passes; one thread keeps the output readable on the console.
    # --nocapture keeps the tests' own "skipping ..." lines, which the host reports.
    (cd /tmp && "$exe" --test-threads=1 --nocapture) > "$out/cargo-$name.log" 2>&1
    echo $? > "$out/cargo-$name.rc"
    grep -E "^test result|FAILED|panicked" "$out/cargo-$name.log"
    echo "cargo-$name $start $(uptime_s)" >> "$out/timings"
  done
fi

dmesg > "$out/dmesg.txt" 2>&1
echo "end $(uptime_s)" >> "$out/timings"
touch "$out/done"
sync
say "tests finished at $(uptime_s)s"
