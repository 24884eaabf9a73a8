#!/usr/bin/env bash
# The negative control of the security cases: runs them against a youki built with every
# breakout defence switched off (`just build-no-defences`: libcontainer's `defences`) and
# requires each to FAIL, with the failure text naming the breakout the case looks for. A
# case that passes there, or fails for another reason, proves nothing about its defence.
# Every `security/` case of the suite must have a row below: a new one without it fails.
#
# Prints `case | result against no-defences | expected | verdict` and last
# `negative-control: N passed, M failed` (passed = failed as required).
#
# Usage: tests/conformance/negative-control.sh [CONFORMANCE] [YOUKI]   (root)
#   defaults: target/x86_64-unknown-linux-gnu/release/conformance, target/no-defences/youki
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
conformance=${1:-target/x86_64-unknown-linux-gnu/release/conformance}
youki=${2:-target/no-defences/youki}

# case|defence switched off|text the failure must contain
rows=(
  "security/cve_2019_5736_runtime_overwrite|sealed trampoline|the attacker overwrote the runtime binary"
  "security/cve_2024_21626_cwd_through_a_leaked_fd|cwd check|the process reached the host through cwd /proc/self/fd/"
  "security/mount_destination_symlink_out_of_the_rootfs|fd-relative resolver|entries made in the host directory the symlink points at"
  "security/dev_symlink_out_of_the_rootfs|fd-relative resolver|the container's /dev"
  "mounts/symlink_destination_stays_in_rootfs|fd-relative resolver|the runtime followed the symlink out of the rootfs"
  "security/console_swapped_for_a_symlink|fd-relative resolver|the pty was bound onto the symlink's target"
  "security/masked_path_with_dev_null_swapped_for_a_symlink|/dev/null device check|the masked path shows the file the fake /dev/null points at"
  "security/sysctl_into_an_overmounted_proc_file|checked procfs|the file over /proc/sys/kernel/shmmax after the sysctl"
)

for f in "$conformance" "$youki"; do
  [ -x "$f" ] || { echo "negative-control: no $f (just build build-no-defences)"; echo "negative-control: 0 passed, 1 failed"; exit 1; }
done

passed=0; failed=0
known=$(printf '%s\n' "${rows[@]}" | cut -d'|' -f1)
while read -r name _; do
  if ! grep -qxF "$name" <<<"$known"; then
    echo "negative-control: $name has no row in $0"; failed=$((failed + 1))
  fi
done < <("$conformance" --list --filter security/)

filters=()
for row in "${rows[@]}"; do filters+=(--filter "${row%%|*}"); done
log=$(mktemp /tmp/negative-control.XXXXXX)
trap 'rm -f "$log"' EXIT
"$conformance" --runtime "$youki" "${filters[@]}" >"$log" 2>&1
rc=$?
if [ "$rc" -gt 1 ]; then
  cat "$log"; echo "negative-control: the suite did not start (exit $rc)"
  echo "negative-control: 0 passed, $((failed + 1)) failed"; exit 1
fi

printf '%s\n' "case | result against no-defences | expected | verdict" "--- | --- | --- | ---"
for row in "${rows[@]}"; do
  IFS='|' read -r name defence want <<<"$row"
  line=$(grep -E "^(PASS|FAIL|SKIP|XFAIL) $name(:|$)" "$log" | head -n 1)
  result=${line%% *}
  detail=${line#* "$name"}; detail=${detail#: }
  if [ "$result" = FAIL ] && [[ "$detail" == *"$want"* ]]; then
    verdict=ok; passed=$((passed + 1))
  else
    verdict="NOT OK"; failed=$((failed + 1))
  fi
  shown="${result:-MISSING}${detail:+: ${detail:0:110}}"
  echo "$name | $shown | FAIL without the $defence: \"$want\" | $verdict"
done
echo "negative-control: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
