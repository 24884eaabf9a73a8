#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the demo need, only when missing.
# With package names, installs only those (the test scripts call it so for their own).
# Services are never started by an install: docker.io would otherwise start a system
# dockerd (bridge, iptables) on a machine without systemd.
set -euo pipefail
packages=(runc crun busybox-static hyperfine libseccomp-dev pkg-config jq time iproute2 util-linux strace python3-venv unzip containerd umoci clang-19 llvm-19 libbpf-dev bpftool
    containernetworking-plugins protobuf-compiler podman docker.io dbus-daemon patchelf shellcheck)
(($#)) && packages=("$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm ships with the machine's Node.js; Debian's npm only when there is none.
(($#)) || command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  policy=/usr/sbin/policy-rc.d
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy
    trap 'rm -f $policy' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
