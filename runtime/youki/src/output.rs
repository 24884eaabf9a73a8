//! A reader that goes away mid-output (`youki list | head -1`) ends youki the way it ends
//! runc: killed by SIGPIPE, with nothing on stderr. youki ignores SIGPIPE (`entry`), so `println!`
//! panics on the EPIPE instead; the panic hook turns exactly that panic (stdout or stderr,
//! EPIPE) back into the signal. Every other pipe and socket (a hook's stdin, the channel to
//! init, the console) keeps getting EPIPE as an error, as in runc, whose Go runtime also
//! raises SIGPIPE only for fds 1 and 2.

use std::panic::PanicHookInfo;

/// Installs the hook; the first thing `main` does.
pub fn end_quietly_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if is_broken_stdio(info) {
            die_of_sigpipe();
        }
        default(info)
    }));
}

fn is_broken_stdio(info: &PanicHookInfo) -> bool {
    let payload = info.payload();
    let msg = payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied()).unwrap_or("");
    broken_stdio_message(msg)
}

/// std's message for a failed `print!`/`eprint!`: "failed printing to stdout: Broken pipe
/// (os error 32)".
fn broken_stdio_message(msg: &str) -> bool {
    (msg.starts_with("failed printing to stdout") || msg.starts_with("failed printing to stderr"))
        && msg.ends_with(&format!("(os error {})", libc::EPIPE))
}

fn die_of_sigpipe() -> ! {
    // SAFETY: restoring the default disposition, unblocking and raising a signal are
    // async-signal-safe and valid for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(libc::SIGPIPE);
        libc::_exit(128 + libc::SIGPIPE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_epipe_on_stdout_or_stderr_counts() {
        assert!(broken_stdio_message("failed printing to stdout: Broken pipe (os error 32)"));
        assert!(broken_stdio_message("failed printing to stderr: Broken pipe (os error 32)"));
        assert!(!broken_stdio_message("failed printing to stdout: No space left on device (os error 28)"));
        assert!(!broken_stdio_message("called `Result::unwrap()` on an `Err` value: Broken pipe (os error 32)"));
    }
}
