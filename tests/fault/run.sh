#!/usr/bin/env bash
# The fault-injection and concurrency suite, against any runc-compatible runtime:
#
#   bash tests/fault/run.sh RUNTIME [FAILPOINTS_RUNTIME]
#
# Prints `ok NAME`, `FAIL NAME: reason` or `skip NAME: why` per case, lines starting with
# `#` as notes, and closes with `fault: N passed, M failed, K skipped`; exits 1 on a failure.
#
# Parts (see tests/fault/README.md for what each checks):
#   fp/STEP/NAME[...]  deterministic failpoints of FAILPOINTS_RUNTIME (youki built with
#                      `just build-failpoints`); skipped without it
#   sweep/CMD          SIGKILL of create, run -d, exec after 0..24 ms
#   stateroot/KIND     state root out of space (blocks, inodes) or read-only
#   corrupt/KIND       truncated, empty, garbage and too-new state.json
#   concurrency/...    100 creates at once; 50 mixed commands at once on one container
#   host-accounting    nothing with this run's tag left on the host
#
# After every fault: `delete --force ID` exits 0; nothing is left (state dir, cgroup dirs
# named ID in every hierarchy, mounts, processes, fds into the bundle); the id is reusable.
#
# Environment:
#   FAULT_FILTER  regex: run only the cases whose name matches
#   FAULT_PEERS   runtimes (space-separated) to run the sweep against for comparison only:
#                 their results are `#` notes, never failures (e.g. /usr/sbin/runc)
#   FAULT_SWEEP_MAX (24)  the largest delay of the sweep, in ms
#   FAULT_TIMEOUT (10)    seconds before a runtime call counts as hung
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ $# -ge 1 ]] || {
    echo "usage: $0 RUNTIME [FAILPOINTS_RUNTIME]" >&2
    exit 2
}
RT=$(realpath "$1")
FP=${2:+$(realpath "$2")}
RUN=$RT # the runtime rr calls; the failpoint cases switch it to FP
tag=yf$$
# shellcheck source=tests/fault/lib.sh
source "$here/lib.sh"

[[ $(id -u) == 0 ]] || {
    echo "fault: run as root: the runtime creates namespaces and cgroups" >&2
    exit 2
}
[[ -x $RT ]] || {
    echo "fault: $RT is not an executable" >&2
    exit 2
}
fault_packages
fault_setup || exit 2

passed=0 failed=0 skipped=0 found_leftovers=0
acct0=$(accounting "$tag")

