#!/usr/bin/env bash
# Pod start latency through containerd, as the kubelet sees it: RunPodSandbox, then
# CreateContainer and StartContainer of one busybox container, per call and in total,
# youki vs runc vs crun on the same private containerd (tests/e2e-containerd's setup:
# private mount and network namespace, cgroup2 unmounted for all three, CNI bridge).
# Not part of CI; run it on an idle machine:
#
#   bash tests/bench/pod-start.sh [YOUKI] [RUNS]     # RUNS per handler (20), after 3 warmups
set -euo pipefail
# shellcheck source=../e2e-containerd/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../e2e-containerd/lib.sh"
youki=$(realpath "${1:-$lib_release/youki}")
runs=${2:-20}

if [[ ${YOUKI_PRIVATE_VIEW:-} != 1 ]]; then
    lib_prepare "$youki" --client containerd containernetworking-plugins umoci busybox-static iproute2 util-linux protobuf-compiler runc crun
    lib_private_view bash "$0" "$youki" "$runs"
fi

lib_view_up
work=$(mktemp -d /tmp/youki-bench-pods.XXXXXX)
cgroup_top=/youki-bench-pods-$$
trap 'lib_cri_down "$work" "$cgroup_top"; rm -rf "$work"; lib_view_down' EXIT
# No OTEL variables: spans are off, as on a node that does not ask for them.
lib_cri_up "$work" "$youki" "$lib_debug/pause"
for h in youki runc crun; do
    lib_say "$h: $runs pod starts"
    "$lib_debug/cri-e2e" --socket "$ctd_sock" --handler "$h" --work "$work" --cgroup-top "$cgroup_top" \
        bench --runs "$runs" --warmup 3 > "$work/$h.json"
done
python3 - "$work"/youki.json "$work"/runc.json "$work"/crun.json <<'PY'
import json, statistics, sys
rows = [json.load(open(p)) for p in sys.argv[1:]]
med = lambda xs: statistics.median(xs)
print(f"\nmedian ms over {rows[0]['runs']} pod starts (p90 of the total in brackets)\n")
print("| handler | RunPodSandbox | CreateContainer | StartContainer | total |")
print("|---|---|---|---|---|")
for r in rows:
    t = sorted(r["total_ms"])
    p90 = t[min(len(t) - 1, int(round(0.9 * (len(t) - 1))))]
    print(f"| {r['handler']} | {med(r['sandbox_ms']):.1f} | {med(r['create_ms']):.1f} | {med(r['start_ms']):.1f} | {med(r['total_ms']):.1f} ({p90:.1f}) |")
by = {r["handler"]: med(r["total_ms"]) for r in rows}
print(f"\nyouki / runc: {by['youki'] / by['runc']:.2f}x   youki / crun: {by['youki'] / by['crun']:.2f}x")
PY
