//! The test-only switch that turns youki's breakout defences off, so that CI can show
//! each security case failing without the defence it tests (tests/conformance/negative-control.sh).
//!
//! With the `unsafe-no-defences` cargo feature (youki's feature of the same name, built by
//! `just build-no-defences` into target/no-defences) `OFF` is true, and each defence falls
//! back, at exactly one place, to the naive behaviour it replaces:
//! - `create::dmz::exec`: a plain execve(2) of the program, no sealed trampoline
//!   (CVE-2019-5736);
//! - `process::identity::check_cwd_inside`: no check that the cwd is inside the container
//!   (CVE-2024-21626);
//! - `rootfs::in_root::open_in`: openat(2) by name, following every symlink (the last one
//!   too, so `open_no_follow` follows) from the process's root, not openat2 `RESOLVE_IN_ROOT`
//!   (CVE-2019-19921, CVE-2023-27561, CVE-2026-41579, CVE-2025-52565's /dev/console);
//! - `rootfs::masks::dev_null`: no check that /dev/null is the null device before it is
//!   bound over masked paths (CVE-2025-31133);
//! - `rootfs::procfs::ProcRoot::open_file`: open(2) of the /proc path by name, not beneath
//!   the checked procfs fd (CVE-2025-52881).
//!
//! Without the feature `OFF` is the constant false and every switch compiles away. A build
//! with optimisations (a release) refuses the feature.

#[cfg(all(feature = "unsafe-no-defences", not(debug_assertions)))]
compile_error!("the `unsafe-no-defences` feature switches youki's breakout defences off: debug test builds only, never a release");

/// True only in a build with the `unsafe-no-defences` feature (see the module documentation).
pub const OFF: bool = cfg!(feature = "unsafe-no-defences");
