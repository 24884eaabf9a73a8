#!/usr/bin/env bash
# The whole test run: unit and integration tests, the installer, youki-trace, the wasm
# executor, the cgroup v2 and systemd VM lanes, containerd through the CRI and podman/docker
# end to end, fault injection and a soak (tests/fault), then the conformance suite against
# youki and runc, and its security cases against youki without its defences (the negative
# control), the docs check and the lint (shellcheck, rustfmt, clippy). Prints one closing
# count line per part and exits non-zero on any failure.
set -uo pipefail
export CARGO_TERM_COLOR=never
target=${1:-target/x86_64-unknown-linux-gnu/release}
# The build with the wasm executor (`just build-wasm`).
wasm_target=${2:-target/wasm/x86_64-unknown-linux-gnu/release}
cd "$(dirname "$0")/.." || exit 1
status=0
start=$(date +%s)

echo "== unit and integration tests (cargo test)"
cargo test --locked --workspace 2>&1 | tee /tmp/youki-cargo-test.log | grep -E "^(test result|error|failures:|---- )|FAILED|panicked"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
passed=$(grep -Eo "test result: [a-zA-Z]+\. [0-9]+ passed" /tmp/youki-cargo-test.log | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo "[0-9]+ failed" /tmp/youki-cargo-test.log | awk '{s+=$1} END {print s+0}')
echo "cargo: $passed passed, $failed failed"

echo "== installer: chart, deploy/ sync, a private containerd, the installer image"
if bash installer/tests/all.sh "$target" "$wasm_target"; then
  inst_p=1; inst_f=0
else
  inst_p=0; inst_f=1; status=1
fi

echo "== youki-trace on the real kernel"
if YOUKI="$target/youki" YOUKI_TRACE="$target/youki-trace" bash ebpf-trace/tests/ci.sh | tee /tmp/youki-trace-ci.log; then
  trace_p=$(grep -c '^ok ' /tmp/youki-trace-ci.log || true); trace_f=0
else
  trace_p=0; trace_f=1; status=1
fi

echo "== wasm executor"
bash tests/wasm/run.sh "$wasm_target/youki" "$target/youki" "$wasm_target/wat2wasm" | tee /tmp/youki-wasm.log
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
read -r wasm_p wasm_f < <(tail -n 1 /tmp/youki-wasm.log | sed -nE 's/^wasm: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p')

echo "== intelRdt end to end on a stand-in resctrl (tests/resctrl)"
if bash tests/resctrl/run.sh "$target/youki" 2>&1 | tee /tmp/youki-resctrl.log | tail -n 1 | grep -q '^PASS'; then
  passed=$((passed + 1)); echo "resctrl: 1 passed, 0 failed"
else
  tail -n 5 /tmp/youki-resctrl.log; failed=$((failed + 1)); status=1; echo "resctrl: 0 passed, 1 failed"
fi

echo "== VM lanes: cgroup v2 and systemd under qemu (tests/vm)"
vm_p=0; vm_f=0; vm_s=0
if bash tests/vm/run.sh 2>&1 | tee /tmp/youki-vm.log; [ "${PIPESTATUS[0]}" -ne 0 ]; then
  status=1; vm_f=1
fi
read -r vp vf vs < <(grep -Eo "(conformance [a-z]+|cargo test [a-z_0-9]+): [0-9]+ passed, [0-9]+ failed, [0-9]+ (skipped|ignored)" /tmp/youki-vm.log \
  | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) .*/\1 \2 \3/' | awk '{p+=$1; f+=$2; s+=$3} END {print p+0, f+0, s+0}')
vm_p=$vp; vm_f=$((vm_f + vf)); vm_s=$vs
echo "vm lanes: $vm_p passed, $vm_f failed, $vm_s skipped"

