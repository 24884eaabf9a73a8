#!/usr/bin/env bash
# Integration tests for youki-trace on the real kernel: traces youki (and runc) creating a
# busybox container, healthy and broken, and checks what the report names as the first failure.
# Needs root, kernel BTF, busybox-static and runc. Skips (exit 0) with a message when not root.
#   YOUKI=path/to/youki YOUKI_TRACE=path/to/youki-trace bash ebpf-trace/tests/ci.sh
# The flight recorder's catalogue (tests/recorder.sh) runs last; its cases count here.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ "$(id -u)" != 0 ]; then
    echo "ebpf-trace/tests/ci.sh: skipped: needs root to load eBPF programs"
    exit 0
fi
rel="${CARGO_TARGET_DIR:-$root/target}/x86_64-unknown-linux-gnu/release"
if [ -z "${YOUKI_TRACE:-}" ]; then
    (cd "$root" && cargo build --release -p youki-trace)
    YOUKI_TRACE="$rel/youki-trace"
fi
YOUKI="${YOUKI:-$rel/youki}"
[ -x "$YOUKI" ] || { echo "ci.sh: youki binary missing at $YOUKI (cargo build --release -p youki)"; exit 1; }
[ -x /bin/busybox ] || { echo "ci.sh: /bin/busybox missing (apt-get install busybox-static)"; exit 1; }
YOUKI=$(readlink -f "$YOUKI")
T=$(readlink -f "$YOUKI_TRACE")

work=$(mktemp -d /tmp/youki-trace-ci.XXXXXX)
trap 'rm -rf "$work"' EXIT
# shellcheck source=lib.sh
source "$here/lib.sh"

# A busybox bundle; $2 is Python that edits the config dict `c`.
bundle() {
    local dir="$work/$1"
    busybox_bundle "$dir"
    python3 - "$dir/config.json" "$2" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/echo", "hello"]
exec(sys.argv[2])
json.dump(c, open(p, "w"), indent=1)
PY
}

# trace NAME RUNTIME [youki-trace options]: RUNTIME is youki or runc; writes
# $work/NAME.RUNTIME.out and never fails the script.
trace() {
    local name=$1 rt=$2 bin=$2
    shift 2
    [ "$rt" = youki ] && bin=$YOUKI
    local id="yt-$name-$$"
    (cd "$work/$name" && timeout 60 "$T" "$@" -o "$work/$name.$rt.out" -- "$bin" run "$id" \
        >"$work/$name.$rt.stdout" 2>"$work/$name.$rt.stderr") || true
    "$bin" delete -f "$id" >/dev/null 2>&1 || true
}

# expect NAME RUNTIME PATTERN...: the first report line matches every pattern.
expect_first() {
    local name=$1 rt=$2 out="$work/$1.$2.out"
    shift 2
    local line
    line=$(head -n 1 "$out" 2>/dev/null || true)
    for p in "$@"; do
        if ! grep -qE -- "$p" <<<"$line"; then
            bad "$rt $name: first line lacks /$p/" "$out"
            return
        fi
    done
    ok "$rt $name: $line"
}

kill_hooks

bundle good ""
bundle noexec 'c["process"]["args"] = ["/bin/nonexistent"]'
bundle badmount 'c["mounts"].append({"destination": "/bin/busybox/sub", "type": "tmpfs", "source": "tmpfs"})'
bundle hookfail 'c["hooks"] = {"createContainer": [{"path": "/bin/false"}]}'
bundle hookkill "c['hooks'] = {'createRuntime': [{'path': '$work/killinit.sh'}]}"
bundle seccomp 'c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [{"names": ["execve", "execveat"], "action": "SCMP_ACT_KILL_PROCESS"}]}'

# --- youki: a healthy run shows every stage, labelled, and no drops.
trace good youki
out="$work/good.youki.out"
expect_first good youki "no failure" "status 0"
missing=""
for s in youki:ns youki:mounts youki:hooks youki:pivot youki:rootfs youki:process youki:init; do
    grep -qE "^$s " <(sed -n '/^STAGE SUMMARY/,$p' "$out") || missing="$missing $s"
done
if [ -z "$missing" ]; then ok "youki good: summary has every youki:* stage"; else bad "youki good: stages missing:$missing" "$out"; fi
if grep -q "dropped: 0," "$out"; then ok "youki good: zero drops"; else bad "youki good: drops" "$out"; fi
if grep -q "hello" "$work/good.youki.stdout"; then ok "youki good: container output passes through"; else bad "youki good: no output" "$work/good.youki.stderr"; fi

# --- youki: broken creates.
trace noexec youki
expect_first noexec youki "stage youki:process" "(access|execve|execveat|statx|newfstatat)\(\"/bin/nonexistent\"" "ENOENT"
trace badmount youki
expect_first badmount youki "stage youki:mounts" "busybox/sub" "ENOTDIR"
trace hookfail youki
expect_first hookfail youki "stage youki:hooks > false" "exit_group\(1\)"
trace hookkill youki
expect_first hookkill youki "stage youki:" "killed by SIGKILL from pid [0-9]+ \(killinit.sh\)"
trace seccomp youki
expect_first seccomp youki "stage youki:" "killed by SIGSYS \(seccomp\)"

