#!/usr/bin/env bash
# Sourced, not run: the shell pieces every test that drives a real container manager shares
# (tests/e2e-containerd, tests/e2e-clients, installer/tests/containerd.sh, the pod-start
# bench). Packages installed once, images built locally with umoci from busybox-static (no
# registry is reachable), a private containerd's config, its socket, its shims.
# Every function says what it needs; none changes the host outside the paths it is given.

lib_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# For the scripts that source this file.
# shellcheck disable=SC2034
lib_release=$lib_repo/target/x86_64-unknown-linux-gnu/release
# shellcheck disable=SC2034
lib_debug=$lib_repo/target/x86_64-unknown-linux-gnu/debug

lib_say() { printf '== %s\n' "$*"; }
lib_fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
lib_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
lib_since() { local d=$(($(lib_ms) - $1)); printf '%d.%01ds' $((d / 1000)) $((d % 1000 / 100)); }

# Installs the Debian packages named, only those missing (scripts/deps.sh does it).
lib_apt() {
    bash "$lib_repo/scripts/deps.sh" "$@" || lib_fail "installing $*"
}

# lib_prepare YOUKI [--client] PACKAGE...: what a test needs before it enters the private
# view: root, a youki binary, its packages, and with --client the cri-e2e client and the
# pause binary (a debug build in lib_debug).
lib_prepare() {
    local youki=$1 client=
    shift
    [[ ${1:-} == --client ]] && { client=1; shift; }
    [[ $(id -u) -eq 0 ]] || lib_fail "needs root (namespaces, cgroups, the engines' daemons)"
    [[ -x $youki ]] || lib_fail "no youki at $youki (just build)"
    lib_apt "$@"
    if [[ -n $client ]]; then
        (cd "$lib_repo" && cargo build -q --locked -p e2e-containerd) || lib_fail "cargo build -p e2e-containerd"
    fi
}

# A rootfs with static busybox and a link for each of its applets, plus the files a
# container manager expects to find (/etc/passwd for user names, /tmp).
lib_busybox_rootfs() {
    local rootfs=$1 bb a
    bb=$(command -v busybox) || lib_fail "busybox is missing (apt-get install busybox-static)"
    ldd "$bb" >/dev/null 2>&1 && lib_fail "$bb is dynamically linked; install busybox-static"
    mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev"
    chmod 1777 "$rootfs/tmp"
    cp "$bb" "$rootfs/bin/busybox"
    for a in $("$bb" --list); do
        [[ $a == busybox ]] || ln -sf busybox "$rootfs/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n' > "$rootfs/etc/passwd"
    printf 'root:x:0:\nuser:x:1000:\n' > "$rootfs/etc/group"
}