# The end-to-end suites print their own closing count line: "NAME: N passed, M failed".
e2e_p=0; e2e_f=0
for suite in e2e-containerd e2e-clients; do
  echo "== $suite"
  log="/tmp/youki-$suite.log"
  YOUKI_WASM="$wasm_target/youki" bash "tests/$suite/run.sh" "$target/youki" 2>&1 | tee "$log" | grep -Ev '^time=' || status=1
  read -r p f < <(grep -E "^$suite: [0-9]+ passed" "$log" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1 \2/')
  e2e_p=$((e2e_p + ${p:-0})); e2e_f=$((e2e_f + ${f:-1}))
done

# Fault injection, kill sweep, corrupt state, concurrency (tests/fault; the deterministic part
# needs `just build-failpoints`), then the soak. Each closes with "NAME: N passed, M failed, K skipped".
echo "== fault injection and concurrency (tests/fault)"
fp_build=target/failpoints/youki
[ -x "$fp_build" ] || { echo "no $fp_build (just build-failpoints): the failpoint cases are skipped"; fp_build=; }
FAULT_PEERS="$(command -v runc || true)" bash tests/fault/run.sh "$target/youki" $fp_build 2>&1 | tee /tmp/youki-fault.log
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
echo "== soak: 1000 cycles (tests/fault/soak.sh)"
bash tests/fault/soak.sh "$target/youki" 1000 2>&1 | tee /tmp/youki-soak.log
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fault_p=0; fault_f=0; fault_s=0
for suite in fault soak; do
  read -r p f s < <(grep -E "^$suite: [0-9]+ passed" "/tmp/youki-$suite.log" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped/\1 \2 \3/')
  fault_p=$((fault_p + ${p:-0})); fault_f=$((fault_f + ${f:-1})); fault_s=$((fault_s + ${s:-0}))
done

total_p=$((passed + inst_p + trace_p + ${wasm_p:-0} + vm_p + e2e_p)); total_f=$((failed + inst_f + trace_f + ${wasm_f:-1} + vm_f + e2e_f)); total_s=$vm_s
total_p=$((total_p + fault_p)); total_f=$((total_f + fault_f)); total_s=$((total_s + fault_s))
# Today's runc 1.3 beside Debian's 1.1.5: scripts/peers.sh installs it from Debian sid under
# /opt/youki-peers (cached; quick when done). Unreachable sid is one failure, not a silent skip.
# Its criu 4.2 works on this kernel (Debian's 3.17 does not): first in PATH, for every runtime.
runtimes=("$target/youki" /usr/sbin/runc)
conf_path=$PATH
if bash scripts/peers.sh >/tmp/youki-peers.log 2>&1; then
  runtimes+=(/opt/youki-peers/bin/runc-1.3)
  conf_path=/opt/youki-peers/criu-path:$PATH
else
  echo "== today's peers: scripts/peers.sh failed"; tail -n 5 /tmp/youki-peers.log
  total_f=$((total_f + 1)); status=1
fi
# Each runtime's committed skip baseline: a case that skips and is not on it fails the run.
skip_baseline() {
  case "$1" in
    */youki) echo tests/conformance/skips/youki.txt ;;
    /usr/sbin/runc) echo tests/conformance/skips/runc-1.1.5.txt ;;
    */runc-1.3) echo tests/conformance/skips/runc-1.3.txt ;;
  esac
}
for rt in "${runtimes[@]}"; do
  echo "== conformance suite against $rt"
  log="/tmp/conformance-$(basename "$rt").log"
  baseline=$(skip_baseline "$rt")
  PATH=$conf_path "$target/conformance" --runtime "$rt" --json "/tmp/conformance-$(basename "$rt").json" \
    ${baseline:+--skip-baseline "$baseline"} | tee "$log" || status=1
  read -r p f s < <(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1 \
    | sed -E 's/([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped/\1 \2 \3/')
  total_p=$((total_p + ${p:-0})); total_f=$((total_f + ${f:-1})); total_s=$((total_s + ${s:-0}))
done

# The security cases against youki with its defences switched off (`just build-no-defences`):
# each must FAIL, naming its breakout. Each case that does counts as one pass.
echo "== negative control: the security cases against target/no-defences/youki"
bash tests/conformance/negative-control.sh "$target/conformance" target/no-defences/youki 2>&1 | tee /tmp/youki-negative-control.log
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
read -r nc_p nc_f < <(grep -E "^negative-control: [0-9]+ passed" /tmp/youki-negative-control.log | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1 \2/')
total_p=$((total_p + ${nc_p:-0})); total_f=$((total_f + ${nc_f:-1}))

echo "== fuzz smoke: config.json -> plan and the state decoder under AFL++ (tests/fuzz)"
bash tests/fuzz/run.sh "${FUZZ_SECS:-30}" 2>&1 | tee /tmp/youki-fuzz.log
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
read -r fz_p fz_f < <(grep -E "^fuzz: [0-9]+ passed" /tmp/youki-fuzz.log | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1 \2/')
total_p=$((total_p + ${fz_p:-0})); total_f=$((total_f + ${fz_f:-1}))

echo "== docs: README and docs/ tables against the committed results, relative links (scripts/check-docs.py),"
echo "   and the bench's parsers that make them (tests/bench/selftest.py, no runtime)"
if ! { python3 scripts/check-docs.py --self-test && python3 tests/bench/selftest.py; } >/tmp/youki-docs-self-test.log 2>&1; then
  cat /tmp/youki-docs-self-test.log; total_f=$((total_f + 1)); status=1; echo "docs: 0 passed, 1 failed"
elif python3 scripts/check-docs.py; then
  total_p=$((total_p + 1)); echo "docs: 1 passed, 0 failed"
else
  total_f=$((total_f + 1)); status=1; echo "docs: 0 passed, 1 failed"
fi

echo "== lint: shellcheck, rustfmt, clippy -D warnings (scripts/lint.sh)"
bash scripts/lint.sh 2>&1 | tee /tmp/youki-lint.log
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
read -r li_p li_f < <(grep -E "^lint: [0-9]+ passed" /tmp/youki-lint.log | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1 \2/')
total_p=$((total_p + ${li_p:-0})); total_f=$((total_f + ${li_f:-1}))

echo "== test run took $(( $(date +%s) - start ))s, status $status"
echo "total: $total_p passed, $total_f failed, $total_s skipped"
exit $status
