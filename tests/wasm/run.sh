#!/usr/bin/env bash
# The wasm executor through the youki CLI, against real containers (root, real kernel):
# run, create/start/state/delete and exec of .wasm and .wat modules, exit codes, traps, bad
# modules, and the default build refusing a wasm workload. Every failure case checks that
# nothing is left behind: no state directory, no cgroup, no process in the rootfs.
#
#   bash tests/wasm/run.sh YOUKI_WASM YOUKI WAT2WASM
#
# YOUKI_WASM is built with --features wasm-wasmtime (`just build-wasm`), YOUKI without.
# Prints "ok"/"FAIL" per check and "wasm: N passed, N failed" last; exits 1 on any failure.
# The checks hold for any wasm engine; only the executor list of `features` and `info`
# names it. For another build, say which list it must report, in the order asked:
#
#   YOUKI_WASM_EXECUTORS=wasmer,default bash tests/wasm/run.sh \
#       target/wasmer/x86_64-unknown-linux-gnu/release/youki YOUKI WAT2WASM   # just build-wasmer
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wasm_youki=$(readlink -f "${1:?usage: run.sh YOUKI_WASM YOUKI WAT2WASM}")
plain_youki=$(readlink -f "${2:?usage: run.sh YOUKI_WASM YOUKI WAT2WASM}")
wat2wasm=$(readlink -f "${3:?usage: run.sh YOUKI_WASM YOUKI WAT2WASM}")
for b in "$wasm_youki" "$plain_youki" "$wat2wasm"; do
    [ -x "$b" ] || { echo "run.sh: missing $b (just build-wasm)"; echo "wasm: 0 passed, 1 failed"; exit 1; }
done
executors=${YOUKI_WASM_EXECUTORS:-wasmtime,default}
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root"; echo "wasm: 0 passed, 1 failed"; exit 1; }
[ -x /bin/busybox ] || { echo "run.sh: /bin/busybox missing (apt-get install busybox-static)"; echo "wasm: 0 passed, 1 failed"; exit 1; }

work=$(mktemp -d /tmp/youki-wasm-test.XXXXXX)
root="$work/state"
cg="youki-wasm-test-$$"
pass=0
fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() {
    echo "FAIL $1"
    fail=$((fail + 1))
    local f
    for f in "${@:2}"; do sed 's/^/     | /' "$f" 2>/dev/null | head -n 15; done
}
cleanup() {
    local d
    for d in "$root"/*/; do
        [ -d "$d" ] && "$wasm_youki" --root "$root" delete --force "$(basename "$d")" >/dev/null 2>&1
    done
    rmdir /sys/fs/cgroup/*/"$cg" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# The rootfs: the modules (two of them as binaries), a file in /etc and one in /data, and
# busybox for the native and exec cases.
rootfs="$work/rootfs"
mkdir -p "$rootfs/wasm" "$rootfs/etc" "$rootfs/data" "$rootfs/bin"
cp "$here"/modules/*.wat "$rootfs/wasm/"
"$wat2wasm" "$here/modules/args.wat" "$rootfs/wasm/args.wasm" || bad "wat2wasm args.wat"
"$wat2wasm" "$here/modules/hello.wat" "$rootfs/wasm/hello.wasm" || bad "wat2wasm hello.wat"
cp "$rootfs/wasm/args.wasm" "$rootfs/wasm/args-module"
printf '\0asm\1\0\0\0\377garbage' >"$rootfs/wasm/bad.wasm"
echo "from the rootfs" >"$rootfs/etc/message"
echo "from the cwd" >"$rootfs/data/note.txt"
cp /bin/busybox "$rootfs/bin/"
for a in sh echo sleep cat; do ln -s busybox "$rootfs/bin/$a"; done

# bundle NAME PYTHON: a bundle sharing the rootfs; PYTHON edits the config dict `c`.
bundle() {
    local dir="$work/$1"
    mkdir -p "$dir"
    (cd "$dir" && "$plain_youki" spec)
    python3 - "$dir/config.json" "$rootfs" "/$cg/$1" "$2" <<'PY'
import json, sys
path, rootfs, cgroup, edit = sys.argv[1:5]
c = json.load(open(path))
c["root"] = {"path": rootfs, "readonly": True}
c["process"]["terminal"] = False
c["process"]["env"] = ["PATH=/bin", "FOO=bar"]
c["linux"]["cgroupsPath"] = cgroup
exec(edit)
json.dump(c, open(path, "w"), indent=1)
PY
}

# left_behind ID: prints what a container left on the host (state dir, cgroup, process).
left_behind() {
    local id=$1 p
    [ -e "$root/$id" ] && echo "state directory $root/$id"
    for p in /sys/fs/cgroup/*/"$cg/$id"; do [ -e "$p" ] && echo "cgroup $p"; done
    # A process whose root is the rootfs (pivot_root keeps the directory's device and inode).
    local want
    want=$(stat -Lc %d:%i "$rootfs")
    for p in /proc/[0-9]*; do
        [ "$(stat -Lc %d:%i "$p/root" 2>/dev/null)" = "$want" ] && echo "process ${p#/proc/} in the rootfs"
    done
}