# Whatever a case did not scrub: ids with a state dir, a cgroup or a process of this run.
cleanup() {
    local id
    for id in $({
        ls "$root" 2>/dev/null
        find /sys/fs/cgroup -maxdepth 4 -type d -name "$tag-*" -printf '%f\n' 2>/dev/null
        grep -lsaF -- "$tag-" /proc/[0-9]*/cmdline | xargs -r cat 2>/dev/null | tr '\0' '\n' | grep -o "$tag-[0-9]*"
    } | sort -u); do
        scrub "$id" "$work/b/$id"
    done
    grep -F "$work" /proc/self/mountinfo | awk '{print $5}' | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$root" "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

want() { [[ -z ${FAULT_FILTER:-} || $1 =~ $FAULT_FILTER ]]; }
ok() {
    echo "ok $1"
    passed=$((passed + 1))
}
fail() {
    echo "FAIL $1: $2" | cut -c1-1200
    failed=$((failed + 1))
}
skip() {
    echo "skip $1: $2"
    skipped=$((skipped + 1))
}
# verdict NAME [NOTE]: ok unless the case collected problems in prob.
verdict() {
    if ((${#prob[@]})); then
        local IFS=';'
        fail "$1" "${prob[*]}"
    else
        ok "$1${2:+ ($2)}"
    fi
}
# clear_error: the last call said why it failed (stderr not empty) and did not panic.
clear_error() {
    [[ -s $work/err ]] && ! grep -q "panicked at" "$work/err"
}

# recovery ID BUNDLE: `delete --force` exits 0, nothing is left, the id can be used again.
# Problems go to prob; leftovers are removed either way.
recovery() {
    local id=$1 b=$2 left
    rr delete --force "$id"
    local rc=$?
    ((rc == 0)) || prob+=(" delete --force exited $rc: $(err_text)")
    left=$(settled "$id" "$b")
    if [[ -n $left ]]; then
        prob+=(" left behind: $(paste -sd, <<<"$left")")
        found_leftovers=$((found_leftovers + 1))
        scrub "$id" "$b"
    fi
    if ! rr create --bundle "$b" "$id"; then
        prob+=(" id not reusable: create exited $?: $(err_text)")
    elif ! rr start "$id"; then
        prob+=(" id not reusable: start exited $?: $(err_text)")
    elif ! rr delete --force "$id"; then
        prob+=(" id not reusable: delete --force exited $?: $(err_text)")
    fi
    left=$(settled "$id" "$b")
    if [[ -n $left ]]; then
        prob+=(" left behind by the second use: $(paste -sd, <<<"$left")")
        scrub "$id" "$b"
    fi
}

# ---------------------------------------------------------------------------------------
# 1 and 5: deterministic failpoints
#
# A failpoints build logs every failpoint it crosses to YOUKI_FAILPOINT_LOG as `PID NAME`.
# A healthy lifecycle run with the log learns the names each step crosses, and whether the
# step's own process (self) or a child (init, exec child) crosses them. Then for each name:
#   kill     (self names) the step's process SIGKILLs itself there
#   exit     (child names) the child _exits(3) there, without cleanup
#   sigkill  (child names) the child sleeps there and the suite SIGKILLs it from the host
#            (SIGKILL or SIGSTOP that a container's pid 1 sends itself are ignored by the
#            kernel, so the in-process kill and stop actions cannot stop init)
# The log file is hard-linked into the rootfs at the same path, so that the init's hits
# after pivot_root land in the same file.

lifecycle=(create start exec-d exec pause ps resume update kill kill-all delete)
runchain=(run-d delete)

# step_args STEP: the step's command line in A (uses ID and B).
step_args() {
    case $1 in
    create) A=(create --bundle "$B" "$ID") ;;
    start) A=(start "$ID") ;;
    exec-d) A=(exec -d "$ID" sleep 30) ;;
    exec) A=(exec "$ID" true) ;;
    pause) A=(pause "$ID") ;;
    ps) A=(ps "$ID") ;;
    resume) A=(resume "$ID") ;;
    update) A=(update --pids-limit 200 "$ID") ;;
    kill) A=(kill "$ID" CONT) ;;
    kill-all) A=(kill --all "$ID" CONT) ;;
    delete) A=(delete --force "$ID") ;;
    run-d) A=(run -d --bundle "$B" "$ID") ;;
    esac
}

fp_log_setup() {
    L=$B/fp.log
    : >"$L"
    mkdir -p "$B/rootfs$B"
    ln "$L" "$B/rootfs$L"
}

# fp_call ENV... -- ARGS...: the failpoints build in the background; its pid in CPID.
fp_call() {
    local envs=()
    while [[ $1 != -- ]]; do
        envs+=("$1")
        shift
    done
    shift
    env "${envs[@]}" "$FP" --root "$root" "$@" >"$work/out" 2>"$work/err" &
    CPID=$!
}

# wait_call: waits for CPID; its status in WRC, 124 when it hung and was killed.
wait_call() {
    local i st=
    for ((i = 0; i < FAULT_TIMEOUT * 100; i++)); do
        read -r _ _ st _ 2>/dev/null <"/proc/$CPID/stat" || st=Z
        [[ $st == Z ]] && break
        nap_ms 10
    done
    if [[ $st != Z ]]; then
        kill -9 "$CPID" 2>/dev/null
        { wait "$CPID"; } 2>/dev/null
        WRC=124
        return
    fi
    { wait "$CPID"; } 2>/dev/null
    WRC=$?
}

