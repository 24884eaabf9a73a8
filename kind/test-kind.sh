#!/usr/bin/env bash
# End to end on a kind cluster: build the installer image from the static binaries, load it,
# `helm install`, run a pod with runtimeClassName youki, check the node label, `helm
# uninstall`, and check that every node is as it was. Needs docker and kind; exits 2 at once
# with a clear message when either is missing (as on the build machine, where no cluster can
# run). KEEP_CLUSTER=1 keeps the cluster afterwards.
#
#   bash kind/test-kind.sh [RELEASE_DIR]   # RELEASE_DIR holds youki, youki-installer (static)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
release=${1:-$repo/target/x86_64-unknown-linux-gnu/release}
tools=${YOUKI_TOOLS_DIR:-/var/cache/youki-tools}
cluster=youki
image=youki-installer:kind

missing=()
for tool in docker kind; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "test-kind: needs docker and kind, missing: ${missing[*]}; nothing was run" >&2
    exit 2
fi
if ! docker info >/dev/null 2>&1; then
    echo "test-kind: needs docker and kind, but the docker daemon does not answer; nothing was run" >&2
    exit 2
fi
helm=$(command -v helm || echo "$tools/bin/helm")
kubectl=$(command -v kubectl || echo "$tools/bin/kubectl")
for f in "$helm" "$kubectl" "$release/youki" "$release/youki-installer"; do
    [[ -x $f ]] || { echo "test-kind: missing $f (run bash installer/tests/ci.sh for helm/kubectl, just build for the binaries)" >&2; exit 2; }
done

say() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d)
cleanup() {
    rm -rf "$work"
    if [[ ${KEEP_CLUSTER:-} != 1 ]]; then kind delete cluster --name "$cluster" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

say "installer image from static binaries (no Dockerfile)"
mkdir -p "$work/rootfs/usr/local/bin" "$work/rootfs/tmp"
chmod 1777 "$work/rootfs/tmp"
install -m 0755 "$release/youki" "$release/youki-installer" "$work/rootfs/usr/local/bin/"
[[ -x $release/youki-trace ]] && install -m 0755 "$release/youki-trace" "$work/rootfs/usr/local/bin/"
tar -C "$work/rootfs" -c . | docker import - "$image" >/dev/null

say "cluster"
kind create cluster --name "$cluster" --config "$repo/kind/cluster.yaml" --wait 120s
kind load docker-image "$image" --name "$cluster"
docker pull -q busybox:1.36 >/dev/null && kind load docker-image busybox:1.36 --name "$cluster"
k() { "$kubectl" --context "kind-$cluster" "$@"; }
nodes=$(kind get nodes --name "$cluster")

# kind's node image runs systemd without dbus-daemon, so there is no system bus for
# --restart systemd: containerd is stopped by signal and systemd (Restart=always) starts it.
say "helm install"
"$helm" --kube-context "kind-$cluster" install youki "$repo/charts/youki" \
    --set image.repository=youki-installer --set image.tag=kind --set image.pullPolicy=Never \
    --set restart=signal --wait --timeout 5m
k wait node --all --for=jsonpath='{.metadata.labels.youki\.dev/runtime}'=ready --timeout=180s \
    || fail "nodes were not labelled youki.dev/runtime=ready"

say "a pod with runtimeClassName youki"
k apply -f "$repo/kind/smoke-pod.yaml"
k wait pod/youki-smoke --for=jsonpath='{.status.phase}'=Succeeded --timeout=180s || { k describe pod youki-smoke; fail "smoke pod did not succeed"; }
k logs youki-smoke | tee "$work/smoke.log"
grep -q '^runtime=youki' "$work/smoke.log" || fail "smoke pod printed nothing"
node=$(k get pod youki-smoke -o jsonpath='{.spec.nodeName}')
docker exec "$node" sh -c 'crictl pods --name youki-smoke -o json' | grep '"runtimeHandler": "youki"' >/dev/null \
    || fail "the smoke pod did not run with the youki handler"
k delete pod youki-smoke --wait

say "helm uninstall"
"$helm" --kube-context "kind-$cluster" uninstall youki --wait --timeout 8m
for n in $nodes; do
    labels=$(k get node "$n" -o jsonpath='{.metadata.labels}')
    [[ $labels != *youki.dev* ]] || fail "$n still has youki labels: $labels"
    docker exec "$n" test ! -e /opt/youki || fail "$n still has /opt/youki"
    if docker exec "$n" grep -q 'runtimes.youki' /etc/containerd/config.toml; then fail "$n config still has youki"; fi
    docker exec "$n" crictl info >/dev/null || fail "containerd on $n does not answer"
done
k get runtimeclass youki >/dev/null 2>&1 && fail "RuntimeClass youki is still there"
say "kind end to end passed"