# expect_clean NAME ID
expect_clean() {
    local what
    what=$(left_behind "$2")
    if [ -z "$what" ]; then ok "$1: nothing left behind"; else echo "$what" >"$work/left"; bad "$1: left behind" "$work/left"; fi
}

# run_ctr BIN NAME: `youki run` of bundle NAME, stdout/stderr in $work/NAME.{out,err}, rc in $rc.
run_ctr() {
    (cd "$work/$2" && timeout 60 "$1" --root "$root" run "$2" </dev/null >"$work/$2.out" 2>"$work/$2.err")
    rc=$?
}

# runs_to NAME RC TEXT WHAT: `youki run` (wasm build) of bundle NAME exits RC, stdout has TEXT.
runs_to() {
    run_ctr "$wasm_youki" "$1"
    if [ "$rc" = "$2" ] && has "$work/$1.out" "$3"; then ok "$4"; else bad "$4 (rc $rc, want $2)" "$work/$1.out" "$work/$1.err"; fi
}

# prints_exactly NAME TEXT WHAT: `youki run` (wasm build) of bundle NAME exits 0 and prints
# TEXT (printf escapes) and nothing else.
prints_exactly() {
    run_ctr "$wasm_youki" "$1"
    printf "$2" >"$work/$1.want"
    if [ "$rc" = 0 ] && diff -u "$work/$1.want" "$work/$1.out" >"$work/$1.diff"; then ok "$3"; else bad "$3 (rc $rc)" "$work/$1.diff" "$work/$1.err"; fi
}

# has FILE TEXT: FILE contains the fixed string TEXT.
has() { sed 's/\\"/"/g' "$1" | grep -qF -- "$2"; }

echo "-- features and info"
if "$wasm_youki" features | jq -e --arg want "$executors" '.annotations["io.github.youki.executors"] == $want' >/dev/null; then
    ok "features of the wasm build lists $executors"
else bad "features of the wasm build"; fi
if "$plain_youki" features | jq -e '.annotations["io.github.youki.executors"] == "default"' >/dev/null; then
    ok "features of the default build lists default"
else bad "features of the default build"; fi
"$wasm_youki" info >"$work/info.out" 2>&1
if grep -qxF "executors: ${executors//,/, }" "$work/info.out"; then ok "info lists the executors"; else bad "info lists the executors" "$work/info.out"; fi

echo "-- modules that work"
bundle args 'c["process"]["args"] = ["/wasm/args.wasm", "one", "two words"]'
prints_exactly args 'arg: /wasm/args.wasm\narg: one\narg: two words\nenv: PATH=/bin\nenv: FOO=bar\nenv: HOME=/\n' \
    "run args.wasm: args and env reach the module, exit 0"
expect_clean "run args.wasm" args

bundle handler 'c["process"]["args"] = ["/wasm/args-module", "x"]; c["annotations"] = {"run.oci.handler": "wasm"}'
runs_to handler 0 "arg: x" "run.oci.handler=wasm runs a module without an extension"
bundle variant 'c["process"]["args"] = ["/wasm/args-module", "y"]; c["annotations"] = {"module.wasm.image/variant": "compat-smart"}'
runs_to variant 0 "arg: y" "module.wasm.image/variant=compat-smart runs a module"
bundle smart 'c["process"]["args"] = ["/bin/echo", "native under compat-smart"]; c["annotations"] = {"module.wasm.image/variant": "compat-smart"}'
runs_to smart 0 "native under compat-smart" "compat-smart execs an args[0] that is not a module natively"

