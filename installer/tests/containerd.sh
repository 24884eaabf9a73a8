#!/usr/bin/env bash
# The installer against a real containerd, in two lanes: Debian's 1.6 (config version 2) and
# today's 2.1 (config version 3, from scripts/peers.sh), each started privately on a temp dir
# that stands in for the host root. This script is containerd's supervisor: it starts it
# again whenever it exits, as systemd would. Checks: install with --restart signal, the
# installer's own CRI check (Status, verbose) finds the `youki` handler after the restart,
# and so do the daemon's log and `containerd config dump`; status; with a real YOUKI: a pod
# runs through the CRI with runtime handler `youki` (cri-e2e smoke), a pod with handler
# youki held running through the CRI survives an upgrade of the binary (exec, stop, removal
# still work, cri-e2e hold/release) and blocks uninstall while it runs; uninstall restores
# the config byte for byte, and the CRI no longer knows the handler (the installer's check,
# and a pod with handler `youki` refused by name). The wasm build: youki-wasm shipped beside
# youki gets its own handler, which the CRI knows (and runs a pod with), an image without it
# takes the handler out, and uninstall removes its binary. Then the DaemonSet mode (`run`) against
# the tests' fake API server (no API server can run here): the node is labelled only after
# the CRI check, a pod runs, the pre-delete request (`cleanup`) uninstalls, SIGTERM exits 0.
#
#   bash installer/tests/containerd.sh [INSTALLER] [YOUKI]   # default: a debug build, no youki
#   YOUKI_CTD_LANES=2.1 bash installer/tests/containerd.sh ...  # one lane (default "1.6 2.1")
#   YOUKI_WASM=target/wasm/.../youki WAT2WASM=... bash installer/tests/containerd.sh ...
#       # the wasm build as youki-wasm (with WAT2WASM: a pod of wasm modules through it)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
installer=${1:-}
youki=${2:-}
# shellcheck source=../../tests/e2e-containerd/lib.sh
source "$repo/tests/e2e-containerd/lib.sh"
fail() { lib_fail "$@"; }
say() { lib_say "$@"; }
# Today's peers (scripts/peers.sh): containerd 2.1 with its shim and ctr, one path.
peers_sh=${YOUKI_PEERS_SH:-$repo/scripts/peers.sh}
ctd2_dir=${YOUKI_PEERS:-/opt/youki-peers}/root/usr/bin

[[ $(id -u) -eq 0 ]] || fail "needs root (containerd)"
lib_apt containerd umoci busybox-static protobuf-compiler
(cd "$repo" && cargo build -q --locked -p e2e-containerd && cargo build -q --locked -p youki-installer --example fake-apiserver) \
    || fail "cargo build -p e2e-containerd, fake-apiserver"
if [[ -z $installer ]]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/target-inst}
    (cd "$repo" && cargo build -q -p youki-installer)
    installer=$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/debug/youki-installer
fi
# Each lane in a private mount (and network) namespace, as tests/e2e-containerd uses:
# containerd's fixed paths (/run/containerd, /var/lib/cni) are tmpfs there, and the fake
# host's /opt and /run/containerd/youki are bind mounted on the real paths, so the handler's
# BinaryName /opt/youki/bin/youki and Root /run/containerd/youki are the installer's.
if [[ ${YOUKI_PRIVATE_VIEW:-} != 1 ]]; then
    rc=0
    for lane in ${YOUKI_CTD_LANES:-1.6 2.1}; do
        if [[ $lane == 2.1 ]]; then
            [[ -f $peers_sh ]] || fail "no $peers_sh: the 2.1 lane needs containerd 2.1"
            bash "$peers_sh" >/dev/null || fail "$peers_sh could not install containerd 2.1"
        fi
        YOUKI_PRIVATE_VIEW=1 YOUKI_CTD_LANE=$lane "$repo/tests/bench/hostview.sh" unshare --net \
            bash "$0" "$(realpath "$installer")" "${youki:+$(realpath "$youki")}" || { rc=1; echo "FAIL: lane $lane" >&2; }
    done
    exit $rc
