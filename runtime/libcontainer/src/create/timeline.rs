//! A record of when each init stage began and ended (monotonic clock), carried home with
//! `Ready` so the parent can report it as spans without running anything in the child.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Timeline {
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stage {
    pub name: String,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// Nanoseconds on CLOCK_MONOTONIC.
pub fn now_ns() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(t) => t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64,
        Err(_) => 0,
    }
}

impl Timeline {
    /// Runs `f` as the stage `name`, recording its start and end.
    pub fn stage<T>(&mut self, name: &str, f: impl FnOnce() -> T) -> T {
        let start_ns = now_ns();
        let out = f();
        self.stages.push(Stage { name: name.to_string(), start_ns, end_ns: now_ns() });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_recorded_in_order() {
        let mut t = Timeline::default();
        let v = t.stage("a", || 1);
        t.stage("b", || ());
        assert_eq!(v, 1);
        assert_eq!(t.stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(t.stages[0].end_ns >= t.stages[0].start_ns);
    }
}
