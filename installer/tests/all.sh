#!/usr/bin/env bash
# Every installer check beyond `cargo test -p youki-installer`: the chart (helm, schemas,
# deploy/ sync, kind fail-fast), a real private containerd with a youki container across an
# upgrade, the installer image run by youki, and the release (digest into the chart's
# values, checksums). Needs root.
#
#   bash installer/tests/all.sh RELEASE_DIR   # holds static youki and youki-installer
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
release=${1:?usage: all.sh RELEASE_DIR}
bash "$here/ci.sh"
bash "$here/containerd.sh" "$release/youki-installer" "$release/youki"
bash "$here/image.sh" "$release"
bash "$here/release.sh" "$release"