fi
lane=${YOUKI_CTD_LANE:-1.6}
# What each containerd logs when its CRI plugin starts, and how that line shows a handler
# (1.6: Go's %+v of the config; 2.x: JSON with escaped quotes).
if [[ $lane == 2.1 ]]; then
    cri_started='starting cri plugin'
    has_youki='\\"youki\\":{\\"runtimeType\\":\\"io.containerd.runc.v2\\"'
    has_annotation='\\"PodAnnotations\\":\[\\"io.youki.traceparent\\"\]'
    shows_youki='\\"youki\\":{[^}]*}'
    pause_sed="s|^\\( *\\)sandbox = .*|\\1sandbox = 'localhost/youki-e2e/pause:1'|"
else
    cri_started='Start cri plugin with config'
    has_youki='youki:{Type:io.containerd.runc.v2'
    has_annotation='PodAnnotations:\[io.youki.traceparent\]'
    shows_youki='youki:{Type:[^ ]* [^}]*PodAnnotations:[^]]*]'
    pause_sed='s|sandbox_image = .*|sandbox_image = "localhost/youki-e2e/pause:1"|'
fi
lib_view_up /run/containerd /var/lib/cni

work=$(mktemp -d /tmp/youki-inst-ctd.XXXXXX)
host=$work/host
cfg=$host/etc/containerd/config.toml
sock=$host/run/containerd/containerd.sock
log=$work/containerd.log
stop=$work/stop
sup_pid=
api_pid=
run_pid=
cgroup_top=/youki-inst-$$
cleanup() {
    [[ -n $run_pid ]] && { kill "$run_pid" 2>/dev/null; wait "$run_pid" 2>/dev/null; } || true
    [[ -n $api_pid ]] && { kill "$api_pid" 2>/dev/null; wait "$api_pid" 2>/dev/null; } || true
    # A pod left held by a failed check goes first, while containerd still answers.
    [[ -f $work/cri/held ]] && { cri_e2e release >/dev/null 2>&1 || true; }
    touch "$stop"
    [[ -f $work/pid ]] && kill "$(cat "$work/pid")" 2>/dev/null || true
    lib_containerd_shims "$sock" | xargs -r kill -9 2>/dev/null || true
    lib_cgroup_remove "$cgroup_top"
    umount /opt /run/containerd/youki /run/containerd/youki-wasm 2>/dev/null || true
    [[ -n $sup_pid ]] && wait "$sup_pid" 2>/dev/null || true
    grep -o " $work/[^ ]*" /proc/mounts | sort -r | xargs -r umount 2>/dev/null || true
    rm -rf "$work"
    lib_view_down
}
trap cleanup EXIT

say "private containerd config (containerd config default, paths under $work)"
mkdir -p "$host/etc/containerd" "$host/opt" "$work/src" /opt "$host/run/containerd/youki" /run/containerd/youki \
    "$host/run/containerd/youki-wasm" /run/containerd/youki-wasm
if [[ $lane == 2.1 ]]; then
    # The peers live under /opt, which the fake host's /opt is about to cover.
    [[ -x $ctd2_dir/containerd ]] || fail "no containerd 2.1 in $ctd2_dir"
    mkdir "$work/peers"
    mount --bind "$ctd2_dir" "$work/peers"
    export PATH=$work/peers:$PATH
fi
mount --bind "$host/opt" /opt
mount --bind "$host/run/containerd/youki" /run/containerd/youki
mount --bind "$host/run/containerd/youki-wasm" /run/containerd/youki-wasm
# A runc option set away from its default, to see it copied; the cgroupfs driver stays,
# as this host has no systemd. The pause image is built here (no registry).
# A pod network for the wasm pod: the test's bridge on TEST-NET-1 (lib_cni_conf) in this
# private network namespace, the distribution's CNI plugins (2.1 lists /usr/lib/cni already).
lib_cni_conf "$work"
lib_containerd_default_config "$work" "$sock" -e "s|NoNewKeyring = false|NoNewKeyring = true|" -e "$pause_sed" \
    -e "s|bin_dir = \"/opt/cni/bin\"|bin_dir = \"/usr/lib/cni\"|" -e "s|conf_dir = [\"']/etc/cni/net.d[\"']|conf_dir = \"$work/cni\"|" \
    -e "s|netns_mounts_under_state_dir = false|netns_mounts_under_state_dir = true|" > "$cfg"
grep -q 'localhost/youki-e2e/pause:1' "$cfg" || fail "could not set the sandbox image"
grep -q "address = \"$sock\"" "$cfg" || fail "could not point the grpc socket at $sock"
cp "$cfg" "$work/original.toml"
if [[ -n $youki ]]; then
    cp "$youki" "$work/src/youki"
