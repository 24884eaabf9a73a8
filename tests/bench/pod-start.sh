#!/usr/bin/env bash
# Pod start latency through containerd, as the kubelet sees it: RunPodSandbox, then
# CreateContainer and StartContainer of one busybox container, per call and in total,
# youki vs runc vs crun on the same private containerd (tests/e2e-containerd's setup:
# private mount and network namespace, cgroup2 unmounted for all three, CNI bridge).
# The handlers take turns round by round (tests/bench/podstart.py); the result file is
# bench/results/<stamp>-podstart.json, and docs/performance.md's table is generated from it.
# Not part of CI; run it on an idle machine (the load gate of tests/bench/loadgate.sh):
#
#   bash tests/bench/pod-start.sh [--force] [YOUKI] [RUNS]   # RUNS pods per handler (100)
#
#   BENCH_POD_LANE   2.1 (default): containerd 2.1 with runc 1.3 and crun 1.28 from
#                    scripts/peers.sh; 1.6: Debian's containerd 1.6, runc 1.1.5, crun 1.8.1
#   BENCH_POD_CHUNK  pods per handler per round (5); BENCH_OUT: where the file goes
set -euo pipefail
# shellcheck source=../e2e-containerd/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../e2e-containerd/lib.sh"
here=$lib_repo/tests/bench
# shellcheck source=loadgate.sh
source "$here/loadgate.sh"
bench_split_args "$@"
youki=$(realpath "${positional[0]:-$lib_release/youki}")
runs=${positional[1]:-100}
lane=${BENCH_POD_LANE:-2.1}
chunk=${BENCH_POD_CHUNK:-5}
out_dir=${BENCH_OUT:-$lib_repo/bench/results}
peers=${YOUKI_PEERS:-/opt/youki-peers}
[[ $lane == 1.6 || $lane == 2.1 ]] || lib_fail "BENCH_POD_LANE=$lane: the lanes are 1.6 and 2.1"

if [[ ${YOUKI_PRIVATE_VIEW:-} != 1 ]]; then
    lib_prepare "$youki" --client containerd containernetworking-plugins umoci busybox-static iproute2 util-linux protobuf-compiler runc crun python3
    if [[ $lane == 2.1 ]]; then
        bash "$lib_repo/scripts/peers.sh" >/dev/null || lib_fail "scripts/peers.sh could not install containerd 2.1, runc 1.3 and crun 1.28"
    fi
    bench_load_gate "$force"
    BENCH_POD_FORCED=${forced[1]:-} BENCH_LOAD_MAX=$load_max lib_private_view bash "$0" "$youki" "$runs"
fi

if [[ $lane == 2.1 ]]; then
    export PATH=$peers/root/usr/bin:$PATH
    lib_ctd_schema=3
    lib_handler_bins=([runc]=$peers/bin/runc-1.3 [crun]=$peers/bin/crun-1.28)
fi
lib_view_up
work=$(mktemp -d /tmp/youki-bench-pods.XXXXXX)
cgroup_top=/youki-bench-pods-$$
trap 'lib_cri_down "$work" "$cgroup_top"; rm -rf "$work"; lib_view_down' EXIT
# No OTEL variables: spans are off, as on a node that does not ask for them.
lib_cri_up "$work" "$youki" "$lib_debug/pause"
bins=()
for h in youki runc crun; do bins+=("$h=$(lib_handler_bin "$h" "$youki")"); done
forced=()
[[ -n ${BENCH_POD_FORCED:-} ]] && forced=(--forced "$BENCH_POD_FORCED")
ctd_version=$(containerd --version | awk '{print $3}')
lib_say "containerd $ctd_version: $runs pod starts per handler, $chunk per turn"
file=$(python3 "$here/podstart.py" --cri-e2e "$lib_debug/cri-e2e" --socket "$ctd_sock" --work "$work" \
    --cgroup-top "$cgroup_top" --handlers youki,runc,crun --bins "$(IFS=,; echo "${bins[*]}")" \
    --lane "$lane" --containerd-version "$ctd_version" \
    --runs "$runs" --chunk "$chunk" --out "$out_dir" --load-max "${BENCH_LOAD_MAX:-0.5}" "${forced[@]}")
lib_say "wrote $file"
python3 "$here/table.py" "$file"
