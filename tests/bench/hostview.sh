#!/bin/sh
# Runs COMMAND in a private mount namespace where the cgroup2 mount of a hybrid host
# (/sys/fs/cgroup/unified) is gone, so the host looks like plain cgroup v1.
# crun refuses hybrid hosts; the benchmark and tests/e2e-containerd run every runtime
# through this view so all of them see the same host. The host's own mounts are not touched.
#
# Unmounting leaves the mount point, an empty directory on the host's /sys/fs/cgroup
# tmpfs; crun takes a `unified` directory for a v2 mount and writes its cgroups into it,
# that is, into the host's tmpfs, where they stay hidden under the host's cgroup2 mount.
# So the view gets its own /sys/fs/cgroup tmpfs, with the v1 hierarchies moved into it.
#
# usage: hostview.sh COMMAND [ARGS...]   e.g. hostview.sh crun --root /run/x list
set -eu
if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi
exec unshare --mount --propagation private sh -euc '
cg=/sys/fs/cgroup
if mountpoint -q $cg/unified; then
    umount $cg/unified
    stage=$(mktemp -d /tmp/hostview.XXXXXX)
    mount -t tmpfs hostview "$stage"
    for d in $cg/*; do
        n=${d##*/}
        if [ -L "$d" ]; then
            cp -P "$d" "$stage/$n"
        elif mountpoint -q "$d"; then
            mkdir "$stage/$n"
            mount --move "$d" "$stage/$n"
        fi
    done
    mount -t tmpfs -o mode=0755,nosuid,nodev,noexec cgroup $cg
    for s in "$stage"/*; do
        n=${s##*/}
        if [ -L "$s" ]; then
            cp -P "$s" "$cg/$n"
        else
            mkdir "$cg/$n"
            mount --move "$s" "$cg/$n"
        fi
    done
    umount "$stage"
    rmdir "$stage"
fi
exec "$@"' hostview "$@"
