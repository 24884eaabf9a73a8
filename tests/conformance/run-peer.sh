#!/usr/bin/env bash
# Runs the conformance suite against a peer runtime and writes its committed report,
# tests/conformance/results/NAME.json. Used for the crun rows, which are measured by hand
# (not in CI): crun refuses a hybrid cgroup host, so on one the whole suite (harness,
# checker and runtime alike) runs in a private mount namespace without the cgroup2 mount at
# /sys/fs/cgroup/unified. The host is then pure cgroup v1 for every process of the run. On
# any other host the suite runs as it is.
#
# Usage: tests/conformance/run-peer.sh NAME RUNTIME [conformance args...]   (root)
#   e.g.  tests/conformance/run-peer.sh crun-1.8.1 /usr/bin/crun
#         tests/conformance/run-peer.sh crun-1.28 /opt/youki-peers/bin/crun-1.28
#   CONFORMANCE=path picks the harness (default: the release build, else the debug one).
# Exit status: the harness's (1 when a case failed), or 2 when something was left behind.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2

if [ $# -lt 2 ]; then
  sed -n '9,13p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
name=$1 runtime=$2
shift 2

conformance=${CONFORMANCE:-}
if [ -z "$conformance" ]; then
  for c in target/x86_64-unknown-linux-gnu/release/conformance target/x86_64-unknown-linux-gnu/debug/conformance; do
    if [ -x "$c" ]; then conformance=$c; break; fi
  done
fi
[ -x "${conformance:-}" ] || { echo "run-peer: no conformance binary (cargo build -p conformance, or set CONFORMANCE)" >&2; exit 2; }
[ -x "$runtime" ] || { echo "run-peer: runtime $runtime is not executable" >&2; exit 2; }

out=tests/conformance/results/$name.json
# criu 4.2 from scripts/peers.sh, when installed: Debian's criu 3.17 cannot run on this kernel.
path=$PATH
[ -d /opt/youki-peers/criu-path ] && path=/opt/youki-peers/criu-path:$PATH

# Hybrid: v1 controllers under a tmpfs at /sys/fs/cgroup, plus a cgroup2 mount at unified.
hybrid=no
if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ] \
  && [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
  hybrid=yes
fi

cmd=("$conformance" --runtime "$runtime" --json "$out" "$@")
status=0
if [ "$hybrid" = yes ]; then
  echo "# run-peer: hybrid cgroups: running in a private mount namespace without /sys/fs/cgroup/unified"
  # The namespace ends with its last process; its mounts go with it.
  PATH=$path unshare -m --propagation private \
    sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' run-peer "${cmd[@]}" || status=$?
else
  PATH=$path "${cmd[@]}" || status=$?
fi

# Anything the run left behind on the host: its temp dirs, the suite's cgroup parent, a
# process still running the checker or the runtime.
left=()
for d in "${TMPDIR:-/tmp}"/conformance-*; do
  [ -e "$d" ] && left+=("dir $d")
done
for d in /sys/fs/cgroup/*/conformance; do
  [ -d "$d" ] && left+=("cgroup $d")
done
while read -r pid; do
  [ -n "$pid" ] && left+=("process $pid: $(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)")
done < <(pgrep -f -- "$(basename "$runtime") --root ${TMPDIR:-/tmp}/conformance-|/checker( |$)" || true)
if [ ${#left[@]} -gt 0 ]; then
  echo "# run-peer: left behind (other suites running at the same time show up here too):" >&2
  printf '#   %s\n' "${left[@]}" >&2
  [ "$status" -eq 0 ] && status=2
fi
[ -s "$out" ] && echo "# run-peer: wrote $out"
exit "$status"
