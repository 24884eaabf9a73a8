#!/usr/bin/env bash
# The habits CI holds the tree to: shellcheck on every tracked script (warnings and above,
# sourced files followed, see .shellcheckrc), rustfmt (rustfmt.toml) and clippy with
# warnings as errors on every crate and target. Prints `lint: N passed, M failed`.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export CARGO_TERM_COLOR=never
passed=0 failed=0
check() {
  local name=$1
  shift
  if "$@" >/tmp/youki-lint-"$name".log 2>&1; then
    echo "ok   $name"; passed=$((passed + 1))
  else
    echo "FAIL $name"; sed -n '1,40p' /tmp/youki-lint-"$name".log | sed 's/^/     | /'; failed=$((failed + 1))
  fi
}
mapfile -t scripts < <(git ls-files '*.sh')
check shellcheck shellcheck -x -S warning "${scripts[@]}"
check rustfmt cargo fmt --all --check
check clippy cargo clippy --locked --workspace --all-targets -- -D warnings
echo "lint: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
