#!/usr/bin/env bash
# The installer image, run as a container by youki itself, against a temp dir standing in
# for the host root (bind-mounted at /host, as the DaemonSet does): install, status and
# uninstall inside the container; the host dir must end byte for byte as it started.
#
#   bash installer/tests/image.sh RELEASE_DIR [RUNTIME]
# RELEASE_DIR holds static youki and youki-installer; RUNTIME defaults to RELEASE_DIR/youki.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
release=${1:?usage: image.sh RELEASE_DIR [RUNTIME]}
runtime=${2:-$release/youki}
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
say() { printf '== %s\n' "$*"; }
[[ $(id -u) -eq 0 ]] || fail "needs root"

work=$(mktemp -d /tmp/youki-inst-img.XXXXXX)
state=$work/runtime-state
trap '"$runtime" --root "$state" delete --force youki-inst-img >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

say "build the image"
bash "$repo/installer/image.sh" "$work/img" "$release" >/dev/null
tag=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])' "$work/img/layout/index.json")
umoci unpack --image "$work/img/layout:$tag" "$work/bundle" >/dev/null

host=$work/host
mkdir -p "$host/etc/containerd" "$host/opt" "$host/run"
cp "$repo/installer/tests/fixtures/containerd-v2.toml" "$host/etc/containerd/config.toml"
snapshot() { (cd "$host" && find . -path ./run -prune -o -print0 | sort -z | xargs -0 sha256sum 2>/dev/null; find . -path ./run -prune -o -type d -print | sort); }
before=$(snapshot)

# One container per command: the image's entrypoint with our args, /host bind-mounted.
run_in_image() {
    python3 - "$work/bundle/config.json" "$host" "$@" <<'PY'
import json, sys
path, host, args = sys.argv[1], sys.argv[2], sys.argv[3:]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["/usr/local/bin/youki-installer", "--host-root=/host", "--restart=none",
                        "--source-dir=/usr/local/bin"] + args
c["root"]["readonly"] = False
c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/host"]
c["mounts"].append({"destination": "/host", "type": "bind", "source": host, "options": ["rbind", "rw"]})
json.dump(c, open(path, "w"), indent=1)
PY
    "$runtime" --root "$state" run --bundle "$work/bundle" youki-inst-img
}

say "install, inside the image, run by $(basename "$runtime")"
run_in_image install
grep -q 'runtimes.youki' "$host/etc/containerd/config.toml" || fail "config has no youki handler"
cmp "$host/opt/youki/bin/youki" "$release/youki" || fail "the placed youki differs from the image's"
run_in_image status
say "uninstall"
run_in_image uninstall
[[ $(snapshot) == "$before" ]] || { diff <(echo "$before") <(snapshot) || true; fail "the host dir is not as it started"; }
say "installer image under $(basename "$runtime"): install, status, uninstall verified"
