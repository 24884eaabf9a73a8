//! Compiles the eBPF programs in `bpf/` with clang-19 so that the binary can embed them.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let clang = env::var("YOUKI_TRACE_CLANG").unwrap_or_else(|_| "clang-19".to_string());
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("trace.bpf.o");
    let src = manifest.join("bpf").join("trace.bpf.c");
    println!("cargo:rerun-if-changed=bpf/trace.bpf.c");
    println!("cargo:rerun-if-changed=bpf/types.h");
    println!("cargo:rerun-if-env-changed=YOUKI_TRACE_CLANG");

    let status =
        Command::new(&clang).args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror", "-c"]).arg(&src).arg("-o").arg(&out).status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{clang} failed to compile {} ({s}); <bpf/bpf_helpers.h> comes from libbpf-dev", src.display()),
        Err(e) => panic!(
            "{clang} not found ({e}): youki-trace needs clang-19 to build its eBPF programs \
             (apt-get install clang-19 llvm-19 libbpf-dev), or set YOUKI_TRACE_CLANG"
        ),
    }
}
