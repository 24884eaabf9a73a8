# Every task a person runs. Fresh machine: `bash scripts/bootstrap.sh <recipe>` installs
# packages and `just` first.

target := "target/x86_64-unknown-linux-gnu/release"
wasm_target := "target/wasm/x86_64-unknown-linux-gnu/release"
wasmer_target := "target/wasmer/x86_64-unknown-linux-gnu/release"

default:
    @just --list

# Static release build of youki and the conformance tools (built once, used by every test).
# The installer builds on its own: built together, cargo would give youki's dependencies
# the features the installer's Kubernetes client turns on (tracing's `log`, for one).
build:
    cargo build --release --locked -p youki -p conformance -p youki-trace
    cargo build --release --locked -p youki-installer

# youki with the wasm executor (wasmtime), in its own target dir so that the default binary
# is never replaced; also wat2wasm for the wasm tests. Thin LTO over 16 codegen units, not
# the release profile's fat LTO in one: with wasmtime and cranelift, fat LTO made this the
# longest step of a cold CI run (34 min on 2 cores beside other builds), for a start-up gain
# that compiling a module hides.
build-wasm:
    CARGO_PROFILE_RELEASE_LTO=thin CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 cargo build --release --locked -p youki -p wasm-fixtures --features youki/wasm-wasmtime --target-dir target/wasm

# youki with the wasm executor on Wasmer (Singlepass, wasmer-wasix) instead of wasmtime, in
# target/wasmer, and wat2wasm. Not part of `just test`: CI cannot afford a second engine
# build (~11 min cold on 2 cores). `just test-wasmer` runs the wasm tests against it.
build-wasmer:
    cargo build --release --locked -p youki -p wasm-fixtures --features youki/wasm-wasmer --target-dir target/wasmer

# tests/wasm/run.sh against the Wasmer build, by hand (never part of CI).
test-wasmer: build build-wasmer
    YOUKI_WASM_EXECUTORS=wasmer,default bash tests/wasm/run.sh {{wasmer_target}}/youki {{target}}/youki {{wasmer_target}}/wat2wasm

# youki with failpoints (libcontainer's `failpoint`, for tests/fault), copied to
# target/failpoints/youki. A debug build: it reuses the dependencies `cargo test` built, and
# the failpoints make it deterministic. Never shipped.
build-failpoints:
    cargo build --locked -p youki --features youki/failpoints
    mkdir -p target/failpoints && cp target/x86_64-unknown-linux-gnu/debug/youki target/failpoints/youki

# youki with every breakout defence switched off (libcontainer's `defences`), copied to
# target/no-defences/youki: the negative control of the security cases
# (tests/conformance/negative-control.sh). A debug build like build-failpoints, reusing its
# dependencies; a release build refuses the feature. Never shipped.
build-no-defences:
    cargo build --locked -p youki --features youki/unsafe-no-defences
    mkdir -p target/no-defences && cp target/x86_64-unknown-linux-gnu/debug/youki target/no-defences/youki

# A busybox container, step by step: spec, create, state, start, list, output, delete,
# then the same run traced by youki-trace, healthy and broken.
demo: build
    bash scripts/demo.sh {{target}}/youki {{target}}/youki-trace

# Everything CI runs: unit tests, real-kernel integration tests, the wasm executor, the
# fault-injection suite and a 1000-cycle soak, the conformance suite against youki and runc.
test: build build-wasm build-failpoints build-no-defences
    bash scripts/test.sh {{target}} {{wasm_target}}

# The fault-injection and concurrency suite (tests/fault) against the release build, its
# deterministic part through the failpoints build; the kill sweep also against runc, for
# comparison only. `just test-fault /usr/sbin/runc` runs it against another runtime.
test-fault runtime=(target + "/youki"): build build-failpoints
    FAULT_PEERS="$(command -v runc || true)" bash tests/fault/run.sh {{runtime}} target/failpoints/youki

# Soak: N cycles of create/start/exec/kill/delete, run, and run -d under seccomp and cgroup
# limits; latency p50/p99/max per 1000 cycles, and nothing may be left on the host.
soak n="1000" runtime=(target + "/youki"): build
    bash tests/fault/soak.sh {{runtime}} {{n}}