else
    printf '#!/bin/sh\necho youki stub\n' > "$work/src/youki"
fi

# The supervisor: restart containerd whenever it exits, until told to stop.
(
    while [[ ! -e $stop ]]; do
        containerd --config "$cfg" >>"$log" 2>&1 &
        echo $! > "$work/pid"
        wait $! || true
        echo "--- containerd exited" >> "$log"
    done
) &
sup_pid=$!

wait_sock() { lib_containerd_wait "$sock" "$log"; }
starts() { grep -c "$cri_started" "$log" || true; }
cri_line() { grep "$cri_started" "$log" | tail -1; }
wait_sock
[[ $(starts) -ge 1 ]] || fail "the CRI plugin did not start"
# The images a pod needs, in the CRI's namespace; the busybox one also for ctr below.
lib_busybox_image "$work/img" localhost/youki-e2e/busybox:1
lib_pause_bin=$lib_debug/pause
lib_oci_image "$work/pause" localhost/youki-e2e/pause:1 lib_pause_fill --config.entrypoint /pause
for img in "$work/img.tar" "$work/pause.tar"; do
    ctr --address "$sock" --namespace k8s.io images import "$img" >/dev/null || fail "ctr images import $img"
done
mkdir -p "$work/cri"
cri_e2e() { "$lib_debug/cri-e2e" --socket "$sock" --handler youki --work "$work/cri" --cgroup-top "$cgroup_top" "$@"; }

run() { "$installer" --host-root "$host" --source-dir "$work/src" --restart signal --containerd-pid "$(cat "$work/pid")" --timeout 30 "$@"; }

say "install --restart signal"
before=$(starts)
run install | tee "$work/install"
grep -q 'CRI: .* knows the "youki" handler' "$work/install" || fail "the installer did not check the handler through the CRI"
wait_sock
for _ in $(seq 50); do [[ $(starts) -gt $before ]] && break; sleep 0.2; done
[[ $(starts) -gt $before ]] || fail "containerd was not restarted"
cri_line | grep "$has_youki" >/dev/null || fail "the restarted CRI plugin does not list the youki handler"
cri_line | grep "$has_annotation" >/dev/null || fail "the youki handler lacks the traceparent pod annotation"
echo "containerd loaded: $(cri_line | grep -o "$shows_youki")"
containerd --config "$cfg" config dump | grep 'runtimes.youki.options' >/dev/null || fail "config dump lacks runtimes.youki"
containerd --config "$cfg" config dump | grep -A12 'runtimes.youki.options' | grep 'NoNewKeyring = true' >/dev/null \
    || fail "NoNewKeyring was not copied from runc"
run status

say "a repeated install changes nothing and does not restart"
before=$(starts)
run install > "$work/again"
grep -q 'config.toml is up to date' "$work/again" || { cat "$work/again"; fail "second install was not a no-op"; }
sleep 1
[[ $(starts) -eq $before ]] || fail "a no-op install restarted containerd"

if [[ -n $youki ]]; then
    say "a pod through the CRI with runtime handler youki"
    cri_e2e smoke || fail "a pod with handler youki did not run through the CRI"

    say "a pod with handler youki, held running through the CRI, survives an upgrade of the binary"
    cri_e2e hold || fail "could not start the held pod with handler youki"
    if run uninstall >"$work/refused" 2>&1; then fail "uninstall went ahead with a youki pod running"; fi
    grep -q 'refusing to uninstall: 2 youki container' "$work/refused" || { cat "$work/refused"; fail "unclear refusal (want the sandbox and its container)"; }
    # The upgrade: the DaemonSet pod gets SIGTERM (which keeps everything), the new pod
    # places a newer binary in place and keeps the config.
    cat "$youki" > "$work/src/youki" && printf 'upgrade' >> "$work/src/youki"
    before=$(starts)
    run install > "$work/upgrade" || { cat "$work/upgrade"; fail "the upgrade install failed"; }
    grep -q '^placed' "$work/upgrade" || { cat "$work/upgrade"; fail "the newer binary was not placed"; }
    grep -q 'config.toml is up to date' "$work/upgrade" || fail "the upgrade changed the config"
    [[ $(starts) -eq $before ]] || fail "the upgrade restarted containerd"
    cmp -s "$host/opt/youki/bin/youki" "$work/src/youki" || fail "the placed binary is not the upgrade"
    cri_e2e release || fail "the held pod did not survive the upgrade (exec, stop, removal through the CRI)"
    # Dot-names are no containers (youki keeps compiled seccomp programs in .cache).
    [[ -z $(ls "$host/run/containerd/youki/k8s.io" 2>/dev/null) ]] || { ls -laR "$host/run/containerd/youki"; fail "youki left state behind"; }
