#!/usr/bin/env bash
# Remakes runtime/youki/symbol-order.txt: the functions youki's lifecycle commands run, hottest
# first, which the linker puts together at the start of .text (runtime/youki/build.rs).
#
# Why: youki is one static binary of ~6 MiB of code. The kernel maps file-backed code in 64 KiB
# blocks around each page fault (fault-around), so a command whose few hundred functions are
# spread over all of .text gets most of it resident: 4.1 MiB of code in the peak RSS of
# `create`, against 1.7 MiB with the hot functions packed (docs/performance.md).
#
# How: the release build (its symbols are kept, Cargo.toml) runs
# create, start, state, delete, run, exec, list, ps, pause, resume and kill ROUNDS times under
# `perf record` (cpu-clock sampling at 50 kHz); every function of youki's that any sample lands
# in is kept, by sample count. A function too short and too rare to be sampled stays where the
# linker puts it: it costs a page, not correctness. Symbol names are the mangled ones, whose
# hashes come from crate versions and paths, not code, so the list stays good across edits;
# names that no longer exist are ignored by the linker.
#
# A build of another profile would not do: the hashes in the names depend on the profile.
# Usage: scripts/symbol-order.sh [ROUNDS]   (default 300; ~4 min of runs after the build). Root;
# rebuild afterwards (`cargo build --release -p youki`) to link with the new order.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-300}
command -v perf >/dev/null || apt-get install -y -q linux-perf >/dev/null
busybox=$(command -v busybox || true)
[[ -n $busybox ]] || { echo "symbol-order: needs busybox-static" >&2; exit 1; }

(cd "$repo" && cargo build --locked --release -p youki)
youki="$repo/target/x86_64-unknown-linux-gnu/release/youki"

work=$(mktemp -d /tmp/youki-symbol-order.XXXXXX)
root="$work/state"
cleanup() {
    local id
    for id in "$root"/*/; do
        [[ -d $id ]] && "$youki" --root "$root" delete --force "$(basename "$id")" >/dev/null 2>&1
    done
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/bundle/rootfs/bin" "$work/sleeper"
cp "$busybox" "$work/bundle/rootfs/bin/busybox"
ln -s busybox "$work/bundle/rootfs/bin/true"
ln -s busybox "$work/bundle/rootfs/bin/sleep"
"$youki" spec --bundle "$work/bundle"
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
with open(f"{work}/bundle/config.json") as f:
    spec = json.load(f)
spec["process"]["terminal"] = False
spec["process"]["args"] = ["/bin/true"]
spec["root"]["path"] = f"{work}/bundle/rootfs"
with open(f"{work}/bundle/config.json", "w") as f:
    json.dump(spec, f)
spec["process"]["args"] = ["/bin/sleep", "1000"]
with open(f"{work}/sleeper/config.json", "w") as f:
    json.dump(spec, f)
PY

cat >"$work/rounds.sh" <<'EOF'
#!/usr/bin/env bash
set -e
y=$1; r=$2; b=$3/bundle; s=$3/sleeper
"$y" --root "$r" create --bundle "$s" sl
"$y" --root "$r" start sl
for i in $(seq "$4"); do
    "$y" --root "$r" create --bundle "$b" "c$i"
    "$y" --root "$r" start "c$i"
    "$y" --root "$r" state "c$i" >/dev/null
    "$y" --root "$r" delete --force "c$i"
    "$y" --root "$r" run --bundle "$b" "r$i" >/dev/null
    "$y" --root "$r" exec sl /bin/true
    "$y" --root "$r" list >/dev/null
    "$y" --root "$r" ps sl >/dev/null
    "$y" --root "$r" pause sl
    "$y" --root "$r" resume sl
    "$y" --root "$r" --log-format json kill sl 0
done
"$y" --root "$r" delete --force sl
EOF
perf record -q -e cpu-clock -F 50000 -o "$work/perf.data" -- bash "$work/rounds.sh" "$youki" "$root" "$work" "$rounds"

out="$repo/runtime/youki/symbol-order.txt"
perf script -i "$work/perf.data" --no-demangle -F ip,sym,dso 2>/dev/null |
    awk -v exe="($youki)" '$NF == exe && $2 !~ /^\[/ { n[$2]++ } END { for (s in n) print n[s], s }' |
    sort -k1,1nr -k2 | awk '{ print $2 }' >"$out"
echo "symbol-order: $(wc -l <"$out") functions in $out"
