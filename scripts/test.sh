#!/usr/bin/env bash
# The whole test run: unit and integration tests, then the conformance suite against youki
# and runc. Prints one closing count line per part and exits non-zero on any failure.
set -uo pipefail
target=${1:-target/x86_64-unknown-linux-gnu/release}
cd "$(dirname "$0")/.."
status=0
start=$(date +%s)

echo "== unit and integration tests (cargo test)"
cargo test --locked --workspace 2>&1 | tee /tmp/youki-cargo-test.log | grep -E "^(test result|error|failures:|---- )|FAILED|panicked" || true
grep -q "FAILED\|error\[\|could not compile" /tmp/youki-cargo-test.log && status=1
passed=$(grep -Eo "test result: [a-zA-Z]+\. [0-9]+ passed" /tmp/youki-cargo-test.log | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo "[0-9]+ failed" /tmp/youki-cargo-test.log | awk '{s+=$1} END {print s+0}')
echo "cargo: $passed passed, $failed failed"

for rt in "$target/youki" /usr/sbin/runc; do
  echo "== conformance suite against $rt"
  "$target/conformance" --runtime "$rt" --json "/tmp/conformance-$(basename "$rt").json" || status=1
done

echo "== test run took $(( $(date +%s) - start ))s, status $status"
exit $status
