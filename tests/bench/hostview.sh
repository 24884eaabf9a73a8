#!/bin/sh
# Runs COMMAND in a private mount namespace where the cgroup2 mount of a hybrid host
# (/sys/fs/cgroup/unified) is gone, so the host looks like plain cgroup v1.
# crun refuses hybrid hosts; the benchmark runs every runtime through this view so all
# of them see the same host. The host's own mounts are not touched.
#
# usage: hostview.sh COMMAND [ARGS...]   e.g. hostview.sh crun --root /run/x list
set -eu
if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi
exec unshare --mount --propagation private \
    sh -c 'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi; exec "$@"' \
    hostview "$@"
