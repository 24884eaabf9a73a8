//! The pod sandbox's process (the "pause" image): holds the pod's namespaces, reaps the
//! orphans it inherits as pid 1, and exits 0 on SIGINT or SIGTERM. Static, std and libc only.

fn main() {
    // SAFETY: plain signal-set manipulation on a set we own, then sigwait on it; every
    // signal in it is blocked first, so none is lost between waits.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGCHLD] {
            libc::sigaddset(&mut set, sig);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        loop {
            let mut sig = 0;
            if libc::sigwait(&set, &mut sig) != 0 {
                continue;
            }
            if sig == libc::SIGCHLD {
                while libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) > 0 {}
                continue;
            }
            std::process::exit(0);
        }
    }
}
