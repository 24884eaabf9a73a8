//! Signal names and numbers as `kill` accepts them: `KILL`, `SIGKILL`, `kill` or `9`.

use nix::sys::signal::Signal;

/// Parses a signal given by name (with or without SIG, any case) or number.
pub fn parse(s: &str) -> Option<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse::<Signal>().ok()
}

/// Signal 0, which checks that a process exists and sends nothing (see `lifecycle::probe`).
pub fn is_zero(s: &str) -> bool {
    s.parse::<i32>() == Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("9"), Some(Signal::SIGKILL));
        assert_eq!(parse("KILL"), Some(Signal::SIGKILL));
        assert_eq!(parse("SIGTERM"), Some(Signal::SIGTERM));
        assert_eq!(parse("term"), Some(Signal::SIGTERM));
        assert_eq!(parse("SIGWINCH"), Some(Signal::SIGWINCH));
        assert_eq!(parse("NOPE"), None);
        assert_eq!(parse("0"), None);
        assert_eq!(parse("99"), None);
        assert!(is_zero("0") && is_zero("00") && is_zero("+0"));
        assert!(!is_zero("") && !is_zero("KILL") && !is_zero("9"));
    }
}
