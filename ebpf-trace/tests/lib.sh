# shellcheck shell=bash
# Shared by ci.sh and recorder.sh (sourced; needs $work and $YOUKI): the ok/bad counters, a
# busybox bundle's files, and the hook scripts that kill.

pass=0
fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
# bad NAME [FILE]: a failure, with the head of FILE (${excerpt:-12} lines) as evidence.
bad() {
    echo "FAIL $1"
    fail=$((fail + 1))
    if [ -n "${2:-}" ]; then sed 's/^/     | /' "$2" 2>/dev/null | head -n "${excerpt:-12}" || true; fi
}

# busybox_bundle DIR: a rootfs of static busybox with its usual applets, and runc's default
# config.json beside it (`youki spec`), for the caller to edit.
busybox_bundle() {
    local dir=$1
    mkdir -p "$dir/rootfs/bin"
    cp /bin/busybox "$dir/rootfs/bin/"
    for a in sh echo true false cat sleep ls; do ln -s busybox "$dir/rootfs/bin/$a"; done
    (cd "$dir" && "$YOUKI" spec)
}

# kill_hooks: $work/killinit.sh, a createRuntime hook that SIGKILLs the container's init
# (its pid is in the state on stdin), and $work/killself.sh, a hook that dies by SIGKILL.
# shellcheck disable=SC2154 # $work is the caller's
kill_hooks() {
    cat >"$work/killinit.sh" <<'SH'
#!/bin/sh
# createRuntime hook: SIGKILL the container's init, whose pid is in the state on stdin.
pid=$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
kill -9 "$pid"
SH
    cat >"$work/killself.sh" <<'SH'
#!/bin/sh
# createContainer hook that dies by SIGKILL.
kill -9 $$
SH
    chmod +x "$work/killinit.sh" "$work/killself.sh"
}