# lib_oci_image LAYOUT_DIR NAME:TAG FILL CONFIG_ARGS...
# Builds a one-layer OCI image with umoci: FILL is a command run with the unpacked rootfs
# as its last argument; CONFIG_ARGS go to `umoci config`. The layout names it TAG, and
# its index carries io.containerd.image.name=NAME:TAG, so `ctr images import` names the
# image so. Prints nothing; the layout is LAYOUT_DIR and its tar LAYOUT_DIR.tar (an OCI
# archive, for podman's oci-archive: and skopeo).
lib_oci_image() {
    local layout=$1 name=$2 fill=$3 tag=${2##*:} bundle
    shift 3
    command -v umoci >/dev/null || lib_fail "umoci is missing"
    bundle=$(mktemp -d)
    rm -rf "$layout"
    umoci init --layout "$layout"
    umoci new --image "$layout:$tag"
    umoci unpack --image "$layout:$tag" "$bundle/b" >/dev/null
    $fill "$bundle/b/rootfs"
    umoci repack --image "$layout:$tag" "$bundle/b"
    umoci config --image "$layout:$tag" --os linux --architecture amd64 "$@"
    umoci gc --layout "$layout"
    rm -rf "$bundle"
    python3 - "$layout/index.json" "$name" <<'PY'
import json, sys
path, ref = sys.argv[1], sys.argv[2]
index = json.load(open(path))
for m in index["manifests"]:
    m.setdefault("annotations", {})["io.containerd.image.name"] = ref
json.dump(index, open(path, "w"))
PY
    tar -C "$layout" -cf "$layout.tar" .
}

# The busybox image used by every client test: `sh` as its command.
lib_busybox_image() {
    lib_oci_image "$1" "$2" lib_busybox_rootfs --config.cmd /bin/sh --config.env PATH=/bin
}

# `containerd config default` (1.6's schema 2 or 2.x's schema 3, whichever containerd is
# first on PATH) with root, state, the grpc socket, /opt/containerd and 2.x's NRI socket
# moved under WORK, oom_score_adj restricted (root lacks CAP_SYS_RESOURCE here). Extra sed
# expressions may follow. Used where the full default config matters (the installer edits
# it in place).
lib_containerd_default_config() {
    local work=$1 sock=$2
    shift 2
    containerd config default \
        | sed -e "s|^root = .*|root = \"$work/root\"|" \
              -e "s|^state = .*|state = \"$work/state\"|" \
              -e "s|^  address = [\"']/run/containerd/containerd.sock[\"']|  address = \"$sock\"|" \
              -e "s|^    path = [\"']/opt/containerd[\"']|    path = \"$work/opt\"|" \
              -e "s|^\( *\)socket_path = [\"']/var/run/nri/nri.sock[\"']|\1socket_path = \"$work/nri.sock\"|" \
              -e "s|restrict_oom_score_adj = false|restrict_oom_score_adj = true|" \
              "$@"
}

# Waits until the containerd on SOCK answers (20 s); prints LOG and fails otherwise.
lib_containerd_wait() {
    local sock=$1 log=$2
    for _ in $(seq 100); do
        ctr --address "$sock" version >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    cat "$log" >&2
    lib_fail "containerd did not answer on $sock"
}

# Pids of the shims started by the containerd on SOCK (they outlive it if left).
lib_containerd_shims() {
    local sock=$1 p
    for p in /proc/[0-9]*; do
        tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -q -- "-address $sock " && echo "${p#/proc/}"
    done
    return 0
}

# ---- a private containerd for CRI tests (tests/e2e-containerd, the pod-start bench) ----
#
# Everything runs inside one private mount and network namespace (lib_private_view): the
# cgroup2 mount of this hybrid host is gone there, for every handler alike (crun refuses
# hybrid hosts), containerd's fixed host paths (/run/containerd for shim sockets,
# /var/lib/cni for the CNI cache) are tmpfs, and the pod network (a CNI bridge) and the
# streaming and OTLP ports live on a loopback no one else shares. What the runtimes,
# shims and containerd leave behind is still checked inside (lib_cri_check_clean) before
# the namespaces vanish with the last process.

# Re-runs SCRIPT ARGS in the private view unless already there (YOUKI_PRIVATE_VIEW=1).
lib_private_view() {
    [[ ${YOUKI_PRIVATE_VIEW:-} == 1 ]] && return 0
    YOUKI_PRIVATE_VIEW=1 exec "$lib_repo/tests/bench/hostview.sh" unshare --net "$@"
}

# Inside the view: loopback up, tmpfs over the fixed host paths the engines write to
# (default: containerd's /run/containerd for shim sockets and /var/lib/cni for the CNI
# cache). Sets lib_mounted and lib_made (mount points created on the host for it, removed
# again by lib_view_down).
lib_view_up() {
    [[ ${YOUKI_PRIVATE_VIEW:-} == 1 ]] || lib_fail "lib_view_up outside the private view"
    ip link set lo up
    lib_mounted=("$@")
    ((${#lib_mounted[@]})) || lib_mounted=(/run/containerd /var/lib/cni)
    lib_made=()
    local d top
    for d in "${lib_mounted[@]}"; do
        if [[ ! -d $d ]]; then
            top=$d
            while [[ ! -d $(dirname "$top") ]]; do top=$(dirname "$top"); done
            mkdir -p "$d"
            lib_made+=("$top")
        fi
        mount -t tmpfs -o mode=0711 youki-e2e "$d"
    done
}

lib_view_down() {
    local d
    for d in "${lib_mounted[@]}"; do umount -l "$d" 2>/dev/null || true; done
    for d in "${lib_made[@]}"; do find "$d" -depth -type d -empty -delete 2>/dev/null || true; done
}

# Directories of containers left in any cgroup hierarchy under TOP (their names carry
# the 64-hex container id), and pids still in any cgroup there.
lib_cgroup_leftovers() {
    local top=${1#/}
    find /sys/fs/cgroup/*/"$top" -mindepth 1 -type d -regextype posix-basic -regex '.*[0-9a-f]\{64\}[^/]*' 2>/dev/null
    find /sys/fs/cgroup/*/"$top" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | sed 's/^/pid /'
}

# Kills whatever is left in cgroups under TOP and removes them, deepest first.
lib_cgroup_remove() {
    local top=${1#/} d i
    for d in /sys/fs/cgroup/*/"$top"; do
        [[ -d $d ]] || continue
        find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | xargs -r kill -9 2>/dev/null || true
        # A killed process leaves its cgroup a moment later; rmdir fails (EBUSY) before.
        for ((i = 0; i < 200; i++)); do
            [[ -z $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null) ]] && break
            sleep 0.01
        done
        find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
}

# lib_cri_config WORK SOCK YOUKI: a containerd 1.6 config with handlers youki, runc and
# crun (runc shim, BinaryName, each with its own state root under WORK/rt), a local pause
# image, a CNI bridge network on 192.0.2.0/24 (TEST-NET-1) and netns under the state dir.
# When lib_wasm_youki names youki's wasm build, a handler youki-wasm runs it, with the
# run.oci.handler container annotation allowed through to the spec.
lib_cri_config() {
    local work=$1 sock=$2 youki=$3 h bin handlers=(youki runc crun)
    [[ -n ${lib_wasm_youki:-} ]] && handlers+=(youki-wasm)
    local cri='plugins."io.containerd.grpc.v1.cri"'
    lib_cni_conf "$work"
    cat <<TOML
version = 2
root = "$work/root"
state = "$work/state"
[grpc]
  address = "$sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$work/opt"
[$cri]
  sandbox_image = "localhost/youki-e2e/pause:1"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [$cri.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$work/cni"
  [$cri.containerd]
    default_runtime_name = "runc"
TOML
    for h in "${handlers[@]}"; do
        case $h in youki-wasm) bin=$lib_wasm_youki ;; *) bin=$(lib_handler_bin "$h" "$youki") ;; esac
        cat <<TOML
    [$cri.containerd.runtimes.$h]
      runtime_type = "io.containerd.runc.v2"
      pod_annotations = ["io.youki.traceparent"]
      container_annotations = [$([[ $h == youki-wasm ]] && echo '"run.oci.handler"')]
      [$cri.containerd.runtimes.$h.options]
        BinaryName = "$bin"
        Root = "$work/rt/$h"
TOML
    done
}

# The runtime binary of handler H: lib_handler_bins[H] when set (a lane's own runc or crun),
# else the one on PATH.
declare -gA lib_handler_bins=()
lib_handler_bin() {
    case $1 in
        youki | youki-*) echo "${lib_handler_bins[$1]:-$2}" ;;
        *) echo "${lib_handler_bins[$1]:-$(command -v "$1")}" ;;
    esac
}

# lib_cri_config3 WORK SOCK YOUKI: the same node as lib_cri_config for containerd 2.x
# (config version 3: the CRI split into io.containerd.cri.v1.images and .runtime), with
# handlers youki, runc and crun (binaries from lib_handler_bin), NRI off (its socket would
# be a host path), and when lib_oci13_spec names a base spec, a handler youki-oci13 whose
# containers start from it (base_runtime_spec: containerd keeps its ociVersion).
lib_cri_config3() {
    local work=$1 sock=$2 youki=$3 h bin handlers=(youki runc crun)
    [[ -n ${lib_oci13_spec:-} ]] && handlers+=(youki-oci13)
    local rt="plugins.'io.containerd.cri.v1.runtime'" img="plugins.'io.containerd.cri.v1.images'"
    lib_cni_conf "$work"
    cat <<TOML
version = 3
root = "$work/root"
state = "$work/state"
[grpc]
  address = "$sock"
[plugins.'io.containerd.internal.v1.opt']
  path = "$work/opt"
[plugins.'io.containerd.nri.v1.nri']
  disable = true
[$img.pinned_images]
  sandbox = "localhost/youki-e2e/pause:1"
[$rt]
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [$rt.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$work/cni"
  [$rt.containerd]
    default_runtime_name = "runc"
TOML
    for h in "${handlers[@]}"; do
        bin=$(lib_handler_bin "$h" "$youki")
        cat <<TOML
    [$rt.containerd.runtimes.'$h']
      runtime_type = "io.containerd.runc.v2"
      pod_annotations = ["io.youki.traceparent"]
$([[ $h == youki-oci13 ]] && echo "      base_runtime_spec = \"$lib_oci13_spec\"")
      [$rt.containerd.runtimes.'$h'.options]
        BinaryName = "$bin"
        Root = "$work/rt/$h"
TOML
    done
}

# The CNI bridge network of both configs: 192.0.2.0/24 (TEST-NET-1), leases under WORK.
lib_cni_conf() {
    mkdir -p "$1/cni" "$1/opt"
    cat > "$1/cni/10-youki-e2e.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "youki-e2e", "plugins": [
  {"type": "bridge", "bridge": "yke2e0", "isGateway": false, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "192.0.2.0/24"}]], "dataDir": "$1/cni-ipam"}}]}
JSON
}

# lib_cri_up WORK YOUKI PAUSE_BIN [ENV=VALUE...]: builds and imports the images, starts
# containerd with the extra environment (passed on to shims and runtimes). Sets ctd_sock,
# ctd_pid, ctd_log and lib_ctd_env (the environment, for lib_cri_restart).
lib_cri_up() {
    local work=$1 youki=$2 pause=$3
    shift 3
    lib_ctd_env=("$@")
    ctd_sock=$work/containerd.sock
    ctd_log=$work/containerd.log
    if [[ ${lib_ctd_schema:-2} == 3 ]]; then
        lib_cri_config3 "$work" "$ctd_sock" "$youki" > "$work/config.toml"
    else
        lib_cri_config "$work" "$ctd_sock" "$youki" > "$work/config.toml"
    fi
    lib_busybox_image "$work/img/busybox" localhost/youki-e2e/busybox:1
    lib_pause_bin=$pause
    lib_oci_image "$work/img/pause" localhost/youki-e2e/pause:1 lib_pause_fill --config.entrypoint /pause
    env "$@" containerd --config "$work/config.toml" > "$ctd_log" 2>&1 &
    ctd_pid=$!
    lib_containerd_wait "$ctd_sock" "$ctd_log"
    local img
    for img in busybox pause; do
        ctr --address "$ctd_sock" --namespace k8s.io images import "$work/img/$img.tar" >/dev/null \
            || lib_fail "ctr images import $img"
    done
}
lib_pause_fill() { install -m 0755 "$lib_pause_bin" "$1/pause"; }

# lib_cri_restart WORK: containerd again after it died (a crash test kills it), as lib_cri_up
# started it: the same config, root, state, socket and environment, its log appended to.
# Sets ctd_pid.
lib_cri_restart() {
    local work=$1
    if [[ -n ${ctd_pid:-} ]]; then
        kill -9 "$ctd_pid" 2>/dev/null || true
        # Quietly: bash would report the job as "Killed".
        { wait "$ctd_pid"; } 2>/dev/null || true
    fi
    echo "--- restarted" >> "$ctd_log"
    env "${lib_ctd_env[@]}" containerd --config "$work/config.toml" >> "$ctd_log" 2>&1 &
    ctd_pid=$!
    lib_containerd_wait "$ctd_sock" "$ctd_log"
}

# Pids of processes of the run other than containerd (ctd_pid) and this shell: any whose
# command line names WORK (shims, runtimes and a runtime's init by their --root, --bundle or
# -address) or whose working directory lies under it (what a shim started in a bundle).
lib_cri_processes() {
    local work=$1 p pid
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [[ $pid == "${ctd_pid:-}" || $pid == "$$" || $pid == "$BASHPID" ]] && continue
        if tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -qF -- "$work/" \
            || [[ $(readlink "$p/cwd" 2>/dev/null) == "$work/"* ]]; then
            echo "$pid ($(tr '\0' ' ' 2>/dev/null < "$p/cmdline" | cut -c1-120))"
        fi
    done
    return 0
}

# Fails, naming each, if anything of the run is left: shims, runtime state, processes of
# the run, mounts under WORK or containerd's paths, cgroups under CGROUP_TOP, shim sockets,
# CNI leases or cache.
lib_cri_check_clean() {
    local work=$1 cgroup_top=$2 left=() l
    while read -r l; do left+=("shim pid $l"); done < <(lib_containerd_shims "$ctd_sock")
    while read -r l; do left+=("process $l"); done < <(lib_cri_processes "$work")
    # A container's state is a directory named by its id (crun 1.28 also keeps .cache and
    # .empty-directory there, for every container, not of one).
    while read -r l; do left+=("runtime state $l"); done < <(find "$work/rt" -mindepth 3 -maxdepth 3 -not -name '.*' 2>/dev/null)
    while read -r l; do left+=("mount $l"); done < <(awk '{print $5}' /proc/self/mountinfo | grep -E "^($work/|/run/containerd/|/var/lib/cni/)" || true)
    while read -r l; do left+=("cgroup $l"); done < <(lib_cgroup_leftovers "$cgroup_top")
    while read -r l; do left+=("shim socket $l"); done < <(find /run/containerd/s -mindepth 1 2>/dev/null)
    while read -r l; do left+=("CNI lease $l"); done < <(find "$work/cni-ipam" -type f -name '192.*' 2>/dev/null)
    while read -r l; do left+=("CNI cache $l"); done < <(find /var/lib/cni/results -type f 2>/dev/null)
    if ((${#left[@]})); then
        printf 'left behind: %s\n' "${left[@]}" >&2
        return 1
    fi
}

# Stops containerd; removes the cgroup top (empty by now) and, on a failed run, kills what
# is left so no process outlives the namespaces.
lib_cri_down() {
    local work=$1 cgroup_top=$2 p
    for p in $(lib_containerd_shims "$ctd_sock"); do kill -9 "$p" 2>/dev/null || true; done
    [[ -n ${ctd_pid:-} ]] && { kill "$ctd_pid" 2>/dev/null || true; wait "$ctd_pid" 2>/dev/null || true; }
    lib_cgroup_remove "$cgroup_top"
    grep -o " $work/[^ ]*" /proc/self/mounts | sort -r | xargs -r umount -l 2>/dev/null || true
}
