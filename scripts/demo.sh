#!/usr/bin/env bash
# A first container with youki, one step at a time: an embedded busybox rootfs, the default
# spec, then create, state, start, list, the container's output, and delete.
set -euo pipefail
youki=$(realpath "${1:-target/x86_64-unknown-linux-gnu/release/youki}")
trace=$(realpath "${2:-$(dirname "$youki")/youki-trace}")
work=$(mktemp -d /tmp/youki-demo.XXXXXX)
root="$work/state"
id="demo-$$"
cleanup() { "$youki" --root "$root" delete --force "$id" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

step "youki version" "youki --version"
"$youki" --version

mkdir -p "$work/bundle/rootfs/bin"
cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
for app in sh echo cat hostname id ls ps sleep uname; do ln -s busybox "$work/bundle/rootfs/bin/$app"; done
cd "$work/bundle"

step "write a starter config.json (runc's default content)" "youki spec"
"$youki" spec
# No terminal for a scripted demo, and a process that shows where it runs.
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "echo hello from $(hostname): I am pid $$ as $(id -u); ps -o pid,comm"]
json.dump(c, open("config.json", "w"), indent=2)
PY
grep -A3 '"args"' config.json

step "create: namespaces, mounts, cgroups; the process waits for start (with its spans)" "OTEL_TRACES_EXPORTER=console youki create $id"
OTEL_TRACES_EXPORTER=console "$youki" --root "$root" create --bundle . --pid-file "$work/pid" "$id" > "$work/out" 2> "$work/spans"
cat "$work/spans"
echo "init pid $(cat "$work/pid"), comm: $(cat /proc/"$(cat "$work/pid")"/comm)"

step "state" "youki state $id"
"$youki" --root "$root" state "$id"

step "start" "youki start $id"
"$youki" --root "$root" start "$id"
sleep 0.2

step "list" "youki list"
"$youki" --root "$root" list

step "what the container printed" "cat out"
cat "$work/out"

step "delete" "youki delete $id"
"$youki" --root "$root" delete "$id"
"$youki" --root "$root" list
echo "(the container, its cgroups and its state are gone)"

step "trace a run with youki-trace (eBPF on the runtime's own processes)" "youki-trace -- youki run demo-traced"
"$trace" -o "$work/trace.txt" -- "$youki" --root "$root" run --bundle . "$id-traced" > "$work/traced.out" 2>&1 || true
head -n 2 "$work/trace.txt"
sed -n '/^STAGE SUMMARY/,$p' "$work/trace.txt"

step "a broken container: args[0] does not exist; the tracer names stage, syscall and errno" "youki-trace -- youki run demo-broken"
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["args"] = ["/bin/does-not-exist"]
json.dump(c, open("config.json", "w"), indent=2)
PY
"$trace" -o "$work/broken.txt" -- "$youki" --root "$root" run --bundle . "$id-broken" > "$work/broken.out" 2>&1 || true
echo "youki said: $(grep -m1 "level=error" "$work/broken.out")"
grep -A3 "^FIRST FAILURE" "$work/broken.txt" || head -n 5 "$work/broken.txt"
echo
echo "done"
