//! The process entry point: glibc calls `main` directly, without std's start-up.
//!
//! std's start-up costs every youki call about 20 system calls before any work: it reads and
//! parses /proc/self/maps to find the main thread's stack guard and installs an alternate
//! signal stack with SIGSEGV and SIGBUS handlers, only to print "stack overflow" on one. Of
//! what it does, youki relies on two things, done here the same way:
//! - fds 0, 1 and 2 open: a closed one is opened on /dev/null, so that no file youki opens
//!   later gets the number and takes its output;
//! - SIGPIPE ignored: a write to a closed pipe or socket is an EPIPE error, except on stdout
//!   and stderr (see `output`). Children inherit the ignored disposition as before, and init
//!   resets it (`process_setup::reset_signals`).
//!
//! Arguments still come from std (`std::env::args_os`), which glibc hands them to through
//! `.init_array`. A stack overflow is a plain SIGSEGV, and a panic aborts, as the release
//! profile's `panic = "abort"` made it before. Every exit goes through
//! `std::process::exit`, which flushes stdout.

use std::os::raw::{c_char, c_int};

#[no_mangle]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    open_standard_fds();
    // SAFETY: SIG_IGN for SIGPIPE, before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    crate::run()
}

/// Opens /dev/null on any of fds 0, 1 and 2 that is closed (one poll finds them); aborts
/// when it cannot, since output could then land in a file opened later.
fn open_standard_fds() {
    let mut fds: [libc::pollfd; 3] = std::array::from_fn(|fd| libc::pollfd { fd: fd as c_int, events: 0, revents: 0 });
    // SAFETY: poll on three valid pollfd structs; a zero timeout returns at once.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return;
    }
    for p in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // SAFETY: opening /dev/null; the lowest free number is the closed one, as fds below
        // it are open.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if fd != p.fd {
            std::process::abort();
        }
    }
}