# --- runc: no stage names, but the failing syscall is still found.
trace good runc
expect_first good runc "no failure"
trace noexec runc
expect_first noexec runc "(newfstatat|execve|access)\(.*\"/bin/nonexistent\"" "ENOENT"
trace badmount runc
expect_first badmount runc "busybox/sub" "ENOTDIR"
trace hookfail runc
expect_first hookfail runc "> false" "exit_group\(1\)"
trace hookkill runc
expect_first hookkill runc "stage runc:" "killed by SIGKILL from pid [0-9]+ \(killinit.sh\)"
trace seccomp runc
expect_first seccomp runc "stage runc:" "killed by SIGSYS \(seccomp\)"

# --- NDJSON: every line is an object; the last is the summary.
trace good youki --json
if python3 - "$work/good.youki.out" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
events, summary = lines[:-1], lines[-1]["summary"]
keys = {"ts_ns", "pid", "tid", "comm", "stage", "syscall", "args", "ret", "errno", "duration_ns"}
assert all(keys <= set(e) for e in events), "event keys"
assert any(e["stage"] == "youki:pivot" and e["syscall"] == "pivot_root" for e in events), "pivot_root"
assert summary["no_failure"] and summary["dropped"] == 0, summary
# the init's records carry its namespaces: pid 1 in a pid namespace of its own
init = [e for e in events if e["stage"] == "youki:mounts" and e.get("ns")]
host = [e for e in events if e["stage"] == "youki" and e.get("ns")]
assert init and init[0]["ns"]["pid"] == 1, "init ns pid"
assert host and host[0]["ns"]["pid_ns"] != init[0]["ns"]["pid_ns"], "new pid ns"
# no user namespace in this container: init's user namespace is the host's
import os
assert init[0]["ns"]["user_ns"] == os.stat("/proc/self/ns/user").st_ino, "user ns inode"
PY
then ok "youki --json: NDJSON events, pivot_root in youki:pivot, init is pid 1 in a new pid ns (host user ns), no_failure"; else bad "youki --json" "$work/good.youki.out"; fi

# --- --pid follows a running process.
sleep 0.3 &
spid=$!
"$T" --pid "$spid" --syscalls exit_group -o "$work/pid.out" 2>/dev/null || true
wait "$spid" || true
if grep -q "exit_group" "$work/pid.out"; then ok "--pid: sees the followed process exit"; else bad "--pid" "$work/pid.out"; fi

# --- --comm follows every new youki process until SIGINT.
"$T" --comm youki -o "$work/comm.out" 2>/dev/null &
tpid=$!
sleep 1
(cd "$work/good" && "$YOUKI" run "yt-comm-$$" >/dev/null 2>&1) || true
sleep 0.3
kill -INT "$tpid"
wait "$tpid" || true
if grep -qE "^youki:pivot " "$work/comm.out" && grep -q "dropped: 0," "$work/comm.out"; then
    ok "--comm youki: follows a youki run started after attach, through youki:pivot"
else
    bad "--comm youki" "$work/comm.out"
fi

# --- --container-id keeps one container's runtime calls out of several.
"$T" --comm youki --container-id "yt-cid-a-$$" -o "$work/cid.out" 2>/dev/null &
tpid=$!
sleep 1
for c in a b; do (cd "$work/good" && "$YOUKI" run "yt-cid-$c-$$" >/dev/null 2>&1) || true; done
sleep 0.3
kill -INT "$tpid"
wait "$tpid" || true
if grep -q "yt-cid-a-$$" "$work/cid.out" && ! grep -q "yt-cid-b-$$" "$work/cid.out" \
    && grep -qE "^youki:pivot " "$work/cid.out"; then
    ok "--container-id: one of two containers, with its init stages"
else
    bad "--container-id" "$work/cid.out"
fi

# --- clear errors.
if command -v setpriv >/dev/null; then
    msg=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$T" -- true 2>&1 || true)
    if grep -q "root privileges missing" <<<"$msg"; then ok "non-root: $msg"; else bad "non-root message: $msg"; fi
fi

# --- the flight recorder (record, why, its own failure modes): its count line adds here.
YOUKI="$YOUKI" YOUKI_TRACE="$T" bash "$here/recorder.sh" 2>&1 | tee "$work/recorder.log" || true
read -r rp rf < <(sed -nE 's/^youki-trace recorder: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$work/recorder.log") || true
if [ -n "${rp:-}" ]; then
    pass=$((pass + rp))
    fail=$((fail + rf))
else
    bad "recorder.sh: no count line"
fi

echo "youki-trace ci: $pass passed, $fail failed"
[ "$fail" = 0 ]