fi

say "uninstall"
before=$(starts)
run uninstall | tee "$work/uninstall"
grep -q 'CRI: .* no longer knows the "youki" handler' "$work/uninstall" || fail "the installer did not check through the CRI that the handler is gone"
wait_sock
for _ in $(seq 50); do [[ $(starts) -gt $before ]] && break; sleep 0.2; done
cmp "$cfg" "$work/original.toml" || fail "uninstall did not restore the config byte for byte"
cri_line | grep "$has_youki" >/dev/null && fail "the handler is still loaded after uninstall"
[[ ! -e $host/opt/youki ]] || fail "/opt/youki was left behind"
cri_e2e smoke --gone || fail "the CRI still takes pods with handler youki after uninstall"

say "the wasm build: a youki-wasm handler beside youki, known to the CRI, taken out again"
# YOUKI_WASM (youki built with the wasm executor) or else the same youki, shipped as youki-wasm.
cp "${YOUKI_WASM:-$work/src/youki}" "$work/src/youki-wasm"
before=$(starts)
run install | tee "$work/wasm-install"
for h in youki youki-wasm; do
    grep -q "CRI: .* knows the \"$h\" handler" "$work/wasm-install" || fail "the installer did not check the $h handler through the CRI"
done
wait_sock
[[ $(starts) -gt $before ]] || fail "containerd was not restarted for the wasm handler"
containerd --config "$cfg" config dump > "$work/wasm-dump"
grep -A12 'runtimes.youki-wasm.options' "$work/wasm-dump" | grep "BinaryName = .*/opt/youki/bin/youki-wasm" >/dev/null \
    || fail "config dump lacks the youki-wasm handler with its binary"
grep -A12 'runtimes.youki-wasm.options' "$work/wasm-dump" | grep 'NoNewKeyring = true' >/dev/null \
    || fail "NoNewKeyring was not copied from runc to youki-wasm"
cri_wasm() { "$lib_debug/cri-e2e" --socket "$sock" --handler youki-wasm --work "$work/cri" --cgroup-top "$cgroup_top" "$@"; }
if [[ -n $youki ]]; then
    cri_wasm smoke || fail "a pod with handler youki-wasm did not run through the CRI"
fi
if [[ -n ${YOUKI_WASM:-} && -n ${WAT2WASM:-} ]]; then
    # Wasm modules as the pod's containers, one picked by its extension and one by the
    # run.oci.handler annotation, which reaches youki only through the handler's
    # container_annotations.
    wasm_fill() {
        mkdir -p "$1/wasm"
        "$WAT2WASM" "$repo/tests/wasm/modules/args.wat" "$1/wasm/args.wasm"
        "$WAT2WASM" "$repo/tests/wasm/modules/exit3.wat" "$1/wasm/exit3-module"
    }
    lib_oci_image "$work/wasm" localhost/youki-e2e/wasm:1 wasm_fill --config.cmd /wasm/args.wasm
    ctr --address "$sock" --namespace k8s.io images import "$work/wasm.tar" >/dev/null || fail "ctr images import wasm"
    cri_wasm --image localhost/youki-e2e/wasm:1 wasm || fail "wasm modules did not run in a pod with handler youki-wasm"
fi
# An image without the wasm build: its install takes the handler out, and its uninstall
# still removes the youki-wasm binary an earlier image placed.
rm "$work/src/youki-wasm"
run install > "$work/wasm-retire"
wait_sock
containerd --config "$cfg" config dump | grep 'runtimes.youki-wasm' >/dev/null && fail "the retired youki-wasm handler is still loaded"
if [[ -n $youki ]]; then
    cri_wasm smoke --gone || fail "the CRI still takes pods with handler youki-wasm after it was retired"
