#!/usr/bin/env bash
# Fresh machine to a running recipe: installs the system packages and `just` when they are
# missing (idempotent, quick when already there), then runs `just "$@"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export PATH="$HOME/.cargo/bin:$HOME/.local/bin:$PATH"
if ! command -v just >/dev/null 2>&1; then
  echo "== installing just"
  pip install --quiet --user rust-just 2>/dev/null || pip install --quiet rust-just 2>/dev/null || cargo install just --locked
  hash -r
fi
exec just "$@"
