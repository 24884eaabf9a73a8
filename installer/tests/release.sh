#!/usr/bin/env bash
# `installer/release.sh` on a copy of the chart: the image's manifest digest lands in the
# chart's values (image.digest), the packaged chart renders repository@digest, and every
# checksum (OUT/SHA256SUMS, the tarball's own SHA256SUMS, the .sha256) verifies.
#
#   bash installer/tests/release.sh RELEASE_DIR   # holds static youki and youki-installer
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
release=${1:?usage: release.sh RELEASE_DIR}
# shellcheck source=../tools.sh
source "$repo/installer/tools.sh"
youki_tools_install
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$repo/charts/youki" "$work/youki"
before=$(sha256sum < "$repo/charts/youki/values.yaml")
YOUKI_CHART_DIR=$work/youki bash "$repo/installer/release.sh" "$work/out" "$release" > "$work/log" 2>&1 \
    || { cat "$work/log"; fail "release.sh"; }
tag=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
digest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$work/out/image/layout/index.json")
grep -qx "  digest: \"$digest\"" "$work/youki/values.yaml" || fail "values.yaml does not carry the image digest $digest"
[[ $(sha256sum < "$repo/charts/youki/values.yaml") == "$before" ]] || fail "release.sh with YOUKI_CHART_DIR changed the repo's chart"
(cd "$work/out" && sha256sum --quiet -c SHA256SUMS) || fail "OUT/SHA256SUMS does not verify"
(cd "$work/out" && sha256sum --quiet -c "youki-$tag-x86_64-linux-static.tar.gz.sha256") || fail "the tarball's .sha256 does not verify"
grep -q "youki-chart-$tag.tgz" "$work/out/SHA256SUMS" || fail "SHA256SUMS lacks the chart"
mkdir "$work/x"
tar -xzf "$work/out/youki-$tag-x86_64-linux-static.tar.gz" -C "$work/x"
(cd "$work/x/youki-$tag-x86_64-linux-static" && sha256sum --quiet -c SHA256SUMS) || fail "the tarball's SHA256SUMS does not verify"
tar -xzf "$work/out/youki-chart-$tag.tgz" -C "$work/x"
"$tools/bin/helm" template youki "$work/x/youki" > "$work/rendered.yaml"
[[ $(grep -c "image: ghcr.io/youki-dev/youki-installer@$digest\$" "$work/rendered.yaml") -ge 1 ]] \
    || { grep -n 'image:' "$work/rendered.yaml"; fail "the packaged chart does not run the image by digest"; }
echo "release: digest $digest in the chart's values, checksums verified"
