//! The entry point without std's start-up (src/entry.rs) still opens closed standard fds on
//! /dev/null, as std's did, so that no file youki opens gets their numbers.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

fn youki_with_closed(fds: &'static [i32], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_youki"));
    cmd.args(args).stdin(Stdio::null());
    // SAFETY: close(2) only, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for fd in fds {
                libc::close(*fd);
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[test]
fn a_closed_stdout_is_not_taken_by_a_file_youki_opens() {
    let dir = std::env::temp_dir().join(format!("youki-entry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (root, log) = (dir.join("root"), dir.join("log"));
    // `list` opens its log file, then prints its table to stdout. With fd 1 closed and left
    // so, the log file would get number 1 and the table would land in it.
    let out = youki_with_closed(&[1], &["--root", root.to_str().unwrap(), "--log", log.to_str().unwrap(), "list"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let written = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!written.contains("STATUS"), "the table went into the log file: {written:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
