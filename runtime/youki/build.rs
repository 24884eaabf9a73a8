//! Records the git commit for `youki --version`, and packs the binary's relocations.

fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=YOUKI_COMMIT={commit}");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/refs/heads");
    // youki is a static PIE (see .cargo/config.toml): glibc's start-up code applies its
    // relative relocations. Packed as DT_RELR (binutils 2.38+, glibc 2.36+) the 12,700 of
    // them take a few KiB instead of a 304 KiB .rela.dyn that every start reads; the pages
    // they patch, and ASLR, are the same.
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    // The functions a lifecycle command runs, first and together (symbol-order.txt, made by
    // scripts/symbol-order.sh): the kernel maps a static binary's code in 64 KiB blocks
    // around each page touched, so scattered hot code makes most of .text resident.
    let order = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("symbol-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}", order.display());
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}
