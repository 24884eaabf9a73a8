#!/usr/bin/env bash
# podman and docker, the engines most people run a runtime with, each driving youki and
# then runc (to prove the test): a foreground run with its output, a detached run, exec,
# stop (SIGTERM trapped: exit 0), rm, and a run whose command does not exist, whose error
# must name the cause. Everything is private: podman's storage and run dirs, a dockerd of
# our own (data root, exec root, socket; no bridge, no iptables), all in the private view
# of tests/e2e-containerd/lib.sh. Ends checking that no container, cgroup, mount or
# process is left; prints `e2e-clients: N passed, M failed`.
#
#   bash tests/e2e-clients/run.sh [YOUKI] [podman|docker ...]   # default: the release youki; both
set -euo pipefail
# shellcheck source=../e2e-containerd/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../e2e-containerd/lib.sh"

youki=$(realpath "${1:-$lib_release/youki}")
shift || true
clients=("$@")
((${#clients[@]})) || clients=(podman docker)

if [[ ${YOUKI_PRIVATE_VIEW:-} != 1 ]]; then
    lib_prepare "$youki" podman docker.io runc umoci busybox-static iproute2 util-linux
    lib_private_view bash "$0" "$youki" "${clients[@]}"
fi

start=$(lib_ms)
# podman's and dockerd's fixed paths, private to this run.
lib_view_up /run/containerd /run/libpod /run/containers /var/lib/containers /etc/cni/net.d /etc/containers/networks /run/docker
work=$(mktemp -d /tmp/youki-e2e-clients.XXXXXX)
cg=/youki-e2e-clients-$$
dockerd_pid=
finish() {
    [[ -n $dockerd_pid ]] && { kill "$dockerd_pid" 2>/dev/null || true; wait "$dockerd_pid" 2>/dev/null || true; }
    lib_cgroup_remove "$cg"
    grep -o " $work/[^ ]*" /proc/self/mounts | sort -r | xargs -r umount -l 2>/dev/null || true
    rm -rf "$work"
    lib_view_down
}
trap finish EXIT

passed=0 failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }
# expect WHAT WANT GOT: equality, reported either way.
expect() { if [[ $3 == "$2" ]]; then ok "$1"; else bad "$1: want ${2@Q}, got ${3@Q}"; fi; }
# The error of a run whose command does not exist: it must name the path and the cause.
names_cause() {
    local what=$1 err=$2
    if grep -q -- "/bin/does-not-exist" <<<"$err" && grep -qi "no such file\|not found" <<<"$err"; then
        ok "$what: the error names the cause: $(tr '\n' ' ' <<<"$err" | cut -c1-220)"
    else
        bad "$what: the error does not name the missing command: ${err@Q}"
    fi
}
TRAP_SCRIPT="trap 'exit 0' TERM; sleep 3600 & wait"

lib_busybox_image "$work/img/busybox" localhost/youki-e2e/busybox:1
mkdir -p "$work/rootfs" && lib_busybox_rootfs "$work/rootfs"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .

# smoke LABEL IMAGE: the same steps for every engine; the caller sets `eng` (the engine's
# command) and `run` (its run flags).
smoke() {
    local label=$1 img=$2 err t
    expect "$label: run prints the command's output" "hello from $label" "$("${eng[@]}" "${run[@]}" --rm "$img" echo hello from "$label" 2>&1)"
    "${eng[@]}" "${run[@]}" -d --name e2e "$img" sh -c "$TRAP_SCRIPT" >/dev/null || { bad "$label: run -d"; return; }
    ok "$label: run -d"
    expect "$label: exec" "42 uid=0" "$("${eng[@]}" exec e2e sh -c 'echo $((6*7)) uid=$(id -u)' 2>&1)"
    t=$(lib_ms)
    "${eng[@]}" stop -t 10 e2e >/dev/null || bad "$label: stop"
    expect "$label: stop delivers SIGTERM (exit 0, $(lib_since "$t"))" 0 "$("${eng[@]}" inspect --format '{{.State.ExitCode}}' e2e)"
    if "${eng[@]}" rm e2e >/dev/null; then ok "$label: rm"; else bad "$label: rm"; fi
    if err=$("${eng[@]}" "${run[@]}" --rm "$img" /bin/does-not-exist 2>&1); then
        bad "$label: a missing command ran"
    else
        names_cause "$label: missing command" "$err"
    fi
    expect "$label: no container left" "" "$("${eng[@]}" ps -a -q)"
}

# podman: cgroupfs (no systemd here), events in a file, lower ulimits (root may not raise
# its hard limits here, and podman's defaults would ask the runtime to).
podman_with() {
    local rt=$1 name=$2 img
    eng=(podman --root "$work/podman/storage" --runroot "$work/podman/run" --tmpdir "$work/podman/tmp"
        --network-config-dir "$work/podman/net" --cgroup-manager=cgroupfs --events-backend=file --runtime "$rt")
    run=(run --network none --cgroup-parent "$cg/podman" --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
    lib_say "podman $(podman --version | awk '{print $3}') with $name"
    img=$("${eng[@]}" pull -q "oci-archive:$work/img/busybox.tar") || { bad "podman/$name: pull oci-archive"; return; }
    smoke "podman/$name" "$img"
    "${eng[@]}" rmi -f "$img" >/dev/null 2>&1 || true
}

# docker: a private dockerd (it starts its own containerd) with youki added as a runtime.
docker_with() {
    local name=$1
    eng=(/usr/bin/docker -H "unix://$work/docker.sock")
    run=(run --runtime "$name" --network none)
    lib_say "docker $(dockerd --version | awk '{print $3}' | tr -d ,) with $name"
    smoke "docker/$name" youki-e2e/busybox:1
}

for c in "${clients[@]}"; do
    case $c in
    podman)
        podman_with "$youki" youki
        podman_with "$(command -v runc)" runc
        ;;
    docker)
        dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
            --host "unix://$work/docker.sock" --iptables=false --ip-masq=false --bridge=none \
            --cgroup-parent "$cg/docker" --add-runtime "youki=$youki" > "$work/dockerd.log" 2>&1 &
        dockerd_pid=$!
        for _ in $(seq 100); do /usr/bin/docker -H "unix://$work/docker.sock" version >/dev/null 2>&1 && break; sleep 0.2; done
        /usr/bin/docker -H "unix://$work/docker.sock" import "$work/rootfs.tar" youki-e2e/busybox:1 >/dev/null \
            || { tail -20 "$work/dockerd.log"; lib_fail "dockerd did not start or import failed"; }
        docker_with youki
        docker_with runc
        kill "$dockerd_pid" && wait "$dockerd_pid" || true
        dockerd_pid=
        ;;
    *) lib_fail "unknown client $c (podman or docker)" ;;
    esac
done

lib_say "nothing left behind"
left=()
while read -r l; do left+=("cgroup $l"); done < <(lib_cgroup_leftovers "$cg")
# containers/storage keeps its overlay home bind-mounted on itself; that is the store's, not a container's.
while read -r l; do left+=("mount $l"); done < <(awk '{print $5}' /proc/self/mountinfo | grep "^$work/" | grep -v "^$work/podman/storage/overlay$" || true)
while read -r l; do left+=("process $l"); done < <(pgrep -a -f "$work" | grep -v "^$$ " || true)
if ((${#left[@]})); then
    printf 'left behind: %s\n' "${left[@]}"
    bad "something was left"
else
    ok "no container cgroup, mount or process left"
fi
echo "took $(lib_since "$start")"
echo "e2e-clients: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
