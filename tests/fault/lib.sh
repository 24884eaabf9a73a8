# shellcheck shell=bash disable=SC2034,SC2154  # sets globals for, and reads those of, its caller
# Shared by tests/fault/run.sh and tests/fault/soak.sh (sourced, never run).
#
# The caller sets, before fault_setup:
#   RT    the runtime binary under test (any runc-compatible CLI)
#   tag   the prefix of every container id, state root and scratch dir of this run
# fault_setup then sets:
#   work  the scratch dir (bundles, logs), root the --root state dir (on /run's tmpfs)
#
# Every container gets its own bundle dir $work/b/ID with a hard-linked copy of one busybox
# rootfs, and cgroupsPath "/ID". So anything a container leaves on the host is keyed by its
# id or its bundle path: cgroup dirs named ID, mounts and process roots/cwds/fds under the
# bundle, processes in a cgroup named ID or with ID in their command line (a runtime's own
# children before exec). Other suites may run containers on the same host at the same time.

FAULT_TIMEOUT=${FAULT_TIMEOUT:-10}   # seconds before a runtime call counts as hung

# Installs what the suites need, once, and only what is missing.
fault_packages() {
    local missing=()
    command -v jq >/dev/null || missing+=(jq)
    command -v timeout >/dev/null || missing+=(coreutils)
    command -v busybox >/dev/null && ! ldd "$(command -v busybox)" >/dev/null 2>&1 ||
        missing+=(busybox-static)
    ((${#missing[@]})) || return 0
    echo "# installing ${missing[*]}" >&2
    local lock=(flock /tmp/apt.lock)
    command -v flock >/dev/null || lock=()
    "${lock[@]}" apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive "${lock[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The scratch dir, the state root, a busybox rootfs to copy, and the base config.json
# (written by the runtime's own `spec`, so the suite needs no other runtime).
fault_setup() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/$tag.XXXXXX")
    root=/run/$tag
    mkdir -p "$root" "$work/b" "$work/tmpl/rootfs/bin" "$work/tmpl/rootfs/tmp" "$work/spec"
    chmod 0700 "$root"
    cp "$(command -v busybox)" "$work/tmpl/rootfs/bin/busybox"
    local a
    for a in sh sleep true false cat echo ls ps kill; do
        ln -s busybox "$work/tmpl/rootfs/bin/$a"
    done
    (cd "$work/spec" && "$RT" spec >/dev/null) || {
        echo "fault: $RT spec failed: cannot write a base config.json" >&2
        return 1
    }
    jq '.process.terminal = false | .root.readonly = false | .process.args = ["sleep", "30"] |
        .linux.cgroupsPath = "/@ID@"' "$work/spec/config.json" >"$work/spec/config.tmpl.json" || return 1
    config_tmpl=$(<"$work/spec/config.tmpl.json")
    mkfifo "$work/nap"
    exec {NAP}<>"$work/nap" # a read with a timeout on it sleeps without a fork
    seq_n=0
}

# nap_ms MS (< 1000): sleeps in the shell itself.
nap_ms() {
    read -r -t "$(printf '0.%03d' "$1")" -u "$NAP" _ || true
}

# next_id: a fresh id in ID (fixed width, so no id is a prefix of another).
next_id() {
    seq_n=$((seq_n + 1))
    ID=$(printf '%s-%06d' "$tag" "$seq_n")
}

# new_bundle ID [JQ_FILTER]: the bundle $work/b/ID in B; the filter edits the base config
# (process args, resources, seccomp...). The rootfs is writable so that the failpoint log
# can be reached after pivot_root (see run.sh). Without a filter no tool runs but cp.
new_bundle() {
    B=$work/b/$1
    cp -al "$work/tmpl" "$B"
    if [[ -z ${2:-} ]]; then
        printf '%s\n' "${config_tmpl//@ID@/$1}" >"$B/config.json"
    else
        jq --arg cg "/$1" ".linux.cgroupsPath = \$cg | $2" "$work/spec/config.tmpl.json" >"$B/config.json"
    fi
}

# rr ARGS...: the runtime (RUN, else RT) with our root, time-limited; output in $work/out and
# $work/err; returns its exit status (124 when it hung and was killed).
rr() {
    timeout -k 2 "$FAULT_TIMEOUT" "${RUN:-$RT}" --root "$root" "$@" >"$work/out" 2>"$work/err"
}

# err_text: the last call's stderr, one line, short.
err_text() {
    tr '\n' ' ' <"$work/err" | cut -c1-200
}

# cgroup_dirs ID: the container's cgroup dirs in every hierarchy (cgroupsPath is "/ID").
cgroup_dirs() {
    local d
    for d in /sys/fs/cgroup/"$1" /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/*/*/"$1"; do
        [[ -d $d ]] && echo "$d"
    done
}

# proc_links ID BUNDLE: `PID KIND` lines: a process in a cgroup named ID or with ID in its
# command line (KIND id), or with root, cwd or an fd in the bundle (KIND root, cwd, fd).
# Not this shell.
proc_links() {
    local id=$1 b=$2
    {
        grep -lsaF -- "$id" /proc/[0-9]*/cgroup /proc/[0-9]*/cmdline | awk -F/ '{print $3, "id"}'
        find /proc/[0-9]*/root /proc/[0-9]*/cwd /proc/[0-9]*/fd -maxdepth 1 \( -lname "$b" -o -lname "$b/*" \) 2>/dev/null |
            awk -F/ '{print $3, $4}'
    } | grep -v -e "^$$ " -e "^$BASHPID " -e "^${FAULT_SELF_PIDS:-0} "
}

# pids_of ID BUNDLE: the live processes tied to the container (see proc_links). Zombies
# are left out: reaping an orphan is the host init's job, and it may take its time.
pids_of() {
    local p st
    for p in $(proc_links "$@" | awk '$2 != "fd" {print $1}' | sort -un); do
        st=$({ cut -d' ' -f3 "/proc/$p/stat"; } 2>/dev/null)
        [[ -n $st && $st != Z && $st != X ]] && echo "$p"
    done
}

# leftovers ID BUNDLE [ROOT]: one line per thing the container left on the host.
leftovers() {
    local id=$1 b=$2 r=${3:-$root} n links p
    [[ -e $r/$id ]] && echo "state dir $r/$id"
    n=$(cgroup_dirs "$id" | wc -l)
    ((n == 0)) || echo "cgroup $id in $n hierarchies"
    grep -F -e "$id" -e "$b/" /proc/self/mountinfo | awk '{print "mount " $5}'
    links=$(proc_links "$id" "$b")
    [[ -n $links ]] || return 0
    for p in $(pids_of "$id" "$b"); do
        echo "process $p ($(cat "/proc/$p/comm" 2>/dev/null): $({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | cut -c1-80))"
    done
    n=$(grep -c " fd$" <<<"$links")
    ((n == 0)) || echo "$n open fds into the bundle"
}

# settled ID BUNDLE [ROOT]: leftovers, given up to a second to vanish (a SIGKILLed process
# takes a moment to go).
settled() {
    local i left
    for i in 1 2 3 4 5 6 7 8 9 10; do
        left=$(leftovers "$@")
        [[ -z $left ]] && return 0
        nap_ms 100
    done
    echo "$left"
}

# scrub ID BUNDLE [ROOT]: removes whatever a container left, so later cases start clean.
scrub() {
    local id=$1 b=$2 r=${3:-$root} p d
    for p in $(pids_of "$id" "$b"); do kill -9 "$p" 2>/dev/null; done
    for d in $(cgroup_dirs "$id"); do
        [[ -f $d/freezer.state ]] && echo THAWED >"$d/freezer.state" 2>/dev/null
        [[ -f $d/cgroup.freeze ]] && echo 0 >"$d/cgroup.freeze" 2>/dev/null
    done
    for p in $(pids_of "$id" "$b"); do kill -9 "$p" 2>/dev/null; done
    grep -F -e "$id" -e "$b/" /proc/self/mountinfo | awk '{print $5}' | sort -r |
        while read -r d; do umount -l "$d" 2>/dev/null; done
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        for d in $(cgroup_dirs "$id"); do
            find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
        done
        [[ -z $(cgroup_dirs "$id") ]] && break
        nap_ms 100
    done
    rm -rf "${r:?}/$id"
}

# accounting PREFIX: what carries PREFIX (ids, the state root, the scratch dir) on the host,
# one `KIND what` line each: mount, cgroup, process, fd. This shell and its children (which
# hold the scratch dir's nap fifo) are left out, and so are zombies.
accounting() {
    local pre=$1 p
    grep -F "$pre" /proc/self/mountinfo | awk '{print "mount", $5}'
    find /sys/fs/cgroup -maxdepth 4 -type d -name "$pre*" 2>/dev/null | sed 's/^/cgroup /'
    for p in $({
        grep -lsF "/$pre" /proc/[0-9]*/cgroup
        grep -lsaF -- "$pre-" /proc/[0-9]*/cmdline
        find /proc/[0-9]*/root /proc/[0-9]*/cwd -maxdepth 0 -lname "*/$pre.*" 2>/dev/null
    } | cut -d/ -f3 | sort -un); do
        ours "$p" && continue
        echo "process $p ($(cat "/proc/$p/comm" 2>/dev/null): $({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | cut -c1-80))"
    done
    find /proc/[0-9]*/fd -mindepth 1 -maxdepth 1 -lname "*/$pre.*" 2>/dev/null | while read -r p; do
        p=${p#/proc/}
        ours "${p%%/*}" || echo "fd $p"
    done
}

# ours PID: gone, a zombie (the host init reaps it), this shell, or a process started by it
# (a subshell or a tool of a pipeline): not something a runtime left.
ours() {
    local pid=$1 st ppid i
    st=$({ cut -d' ' -f3 "/proc/$pid/stat"; } 2>/dev/null)
    [[ -z $st || $st == Z || $st == X ]] && return 0
    for i in 1 2 3 4 5 6; do
        [[ $pid == "$$" ]] && return 0
        ppid=$({ awk '/^PPid:/ {print $2}' "/proc/$pid/status"; } 2>/dev/null)
        [[ -z $ppid ]] && return 0
        [[ $ppid != 0 && $ppid != 1 ]] || return 1
        pid=$ppid
    done
    return 1
}
