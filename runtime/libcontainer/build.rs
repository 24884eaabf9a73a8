//! Builds the exec trampoline (dmz/dmz.c) with the system C compiler: a few hundred bytes,
//! no libc, embedded into libcontainer.

fn main() {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("dmz");
    let status = std::process::Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args([
            "-static",
            "-nostdlib",
            "-Os",
            "-fno-asynchronous-unwind-tables",
            "-fno-stack-protector",
            "-fno-pie",
            "-no-pie",
            "-Wl,--build-id=none",
            "-Wl,-n",
            "-s",
            "-o",
        ])
        .arg(&out)
        .arg("dmz/dmz.c")
        .status()
        .expect("run the C compiler for dmz/dmz.c");
    assert!(status.success(), "building dmz/dmz.c failed");
    println!("cargo:rerun-if-changed=dmz/dmz.c");
}