# youki without the `otel` feature, in its own target dir: the baseline of the spans row of
# `just bench`. Cold: ~5 min on 2 cores.
build-no-otel:
    cargo build --release --locked -p youki --no-default-features --target-dir target/no-otel

# Side-by-side benchmark against runc and crun, and wasm against busybox (never part of CI).
# The runtimes are interleaved round by round; one JSON file per case goes to bench/results
# (tests/bench/table.py makes the README's tables from them). It waits for the 1-minute load
# average to settle to 0.5 and refuses to start above it: `just bench --force` runs anyway,
# and the results say so. The youki-trace and spans rows also need youki-trace (build), the
# build without otel and otlp-sink (the OTLP test receiver of tests/e2e-containerd).
bench *args: build build-wasm build-no-otel
    cargo build --release --locked -p e2e-containerd --bin otlp-sink
    bash tests/bench/bench.sh {{args}} {{target}}/youki {{wasm_target}}/youki

# Where a create's time goes per runtime (tests/bench/breakdown.sh, never in CI): untraced on
# /run and on a tmpfs, under youki-trace and strace by syscall category, youki's spans, and
# the kernel's cgroup attach alone. `just bench-breakdown --force` runs under load.
bench-breakdown *args: build
    cargo build --locked -p e2e-containerd --bin otlp-sink
    bash tests/bench/breakdown.sh {{args}} {{target}}/youki

# Remakes runtime/youki/symbol-order.txt (the hot functions the linker packs together, which
# keeps a command's resident code small) from a perf profile of the release build; rebuild
# afterwards. ~4 min on 2 cores, never in CI.
symbol-order rounds="300":
    bash scripts/symbol-order.sh {{rounds}}

# youki-trace on the real kernel: healthy and broken creates, youki and runc side by side.
test-trace: build
    YOUKI={{target}}/youki YOUKI_TRACE={{target}}/youki-trace bash ebpf-trace/tests/ci.sh

# tests/e2e-containerd; `just test-containerd youki` runs one handler.
# A private containerd driven through the CRI as the kubelet does: pod cycle, failures, spans.
test-containerd *handlers: build
    bash tests/e2e-containerd/run.sh {{target}}/youki {{handlers}}

# podman and docker with youki as their runtime, and with runc (tests/e2e-clients).
test-clients *clients: build
    bash tests/e2e-clients/run.sh {{target}}/youki {{clients}}

# Pod start latency through containerd 2.1, youki vs runc 1.3 vs crun 1.28, interleaved, into
# bench/results (never part of CI; BENCH_POD_LANE=1.6 for Debian's containerd, runc and crun).
bench-pods runs="100" *flags: build
    bash tests/bench/pod-start.sh {{flags}} {{target}}/youki {{runs}}

# create+start+delete of youki, runc 1.3 and crun 1.28 in the cgroup v2 VM (qemu TCG):
# ratios only, into bench/results (never part of CI).
bench-vm rounds="30": build
    bash tests/vm/run.sh --bench {{rounds}} v2

# qemu TCG, kernel and image cached in /var/cache/youki-vm; see tests/vm/README.md.
# The cgroup v2 and systemd VM lanes: `just test-vm [v2] [systemd] [--filter SUBSTR]`.
test-vm *args: build
    bash tests/vm/run.sh {{args}}

# The kind end to end (needs docker and kind; fails fast with a clear message without them).
test-kind: build
    bash kind/test-kind.sh {{target}}

# Static release tarball with checksums (youki-wasm is the build with the wasm executor), the
# installer image as an OCI layout, its digest written into charts/youki/values.yaml
# (image.digest) and the chart packaged with it; dist/SHA256SUMS covers them all.
release: build build-wasm
    bash installer/release.sh dist {{target}} {{wasm_target}}

# The conformance suite alone, against any runtime: `just conformance /usr/sbin/runc`.
conformance runtime=(target + "/youki"): build
    {{target}}/conformance --runtime {{runtime}}

# AFL++ on the config.json -> plan path and the state decoder (tests/fuzz): `just fuzz 3600`
# runs each target for an hour. CI runs 30 s each.
fuzz secs="30":
    bash tests/fuzz/run.sh {{secs}}