bundle cat 'c["process"]["args"] = ["/wasm/cat.wat", "/etc/message", "note.txt"]; c["process"]["cwd"] = "/data"'
prints_exactly cat 'from the rootfs\nfrom the cwd\n' "run cat.wat: reads /etc/message through / and note.txt through the cwd"

bundle tty 'c["process"]["args"] = ["/wasm/hello.wasm"]; c["process"]["terminal"] = True'
runs_to tty 0 "hello" "a module on a terminal (run keeps the pty)"
bundle native 'c["process"]["args"] = ["/bin/echo", "native still works"]'
runs_to native 0 "native still works" "the wasm build still execs ELF programs"

echo "-- exit codes and traps"
bundle exit3 'c["process"]["args"] = ["/wasm/exit3.wat"]'
runs_to exit3 3 "exiting with 3" "run exit3.wat exits 3"
expect_clean "run exit3.wat" exit3

# create / state / start / state / delete, the way containerd drives it.
id=lifecycle
bundle $id 'c["process"]["args"] = ["/wasm/exit3.wat"]'
(cd "$work/$id" && "$wasm_youki" --root "$root" create $id >"$work/$id.out" 2>"$work/$id.err")
status=$("$wasm_youki" --root "$root" state $id 2>/dev/null | jq -r .status)
if [ "$status" = created ] && ! has "$work/$id.out" "exiting"; then ok "create: state created, the module has not run"; else bad "create (status $status)" "$work/$id.err"; fi
"$wasm_youki" --root "$root" start $id 2>>"$work/$id.err" || bad "start" "$work/$id.err"
for _ in $(seq 50); do
    status=$("$wasm_youki" --root "$root" state $id 2>/dev/null | jq -r .status)
    [ "$status" = stopped ] && break
    sleep 0.1
done
if [ "$status" = stopped ] && has "$work/$id.out" "exiting with 3"; then ok "start: the module ran, state stopped"; else bad "start (status $status)" "$work/$id.out" "$work/$id.err"; fi
"$wasm_youki" --root "$root" delete $id 2>>"$work/$id.err" || bad "delete" "$work/$id.err"
expect_clean "create/start/delete" $id

# While a module runs, its process holds none of the runtime's fds (state dir, exec fifo,
# channel, inherited pipes): cat.wat blocks opening a fifo in the rootfs until we write to it.
id=fds
mkfifo "$rootfs/data/pipe"
bundle $id 'c["process"]["args"] = ["/wasm/cat.wat", "/data/pipe"]'
(cd "$work/$id" && "$wasm_youki" --root "$root" create $id >"$work/$id.out" 2>"$work/$id.err") &&
    "$wasm_youki" --root "$root" start $id 2>>"$work/$id.err" || bad "create/start cat of a fifo" "$work/$id.err"
pid=$("$wasm_youki" --root "$root" state $id 2>/dev/null | jq -r .pid)
ls -l "/proc/$pid/fd/" >"$work/$id.fds" 2>&1
if grep -qE "$root|exec.fifo|socket:|pipe:" "$work/$id.fds"; then bad "the running module holds a runtime fd" "$work/$id.fds"
elif ! grep -q "wasm" "/proc/$pid/cmdline" 2>/dev/null && [ ! -s "$work/$id.fds" ]; then bad "no running module to look at" "$work/$id.err"
else ok "the running module holds no runtime fd (state dir, exec fifo, channel)"; fi
# The module gets its writer and ends (wasmtime reads files at an offset, which a fifo
# refuses: the read fails and cat.wat exits 4; only the end matters here).
timeout 10 sh -c "echo unblock >'$rootfs/data/pipe'" 2>/dev/null
for _ in $(seq 50); do
    status=$("$wasm_youki" --root "$root" state $id 2>/dev/null | jq -r .status)
    [ "$status" = stopped ] && break
    sleep 0.1
done
if [ "$status" = stopped ]; then ok "the module ended once the fifo had a writer"; else bad "cat of a fifo (status $status)" "$work/$id.err"; fi
"$wasm_youki" --root "$root" delete $id 2>>"$work/$id.err" || bad "delete fds" "$work/$id.err"

