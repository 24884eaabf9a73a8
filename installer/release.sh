#!/usr/bin/env bash
# The release artefacts of the node side: a tarball of the static binaries with SHA256SUMS,
# the installer image as an OCI layout (image.sh), and the chart with that image's digest in
# its values (image.digest), packaged; OUT_DIR/SHA256SUMS covers every artefact. Meant for
# `just release`, which writes the digest into charts/youki/values.yaml too, for the release
# commit (YOUKI_CHART_DIR names another copy of the chart to write instead). With
# WASM_RELEASE_DIR (`just build-wasm`), the tarball also holds youki-wasm: youki built with the
# wasm executor, a drop-in for youki that also runs WebAssembly workloads.
#
#   bash installer/release.sh OUT_DIR [RELEASE_DIR [WASM_RELEASE_DIR]]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:?usage: release.sh OUT_DIR [RELEASE_DIR [WASM_RELEASE_DIR]]}
release=${2:-$repo/target/x86_64-unknown-linux-gnu/release}
wasm_release=${3:-}
tag=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
name=youki-$tag-x86_64-linux-static

# `file` may be absent on a fresh machine; then the check is skipped.
is_static() { command -v file >/dev/null || return 0; file -b "$1" | grep static >/dev/null; }
fail() { printf 'release: %s\n' "$*" >&2; exit 1; }
bins=(youki youki-installer)
[[ -x $release/youki-trace ]] && bins+=(youki-trace)
# source_of NAME: where the binary shipped as NAME is built.
source_of() { if [[ $1 == youki-wasm ]]; then echo "$wasm_release/youki"; else echo "$release/$1"; fi; }
[[ -n $wasm_release ]] && bins+=(youki-wasm)
for b in "${bins[@]}"; do
    src=$(source_of "$b")
    [[ -x $src ]] || fail "missing $src (just build, just build-wasm)"
    is_static "$src" || fail "$src is not static"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/$name" "$out"
for b in "${bins[@]}"; do install -m 0755 "$(source_of "$b")" "$work/$name/$b"; done
(cd "$work/$name" && sha256sum "${bins[@]}" > SHA256SUMS)
# Reproducible: fixed owner, order and times.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work" -czf "$out/$name.tar.gz" "$name"
(cd "$out" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
bash "$repo/installer/image.sh" "$out/image" "$release" "$wasm_release"

# The image's manifest digest, as a registry keeps it when the layout is copied unchanged.
digest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$out/image/layout/index.json")
[[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || fail "no manifest digest in $out/image/layout/index.json (got \"$digest\")"
chart=${YOUKI_CHART_DIR:-$repo/charts/youki}
values=$chart/values.yaml
# The one `digest:` key under `image:`, rewritten in place so the comments stay.
[[ $(grep -c '^  digest: ' "$values") -eq 1 ]] || fail "$values: want exactly one '  digest:' line under image"
sed -i "s|^  digest: .*|  digest: \"$digest\"|" "$values"
echo "release: $values: image.digest = $digest"
chart_tgz=youki-chart-$tag.tgz
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$(dirname "$chart")" -czf "$out/$chart_tgz" \
    --transform "s|^$(basename "$chart")|youki|" "$(basename "$chart")"
(cd "$out" && sha256sum "$name.tar.gz" "$chart_tgz" "image/youki-installer-$tag.oci.tar" > SHA256SUMS)
echo "release: $out/$name.tar.gz (+ .sha256), $out/$chart_tgz, $out/image, $out/SHA256SUMS"
