#!/usr/bin/env bash
# Every installer check beyond `cargo test -p youki-installer`: the chart (helm, schemas,
# deploy/ sync, kind fail-fast), a real private containerd with a youki container across an
# upgrade, the installer image run by youki, and the release (digest into the chart's
# values, checksums). Needs root.
#
#   bash installer/tests/all.sh RELEASE_DIR [WASM_RELEASE_DIR]
# RELEASE_DIR holds static youki and youki-installer; WASM_RELEASE_DIR (`just build-wasm`), when
# it holds youki and wat2wasm, is the youki-wasm that containerd.sh runs wasm modules with.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
release=${1:?usage: all.sh RELEASE_DIR [WASM_RELEASE_DIR]}
wasm_release=${2:-}
bash "$here/ci.sh"
if [[ -n $wasm_release && -x $wasm_release/youki && -x $wasm_release/wat2wasm ]]; then
    YOUKI_WASM=$(realpath "$wasm_release/youki") WAT2WASM=$(realpath "$wasm_release/wat2wasm") \
        bash "$here/containerd.sh" "$release/youki-installer" "$release/youki"
else
    bash "$here/containerd.sh" "$release/youki-installer" "$release/youki"
fi
bash "$here/image.sh" "$release"
bash "$here/release.sh" "$release"