bundle trap 'c["process"]["args"] = ["/wasm/trap.wat"]'
run_ctr "$wasm_youki" trap
if [ "$rc" = 134 ] && has "$work/trap.err" "about to trap" && has "$work/trap.err" 'wasm module "/wasm/trap.wat": wasm trap:' &&
    has "$work/trap.err" "unreachable"; then
    ok "a trap: exit 134, the module and the trap named on stderr"
else bad "trap (rc $rc, want 134)" "$work/trap.err"; fi
expect_clean "trap" trap

echo "-- bad input"
# bad_create NAME BIN PATTERN: create fails naming PATTERN and leaves nothing behind.
bad_create() {
    (cd "$work/$1" && "$2" --root "$root" create "$1" >"$work/$1.out" 2>"$work/$1.err")
    local rc=$?
    if [ "$rc" != 0 ] && has "$work/$1.err" "$3"; then ok "$1: create fails: $(head -n 1 "$work/$1.err")"; else bad "$1 (rc $rc)" "$work/$1.err"; fi
    expect_clean "$1" "$1"
}
bundle missing 'c["process"]["args"] = ["/wasm/nope.wasm"]'
bad_create missing "$wasm_youki" 'read wasm module "/wasm/nope.wasm": no such file or directory'
bundle broken 'c["process"]["args"] = ["/wasm/bad.wasm"]'
bad_create broken "$wasm_youki" 'compile wasm module "/wasm/bad.wasm"'
bundle nofeature 'c["process"]["args"] = ["/bin/echo", "must not run"]; c["annotations"] = {"run.oci.handler": "wasm"}'
bad_create nofeature "$plain_youki" 'cannot run "/bin/echo": no executor takes it (default: annotation run.oci.handler=wasm asks for WebAssembly'
if [ -s "$work/nofeature.out" ]; then bad "nofeature: args[0] ran as ELF" "$work/nofeature.out"; else ok "nofeature: args[0] did not run"; fi
bundle nofeature-ext 'c["process"]["args"] = ["/wasm/args.wasm"]'
bad_create nofeature-ext "$plain_youki" 'args[0] ends in ".wasm" asks for WebAssembly'

echo "-- exec into a running container"
id=host
bundle $id 'c["process"]["args"] = ["/bin/sleep", "60"]'
(cd "$work/$id" && "$wasm_youki" --root "$root" run -d $id >/dev/null 2>"$work/$id.err") || bad "run -d host" "$work/$id.err"
out=$(timeout 30 "$wasm_youki" --root "$root" exec $id /wasm/args.wasm from-exec 2>"$work/exec.err")
if [ "$out" = "$(printf 'arg: /wasm/args.wasm\narg: from-exec\nenv: PATH=/bin\nenv: FOO=bar\nenv: HOME=/')" ]; then
    ok "exec of a module prints its args and the container's env"
else echo "$out" >"$work/exec.out"; bad "exec args.wasm" "$work/exec.out" "$work/exec.err"; fi
timeout 30 "$wasm_youki" --root "$root" exec $id /wasm/exit3.wat >/dev/null 2>&1
rc=$?
if [ "$rc" = 3 ]; then ok "exec of exit3.wat returns 3"; else bad "exec exit3.wat (rc $rc)"; fi
timeout 30 "$wasm_youki" --root "$root" exec $id /wasm/nope.wasm >/dev/null 2>"$work/exec-missing.err"
rc=$?
if [ "$rc" != 0 ] && has "$work/exec-missing.err" 'read wasm module "/wasm/nope.wasm"'; then ok "exec of a missing module fails naming it"; else bad "exec missing (rc $rc)" "$work/exec-missing.err"; fi
if "$wasm_youki" --root "$root" ps $id 2>/dev/null | grep -q sleep && [ "$("$wasm_youki" --root "$root" ps $id | wc -l)" = 2 ]; then
    ok "exec left only the container's own process"
else "$wasm_youki" --root "$root" ps $id >"$work/ps.out" 2>&1; bad "processes after exec" "$work/ps.out"; fi
"$wasm_youki" --root "$root" delete --force $id || bad "delete host"
expect_clean "exec" $id

echo "wasm: $pass passed, $fail failed"
[ "$fail" = 0 ]
