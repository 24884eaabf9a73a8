#!/usr/bin/env bash
# linux.intelRdt end to end, without Intel RDT hardware: in a private mount namespace a tmpfs
# stands in for /sys/fs/resctrl (a root `schemata` file and a pre-configured group "gold"),
# and youki create/exec/delete run against it. It checks which groups are made, joined,
# compared and removed, and what is written to `tasks` and `schemata`. A tmpfs is not the
# kernel: rmdir of a group needs its files gone, which the script does the kernel's part of.
#
# Usage: tests/resctrl/run.sh [YOUKI]   (root; default target/x86_64-unknown-linux-gnu/debug/youki)
set -euo pipefail

if [ -z "${RESCTRL_INNER:-}" ]; then
    youki=$(realpath "${1:-target/x86_64-unknown-linux-gnu/debug/youki}")
    work=$(mktemp -d /tmp/resctrl-e2e.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    RESCTRL_INNER=1 YOUKI="$youki" WORK="$work" unshare -m bash "$0"
    exit $?
fi

fail() { echo "FAIL: $*" >&2; exit 1; }
root=$WORK/root
rdt=/sys/fs/resctrl
bundle=$WORK/bundle

# The private /sys/fs: a tmpfs with the real cgroup tree bound back in, and a fake resctrl.
mount --make-rprivate /
mkdir -p "$WORK/orig"
mount --rbind /sys/fs "$WORK/orig"
mount -t tmpfs tmpfs /sys/fs
mkdir -p /sys/fs/cgroup $rdt/gold/mon_groups $rdt/mon_groups
mount --rbind "$WORK/orig/cgroup" /sys/fs/cgroup
printf 'L3:0=7ff\nMB:0=100\n' > $rdt/schemata
: > $rdt/tasks
printf 'L3:0=0f0\nMB:0=50\n' > $rdt/gold/schemata

mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/"
for a in sh sleep; do ln -s busybox "$bundle/rootfs/bin/$a"; done
(cd "$bundle" && "$YOUKI" spec)

# Sets linux.intelRdt (a JSON object) in the bundle's config.
rdt_config() {
    python3 - "$bundle/config.json" "$1" <<'EOF'
import json, sys
path, rdt = sys.argv[1], json.loads(sys.argv[2])
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["sleep", "100"]
c["linux"]["intelRdt"] = rdt
c["linux"]["cgroupsPath"] = "/resctrl-e2e"
json.dump(c, open(path, "w"))
EOF
}
y() { "$YOUKI" --root "$root" "$@"; }
init_pid() { y state "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])'; }

echo "== a pre-configured closID group with matching schemas: joined, compared, kept"
rdt_config '{"closID": "gold", "l3CacheSchema": "L3:0=f0", "enableMonitoring": true}'
y run -d -b "$bundle" r1
pid=$(init_pid r1)
[ "$(cat $rdt/gold/tasks)" = "$pid" ] || fail "gold/tasks is not init's pid $pid"
[ "$(cat $rdt/gold/mon_groups/r1/tasks)" = "$pid" ] || fail "the MON group's tasks is not init's pid"
[ "$(cat $rdt/gold/schemata)" = $'L3:0=0f0\nMB:0=50' ] || fail "gold's schemata was written"
y exec -d r1 sleep 50
[ "$(cat $rdt/gold/tasks)" != "$pid" ] || fail "exec did not put its process in gold"
rm $rdt/gold/mon_groups/r1/tasks   # the kernel's part of rmdir
y delete -f r1
[ ! -e $rdt/gold/mon_groups/r1 ] || fail "the MON group was left"
[ -d $rdt/gold ] || fail "the closID group was removed"

echo "== schemas that differ from the existing group's: create fails, nothing left"
rdt_config '{"closID": "gold", "memBwSchema": "MB:0=60"}'
if y create -b "$bundle" r2 2> "$WORK/err"; then fail "create succeeded"; fi
grep -q 'exists with other schemata' "$WORK/err" || fail "unexpected error: $(cat "$WORK/err")"
[ -z "$(ls "$root")" ] || fail "state left: $(ls "$root")"

echo "== a closID group that does not exist, without schemas: create fails"
rdt_config '{"closID": "silver"}'
if y create -b "$bundle" r3 2> "$WORK/err"; then fail "create succeeded"; fi
grep -q 'does not exist' "$WORK/err" || fail "unexpected error: $(cat "$WORK/err")"
[ ! -e $rdt/silver ] || fail "silver was made"

echo "== no closID: a group named after the container, schemata in spec order, removed on delete"
rdt_config '{"l3CacheSchema": "L3:0=3", "memBwSchema": "MB:0=20", "schemata": ["L2:0=f"]}'
y create -b "$bundle" r4
[ "$(cat $rdt/r4/schemata)" = $'L3:0=3\nMB:0=20\nL2:0=f' ] || fail "r4/schemata: $(cat $rdt/r4/schemata)"
[ "$(cat $rdt/r4/tasks)" = "$(init_pid r4)" ] || fail "r4/tasks is not init's pid"
rm $rdt/r4/tasks $rdt/r4/schemata
y delete -f r4
[ ! -e $rdt/r4 ] || fail "the group the runtime made was left"

echo "PASS resctrl end to end"
