//! Failpoints: named spots between the stages of create, start, exec, delete, restore and the
//! commands on a live container (kill, pause, resume, ps, update)
//! where a test build can kill, stop, fail or slow the runtime on purpose.
//!
//! They exist only with the `failpoints` cargo feature (youki's `failpoints`, built by
//! `just build-failpoints` into its own target dir). Release builds never enable it, and then
//! `hit` is an empty inline function.
//!
//! In a failpoints build two variables steer them:
//! - `YOUKI_FAILPOINT=SPEC[,SPEC...]`, each SPEC `NAME` or `NAME=ACTION`, ACTION one of
//!   `kill` (SIGKILL this process: the default), `exit` (exit status 3 at once, no cleanup),
//!   `stop` (SIGSTOP this process) or `sleep:MS`. A NAME ending in `*` matches as a prefix.
//! - `YOUKI_FAILPOINT_LOG=FILE`: every hit appends `PID NAME` to FILE, so a test can first
//!   learn the boundaries a command crosses and then stop it at each one in turn.
//!
//! Names are `COMMAND:WHERE`, for example `create:after-clone` or `init:after-mounts`;
//! stages in a child process use the child's name (`init:`, `exec-child:`).

/// Marks the failpoint `name`: does nothing unless a failpoints build was asked to act here.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &'static str) {}

/// Marks the failpoint `name`: logs it and acts when `YOUKI_FAILPOINT` names it.
#[cfg(feature = "failpoints")]
pub fn hit(name: &'static str) {
    imp::hit(name)
}

/// What a matching failpoint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Kill,
    Exit,
    Stop,
    Sleep(u64),
}

/// Parses `YOUKI_FAILPOINT`'s value into (pattern, action) pairs; bad entries are skipped.
pub fn parse(spec: &str) -> Vec<(String, Action)> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(|entry| {
            let (name, action) = match entry.split_once('=') {
                None => (entry, Action::Kill),
                Some((n, "kill")) => (n, Action::Kill),
                Some((n, "exit")) => (n, Action::Exit),
                Some((n, "stop")) => (n, Action::Stop),
                Some((n, a)) => (n, Action::Sleep(a.strip_prefix("sleep:")?.parse().ok()?)),
            };
            Some((name.to_string(), action))
        })
        .collect()
}

/// The action for `name`, if a pattern matches it (exactly, or as a prefix ending in `*`).
pub fn action_for(rules: &[(String, Action)], name: &str) -> Option<Action> {
    rules.iter().find_map(|(pat, action)| {
        let hit = match pat.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => pat == name,
        };
        hit.then_some(*action)
    })
}

#[cfg(feature = "failpoints")]
mod imp {
    use super::{action_for, parse, Action};
    use std::io::Write;

    pub fn hit(name: &'static str) {
        if let Some(log) = std::env::var_os("YOUKI_FAILPOINT_LOG") {
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
                // One write(2): an exec's parent and child log at the same moment, and
                // writeln! on a File writes piece by piece, so their lines would interleave.
                let line = format!("{} {name}\n", std::process::id());
                let _ = f.write_all(line.as_bytes());
            }
        }
        let Some(spec) = std::env::var("YOUKI_FAILPOINT").ok() else { return };
        match action_for(&parse(&spec), name) {
            // SAFETY: raising a signal at ourselves.
            Some(Action::Kill) => unsafe {
                libc::raise(libc::SIGKILL);
            },
            // SAFETY: leaving at once, on purpose without cleanup.
            Some(Action::Exit) => unsafe { libc::_exit(3) },
            // SAFETY: as above.
            Some(Action::Stop) => unsafe {
                libc::raise(libc::SIGSTOP);
            },
            Some(Action::Sleep(ms)) => std::thread::sleep(std::time::Duration::from_millis(ms)),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_match() {
        let rules = parse("create:after-clone, init:*=sleep:50,start:after-lock=exit, bad=sleep:x, x=stop");
        assert_eq!(action_for(&rules, "create:after-clone"), Some(Action::Kill));
        assert_eq!(action_for(&rules, "init:after-mounts"), Some(Action::Sleep(50)));
        assert_eq!(action_for(&rules, "start:after-lock"), Some(Action::Exit));
        assert_eq!(action_for(&rules, "x"), Some(Action::Stop));
        assert_eq!(action_for(&rules, "bad"), None);
        assert_eq!(action_for(&rules, "create:after-cgroup"), None);
    }
}
