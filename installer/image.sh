#!/usr/bin/env bash
# Builds the installer image as an OCI layout, without docker: umoci, static binaries, no
# base image. Contents: /usr/local/bin/{youki-installer,youki,youki-trace (when built),
# youki-wasm (with WASM_RELEASE_DIR: its youki, built with the wasm executor)} and an empty
# /tmp. The chart's DaemonSet and pre-delete Job both run it; the installer registers the
# youki-wasm handler only when the image holds youki-wasm.
#
#   bash installer/image.sh OUT_DIR [RELEASE_DIR [WASM_RELEASE_DIR]]
# Writes OUT_DIR/layout (the OCI layout, tag = the crate version) and
# OUT_DIR/youki-installer-<tag>.oci.tar (that layout as one tar, for `ctr images import`,
# `skopeo copy oci-archive:...` or `kind load image-archive` after a skopeo conversion).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:?usage: image.sh OUT_DIR [RELEASE_DIR [WASM_RELEASE_DIR]]}
release=${2:-$repo/target/x86_64-unknown-linux-gnu/release}
wasm_release=${3:-}
# shellcheck source=../tests/e2e-containerd/lib.sh
source "$repo/tests/e2e-containerd/lib.sh"
name=${YOUKI_IMAGE_NAME:-ghcr.io/youki-dev/youki-installer}
tag=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)

# `file` may be absent on a fresh machine; then the check is skipped.
is_static() { command -v file >/dev/null || return 0; file -b "$1" | grep static >/dev/null; }
fail() { printf 'image: %s\n' "$*" >&2; exit 1; }
lib_apt umoci
for bin in youki youki-installer; do
    [[ -x $release/$bin ]] || fail "missing $release/$bin (build it first)"
    is_static "$release/$bin" || fail "$release/$bin is not a static binary"
done
if [[ -n $wasm_release ]]; then
    [[ -x $wasm_release/youki ]] || fail "missing $wasm_release/youki (just build-wasm)"
    is_static "$wasm_release/youki" || fail "$wasm_release/youki is not a static binary"
fi

layout=$out/layout
# The image's files: the static binaries and an empty /tmp. The installer talks to the
# Kubernetes API itself (kube), so the image has no kubectl.
fill() {
    mkdir -p "$1/usr/local/bin" "$1/tmp"
    chmod 1777 "$1/tmp"
    install -m 0755 "$release/youki-installer" "$release/youki" "$1/usr/local/bin/"
    if [[ -x $release/youki-trace ]]; then install -m 0755 "$release/youki-trace" "$1/usr/local/bin/"; fi
    if [[ -n $wasm_release ]]; then install -m 0755 "$wasm_release/youki" "$1/usr/local/bin/youki-wasm"; fi
}
mkdir -p "$out"
# containerd names an imported image after the index's io.containerd.image.name.
lib_oci_image "$layout" "$name:$tag" fill \
    --config.entrypoint /usr/local/bin/youki-installer \
    --config.env PATH=/usr/local/bin --config.env HOME=/tmp \
    --config.label org.opencontainers.image.title=youki-installer \
    --config.label "org.opencontainers.image.version=$tag"
mv "$layout.tar" "$out/youki-installer-$tag.oci.tar"
echo "image $name:$tag: $layout and $out/youki-installer-$tag.oci.tar"
