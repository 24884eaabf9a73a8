//! Drift repair in DaemonSet mode: when something else (a node upgrade, config management)
//! takes the handler out of the config or changes it, the running installer puts it back.
//!
//! `RepairBudget` is the pure part: it allows at most `limit` repairs in any `window` (an
//! hour in `run`), so the installer never fights another tool in a loop. `ConfigWatch`
//! wakes the loop when the config's directory changes (inotify), and otherwise after the
//! poll interval, so a missed event (a config behind a link in another directory, a watch
//! that could not be set) is still caught by the periodic check.

use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// What the loop should do about a drifted config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Repair it; this is repair `nth` (from 1) of the window.
    Repair { nth: usize },
    /// The budget is spent: stop repairing and say so, once.
    Stop,
    /// Already stopped and said so: do nothing.
    Stopped,
}

/// At most `limit` repairs in any `window`.
#[derive(Debug, Clone)]
pub struct RepairBudget {
    limit: usize,
    window: Duration,
    done: VecDeque<Instant>,
    stopped: bool,
}

impl RepairBudget {
    pub fn new(limit: usize, window: Duration) -> Self {
        RepairBudget { limit, window, done: VecDeque::new(), stopped: false }
    }

    /// The limit, for messages.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Decides about a drift seen at `now`, and counts a repair it allows. Once stopped, the
    /// budget stays stopped (another tool owns the config; a pod restart tries again).
    pub fn decide(&mut self, now: Instant) -> Decision {
        if self.stopped {
            return Decision::Stopped;
        }
        while let Some(first) = self.done.front() {
            if now.saturating_duration_since(*first) >= self.window {
                self.done.pop_front();
            } else {
                break;
            }
        }
        if self.done.len() >= self.limit {
            self.stopped = true;
            return Decision::Stop;
        }
        self.done.push_back(now);
        Decision::Repair { nth: self.done.len() }
    }

    /// Whether repairs have stopped for good.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }
}

/// Wakes when the watched directory changes, else after a timeout.
pub struct ConfigWatch {
    inotify: Option<Inotify>,
}

impl ConfigWatch {
    /// Watches `dir` (a path in the installer's own filesystem): files created, written,
    /// moved in or out, or deleted there. Without inotify (or the directory) it only times
    /// out, and says why once.
    pub fn new(dir: &Path) -> Self {
        let flags = AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_ATTRIB;
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).and_then(|i| i.add_watch(dir, flags).map(|_| i));
        match inotify {
            Ok(i) => ConfigWatch { inotify: Some(i) },
            Err(e) => {
                eprintln!("watch {}: {e}; drift is checked on each poll only", dir.display());
                ConfigWatch { inotify: None }
            }
        }
    }

    /// Whether a watch is set.
    pub fn watching(&self) -> bool {
        self.inotify.is_some()
    }

    /// Waits up to `timeout` for a change; returns whether one came. A change is followed by
    /// a short settle time, and the events of a burst are read as one, so a tool that writes
    /// a file in pieces is seen once it is done.
    pub fn wait(&self, timeout: Duration) -> bool {
        let Some(inotify) = &self.inotify else {
            std::thread::sleep(timeout);
            return false;
        };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        let ready = match poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)) {
            Ok(n) => n > 0,
            Err(_) => {
                std::thread::sleep(timeout);
                false
            }
        };
        if ready {
            std::thread::sleep(Duration::from_millis(200));
            while matches!(inotify.read_events(), Ok(events) if !events.is_empty()) {}
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_limit_then_stops_once() {
        let t0 = Instant::now();
        let mut b = RepairBudget::new(2, Duration::from_secs(3600));
        assert_eq!(b.decide(t0), Decision::Repair { nth: 1 });
        assert_eq!(b.decide(t0 + Duration::from_secs(1)), Decision::Repair { nth: 2 });
        assert_eq!(b.decide(t0 + Duration::from_secs(2)), Decision::Stop);
        assert!(b.is_stopped());
        // Stopped for good, even once the window has passed.
        assert_eq!(b.decide(t0 + Duration::from_secs(7200)), Decision::Stopped);
    }

    #[test]
    fn repairs_older_than_the_window_no_longer_count() {
        let t0 = Instant::now();
        let hour = Duration::from_secs(3600);
        let mut b = RepairBudget::new(2, hour);
        assert_eq!(b.decide(t0), Decision::Repair { nth: 1 });
        assert_eq!(b.decide(t0 + Duration::from_secs(600)), Decision::Repair { nth: 2 });
        // The first repair is an hour old: one slot is free again.
        assert_eq!(b.decide(t0 + hour), Decision::Repair { nth: 2 });
        assert_eq!(b.decide(t0 + hour + Duration::from_secs(1)), Decision::Stop);
    }

    #[test]
    fn a_zero_limit_never_repairs() {
        let mut b = RepairBudget::new(0, Duration::from_secs(3600));
        assert_eq!(b.decide(Instant::now()), Decision::Stop);
    }

    #[test]
    fn the_watch_wakes_on_a_rename_into_the_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = ConfigWatch::new(dir.path());
        assert!(w.watching());
        assert!(!w.wait(Duration::from_millis(50)));
        std::fs::write(dir.path().join("tmp"), "x").expect("write");
        std::fs::rename(dir.path().join("tmp"), dir.path().join("config.toml")).expect("rename");
        assert!(w.wait(Duration::from_secs(5)));
        // The burst was read as one.
        assert!(!w.wait(Duration::from_millis(50)));
    }
}
