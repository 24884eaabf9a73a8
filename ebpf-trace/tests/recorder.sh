#!/usr/bin/env bash
# The flight recorder on the real kernel: `youki-trace record` runs while a catalogue of
# broken creates (and one healthy one) goes by; each failure must give exactly one report
# whose first-failure line matches, `why` must print it, and the healthy create none.
# Then the recorder's own failure modes: BTF missing, tracefs missing, a ring buffer too small.
# Last, the Events it posts to a fake Kubernetes API server (tests/kube_events.rs, via cargo).
# Needs root, busybox-static; called by ci.sh, or alone:
#   YOUKI=path/to/youki YOUKI_TRACE=path/to/youki-trace bash ebpf-trace/tests/recorder.sh
# Closes with "youki-trace recorder: N passed, M failed".
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
    echo "ebpf-trace/tests/recorder.sh: skipped: needs root to load eBPF programs"
    echo "youki-trace recorder: 0 passed, 0 failed"
    exit 0
fi
: "${YOUKI:?YOUKI must name the youki binary}" "${YOUKI_TRACE:?YOUKI_TRACE must name youki-trace}"
YOUKI=$(readlink -f "$YOUKI")
T=$(readlink -f "$YOUKI_TRACE")

work=$(mktemp -d /tmp/youki-recorder.XXXXXX)
reports="$work/failures"
rec_pid=
cleanup() {
    [ -n "$rec_pid" ] && kill -INT "$rec_pid" 2>/dev/null && wait "$rec_pid" 2>/dev/null
    mountpoint -q "$work/fullroot" && umount "$work/fullroot"
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
excerpt=20
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# A busybox bundle; $2 is Python that edits the config dict `c`.
bundle() {
    local dir="$work/$1"
    busybox_bundle "$dir"
    mkdir -p "$dir/rootfs/etc"
    echo "root:x:0:0:root:/root:/bin/sh" >"$dir/rootfs/etc/passwd"
    python3 - "$dir/config.json" "$2" "$1" <<'PY'
import json, sys
p, edit, name = sys.argv[1], sys.argv[2], sys.argv[3]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/echo", "hello"]
c["annotations"] = {
    "io.kubernetes.cri.sandbox-name": "pod-" + name,
    "io.kubernetes.cri.sandbox-namespace": "catalogue",
    "io.kubernetes.cri.sandbox-uid": "uid-" + name,
    "io.kubernetes.cri.container-name": "app",
}
exec(edit)
json.dump(c, open(p, "w"), indent=1)
PY
}

kill_hooks

seccomp() { # $1: action on execve/execveat
    echo "c['linux']['seccomp'] = {'defaultAction': 'SCMP_ACT_ALLOW', 'architectures': ['SCMP_ARCH_X86_64'], 'syscalls': [{'names': ['execve', 'execveat'], 'action': '$1', 'errnoRet': 1}]}"
}

# The catalogue: NAME, youki subcommand (run for what fails only at exec), config edit,
# and the expected first-failure line (an extended regex).
cases=(
    "noexec|create|c['process']['args'] = ['/bin/nonexistent']|^stage youki:process: (access|execve|execveat|statx|newfstatat)\(.*\"/bin/nonexistent\".*ENOENT"
    "notexec|create|c['process']['args'] = ['/etc/passwd']|^stage youki:process: (access|execve|execveat|faccessat2?)\(.*\"/etc/passwd\".*EACCES"
    "mount-enotdir|create|c['mounts'].append({'destination': '/bin/busybox/sub', 'type': 'tmpfs', 'source': 'tmpfs'})|^stage youki:mounts: .*busybox/sub.*ENOTDIR"
    "mount-nosource|create|c['mounts'].append({'destination': '/data', 'type': 'bind', 'source': '$work/no-such-source', 'options': ['rbind']})|^stage youki(:mounts)?: .*no-such-source.*ENOENT"
    "hook-fails|create|c['hooks'] = {'createRuntime': [{'path': '/bin/false'}]}|^stage youki > false: exit_group\(1\)"
    "hook-killed|create|c['hooks'] = {'createContainer': [{'path': '$work/killself.sh'}]}|^stage youki:hooks > killself.sh: killed by SIGKILL"
    "init-killed|create|c['hooks'] = {'createRuntime': [{'path': '$work/killinit.sh'}]}|^stage youki:[a-z]+: killed by SIGKILL from pid [0-9]+ \(killinit.sh\)"
    "seccomp-kill|run|$(seccomp SCMP_ACT_KILL_PROCESS)|^stage youki:[a-z]+: killed by SIGSYS \(seccomp\)"
    "seccomp-errno|run|$(seccomp SCMP_ACT_ERRNO)|^stage youki:[a-z]+: execve(at)?\(.*EPERM"
    "cpuset|create|c['linux'].setdefault('resources', {})['cpu'] = {'cpus': '99'}|^stage youki: write\(.*\"99\".*(EINVAL|ERANGE)"
    "rlimit|create|c['process']['rlimits'] = [{'type': 'RLIMIT_NOFILE', 'hard': $(($(cat /proc/sys/fs/nr_open) + 1)), 'soft': 1024}]|^stage youki:[a-z]+: (setrlimit|prlimit64)\(.*EPERM"
    "sysctl|create|c['linux']['sysctl'] = {'kernel.msgmax': 'abc'}|^stage youki:[a-z]+: write\(.*\"abc\".*EINVAL"
    "memory-oom|create|c['linux'].setdefault('resources', {})['memory'] = {'limit': 4096}|^stage youki:[a-z]+: (.*ENOMEM|killed by SIGKILL)"
    "cwd-notdir|create|c['process']['cwd'] = '/bin/busybox'|^stage youki:[a-z]+: chdir\(.*ENOTDIR"
)

for c in "${cases[@]}"; do
    IFS='|' read -r name _ edit _ <<<"$c"
    bundle "$name" "$edit"
done
bundle good ""

# The state directory on a tiny tmpfs that is already full.
mkdir -p "$work/fullroot"
mount -t tmpfs -o size=64k tmpfs "$work/fullroot"
dd if=/dev/zero of="$work/fullroot/filler" bs=4k count=64 2>/dev/null || true

mkdir -p "$reports"
"$T" record --dir "$reports" 2>"$work/record.err" &
rec_pid=$!
for _ in $(seq 1 100); do
    grep -q "following" "$work/record.err" 2>/dev/null && break
    sleep 0.1
done
if grep -q "following" "$work/record.err"; then ok "record: attached"; else bad "record: not attached" "$work/record.err"; fi

id_of() { echo "yr-$1-$$"; }
for c in "${cases[@]}"; do
    IFS='|' read -r name sub _ _ <<<"$c"
    id=$(id_of "$name")
    # --bundle, as containerd passes it: a bundle known only as youki's cwd is read from
    # /proc/PID/cwd, which a create that fails within a few ms has already left.
    timeout 60 "$YOUKI" "$sub" --bundle "$work/$name" "$id" >"$work/$name.out" 2>&1 || true
    "$YOUKI" delete -f "$id" >/dev/null 2>&1 || true
done
id=$(id_of statedir)
(cd "$work/good" && timeout 60 "$YOUKI" --root "$work/fullroot/state" create "$id" >"$work/statedir.out" 2>&1) || true
"$YOUKI" --root "$work/fullroot/state" delete -f "$id" >/dev/null 2>&1 || true
cases+=("statedir|create||^stage youki: (write|openat|mkdir|mkdirat|fsync|rename)\(.*ENOSPC")
# The healthy create, start and delete.
id=$(id_of good)
(cd "$work/good" && "$YOUKI" create "$id" && "$YOUKI" start "$id" && sleep 0.2 && "$YOUKI" delete -f "$id") \
    >"$work/good.out" 2>&1 || bad "good: youki create/start/delete failed" "$work/good.out"

sleep 0.5
kill -INT "$rec_pid"
wait "$rec_pid" || true
rec_pid=

report_of() { # the reports whose header names id $1
    grep -l "\"container_id\":\"$1\"" "$reports"/*.ndjson 2>/dev/null || true
}
first_line() {
    head -n 1 "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["youki_failure"]["first_failure"])'
}

for c in "${cases[@]}"; do
    IFS='|' read -r name _ _ pattern <<<"$c"
    id=$(id_of "$name")
    mapfile -t found < <(report_of "$id")
    if [ "${#found[@]}" != 1 ]; then
        bad "$name: ${#found[@]} reports for $id, want 1" "$work/$name.out"
        continue
    fi
    line=$(first_line "${found[0]}")
    if grep -qE -- "$pattern" <<<"$line"; then
        ok "$name: $line"
    else
        bad "$name: first failure /$pattern/ not in: $line" "$work/$name.out"
    fi
done
if [ -z "$(report_of "$(id_of good)")" ]; then ok "good: no report"; else bad "good: a report for a healthy create"; fi

# why: by id and by namespace/pod, human form; none for the healthy one.
out=$("$T" why --dir "$reports" "$(id_of noexec)" 2>&1) || true
if grep -q "^container $(id_of noexec) (pod catalogue/pod-noexec, container app): create failed" <<<"$out" \
    && grep -q "^FIRST FAILURE: stage youki:process" <<<"$out" && grep -q "^STAGE SUMMARY" <<<"$out"; then
    ok "why ID: prints the stored report"
else
    bad "why ID: $out"
fi
out=$("$T" why --dir "$reports" catalogue/pod-mount-enotdir 2>&1) || true
if grep -q "^FIRST FAILURE: stage youki:mounts .*ENOTDIR" <<<"$out"; then
    ok "why namespace/pod: finds it by the CRI annotations"
else
    bad "why namespace/pod"
fi
set +e
msg=$("$T" why --dir "$reports" "$(id_of good)" 2>&1)
rc=$?
set -e
if [ "$rc" = 1 ] && grep -q "no failure report for" <<<"$msg"; then ok "why: exit 1 for a healthy create: $msg"; else bad "why healthy: rc $rc: $msg"; fi
# Other youki commands on the machine are recorded too: the counts are at least ours.
read -r nf ns < <(sed -nE 's/.*creates: ([0-9]+) failed, ([0-9]+) succeeded.*/\1 \2/p' "$work/record.err")
if [ "${nf:-0}" -ge "${#cases[@]}" ] && [ "${ns:-0}" -ge 1 ]; then
    ok "record: counts $(grep -o 'creates: [^;]*' "$work/record.err")"
else
    bad "record: counts" "$work/record.err"
fi

# Creates at once: 4 workers, each 5 failing and 5 healthy creates back to back. Every
# failure gets its own report, with its own first failure, and nothing is dropped.
par="$work/parallel"
"$T" record --dir "$par" 2>"$work/parallel.err" &
rec_pid=$!
for _ in $(seq 1 100); do grep -q "following" "$work/parallel.err" 2>/dev/null && break; sleep 0.1; done
workers=()
for w in 1 2 3 4; do
    (
        for i in 1 2 3 4 5; do
            (cd "$work/noexec" && "$YOUKI" create "yr-par-$w-$i-$$" >/dev/null 2>&1) || true
            (cd "$work/good" && "$YOUKI" create "yr-pok-$w-$i-$$" >/dev/null 2>&1 && "$YOUKI" delete -f "yr-pok-$w-$i-$$" >/dev/null 2>&1) || true
        done
    ) &
    workers+=($!)
done
wait "${workers[@]}"
sleep 0.5
kill -INT "$rec_pid"; wait "$rec_pid" || true; rec_pid=
nrep=$( (grep -l "\"container_id\":\"yr-par-" "$par"/*.ndjson 2>/dev/null || true) | wc -l)
nok=$( (grep -l "\"container_id\":\"yr-pok-" "$par"/*.ndjson 2>/dev/null || true) | wc -l)
nwrong=$(for f in $(grep -l "\"container_id\":\"yr-par-" "$par"/*.ndjson 2>/dev/null); do first_line "$f"; done | grep -vc 'access("/bin/nonexistent") = -1 ENOENT' || true)
if [ "$nrep" = 20 ] && [ "$nok" = 0 ] && [ "$nwrong" = 0 ] && grep -q "lost: 0 events (ring full), 0 syscall enters, 0 processes not followed" "$work/parallel.err"; then
    ok "4 workers at once: 20 failures, 20 reports with their own first failure, 0 for the 20 healthy, 0 lost"
else
    bad "4 workers at once: $nrep reports (want 20), $nok for healthy ones, $nwrong with another first failure" "$work/parallel.err"
fi

# Rotation: with --max-files 2 only the two newest of three failures stay. A copy of youki
# under another name, followed with --comm, keeps other youki runs on the machine out.
cp "$YOUKI" "$work/youkirot"
rot="$work/rotation"
"$T" record --comm youkirot --dir "$rot" --max-files 2 2>"$work/rotation.err" &
rec_pid=$!
for _ in $(seq 1 100); do grep -q "following" "$work/rotation.err" 2>/dev/null && break; sleep 0.1; done
for i in 1 2 3; do
    (cd "$work/noexec" && "$work/youkirot" create "yr-rot$i-$$" >/dev/null 2>&1) || true
    sleep 0.3
done
sleep 0.3
kill -INT "$rec_pid"; wait "$rec_pid" || true; rec_pid=
left=$(ls "$rot" | tr '\n' ' ')
if [ "$(ls "$rot" | wc -l)" = 2 ] && [[ "$left" == *rot2* && "$left" == *rot3* ]]; then
    ok "rotation: --max-files 2 keeps the two newest (--comm youkirot)"
else
    bad "rotation: left $left" "$work/rotation.err"
fi

# The recorder's own failure modes.
msg=$(unshare -m sh -c "mount -t tmpfs none /sys/kernel/btf && exec '$T' record --dir '$work/x'" 2>&1 || true)
if grep -q "kernel BTF missing" <<<"$msg"; then ok "no BTF: $msg"; else bad "no BTF: $msg"; fi
msg=$(unshare -m sh -c "mount -t tmpfs none /sys/kernel/tracing && mount -o remount,ro /sys/kernel/tracing 2>/dev/null; exec setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin '$T' record --dir '$work/x'" 2>&1 || true)
if grep -q "tracefs missing at /sys/kernel/tracing.*mount -t tracefs" <<<"$msg"; then ok "no tracefs: $msg"; else bad "no tracefs: $msg"; fi
msg=$(setpriv --bounding-set -all,+bpf --inh-caps -all -- "$T" record --dir "$work/x" 2>&1 || true)
if grep -q "capabilities missing: .*CAP_BPF and CAP_PERFMON" <<<"$msg"; then ok "CAP_BPF alone: $msg"; else bad "CAP_BPF alone: $msg"; fi
# The chart's recorder container has only CAP_BPF and CAP_PERFMON: enough to record.
setpriv --bounding-set -all,+bpf,+perfmon --inh-caps -all -- "$T" record --dir "$work/caps" 2>"$work/caps.err" &
rec_pid=$!
for _ in $(seq 1 100); do grep -q "following" "$work/caps.err" 2>/dev/null && break; sleep 0.1; done
(cd "$work/noexec" && "$YOUKI" create "yr-caps-$$" >/dev/null 2>&1) || true
sleep 0.5
kill -INT "$rec_pid"; wait "$rec_pid" || true; rec_pid=
if compgen -G "$work/caps/*-yr-caps-$$.ndjson" >/dev/null; then
    ok "CAP_BPF and CAP_PERFMON only: records a failed create"
else
    bad "CAP_BPF and CAP_PERFMON only" "$work/caps.err"
fi
"$T" record --dir "$work/tiny" --ring-bytes 4096 2>"$work/tiny.err" &
rec_pid=$!
for _ in $(seq 1 100); do grep -q "following" "$work/tiny.err" 2>/dev/null && break; sleep 0.1; done
(cd "$work/noexec" && "$YOUKI" create "yr-tiny-$$" >/dev/null 2>&1) || true
sleep 1.5
kill -INT "$rec_pid"; wait "$rec_pid" || true; rec_pid=
if grep -q "warning: lost [1-9][0-9]* events (ring buffer full)" "$work/tiny.err" \
    && grep -q "lost: [1-9][0-9]* events (ring full)" "$work/tiny.err"; then
    ok "ring full: drops counted and reported"
else
    bad "ring full: no drop warning" "$work/tiny.err"
fi

# Events: `record --kube-api` posts exactly one Event (reason YoukiCreateFailed, the report's
# first-failure line) on the pod of a container whose create fails twice, and none for a
# bundle that names no pod, at the installer's in-process fake API server
# (ebpf-trace/tests/kube_events.rs, run here with this youki and youki-trace).
repo=$(cd "$(dirname "$0")/../.." && pwd)
if (cd "$repo" && YOUKI="$YOUKI" YOUKI_TRACE="$T" cargo test --locked -p youki-trace --test kube_events -- --nocapture) \
    >"$work/events.out" 2>&1 && grep -q "^kube_events: one Event on" "$work/events.out"; then
    ok "events: $(grep -o 'one Event on.*' "$work/events.out")"
else
    tail -n 40 "$work/events.out" >"$work/events.tail"
    excerpt=40 bad "events: the kube_events test" "$work/events.tail"
fi

echo "youki-trace recorder: $pass passed, $fail failed"
[ "$fail" = 0 ]