fi
run uninstall > "$work/wasm-uninstall"
cmp "$cfg" "$work/original.toml" || fail "uninstall after the wasm build did not restore the config byte for byte"
[[ ! -e $host/opt/youki ]] || { ls -lR "$host/opt/youki"; fail "/opt/youki (youki-wasm) was left behind"; }
if [[ -n $youki ]]; then
    say "DaemonSet mode: the label only once the CRI knows youki; the pre-delete request uninstalls"
    # The fake API server of the Rust tests, as a process: no API server can run here.
    mkdir -p "$work/api"
    "$lib_debug/examples/fake-apiserver" "$work/api" &
    api_pid=$!
    for _ in $(seq 100); do [[ -s $work/api/kubeconfig ]] && break; sleep 0.1; done
    export KUBECONFIG=$work/api/kubeconfig NODE_NAME=node-a
    # Installed and restarted first, so `run` starts with the containerd pid it may stop.
    run install >/dev/null
    wait_sock
    # Not through the `run` function: SIGTERM must reach the installer, not a subshell.
    # No --containerd-pid: a repair restarts containerd more than once, so the process to
    # stop is found each time from the socket it serves.
    "$installer" --host-root "$host" --source-dir "$work/src" --restart signal \
        --timeout 30 run --listen 127.0.0.1:18790 --poll 1 > "$work/run.log" 2>&1 &
    run_pid=$!
    for _ in $(seq 150); do grep -qs 'labelled youki.dev/runtime=ready' "$work/run.log" && break; sleep 0.2; done
    grep -q 'labelled youki.dev/runtime=ready' "$work/run.log" || { cat "$work/run.log"; fail "run did not label the node"; }
    cri_line=$(grep -n 'CRI: .* knows the "youki" handler' "$work/run.log" | cut -d: -f1)
    label_line=$(grep -n 'labelled youki.dev/runtime=ready' "$work/run.log" | cut -d: -f1)
    [[ -n $cri_line && $cri_line -lt $label_line ]] || { cat "$work/run.log"; fail "the node was labelled before the CRI check"; }
    grep -q '^PATCH /api/v1/nodes/node-a.*"youki.dev/runtime":"ready"' "$work/api/requests" || fail "no ready label reached the API server"
    say "drift repair: config.toml rewritten under the running installer gets the handler back"
    before=$(starts)
    cp "$work/original.toml" "$cfg"
    for _ in $(seq 300); do grep -qs '^repaired: node node-a labelled' "$work/run.log" && break; sleep 0.2; done
    grep -q '^repaired: node node-a labelled' "$work/run.log" || { cat "$work/run.log"; fail "the rewritten config was not repaired"; }
    grep -q 'runtimes.youki' "$cfg" || fail "the handler is not back in config.toml"
    [[ $(starts) -gt $before ]] || fail "containerd was not restarted by the repair"
    cri_line | grep "$has_youki" >/dev/null || fail "the CRI plugin restarted by the repair does not list the youki handler"
    [[ $(grep -c 'CRI: .* knows the "youki" handler' "$work/run.log") -ge 2 ]] || { cat "$work/run.log"; fail "the repair was not checked through the CRI"; }
    for _ in $(seq 50); do grep -qs '^POST /api/v1/namespaces/default/events.*"reason":"YoukiRepaired"' "$work/api/requests" && break; sleep 0.1; done
    grep -q '^POST /api/v1/namespaces/default/events.*"reason":"YoukiRepaired"' "$work/api/requests" || fail "no repair Event reached the API server"
    grep -q '^PATCH /api/v1/nodes/node-a.*"youki.dev/runtime":null' "$work/api/requests" || fail "the ready label was not dropped during the repair"
    cri_e2e smoke || fail "a pod with handler youki did not run while the DaemonSet is up"
    "$installer" cleanup --wait 60 || { cat "$work/run.log"; fail "the pre-delete hook did not see the node clean"; }
    grep -q 'CRI: .* no longer knows the "youki" handler' "$work/run.log" || { cat "$work/run.log"; fail "run's uninstall did not check the CRI"; }
    kill -TERM "$run_pid"
    wait "$run_pid" || fail "run did not exit 0 on SIGTERM"
    run_pid=
    grep -q '^PATCH /api/v1/nodes/node-a.*"youki.dev/runtime":null' "$work/api/requests" || fail "the ready label was not removed"
    cmp "$cfg" "$work/original.toml" || fail "the pre-delete uninstall did not restore the config byte for byte"
    [[ ! -e $host/opt/youki ]] || fail "/opt/youki was left behind by the pre-delete uninstall"
    cri_e2e smoke --gone || fail "the CRI still takes pods with handler youki after the pre-delete uninstall"

    say "drift repair: a tool that keeps rewriting config.toml stops the repairs after the limit"
    "$installer" --host-root "$host" --source-dir "$work/src" --restart signal \
        --timeout 30 run --listen 127.0.0.1:18790 --poll 1 --repair-limit 1 --canary-cgroup-parent "$cgroup_top/canary" > "$work/run2.log" 2>&1 &
    run_pid=$!
    for _ in $(seq 150); do grep -qs 'labelled youki.dev/runtime=ready' "$work/run2.log" && break; sleep 0.2; done
    grep -q 'labelled youki.dev/runtime=ready' "$work/run2.log" || { cat "$work/run2.log"; fail "the second run did not label the node"; }
    repaired() { grep -c '^POST /api/v1/namespaces/default/events.*"reason":"YoukiRepaired"' "$work/api/requests" || true; }
    before=$(repaired)
    # The other tool writes its config, waits for the repair to finish (containerd restarted,
    # the handler checked), and writes it again.
    cp "$work/original.toml" "$cfg"
    for _ in $(seq 300); do grep -qs '^repaired: node node-a labelled' "$work/run2.log" && break; sleep 0.2; done
    grep -q '^repaired: node node-a labelled' "$work/run2.log" || { cat "$work/run2.log"; fail "the second run did not repair"; }
    cp "$work/original.toml" "$cfg"
    for _ in $(seq 100); do grep -qs '"reason":"YoukiRepairStopped"' "$work/api/requests" && break; sleep 0.2; done
    grep -q '^POST /api/v1/namespaces/default/events.*"reason":"YoukiRepairStopped"' "$work/api/requests" \
        || { cat "$work/run2.log"; fail "the repairs did not stop against a tool that keeps rewriting the config"; }
    sleep 3
    [[ $(( $(repaired) - before )) -eq 1 ]] || { cat "$work/run2.log"; fail "want exactly 1 repair before stopping, got $(( $(repaired) - before ))"; }
    ! grep -q 'runtimes.youki' "$cfg" || fail "the installer went on repairing after it stopped"
    grep -q 'not repairing: .*repaired 1 time(s) within the last hour' "$work/run2.log" || { cat "$work/run2.log"; fail "the installer did not say why it stopped"; }
    kill -0 "$run_pid" || fail "run exited after it stopped repairing"
    kill -TERM "$run_pid"
    wait "$run_pid" || fail "the second run did not exit 0 on SIGTERM"
    run_pid=
    grep -q '^canary passed: a pod with handler "youki" ran' "$work/run2.log" \
        || { cat "$work/run2.log"; fail "the fresh install's canary did not run through the CRI"; }
    echo "fresh install: $(grep '^canary passed' "$work/run2.log")"

    say "safe rollout: a broken youki fails its canary, the previous binary comes back, an Event, not ready"
    # The "new" youki of a bad release: it fails every command. The node still has the real
    # youki placed and is labelled ready; its config lost the handler to the tool above.
    mkdir -p "$work/src-broken"
    printf '#!/bin/sh\necho broken youki >&2\nexit 1\n' > "$work/src-broken/youki"
    chmod 0755 "$work/src-broken/youki"
    cmp -s "$host/opt/youki/bin/youki" "$work/src/youki" || fail "the real youki is not the placed binary before the rollout"
    # The old release's pod: the handler back in the config, the node labelled ready; then
    # SIGTERM, as a rolling update sends it, which keeps binary, config and label.
    "$installer" --host-root "$host" --source-dir "$work/src" --restart signal \
        --timeout 30 run --listen 127.0.0.1:18790 --poll 1 > "$work/run-old.log" 2>&1 &
    run_pid=$!
    for _ in $(seq 150); do grep -qs 'labelled youki.dev/runtime=ready' "$work/run-old.log" && break; sleep 0.2; done
    grep -q 'labelled youki.dev/runtime=ready' "$work/run-old.log" || { cat "$work/run-old.log"; fail "the old release's pod did not label the node"; }
    grep -q '^canary passed' "$work/run-old.log" && fail "an unchanged binary got a canary"
    kill -TERM "$run_pid"
    wait "$run_pid" || fail "the old release's pod did not exit 0 on SIGTERM"
    run_pid=
    api_label() { grep '^PATCH /api/v1/nodes/node-a' "$work/api/requests" | grep -o '"youki.dev/runtime":[^,}]*' | tail -1; }
    [[ $(api_label) == '"youki.dev/runtime":"ready"' ]] || fail "the node is not labelled ready before the rollout ($(api_label))"
    patches_before=$(grep -c '^PATCH /api/v1/nodes/node-a' "$work/api/requests" || true)
    "$installer" --host-root "$host" --source-dir "$work/src-broken" --restart signal \
        --timeout 30 run --listen 127.0.0.1:18790 --poll 1 --canary-cgroup-parent "$cgroup_top/canary" > "$work/run3.log" 2>&1 &
    run_pid=$!
    for _ in $(seq 300); do grep -qs 'the rollout stops at node node-a' "$work/run3.log" && break; sleep 0.2; done
    grep -q 'the rollout stops at node node-a' "$work/run3.log" || { cat "$work/run3.log"; fail "the broken youki's canary did not stop the rollout"; }
    grep -q '^placed .*/opt/youki/bin/youki$' "$work/run3.log" || { cat "$work/run3.log"; fail "the broken youki was not placed"; }
    grep -q 'canary failed: canary RunPodSandbox with runtime handler "youki"' "$work/run3.log" \
        || { cat "$work/run3.log"; fail "the canary's failure does not name the CRI call"; }
    grep '^canary failed: ' "$work/run3.log" | cut -c1-240
    cmp "$host/opt/youki/bin/youki" "$work/src/youki" || fail "the previous binary was not restored byte for byte"
    cmp "$host/opt/youki/bin/youki.prev" "$work/src/youki" || fail "the previous binary was not kept as youki.prev"
    for f in "$host"/opt/youki/bin/.*youki-installer* "$host"/opt/youki/bin/*youki-installer*; do
        [[ -e $f ]] && fail "a temp file was left in /opt/youki/bin: $f"
    done
    grep -q '^canary passed' "$work/run3.log" || { cat "$work/run3.log"; fail "the restored binary got no canary of its own"; }
    for _ in $(seq 50); do grep -qs '"reason":"YoukiCanaryFailed"' "$work/api/requests" && break; sleep 0.1; done
    event=$(grep '^POST /api/v1/namespaces/default/events.*"reason":"YoukiCanaryFailed"' "$work/api/requests" || true)
    [[ -n $event ]] || fail "no YoukiCanaryFailed Event reached the API server"
    grep -q '"name":"node-a"' <<<"$event" || fail "the Event is not about the node"
    grep -q 'RunPodSandbox' <<<"$event" || fail "the Event lacks the CRI error: $event"
    grep -q 'previous binary is back' <<<"$event" || fail "the Event does not say the previous binary is back: $event"
    # The label: held (removed) during the canary, then given back as it was.
    tail -n +"$((patches_before + 1))" <(grep '^PATCH /api/v1/nodes/node-a' "$work/api/requests") > "$work/patches3"
    grep -q '"youki.dev/runtime":null' "$work/patches3" || fail "the ready label was not held during the canary"
    [[ $(api_label) == '"youki.dev/runtime":"ready"' ]] || fail "the ready label was not given back after the restore ($(api_label))"
    # Not ready: the kubelet's readiness probe fails, so the DaemonSet's rollout stops here.
    exec 3<>/dev/tcp/127.0.0.1/18790
    printf 'GET /readyz HTTP/1.1\r\n\r\n' >&3
    status=$(head -1 <&3 | tr -d '\r')
    exec 3<&-
    [[ $status == "HTTP/1.1 503 Service Unavailable" ]] || fail "/readyz after a failed canary: $status"
    sleep 2
    cmp -s "$host/opt/youki/bin/youki" "$work/src/youki" || fail "the broken binary came back after the restore (a drift repair?)"
    cri_e2e smoke || fail "a pod with handler youki does not run on the restored binary"
    kill -0 "$run_pid" || fail "run exited after the failed canary"
    kill -TERM "$run_pid"
    wait "$run_pid" || fail "the third run did not exit 0 on SIGTERM"
    run_pid=
    unset KUBECONFIG NODE_NAME
fi
say "lane $lane, containerd $(containerd --version | awk '{print $3}'): install, restart, uninstall verified"