# fp_learn CHAIN...: runs the chain healthy with the log; writes $work/fp/STEP as lines
# `self NAME` / `child NAME`, first hit first.
fp_learn() {
    next_id
    new_bundle "$ID"
    fp_log_setup
    local step before
    for step in "$@"; do
        step_args "$step"
        if [[ -e $work/fp/$step ]]; then # learned already
            rr "${A[@]}"
            continue
        fi
        before=$(wc -l <"$L")
        fp_call YOUKI_FAILPOINT_LOG="$L" -- "${A[@]}"
        wait_call
        if ((WRC != 0)); then
            fail "fp/learn" "$step exited $WRC on a healthy run: $(err_text)"
            return 1
        fi
        tail -n +$((before + 1)) "$L" | awk -v self="$CPID" \
            'NF == 2 && $1 ~ /^[0-9]+$/ && !seen[$2]++ { print ($1 == self ? "self" : "child"), $2 }' >"$work/fp/$step"
    done
    local left
    left=$(settled "$ID" "$B")
    [[ -z $left ]] || {
        fail "fp/learn" "a healthy run left: $(paste -sd, <<<"$left")"
        scrub "$ID" "$B"
    }
}

# fp_victim NAME SINCE: the host pid of the process that logged NAME after line SINCE of
# the log and now sleeps there; waits for it up to FAULT_TIMEOUT.
fp_victim() {
    local name=$1 since=$2 i nspid p
    for ((i = 0; i < FAULT_TIMEOUT * 50; i++)); do
        nspid=$(tail -n +$((since + 1)) "$L" | awk -v n="$name" '$2 == n { print $1; exit }')
        if [[ -n $nspid ]]; then
            for p in $(pids_of "$ID" "$B"); do
                [[ $p == "$CPID" ]] && continue
                [[ $(awk '/^NSpid:/ { print $NF }' "/proc/$p/status" 2>/dev/null) == "$nspid" ]] &&
                    { echo "$p"; return 0; }
            done
        fi
        nap_ms 20
    done
    return 1
}

# fp_case MODE CHAIN_NAME STEP NAME
fp_case() {
    local mode=$1 chain=$2 step=$3 name=$4 spec label t before rc victim
    case $mode in
    kill) spec=$name label="fp/$step/$name" ;;
    exit) spec=$name=exit label="fp/$step/$name=exit" ;;
    sigkill) spec=$name=sleep:60000 label="fp/$step/$name+sigkill" ;;
    esac
    want "$label" || return 0
    local -n steps=$chain
    prob=()
    next_id
    new_bundle "$ID"
    fp_log_setup
    for t in "${steps[@]}"; do
        step_args "$t"
        local envs=(YOUKI_FAILPOINT_LOG="$L")
        # A child of an earlier step may cross NAME during STEP: it inherits the env then.
        if [[ $t == "$step" ]] || ! grep -qx "[a-z]* $name" "$work/fp/$t" 2>/dev/null; then
            envs+=(YOUKI_FAILPOINT="$spec")
        fi
        if [[ $t != "$step" ]]; then
            fp_call "${envs[@]}" -- "${A[@]}"
            wait_call
            ((WRC == 0)) || {
                prob+=(" setup: $t exited $WRC: $(err_text)")
                break
            }
            continue
        fi
        before=$(wc -l <"$L")
        fp_call "${envs[@]}" -- "${A[@]}"
        if [[ $mode == sigkill ]]; then
            if victim=$(fp_victim "$name" "$before"); then
                kill -9 "$victim"
            else
                prob+=(" no process waiting at $name")
            fi
        fi
        wait_call
        rc=$WRC
        local hits i
        for ((i = 0; i < 100; i++)); do # a child may cross NAME after the step returned
            hits=$(tail -n +$((before + 1)) "$L")
            grep -qx "[0-9]* $name" <<<"$hits" && break
            nap_ms 20
        done
        if ! grep -qx "[0-9]* $name" <<<"$hits"; then
            prob+=(" $name was not crossed ($t exited $rc)")
        elif [[ $mode == kill ]]; then
            ((rc == 137)) || prob+=(" $t went on past $name (exit $rc)")
        elif [[ $mode == exit ]] && awk -v n="$name" \
            'p != "" && $1 == p { bad = 1 } $2 == n && p == "" { p = $1 } END { exit !bad }' <<<"$hits"; then
            prob+=(" the process at $name went on after it")
        fi
        if [[ $mode != kill ]]; then
            if ((rc == 124)); then
                prob+=(" $t hung after its child died at $name")
            elif ((rc == 0)); then
                # Only a container whose init died after it was ready may have been created.
                if [[ $t == create || $t == start || $t == run-d ]]; then
                    local i
                    for i in 1 2 3 4 5 6 7 8 9 10; do # the kill takes a moment to land
                        rr state "$ID"
                        [[ $(jq -r .status "$work/out" 2>/dev/null) == stopped ]] && break
                        nap_ms 100
                    done
                    [[ $(jq -r .status "$work/out" 2>/dev/null) == stopped ]] ||
                        prob+=(" $t exited 0 though its child died at $name, and the state says $(jq -r .status "$work/out" 2>/dev/null)")
                else
                    prob+=(" $t exited 0 though its child died at $name")
                fi
            elif ! clear_error; then
                prob+=(" $t exited $rc without a clear error: $(err_text)")
            fi
        fi
        break
    done
    # The reused id runs without the failpoint: the failpoints build is then a plain youki.
    recovery "$ID" "$B"
    verdict "$label"
}

