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
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../e2e-containerd/lib.sh
source "$repo/tests/e2e-containerd/lib.sh"

youki=$(realpath "${1:-$repo/target/x86_64-unknown-linux-gnu/release/youki}")
shift || true
clients=("$@")
((${#clients[@]})) || clients=(podman docker)

if [[ ${YOUKI_PRIVATE_VIEW:-} != 1 ]]; then
    [[ $(id -u) -eq 0 ]] || lib_fail "needs root"
    [[ -x $youki ]] || lib_fail "no youki at $youki (just build)"
    lib_apt podman docker.io umoci busybox-static iproute2 util-linux
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

# ---- podman: cgroupfs (no systemd here), events in a file, lower ulimits (root may not
# raise its hard limits here, and podman's defaults would ask the runtime to).
podman_with() {
    local rt=$1 name=$2
    local pm=(podman --root "$work/podman/storage" --runroot "$work/podman/run" --tmpdir "$work/podman/tmp"
        --network-config-dir "$work/podman/net" --cgroup-manager=cgroupfs --events-backend=file --runtime "$rt")
    local run=(run --network none --cgroup-parent "$cg/podman" --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
    local img out err t
    lib_say "podman $(podman --version | awk '{print $3}') with $name"
    img=$("${pm[@]}" pull -q "oci-archive:$work/img/busybox.tar") || { bad "podman/$name: pull oci-archive"; return; }
    expect "podman/$name: run prints the command's output" "hello from $name" "$("${pm[@]}" "${run[@]}" --rm "$img" echo hello from "$name" 2>&1)"
    "${pm[@]}" "${run[@]}" -d --name "e2e-$name" "$img" sh -c "$TRAP_SCRIPT" >/dev/null || { bad "podman/$name: run -d"; return; }
    ok "podman/$name: run -d"
    expect "podman/$name: exec" "42 uid=0" "$("${pm[@]}" exec "e2e-$name" sh -c 'echo $((6*7)) uid=$(id -u)' 2>&1)"
    t=$(lib_ms)
    "${pm[@]}" stop -t 10 "e2e-$name" >/dev/null || bad "podman/$name: stop"
    expect "podman/$name: stop delivers SIGTERM (exit 0, $(lib_since "$t"))" 0 "$("${pm[@]}" inspect --format '{{.State.ExitCode}}' "e2e-$name")"
    "${pm[@]}" rm "e2e-$name" >/dev/null && ok "podman/$name: rm" || bad "podman/$name: rm"
    if err=$("${pm[@]}" "${run[@]}" --rm "$img" /bin/does-not-exist 2>&1); then
        bad "podman/$name: a missing command ran"
    else
        names_cause "podman/$name: missing command" "$err"
    fi
    out=$("${pm[@]}" ps -a -q)
    expect "podman/$name: no container left" "" "$out"
    "${pm[@]}" rmi -f "$img" >/dev/null 2>&1 || true
}

# ---- docker: a private dockerd (it starts its own containerd), youki added as a runtime.
docker_with() {
    local name=$1
    local dk=(/usr/bin/docker -H "unix://$work/docker.sock") err t
    local run=(run --runtime "$name" --network none)
    lib_say "docker $(dockerd --version | awk '{print $3}' | tr -d ,) with $name"
    expect "docker/$name: run prints the command's output" "hello from $name" "$("${dk[@]}" "${run[@]}" --rm youki-e2e/busybox:1 echo hello from "$name" 2>&1)"
    "${dk[@]}" "${run[@]}" -d --name "e2e-$name" youki-e2e/busybox:1 sh -c "$TRAP_SCRIPT" >/dev/null || { bad "docker/$name: run -d"; return; }
    ok "docker/$name: run -d"
    expect "docker/$name: exec" "42 uid=0" "$("${dk[@]}" exec "e2e-$name" sh -c 'echo $((6*7)) uid=$(id -u)' 2>&1)"
    t=$(lib_ms)
    "${dk[@]}" stop -t 10 "e2e-$name" >/dev/null || bad "docker/$name: stop"
    expect "docker/$name: stop delivers SIGTERM (exit 0, $(lib_since "$t"))" 0 "$("${dk[@]}" inspect --format '{{.State.ExitCode}}' "e2e-$name")"
    "${dk[@]}" rm "e2e-$name" >/dev/null && ok "docker/$name: rm" || bad "docker/$name: rm"
    if err=$("${dk[@]}" "${run[@]}" --rm youki-e2e/busybox:1 /bin/does-not-exist 2>&1); then
        bad "docker/$name: a missing command ran"
    else
        names_cause "docker/$name: missing command" "$err"
    fi
    expect "docker/$name: no container left" "" "$("${dk[@]}" ps -a -q)"
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
