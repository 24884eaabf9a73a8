#!/usr/bin/env bash
# Today's peers from Debian sid, beside the host's bookworm ones and never over them: runc 1.3,
# crun 1.28, containerd 2.1 (with its runc shim and ctr) and criu 4.2, under a private prefix.
# The host stays bookworm: sid is read through a private apt state, the .debs are unpacked into
# PREFIX/root, and the binaries that need sid's libc get their interpreter and rpath pointed there
# (patchelf; a loader wrapper would not do, runc and crun re-exec /proc/self/exe).
# Idempotent: a rerun with everything in place only prints where things are. The .debs stay in
# CACHE, so a rerun after `rm -rf PREFIX` needs no network.
#   PREFIX (YOUKI_PEERS, default /opt/youki-peers): bin/runc-1.3, bin/crun-1.28, bin/containerd-2.1,
#     bin/containerd-shim-runc-v2-2.1, bin/ctr-2.1, bin/criu-4.2, VERSIONS (the exact versions),
#     criu-path/criu (a PATH directory: runc and youki call `criu` from PATH).
#   CACHE (YOUKI_PEERS_CACHE, default /var/cache/youki-peers): the sid apt state and the .debs.
# containerd 2.1 and its shim run on bookworm's libc as they are; the shim sits beside containerd
# (PREFIX/root/usr/bin), where containerd looks after PATH. The shim calls `runc` from PATH unless
# the runtime options name a BinaryName (e.g. PREFIX/bin/runc-1.3).
# The series are pinned below: when sid moves past one, this fails and says so (the conformance
# expected-failure lists are keyed on these series).
set -euo pipefail
prefix=${YOUKI_PEERS:-/opt/youki-peers}
cache=${YOUKI_PEERS_CACHE:-/var/cache/youki-peers}
suite=${YOUKI_PEERS_SUITE:-sid}
mirror=${YOUKI_PEERS_MIRROR:-http://deb.debian.org/debian}
# Package, the series it must be, and the files it gives: "name-in-bin=path-in-root".
# `patch` marks the binaries that need sid's libc.
peers=(
  "runc 1.3 patch runc=usr/sbin/runc"
  "crun 1.28 patch crun=usr/bin/crun"
  "containerd 2.1 - containerd=usr/bin/containerd containerd-shim-runc-v2=usr/bin/containerd-shim-runc-v2 ctr=usr/bin/ctr"
  "criu 4.2 patch criu=usr/sbin/criu"
)
here=$(cd "$(dirname "$0")" && pwd)
stamp_key=$(sha256sum "$0" | cut -d' ' -f1)
lib=$prefix/root/usr/lib/x86_64-linux-gnu

die() { echo "peers.sh: $*" >&2; exit 1; }
# The stable paths, one per line: NAME PATH.
show() {
  echo "== today's peers under $prefix (from Debian $suite; exact versions in $prefix/VERSIONS)"
  local line pkg series mode f name
  for line in "${peers[@]}"; do
    read -r pkg series mode files <<<"$line"
    for f in $files; do
      name=${f%%=*}
      printf '%-32s %s\n' "$name-$series" "$prefix/bin/$name-$series"
    done
  done
  printf '%-32s %s\n' "criu in PATH" "PATH=$prefix/criu-path:\$PATH"
}
installed() {
  [ -f "$prefix/.stamp" ] && [ "$(cat "$prefix/.stamp")" = "$stamp_key" ] || return 1
  [ -x "$prefix/criu-path/criu" ] && "$prefix/bin/runc-1.3" --version >/dev/null 2>&1 && "$prefix/bin/crun-1.28" --version >/dev/null 2>&1 \
    && "$prefix/bin/criu-4.2" --version >/dev/null 2>&1 && "$prefix/bin/containerd-2.1" --version >/dev/null 2>&1
}
if installed; then show; exit 0; fi

[ "$(id -u)" = 0 ] || die "needs root (installs under $prefix)"
mkdir -p "$cache"
# One install at a time (test.sh and the end-to-end suites may call this together).
exec 9>"$cache/.lock"
flock 9
if installed; then show; exit 0; fi
command -v patchelf >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 || bash "$here/deps.sh" patchelf

# A private apt state: the host's sources, status and lists are never read or written.
state=$cache/apt
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$cache/debs"
echo "deb $mirror $suite main" >"$state/sources.list"
apt_opts=(-o Dir::Etc::sourcelist="$state/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$state/lists"
  -o Dir::Cache="$state/cache" -o Dir::State::status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
lists_ok() { compgen -G "$state/lists/*_${suite}_main_binary-amd64_Packages*" >/dev/null; }
refreshed=
refresh_lists() {
  echo "== apt-get update ($suite, private state in $state)"
  refreshed=1
  local log
  log=$(apt-get "${apt_opts[@]}" -q update 2>&1) || true
  if grep -qE '^(E|W): (Failed|Some index files failed)' <<<"$log" || ! lists_ok; then
    lists_ok || die "Debian $suite is unreachable ($mirror): cannot install today's peers
$(grep -E '^(E|W|Err):' <<<"$log" | head -5)"
    echo "peers.sh: the refresh failed, using the lists from before:" >&2
    grep -E '^(E|W|Err):' <<<"$log" | head -5 >&2
  fi
}
# Refresh the lists when they are older than a day (sid drops old versions from the mirror).
if ! lists_ok || [ -n "$(find "$state/lists" -maxdepth 1 -name "*_${suite}_*Packages*" -mmin +1440 -print -quit)" ]; then
  refresh_lists
fi

roots=()
for line in "${peers[@]}"; do read -r pkg _ <<<"$line"; roots+=("$pkg"); done
declare -A version debfile
# Each peer, its version, and its whole dependency closure (sid's libc and the libraries);
# then downloads what the cache lacks (apt checks the hashes). Fails on a failed download.
resolve_and_fetch() {
  mapfile -t pkgs < <(apt-cache "${apt_opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances "${roots[@]}" | grep -E '^[a-z0-9]' | sort -u)
  ((${#pkgs[@]} > ${#roots[@]})) || die "could not resolve the dependencies of ${roots[*]} in $suite"
  version=()
  while read -r pkg ver; do version[$pkg]=$ver; done < <(apt-cache "${apt_opts[@]}" show --no-all-versions "${pkgs[@]}" \
    | awk '/^Package:/ {p=$2} /^Version:/ {print p, $2}')
  local line pkg series v upstream file missing=()
  for line in "${peers[@]}"; do
    read -r pkg series _ <<<"$line"
    v=${version[$pkg]:-}
    upstream=${v#*:}; upstream=${upstream%%[+~-]*}
    [[ "$upstream" == "$series".* || "$upstream" == "$series" ]] \
      || die "Debian $suite has $pkg ${v:-nothing}, not the $series series pinned here: update peers.sh, the conformance expected-failure lists and the bench"
  done
  debfile=()
  while read -r _ file _ _; do
    pkg=${file%%_*}
    debfile[$pkg]=$file
    [ -s "$cache/debs/$file" ] || missing+=("$pkg")
  done < <(apt-get "${apt_opts[@]}" download --print-uris "${pkgs[@]}" 2>/dev/null)
  ((${#missing[@]})) || return 0
  echo "== downloading ${#missing[@]} packages from $suite into $cache/debs"
  (cd "$cache/debs" && apt-get "${apt_opts[@]}" -q download "${missing[@]}" >/dev/null)
}
if ! resolve_and_fetch; then
  # The lists may name versions the mirror has dropped since: refresh once and retry.
  [ -z "$refreshed" ] || die "download from Debian $suite failed ($mirror)"
  refresh_lists
  resolve_and_fetch || die "download from Debian $suite failed ($mirror)"
fi

# Unpack into a fresh root, then patch and link.
echo "== unpacking ${#pkgs[@]} packages into $prefix/root"
rm -rf "$prefix.new"
mkdir -p "$prefix.new/root" "$prefix.new/bin"
for pkg in "${pkgs[@]}"; do
  deb=$cache/debs/${debfile[$pkg]:-}
  [ -s "$deb" ] || die "no cached .deb for $pkg ${version[$pkg]} in $cache/debs"
  dpkg-deb -x "$deb" "$prefix.new/root"
done
newlib=$prefix.new/root/usr/lib/x86_64-linux-gnu
[ -e "$newlib/ld-linux-x86-64.so.2" ] || die "sid's libc6 did not unpack a loader into $newlib"
: >"$prefix.new/VERSIONS"
for line in "${peers[@]}"; do
  read -r pkg series mode files <<<"$line"
  echo "$pkg ${version[$pkg]}" >>"$prefix.new/VERSIONS"
  for f in $files; do
    name=${f%%=*} path=${f#*=}
    [ -x "$prefix.new/root/$path" ] || die "$pkg ${version[$pkg]} has no $path"
    if [ "$mode" = patch ]; then
      # The final paths: the root moves from $prefix.new to $prefix below.
      patchelf --set-interpreter "$lib/ld-linux-x86-64.so.2" --set-rpath "$lib" --force-rpath "$prefix.new/root/$path"
    fi
    ln -s "../root/$path" "$prefix.new/bin/$name-$series"
  done
done
echo "libc6 ${version[libc6]}" >>"$prefix.new/VERSIONS"
# A directory for the front of PATH, holding only `criu`: runtimes call `criu` from PATH.
mkdir -p "$prefix.new/criu-path"
ln -s ../root/usr/sbin/criu "$prefix.new/criu-path/criu"
rm -rf "$prefix.old"
[ -e "$prefix" ] && mv "$prefix" "$prefix.old"
mv "$prefix.new" "$prefix"
rm -rf "$prefix.old"

# Every patched binary must find all its libraries in the private root.
for line in "${peers[@]}"; do
  read -r pkg series mode files <<<"$line"
  [ "$mode" = patch ] || continue
  for f in $files; do
    bin=$prefix/root/${f#*=}
    deps=$("$lib/ld-linux-x86-64.so.2" --list "$bin" 2>&1) || die "$bin does not load: $deps"
    ! grep -q 'not found' <<<"$deps" || die "$bin lacks libraries: $(grep 'not found' <<<"$deps" | tr -s ' \t' ' ')"
  done
done
"$prefix/bin/runc-1.3" --version >/dev/null || die "$prefix/bin/runc-1.3 does not run"
"$prefix/bin/crun-1.28" --version >/dev/null || die "$prefix/bin/crun-1.28 does not run"
"$prefix/bin/criu-4.2" --version >/dev/null || die "$prefix/bin/criu-4.2 does not run"
"$prefix/bin/containerd-2.1" --version >/dev/null || die "$prefix/bin/containerd-2.1 does not run"
echo "$stamp_key" >"$prefix/.stamp"
show
cat "$prefix/VERSIONS"
