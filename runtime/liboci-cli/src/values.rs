//! Value parsers for flag arguments whose text format runc defines: byte sizes and
//! Go-style durations. Pure functions, used as clap `value_parser`s.

use std::time::Duration;

/// Parses a byte count the way runc's `update` does: a plain integer, `-1` for
/// "unlimited", or a number with a binary unit suffix (`k`, `m`, `g`, `t`, `p`,
/// case-insensitive, optionally followed by `i` and/or `b`): `512m`, `1.5GiB`, `64kb`.
pub fn parse_bytes(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let invalid = || format!("invalid size {text:?}: expected e.g. 1048576, 512k, 64m, 1.5g or -1");
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(invalid());
    }
    let unit = unit.trim_start().to_ascii_lowercase();
    let mut chars = unit.chars();
    let shift = match chars.next() {
        None | Some('b') if unit.len() <= 1 => 0,
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        Some('t') => 40,
        Some('p') => 50,
        _ => return Err(invalid()),
    };
    if shift != 0 && !matches!(chars.as_str(), "" | "b" | "i" | "ib") {
        return Err(invalid());
    }
    let multiplier = 1u64 << shift;
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(multiplier).and_then(|v| i64::try_from(v).ok()).ok_or_else(|| format!("size {text:?} is too large"));
    }
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let bytes = value * multiplier as f64;
    if bytes >= i64::MAX as f64 {
        return Err(format!("size {text:?} is too large"));
    }
    Ok(bytes as i64)
}

/// Parses a positive Go-style duration such as `5s`, `250ms`, `1m30s` or `1.5h`.
/// Units: `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?}: expected e.g. 5s, 500ms or 1m30s");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(invalid)?;
        let (number, tail) = rest.split_at(split);
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let seconds_per_unit = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        total += value * seconds_per_unit;
        rest = tail;
    }
    if total <= 0.0 {
        return Err(format!("duration {text:?} must be greater than zero"));
    }
    Duration::try_from_secs_f64(total).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_accept_plain_suffixed_and_unlimited() {
        assert_eq!(parse_bytes("1048576"), Ok(1_048_576));
        assert_eq!(parse_bytes("512k"), Ok(512 * 1024));
        assert_eq!(parse_bytes("64M"), Ok(64 << 20));
        assert_eq!(parse_bytes("1.5g"), Ok(3 << 29));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("10b"), Ok(10));
        assert_eq!(parse_bytes("-1"), Ok(-1));
    }

    #[test]
    fn bytes_reject_garbage() {
        for bad in ["", "m", "-2", "12x", "1.g", "5kk", "1e3", "99999999999p"] {
            assert!(parse_bytes(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn durations_follow_go_syntax() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
    }

    #[test]
    fn durations_reject_bare_numbers_and_zero() {
        for bad in ["", "5", "s", "0s", "5 s", "3d", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should fail");
        }
    }
}
