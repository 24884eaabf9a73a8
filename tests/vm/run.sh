#!/usr/bin/env bash
# The cgroup v2 and systemd VM lanes (issue 4): boots a Debian 6.1 kernel under qemu TCG on a
# cached debootstrap image and runs the cgroup part of the conformance suite (youki and the
# guest's runc), the libcgroups cargo test executables and the installer's systemd test inside.
#
#   bash tests/vm/run.sh [v2] [systemd] [--filter SUBSTR]... [--runtime youki|runc]...
#                        [--no-cargo-tests]
#   bash tests/vm/run.sh --bench RUNS [v2]     # not a test: the cgroup v2 ratios (issue 17)
#
# --bench RUNS boots the v2 lane (by default) to time create + start + delete --force of a
# busybox /bin/true bundle instead of the tests: youki, runc 1.3 and crun 1.28 (from
# scripts/peers.sh, with sid's libraries copied into the guest) take turns round by round
# (guest/bench.sh). TCG makes absolute times meaningless, so bench/results/<stamp>-vm-<lane>.json
# (tests/vm/bench_report.py) and its table give ratios to youki's median.
#
# Lanes (both when none is named):
#   v2       a custom PID 1 (no systemd), cgroup2 at /sys/fs/cgroup, every controller enabled
#   systemd  systemd 252 as PID 1 on cgroup2 (nsdelegate); runtimes get --systemd-cgroup
#
# Environment:
#   YOUKI=PATH        the youki binary (default target/x86_64-unknown-linux-gnu/release/youki)
#   BIN_DIR=DIR       where conformance and checker are (default: the same release dir)
#   VM_CACHE=DIR      kernel, image and initramfs cache (default /var/cache/youki-vm)
#   VM_OUT=DIR        results on the host (default target/vm/<lane>/)
#   VM_TIMEOUT=SEC    limit for one boot, tests included (default 1500)
#   VM_BOOT_TIMEOUT=SEC  limit to reach the tests; a guest stuck before is booted once more
#                     (default 240)
#
# Nothing here passes silently: a lane that does not boot, hangs or writes no results is a
# failure, and so is any failed case. Prints `N passed, N failed, N skipped` per lane and
# runtime; exits 1 on any failure.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
here=$repo/tests/vm
release=$repo/target/x86_64-unknown-linux-gnu/release
youki=$(realpath -m "${YOUKI:-$release/youki}")
bin_dir=${BIN_DIR:-$release}
cache=${VM_CACHE:-/var/cache/youki-vm}
out_root=${VM_OUT:-$repo/target/vm}
vm_timeout=${VM_TIMEOUT:-1500}
boot_timeout=${VM_BOOT_TIMEOUT:-240}
suite=bookworm
# The cgroup part of the conformance suite: placement and resources, the cgroup commands,
# the device rules (a BPF program on v2), kill --all, exec joining the cgroup, and the
# cgroup namespace.
default_filters=(cgroups/ cgroup_cmds/ devices/ lifecycle/kill_all exec/joins_namespaces_and_cgroup
  namespaces/new_cgroup checkpoint/ apparmor/)

say() { echo "== $*"; }
die() {
  echo "test-vm: $*" >&2
  exit 1
}

lanes=()
filters=()
runtimes=()
cargo_tests=1
bench_runs=
peers=${YOUKI_PEERS:-/opt/youki-peers}
while [ $# -gt 0 ]; do
  case "$1" in
    --bench)
      [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--bench needs a number of rounds"
      bench_runs=$2
      cargo_tests=0
      shift
      ;;
    v2 | systemd) lanes+=("$1") ;;
    --filter)
      [ $# -ge 2 ] || die "--filter needs a value"
      filters+=("$2")
      shift
      ;;
    --runtime)
      case "${2:-}" in
        youki) runtimes+=("youki=/vmtest/bin/youki") ;;
        runc) runtimes+=("runc=/usr/sbin/runc") ;;
        *) die "--runtime takes youki or runc" ;;
      esac
      shift
      ;;
    --no-cargo-tests) cargo_tests=0 ;;
    -h | --help)
      sed -n '2,31p' "$0"
      exit 0
      ;;
    *) die "unknown argument ${1@Q} (lanes: v2 systemd; flags: --filter SUBSTR, --runtime youki|runc, --no-cargo-tests)" ;;
  esac
  shift