failpoints() {
    if [[ -z $FP ]]; then
        want fp/ && skip "fp" "no failpoints build given (just build-failpoints; run.sh RUNTIME target/failpoints/youki)"
        return
    fi
    want fp/ || [[ ${FAULT_FILTER:-} == *fp* ]] || return 0
    mkdir -p "$work/fp"
    RUN=$FP
    if ! fp_learn "${lifecycle[@]}" || ! fp_learn "${runchain[@]}"; then
        RUN=$RT
        return
    fi
    if ! grep -qs . "$work"/fp/*; then
        fail "fp/learn" "$FP logged no failpoint on a healthy run: is it built with the failpoints feature?"
        RUN=$RT
        return
    fi
    local step kind name n=0
    for step in "${lifecycle[@]}" run-d; do
        local chain=lifecycle
        [[ $step == run-d ]] && chain=runchain
        if [[ ! -s $work/fp/$step ]]; then
            want "fp/$step/" && skip "fp/$step" "the $step step crosses no failpoint (add crate::failpoint::hit calls to cover it)"
            continue
        fi
        while read -r kind name; do
            n=$((n + 1))
            if [[ $kind == self ]]; then
                fp_case kill "$chain" "$step" "$name"
            elif [[ $step != run-d ]]; then # run -d's children are create's: tested there
                fp_case exit "$chain" "$step" "$name"
                fp_case sigkill "$chain" "$step" "$name"
            fi
        done <"$work/fp/$step"
    done
    echo "# failpoints: $n (step, name) pairs learned from a healthy run"
    RUN=$RT
}

# caller/died-during-create[-pdeathsig]: the process that ran `create` (a shim, conmon) is
# SIGKILLed while create runs, as a shim killed on its timeout is. Nobody will ever start or
# delete that container (a restarted containerd does not clean up a task it never saw
# created), so create must undo it itself: nothing may be left before any delete. The
# -pdeathsig variant runs create as containerd's shim does, with a parent-death signal of
# SIGKILL (setpriv --pdeathsig KILL), which would kill it half-way. Needs the failpoints
# build, which holds create at `create:before-caller-check` until the caller is dead.
caller_gone() {
    local variant=${1:-} wrap=() runtime_pid i
    local name=caller/died-during-create$variant
    [[ -n $variant ]] && wrap=(setpriv --pdeathsig KILL)
    want "$name" || return 0
    [[ -n $FP ]] || {
        skip "$name" "no failpoints build"
        return 0
    }
    prob=()
    next_id
    new_bundle "$ID"
    rm -f "$work/caller.pid" "$work/caller.log"
    bash -c 'log=$1 pidf=$2 err=$3
        shift 3
        YOUKI_FAILPOINT=create:before-caller-check=sleep:1500 YOUKI_FAILPOINT_LOG="$log" "$@" 2>"$err" &
        echo $! >"$pidf"
        sleep 60' _ "$work/caller.log" "$work/caller.pid" "$work/err" "${wrap[@]}" "$FP" --root "$root" create --bundle "$B" "$ID" &
    local caller=$!
    for ((i = 0; i < 1000; i++)); do
        grep -qs "create:before-caller-check" "$work/caller.log" && break
        nap_ms 10
    done
    runtime_pid=$(cat "$work/caller.pid" 2>/dev/null)
    kill -9 "$caller" 2>/dev/null
    { wait "$caller"; } 2>/dev/null
    if [[ -z $runtime_pid ]] || ! grep -qs "create:before-caller-check" "$work/caller.log"; then
        prob+=(" create never reached create:before-caller-check: $(err_text)")
    else
        for ((i = 0; i < FAULT_TIMEOUT * 100; i++)); do
            [[ -d /proc/$runtime_pid ]] && [[ $(awk '{print $3}' "/proc/$runtime_pid/stat" 2>/dev/null) != Z ]] || break
            nap_ms 10
        done
        grep -q "caller of create (pid $caller) exited" "$work/err" ||
            prob+=(" create did not say its caller was gone: $(err_text)")
        local left
        left=$(settled "$ID" "$B")
        [[ -z $left ]] || prob+=(" left behind before any delete: $(paste -sd, <<<"$left")")
    fi
    recovery "$ID" "$B"
    verdict "$name"
}

# ---------------------------------------------------------------------------------------
# 2: random-delay sweep: SIGKILL the runtime process after 0..FAULT_SWEEP_MAX ms.

# sweep CMD: problems per delay in bad[]; uses RUN.
sweep() {
    local cmd=$1 d pid
    bad=()
    for ((d = 0; d <= ${FAULT_SWEEP_MAX:-24}; d++)); do
        prob=()
        next_id
        new_bundle "$ID"
        case $cmd in
        create) A=(create --bundle "$B" "$ID") ;;
        run-d) A=(run -d --bundle "$B" "$ID") ;;
        exec)
            A=(exec "$ID" sleep 30)
            rr create --bundle "$B" "$ID" && rr start "$ID" ||
                prob+=(" setup: create and start exited $?: $(err_text)")
            ;;
        esac
        "$RUN" --root "$root" "${A[@]}" >/dev/null 2>&1 &
        pid=$!
        nap_ms "$d"
        kill -9 "$pid" 2>/dev/null
        { wait "$pid"; } 2>/dev/null
        recovery "$ID" "$B"
        ((${#prob[@]})) && bad+=("${d}ms:${prob[*]}")
    done
}

# bad_delays: the delays of bad[], comma-separated.
bad_delays() {
    printf '%s\n' "${bad[@]}" | cut -d: -f1 | sed 's/ms$//' | paste -sd,
}

sweeps() {
    local cmd peer n=$((${FAULT_SWEEP_MAX:-24} + 1))
    for cmd in create run-d exec; do
        want "sweep/$cmd" || continue
        RUN=$RT
        sweep "$cmd"
        if ((${#bad[@]})); then
            fail "sweep/$cmd" "${#bad[@]} of $n delays went wrong (ms: $(bad_delays)): $(printf '%s |' "${bad[@]:0:3}")"
        else
            ok "sweep/$cmd ($n delays)"
        fi
        for peer in ${FAULT_PEERS:-}; do
            RUN=$(realpath "$peer")
            sweep "$cmd"
            echo "# sweep/$cmd on $peer (comparison only): ${#bad[@]} of $n delays went wrong${bad:+ (ms: $(bad_delays)): $(printf '%s |' "${bad[@]:0:3}")}" | cut -c1-1200
        done
    done
    RUN=$RT
}

# ---------------------------------------------------------------------------------------
# 3: the state root out of space or read-only: create fails, names the path, leaves nothing.

stateroot() {
    local kind=$1 label="stateroot/$1"
    want "$label" || return 0
    prob=()
    local mnt=$work/mnt-$kind
    mkdir -p "$mnt"
    case $kind in
    enospc-blocks)
        mount -t tmpfs -o size=16k,mode=0700 fault "$mnt" && mkdir "$mnt/root" &&
            { dd if=/dev/zero of="$mnt/fill" bs=1k 2>/dev/null; true; }
        ;;
    enospc-inodes)
        # The tmpfs root and our state root take the only two inodes.
        mount -t tmpfs -o size=1m,nr_inodes=2,mode=0700 fault "$mnt" && mkdir "$mnt/root"
        ;;
    erofs)
        mkdir -p "$mnt/root" && mount --bind "$mnt" "$mnt" && mount -o remount,bind,ro "$mnt"
        ;;
    esac || {
        skip "$label" "could not prepare the state root"
        umount -l "$mnt" 2>/dev/null
        return
    }
    local r=$mnt/root
    next_id
    new_bundle "$ID"
    timeout -k 2 "$FAULT_TIMEOUT" "$RT" --root "$r" create --bundle "$B" "$ID" >"$work/out" 2>"$work/err"
    local rc=$?
    if ((rc == 0)); then
        prob+=(" create succeeded on a state root that is ${kind}")
        timeout -k 2 "$FAULT_TIMEOUT" "$RT" --root "$r" delete --force "$ID" >/dev/null 2>&1
    elif ((rc == 124)); then
        prob+=(" create hung")
    elif ! grep -qF "$r" "$work/err"; then
        prob+=(" the error does not name the path under $r: $(err_text)")
    fi
    local left
    left=$(settled "$ID" "$B" "$r")
    if [[ -n $left ]]; then
        prob+=(" left behind: $(paste -sd, <<<"$left")")
        found_leftovers=$((found_leftovers + 1))
    fi
    scrub "$ID" "$B" "$r" 2>/dev/null
    umount -l "$mnt"
    verdict "$label" "$(err_text | cut -c1-120)"
}

# ---------------------------------------------------------------------------------------
# 4: corrupt state.json of a created container, beside a healthy one.

corrupt() {
    local kind=$1 label="corrupt/$1"
    want "$label" || return 0
    prob=()
    next_id
    new_bundle "$ID"
    local sib=$ID sib_b=$B
    next_id
    new_bundle "$ID"
    if ! { rr create --bundle "$sib_b" "$sib" && rr create --bundle "$B" "$ID"; }; then
        fail "$label" "setup: create exited $?: $(err_text)"
        scrub "$sib" "$sib_b"
        scrub "$ID" "$B"
        return
    fi
    rr state "$ID"
    local pid f=$root/$ID/state.json start0
    pid=$(jq -r .pid "$work/out")
    start0=$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null)
    if [[ ! -f $f ]]; then
        skip "$label" "the runtime keeps no $f"
        scrub "$sib" "$sib_b"
        scrub "$ID" "$B"
        return
    fi
    case $kind in
    truncated) head -c $(($(stat -c %s "$f") / 2)) "$f" >"$f.new" && mv "$f.new" "$f" ;;
    empty) : >"$f" ;;
    garbage) printf '\0\377{"id": not json at all' >"$f" ;;
    too-new) jq '.format = 99' "$f" >"$f.new" && mv "$f.new" "$f" ;;
    esac
    # Killed but not yet reaped (a zombie: state Z) is dead: reaping is the job of whoever
    # inherited it, PID 1 here, which may take its time.
    alive() {
        local st
        st=$(awk '{print $3, $22}' "/proc/$pid/stat" 2>/dev/null)
        [[ ${st#* } == "$start0" && ${st%% *} != Z ]]
    }

    rr state "$ID"
    local rc=$?
    if ((rc == 124)); then
        prob+=(" state hung")
    elif ((rc == 0)) && [[ $kind == too-new ]]; then
        prob+=(" state accepted a state.json of format 99")
    elif ((rc == 0)) && [[ $(jq -r .id "$work/out" 2>/dev/null) != "$ID" ]]; then
        prob+=(" state exited 0 without the container's state")
    elif ((rc != 0)) && ! clear_error; then
        prob+=(" state exited $rc without a clear error")
    fi
    rr list
    rc=$?
    if ((rc != 0)); then
        prob+=(" list failed as a whole (exit $rc): $(err_text)")
    elif ! grep -qF "$sib" "$work/out"; then
        prob+=(" list lost the healthy container $sib")
    fi
    if [[ $kind == too-new ]]; then
        local c
        for c in "start $ID" "kill $ID KILL" "exec $ID true" "pause $ID" "resume $ID" \
            "ps $ID" "update --pids-limit 50 $ID" "delete $ID"; do
            # shellcheck disable=SC2086
            rr $c
            rc=$?
            if ((rc == 0)); then
                prob+=(" '${c%% *}' accepted a state.json of format 99")
            elif ! clear_error; then
                prob+=(" '${c%% *}' exited $rc without a clear error")
            fi
        done
        alive || prob+=(" the container's process died before delete --force")
    fi
    rr delete --force "$ID"
    rc=$?
    ((rc == 0)) || prob+=(" delete --force exited $rc: $(err_text)")
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do alive || break; nap_ms 100; done
    alive && prob+=(" the container's process $pid still runs")
    local left
    left=$(settled "$ID" "$B")
    if [[ -n $left ]]; then
        prob+=(" left behind: $(paste -sd, <<<"$left")")
        found_leftovers=$((found_leftovers + 1))
    fi
    scrub "$ID" "$B"
    rr delete --force "$sib" || prob+=(" the healthy container: delete --force exited $?: $(err_text)")
    left=$(settled "$sib" "$sib_b")
    [[ -z $left ]] || prob+=(" the healthy container left: $(paste -sd, <<<"$left")")
    scrub "$sib" "$sib_b"
    verdict "$label"
}

# ---------------------------------------------------------------------------------------
# 6: concurrency. Each call runs in the background with its own output files; a call that
# is still running after FAULT_TIMEOUT seconds counts as hung.

# par_call N ARGS...: call number N in the background.
par_call() {
    local n=$1
    shift
    (
        local t0=$SECONDS
        timeout -k 2 "$FAULT_TIMEOUT" "$RT" --root "$root" "$@" >"$work/par/$n.out" 2>"$work/par/$n.err"
        echo $? >"$work/par/$n.rc"
        echo $((SECONDS - t0)) >"$work/par/$n.secs"
    ) &
}

# par_judge N... : fills prob with hung, panicking or silent failures; counts in zero/errs,
# and in killed the execs whose process a concurrent delete --force killed.
par_judge() {
    local n rc cmd
    zero=0 errs=0 killed=0
    for n in "$@"; do
        rc=$(cat "$work/par/$n.rc")
        cmd=$(cat "$work/par/$n.cmd")
        # 137 is also what exec returns when its process is SIGKILLed (by a concurrent
        # delete --force), as runc does: a hang only when the call lasted the whole timeout.
        if [[ $cmd == "exec "* ]] && ((rc == 137 && $(cat "$work/par/$n.secs") < FAULT_TIMEOUT)); then
            killed=$((killed + 1))
        elif ((rc == 124 || rc == 137)); then
            prob+=(" '$cmd' hung")
        elif grep -q "panicked at" "$work/par/$n.err"; then
            prob+=(" '$cmd' panicked")
        elif ((rc == 0)); then
            zero=$((zero + 1))
        elif [[ ! -s $work/par/$n.err ]]; then
            prob+=(" '$cmd' exited $rc without a message")
        else
            errs=$((errs + 1))
        fi
    done
}

concurrency_creates() {
    local label=concurrency/100-creates count=${FAULT_CONCURRENT:-100}
    want "$label" || return 0
    prob=()
    rm -rf "$work/par" && mkdir -p "$work/par"
    local ids=() bs=() i
    for ((i = 0; i < count; i++)); do
        next_id
        new_bundle "$ID"
        ids+=("$ID")
        bs+=("$B")
    done
    local phase
    for phase in create start delete; do
        for ((i = 0; i < count; i++)); do
            case $phase in
            create) A=(create --bundle "${bs[i]}" "${ids[i]}") ;;
            start) A=(start "${ids[i]}") ;;
            delete) A=(delete --force "${ids[i]}") ;;
            esac
            echo "${A[*]}" >"$work/par/$phase$i.cmd"
            par_call "$phase$i" "${A[@]}"
        done
        wait
        local n=0
        for ((i = 0; i < count; i++)); do
            [[ $(cat "$work/par/$phase$i.rc") == 0 ]] && continue
            n=$((n + 1))
            ((n <= 3)) && prob+=(" $phase ${ids[i]} exited $(cat "$work/par/$phase$i.rc"): $(tr '\n' ' ' <"$work/par/$phase$i.err" | cut -c1-160)")
        done
        ((n > 3)) && prob+=(" ... $n ${phase}s failed in all")
        if [[ $phase == start ]] && ((n == 0)); then
            rr state "${ids[0]}"
            [[ $(jq -r .status "$work/out" 2>/dev/null) == running ]] || prob+=(" ${ids[0]} is not running after start")
        fi
    done
    local left
    for ((i = 0; i < count; i++)); do
        left=$(settled "${ids[i]}" "${bs[i]}")
        if [[ -n $left ]]; then
            prob+=(" ${ids[i]} left: $(paste -sd, <<<"$left")")
            found_leftovers=$((found_leftovers + 1))
        fi
        scrub "${ids[i]}" "${bs[i]}"
    done
    verdict "$label"
}

concurrency_mixed() {
    local label=concurrency/50-mixed-on-one
    want "$label" || return 0
    prob=()
    rm -rf "$work/par" && mkdir -p "$work/par"
    next_id
    new_bundle "$ID" '.linux.resources.pids = {"limit": 200}'
    if ! { rr create --bundle "$B" "$ID" && rr start "$ID"; }; then
        fail "$label" "setup: create and start exited $?: $(err_text)"
        scrub "$ID" "$B"
        return
    fi
    local cmds=("state $ID" "kill $ID 0" "kill $ID CONT" "pause $ID" "resume $ID" "ps $ID"
        "exec $ID true" "exec -d $ID sleep 5" "update --pids-limit 100 $ID" "list")
    local i ns=()
    for ((i = 0; i < 50; i++)); do
        local c=${cmds[i % ${#cmds[@]}]}
        ((i == 25 || i == 45)) && c="delete --force $ID"
        echo "$c" >"$work/par/m$i.cmd"
        # shellcheck disable=SC2086
        par_call "m$i" $c
        ns+=("m$i")
    done
    wait
    par_judge "${ns[@]}"
    local note="$zero exited 0, $errs clear errors, $killed execs whose process was killed"
    rr delete --force "$ID" || prob+=(" the final delete --force exited $?: $(err_text)")
    local left
    left=$(settled "$ID" "$B")
    if [[ -n $left ]]; then
        prob+=(" left behind: $(paste -sd, <<<"$left")")
        found_leftovers=$((found_leftovers + 1))
    fi
    scrub "$ID" "$B"
    verdict "$label" "$note"
}

# ---------------------------------------------------------------------------------------
# 7: host accounting, keyed to this run's tag (ids, state roots, scratch dir).

host_accounting() {
    want host-accounting || return 0
    local after n0 n1
    after=$(accounting "$tag")
    n0=$(grep -c . <<<"$acct0") n1=$(grep -c . <<<"$after")
    echo "# host accounting (mounts, cgroups, processes, fds carrying $tag): $n0 before, $n1 after; the cases found (and removed) leftovers $found_leftovers times"
    if [[ $after == "$acct0" ]]; then
        ok "host-accounting"
    else
        fail "host-accounting" "before: $(paste -sd, <<<"$acct0"); after: $(paste -sd, <<<"$after")"
    fi
}

# timed PART FUNCTION ARGS...: runs a part and notes how long it took (CI's budget).
timed() {
    local t0=$SECONDS
    "${@:2}"
    echo "# $1 took $((SECONDS - t0))s"
}
stateroots() { for k in enospc-blocks enospc-inodes erofs; do stateroot "$k"; done; }
corrupts() { for k in truncated empty garbage too-new; do corrupt "$k"; done; }

echo "# fault suite: runtime $RT, failpoints build ${FP:-none}, tag $tag"
timed failpoints failpoints
timed caller eval "caller_gone; caller_gone -pdeathsig"
timed sweeps sweeps
timed stateroot stateroots
timed corrupt corrupts
timed concurrency eval "concurrency_creates; concurrency_mixed"
host_accounting
echo "# the suite took ${SECONDS}s"
echo "fault: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
