#!/usr/bin/env bash
# Fuzzes the config.json -> plan path and the state decoder with AFL++ (cargo-afl, stable
# Rust): `bash tests/fuzz/run.sh [SECONDS_PER_TARGET]` (default 30, CI's smoke run). Installs
# cargo-afl and builds its AFL++ when missing. The corpus starts from tests/fuzz/corpus and
# every config fixture of the conformance suite (the default specs of today's tools).
# A crash or a hang is a failure, shown with the input that caused it.
set -uo pipefail
secs=${1:-30}
cd "$(dirname "$0")" || exit 1
export PATH="$HOME/.cargo/bin:$PATH" CARGO_TERM_COLOR=never
# cargo-afl compiles everything with one codegen unit at -O3 by default: libcontainer alone
# then takes over 12 CPU minutes. -O1 keeps the build to a few minutes and is plenty for
# finding panics; `AFL_OPT_LEVEL=3 just fuzz 3600` for a long run at full speed.
export AFL_OPT_LEVEL=${AFL_OPT_LEVEL:-1}
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 AFL_QUIET=1
if ! cargo afl --version >/dev/null 2>&1; then
  echo "== installing cargo-afl"
  cargo install cargo-afl --locked --quiet || exit 1
fi
# cargo-afl builds its AFL++ runtime at install; this only covers an install that skipped it.
cargo afl config --build >/dev/null 2>&1 || true   # "already built" is fine
echo "== building the fuzz targets (AFL instrumentation)"
# A target that no longer builds is a failure, not a reason to fuzz a stale binary.
cargo afl build --release --locked --quiet 2>&1 | grep -v '^warning'
if [ "${PIPESTATUS[0]}" -ne 0 ]; then
  echo "FAIL fuzz: the targets do not build (above)"
  echo "fuzz: 0 passed, 2 failed"
  exit 1
fi
bin=target/x86_64-unknown-linux-gnu/release
passed=0; failed=0
work=$(mktemp -d /tmp/youki-fuzz.XXXXXX)
for t in plan state; do
  seeds="$work/seeds-$t"; mkdir -p "$seeds"
  cp corpus/$t/* "$seeds/"
  [ "$t" = plan ] && cp ../conformance/src/fixtures/*.json "$seeds/" 2>/dev/null
  [ -x "$bin/fuzz_$t" ] || { echo "FAIL fuzz_$t: not built"; failed=$((failed + 1)); continue; }
  out="$work/out-$t"
  timeout $((secs + 60)) cargo afl fuzz -V "$secs" -t 1000 -i "$seeds" -o "$out" "$bin/fuzz_$t" >"$work/afl-$t.log" 2>&1
  stats="$out/default/fuzzer_stats"
  execs=$(sed -nE 's/^execs_done *: *([0-9]+)/\1/p' "$stats" 2>/dev/null)
  paths=$(sed -nE 's/^corpus_count *: *([0-9]+)/\1/p' "$stats" 2>/dev/null)
  crashes=$(find "$out/default/crashes" -type f -name 'id:*' 2>/dev/null | wc -l)
  hangs=$(find "$out/default/hangs" -type f -name 'id:*' 2>/dev/null | wc -l)
  if [ -z "$execs" ]; then
    echo "FAIL fuzz_$t: afl did not run: $(tail -n 3 "$work/afl-$t.log" | tr '\n' ' ')"
    failed=$((failed + 1))
  elif [ "$crashes" -gt 0 ] || [ "$hangs" -gt 0 ]; then
    echo "FAIL fuzz_$t: $crashes crashes, $hangs hangs in $execs execs (inputs in $out/default)"
    for f in $(find "$out/default/crashes" "$out/default/hangs" -type f -name 'id:*' | head -3); do
      echo "  input $f: $(head -c 300 "$f" | tr -c '[:print:]' '.')"
    done
    failed=$((failed + 1))
  else
    echo "ok fuzz_$t: $execs execs in ${secs}s, $paths corpus entries, no crash, no hang"
    passed=$((passed + 1))
  fi
done
[ "$failed" -eq 0 ] && rm -rf "$work"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