done
[ ${#lanes[@]} -gt 0 ] || { [ -n "$bench_runs" ] && lanes=(v2); } || lanes=(v2 systemd)
[ ${#filters[@]} -gt 0 ] || filters=("${default_filters[@]}")
[ ${#runtimes[@]} -gt 0 ] || runtimes=("youki=/vmtest/bin/youki" "runc=/usr/sbin/runc")
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, mkfs of the image)"

# ---------------------------------------------------------------- host packages
ensure_packages() {
  local p missing=()
  for p in qemu-system-x86 debootstrap busybox-static cpio kmod e2fsprogs jq; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# The Debian mirror apt is configured with, for the bookworm suite itself.
debian_mirror() {
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(TARGET_OF)' |
    awk -v s="$suite" '$2 == s && $3 == "deb" { print $1; exit }'
}

# The newest linux-image-6.1.0-N-amd64 that apt knows.
kernel_package() {
  apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | cut -d' ' -f1 | sort -V | tail -1
}

# ---------------------------------------------------------------- cached pieces
# $cache/kernel-<version>/: vmlinuz and lib/modules/<version> (with modules.dep).
fetch_kernel() {
  local pkg dir tmp
  pkg=$(kernel_package)
  if [ -z "$pkg" ]; then
    apt-get update -qq
    pkg=$(kernel_package)
  fi
  [ -n "$pkg" ] || die "apt knows no linux-image-6.1.0-*-amd64 package"
  kver=${pkg#linux-image-}
  dir=$cache/kernel-$kver
  if [ ! -e "$dir/.done" ]; then
    say "fetching kernel $kver"
    rm -rf "$dir"
    tmp=$(mktemp -d "$cache/.kernel.XXXXXX")
    (cd "$tmp" && apt-get download -qq "$pkg" 2>&1 | grep -v "unsandboxed" || true)
    dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/x"
    depmod -b "$tmp/x" "$kver"
    mkdir -p "$dir"
    mv "$tmp/x/boot/vmlinuz-$kver" "$dir/vmlinuz"
    mkdir -p "$dir/lib/modules"
    mv "$tmp/x/lib/modules/$kver" "$dir/lib/modules/"
    rm -rf "$tmp"
    touch "$dir/.done"
  fi
  kernel_dir=$dir
}

# $cache/rootfs-bookworm-<hash>/rootfs: debootstrap minbase plus packages.txt, set up by
# rootfs-setup.sh. The hash covers both files and the suite.
build_rootfs() {
  local key dir tmp mirror pkgs
  key=$( (echo "$suite"; cat "$here/packages.txt" "$here/rootfs-setup.sh") | sha256sum | cut -c1-12)
  dir=$cache/rootfs-$suite-$key
  if [ ! -e "$dir/.done" ]; then
    mirror=$(debian_mirror)
    [ -n "$mirror" ] || die "no Debian $suite mirror in apt's sources (see /etc/apt)"
    pkgs=$(grep -v '^#' "$here/packages.txt" | xargs | tr ' ' ',')
    say "debootstrap $suite minbase + $pkgs from $mirror (about 2 minutes, cached in $dir)"
    rm -rf "$dir"
    mkdir -p "$dir"
    tmp=$dir/.partial
    debootstrap --variant=minbase --include="$pkgs" "$suite" "$tmp" "$mirror" > "$dir/debootstrap.log" 2>&1 ||
      die "debootstrap failed; see $dir/debootstrap.log"
    cp "$here/rootfs-setup.sh" "$tmp/tmp/rootfs-setup.sh"
    chroot "$tmp" /bin/sh /tmp/rootfs-setup.sh >> "$dir/debootstrap.log" 2>&1 ||
      die "rootfs-setup.sh failed; see $dir/debootstrap.log"
    rm "$tmp/tmp/rootfs-setup.sh"
    mv "$tmp" "$dir/rootfs"
    touch "$dir/.done"
  fi
  rootfs_dir=$dir
  rootfs_key=$key
}

# $cache/image-<rootfs key>-<kernel>.ext4: the rootfs with the kernel's modules. Booted with
# snapshot=on, so no run ever changes it.
build_image() {
  local img=$cache/image-$rootfs_key-$kver.ext4 tmp size
  if [ ! -e "$img" ]; then
    say "making the base image $img"
    tmp=$(mktemp -d "$cache/.image.XXXXXX")
    cp -a "$rootfs_dir/rootfs/." "$tmp/"
    mkdir -p "$tmp/lib/modules"
    cp -a "$kernel_dir/lib/modules/$kver" "$tmp/lib/modules/"
    # Hardware a VM without devices never loads: half the modules' size.
    (cd "$tmp/lib/modules/$kver/kernel" && rm -rf sound drivers/{gpu,media,infiniband,staging,net/wireless,net/ethernet,usb,iio,input,hid,bluetooth,isdn,hwmon,video,mmc,mtd,scsi})
    depmod -b "$tmp" "$kver"
    size=$(($(du -sm "$tmp" | cut -f1) * 5 / 4 + 256))
    mkfs.ext4 -q -F -L youki-vm-root -d "$tmp" "$img.partial" "${size}M" >/dev/null
    rm -rf "$tmp"
    mv "$img.partial" "$img"
  fi
  image=$img
}

# $cache/initrd-<kernel>-<hash of initrd-init>.cpio.gz: busybox, the disk modules and /init.
build_initrd() {
  local key file tmp applet m
  key=$(sha256sum "$here/guest/initrd-init" | cut -c1-12)
  file=$cache/initrd-$kver-$key.cpio.gz
  if [ ! -e "$file" ]; then
    say "making the initramfs $file"
    tmp=$(mktemp -d "$cache/.initrd.XXXXXX")
    mkdir -p "$tmp"/{bin,sbin,dev,proc,sys,newroot,lib/modules/"$kver"}
    for applet in $(/bin/busybox --list); do
      [ "$applet" = busybox ] || ln -s busybox "$tmp/bin/$applet"
    done
    cp /bin/busybox "$tmp/bin/busybox"
    for m in virtio_pci virtio_blk crc32c_generic ext4; do
      modprobe -d "$kernel_dir" -S "$kver" --show-depends "$m" |
        awk '$1 == "insmod" { print $2 }' | while read -r ko; do
          mkdir -p "$tmp$(dirname "${ko#"$kernel_dir"}")"
          cp "$ko" "$tmp${ko#"$kernel_dir"}"
        done
    done
    touch "$tmp/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo}
    depmod -b "$tmp" "$kver"
    cp "$here/guest/initrd-init" "$tmp/init"
    (cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1 > "$file.partial")
    rm -rf "$tmp"
    mv "$file.partial" "$file"
  fi
  initrd=$file
}

# ---------------------------------------------------------------- the per-run layer
# cargo test executables of the cgroup crates and the installer's systemd test (static, like
# every binary of this workspace).
build_cargo_tests() {
  local list=$1
  say "building the libcgroups test executables"
  (cd "$repo" && cargo test --release --locked --no-run -p libcgroups --message-format=json 2>"$out_root/cargo-tests.build.log") |
    jq -r 'select(.reason == "compiler-artifact" and .executable != null and .profile.test) | .executable' > "$list"
  [ -s "$list" ] || die "cargo test --no-run -p libcgroups produced no test executable"
  # The installer's restart over D-Bus against the systemd lane's real systemd (it skips in
  # the v2 lane). A debug build: its Kubernetes and TLS dependencies take long under fat LTO.
  say "building the installer's systemd test executable"
  (cd "$repo" && cargo test --locked --no-run -p youki-installer --test systemd_unit --message-format=json 2>>"$out_root/cargo-tests.build.log") |
    jq -r 'select(.reason == "compiler-artifact" and .executable != null and .profile.test) | .executable' >> "$list"
  grep -q systemd_unit "$list" || die "cargo test --no-run -p youki-installer --test systemd_unit produced no executable"
}

# The small disk the guest mounts at /vmtest: binaries, guest scripts, settings; the guest
# writes its results there.
build_layer() {
  local lane=$1 dir=$2 exe n=0 f
  rm -rf "$dir/layer" "$dir/layer.ext4"
  mkdir -p "$dir/layer/bin" "$dir/layer/guest"
  cp "$youki" "$dir/layer/bin/youki"
  [ -n "$bench_runs" ] || cp "$bin_dir/conformance" "$bin_dir/checker" "$dir/layer/bin/"
  cp "$here/guest/run-tests.sh" "$here/guest/bench.sh" "$here/guest/v2-init" "$here/guest/youki-vmtest.service" "$dir/layer/guest/"
  [ -z "$bench_runs" ] || build_bench_layer "$dir/layer"
  if [ "$cargo_tests" = 1 ]; then
    mkdir -p "$dir/layer/cargo-tests"
    while read -r exe; do
      n=$((n + 1))
      f=$(basename "$exe")
      cp "$exe" "$dir/layer/cargo-tests/${f%-*}"
      # The debug build of the installer's test carries ~150 MB of debug info.
      strip --strip-debug "$dir/layer/cargo-tests/${f%-*}"
    done < "$out_root/cargo-tests.list"
  fi
  {
    printf 'CASE_FILTERS=('
    for f in "${filters[@]}"; do printf -- '--filter %q ' "$f"; done
    printf ')\n'
    printf 'RUNTIMES=(%s)\n' "${runtimes[*]}"
    [ -z "$bench_runs" ] || printf 'BENCH_RUNS=%s\n' "$bench_runs"
  } > "$dir/layer/config.sh"
  local size=$(($(du -sm "$dir/layer" | cut -f1) * 3 / 2 + 64))
  mkfs.ext4 -q -F -L youki-vm-layer -d "$dir/layer" "$dir/layer.ext4" "${size}M" >/dev/null
}

# Bench mode's part of the layer: runc 1.3 and crun 1.28 with sid's libraries (copied by the
# guest to the fixed path their interpreter and rpath name) and the /bin/true bundle.
build_bench_layer() {
  local layer=$1 applet
  mkdir -p "$layer/peers/bin" "$layer/bench-bundle/rootfs/bin"
  cp "$peers/root/usr/sbin/runc" "$peers/root/usr/bin/crun" "$layer/peers/bin/"
  cp -a "$peers/root/usr/lib/x86_64-linux-gnu" "$layer/peers/lib"
  cp /bin/busybox "$layer/bench-bundle/rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$layer/bench-bundle/rootfs/bin/$applet"
  done
  (cd "$layer/bench-bundle" && "$youki" spec)
  python3 - "$layer/bench-bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["/bin/true"]
json.dump(spec, open(path, "w"), indent=2)
PY
}

# Bench mode's report: the ratios, and the result file under bench/results.
report_bench() {
  local lane=$1 dir=$2
  rm -rf "$dir/results"
  debugfs -R "rdump /results $dir" "$dir/layer.ext4" >/dev/null 2>&1 || true
  if [ ! -e "$dir/results/done" ] || [ ! -s "$dir/results/bench.txt" ]; then
    echo "lane $lane: FAIL: the guest wrote no bench results (qemu exit $qemu_rc after ${qemu_seconds}s)"
    tail -n 30 "$dir/console.log" | sed 's/^/    /'
    return 1
  fi
  echo "lane $lane: bench took $(awk '$1 == "bench" { printf "%.0f", $3 - $2 }' "$dir/results/timings")s in the guest"
  local file
  file=$(python3 "$here/bench_report.py" --results "$dir/results" --lane "$lane" --runs "$bench_runs" \
    --out "${BENCH_OUT:-$repo/bench/results}" --repo "$repo") || return 1
  python3 "$repo/tests/bench/table.py" "$file"
  [ "$(cat "$dir/results/bench.rc")" = 0 ]
}

# ---------------------------------------------------------------- one lane
boot_lane() {
  local lane=$1 dir=$2 append
  append="console=ttyS0 quiet panic=-1 youki.lane=$lane"
  if [ "$lane" = systemd ]; then
    append+=" systemd.unified_cgroup_hierarchy=1 systemd.show_status=0"
  else
    append+=" cgroup_no_v1=all"
  fi
  local started=$SECONDS qpid
  qemu_rc=0
  booted=0
  timeout -k 10 "$vm_timeout" qemu-system-x86_64 -accel tcg -m 2048 -smp 2 -nographic \
    -no-reboot -nic none -kernel "$kernel_dir/vmlinuz" -initrd "$initrd" -append "$append" \
    -drive "file=$image,format=raw,if=virtio,snapshot=on,cache=unsafe" \
    -drive "file=$dir/layer.ext4,format=raw,if=virtio,cache=unsafe" \
    </dev/null >"$dir/console.log" 2>&1 &
  qpid=$!
  # A guest that has not reached the tests within the boot limit is stuck (TCG guests
  # occasionally hang in soft lockups): stop it rather than wait for the whole timeout.
  while kill -0 "$qpid" 2>/dev/null; do
    if [ "$booted" = 0 ]; then
      if grep -q "youki-vm: tests starting" "$dir/console.log"; then
        booted=1
      elif [ $((SECONDS - started)) -ge "$boot_timeout" ]; then
        kill "$qpid" 2>/dev/null || true
        break
      fi
    fi
    sleep 1
  done
  wait "$qpid" || qemu_rc=$?
  grep -q "youki-vm: tests starting" "$dir/console.log" && booted=1
  qemu_seconds=$((SECONDS - started))
}

# Boots a lane, once more if the first boot never reached the tests (said loudly).
run_lane() {
  local lane=$1 dir=$2
  boot_lane "$lane" "$dir"
  if [ "$booted" = 0 ]; then
    echo "lane $lane: WARNING: the guest did not reach the tests in ${qemu_seconds}s (qemu exit $qemu_rc); last console lines:"
    tail -n 15 "$dir/console.log" | sed 's/^/    /'
    cp "$dir/console.log" "$dir/console.first-boot.log"
    echo "lane $lane: booting a second time"
    build_layer "$lane" "$dir"
    boot_lane "$lane" "$dir"
  fi
}

# Reads the results from the layer image; prints the per-runtime lines; returns 1 on failure.
report_lane() {
  local lane=$1 dir=$2 status=0 rt line rc boot
  rm -rf "$dir/results"
  debugfs -R "rdump /results $dir" "$dir/layer.ext4" >/dev/null 2>&1 || true
  if [ "$booted" = 0 ]; then
    echo "lane $lane: FAIL: the guest did not boot to the tests within ${boot_timeout}s (qemu exit $qemu_rc)"
    status=1
  elif [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
    echo "lane $lane: FAIL: qemu timed out after ${vm_timeout}s (console: $dir/console.log)"
    status=1
  fi
  if [ ! -e "$dir/results/done" ]; then
    echo "lane $lane: FAIL: the guest wrote no complete results (qemu exit $qemu_rc after ${qemu_seconds}s)"
    echo "---- last lines of $dir/console.log"
    tail -n 40 "$dir/console.log" | sed 's/^/    /'
    return 1
  fi
  boot=$(awk '$1 == "boot" { print $2 }' "$dir/results/timings")
  echo "lane $lane: booted to the tests in ${boot}s, whole run ${qemu_seconds}s (qemu TCG)"
  for rt in "${runtimes[@]%%=*}"; do
    if [ ! -e "$dir/results/conformance-$rt.rc" ]; then
      echo "lane $lane: conformance $rt: FAIL: the guest did not run it"
      status=1
      continue
    fi
    rc=$(cat "$dir/results/conformance-$rt.rc")
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$dir/results/conformance-$rt.log" | tail -1 || true)
    local took
    took=$(awk -v k="conformance-$rt" '$1 == k { printf "%.0f", $3 - $2 }' "$dir/results/timings")
    if [ -z "$line" ]; then
      echo "lane $lane: conformance $rt: FAIL: no summary line (exit $rc); see $dir/results/conformance-$rt.log"
      status=1
      continue
    fi
    echo "lane $lane: conformance $rt: $line (${took}s)"
    local bad
    bad=$(grep -cE '^(FAIL|XFAIL) ' "$dir/results/conformance-$rt.log" || true)
    grep -E '^(FAIL|XFAIL) ' "$dir/results/conformance-$rt.log" | head -n 8 | cut -c1-200 | sed 's/^/    /' || true
    [ "$bad" -le 8 ] || echo "    ... and $((bad - 8)) more in $dir/results/conformance-$rt.log"
    if [ "$bad" -gt 1 ]; then
      # The runtime's own error messages, most frequent first: one line says why.
      grep -E '^FAIL ' "$dir/results/conformance-$rt.log" | grep -oE 'msg=\\"[^\\]*' | sed 's/^msg=\\"//' |
        sort | uniq -c | sort -rn | head -n 3 | sed 's/^ */    errors: /' || true
    fi
    [ "$rc" = 0 ] || status=1
  done
  local f name p fl ig
  for f in "$dir"/results/cargo-*.rc; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .rc)
    rc=$(cat "$f")
    read -r p fl ig < <(grep -E '^test result' "$dir/results/$name.log" |
      sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1 \2 \3/' |
      awk '{ p += $1; f += $2; i += $3 } END { print p + 0, f + 0, i + 0 }')
    echo "lane $lane: cargo test ${name#cargo-}: $p passed, $fl failed, $ig ignored (exit $rc)"
    grep -oE '[Ss]kipping .*' "$dir/results/$name.log" | sort | uniq -c | sed 's/^ */    printed: /' || true
    [ "$rc" = 0 ] || status=1
  done
  return $status
}

# ---------------------------------------------------------------- main
if [ -n "$bench_runs" ]; then
  [ -x "$peers/root/usr/sbin/runc" ] && [ -x "$peers/root/usr/bin/crun" ] || bash "$repo/scripts/peers.sh" >/dev/null ||
    die "scripts/peers.sh could not install runc 1.3 and crun 1.28"
fi
for f in "$youki" "$bin_dir/conformance" "$bin_dir/checker"; do
  [ -n "$bench_runs" ] && [ "$f" != "$youki" ] && continue
  [ -x "$f" ] || die "$f is missing: run \`cargo build --release --locked -p youki -p conformance\` (or \`just build\`)"
done
ensure_packages
mkdir -p "$cache" "$out_root"
t0=$SECONDS
fetch_kernel
build_rootfs
build_image
build_initrd
[ "$cargo_tests" = 1 ] && build_cargo_tests "$out_root/cargo-tests.list"
say "cache ready in $((SECONDS - t0))s: kernel $kver, image $image"

overall=0
summary=()
for lane in "${lanes[@]}"; do
  dir=$out_root/$lane
  mkdir -p "$dir"
  build_layer "$lane" "$dir"
  say "lane $lane: booting (timeout ${vm_timeout}s; console in $dir/console.log)"
  run_lane "$lane" "$dir"
  report=report_lane
  [ -z "$bench_runs" ] || report=report_bench
  if "$report" "$lane" "$dir" | tee "$dir/summary.txt"; [ "${PIPESTATUS[0]}" = 0 ]; then
    summary+=("lane $lane: ok")
  else
    summary+=("lane $lane: FAILED")
    overall=1
  fi
done
say "test-vm took $((SECONDS - t0))s"
printf '%s\n' "${summary[@]}"
exit $overall
