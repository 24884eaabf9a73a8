//! RFC 3339 timestamps in UTC, as runc writes them in state and logs.

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats `t` as `2006-01-02T15:04:05.999999999Z`.
pub fn format(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, m, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z", rem / 3600, (rem % 3600) / 60, rem % 60, d.subsec_nanos())
}

pub fn now() -> String {
    format(SystemTime::now())
}

/// Formats `t` to the second, `2006-01-02T15:04:05Z`, as runc's log lines carry it.
pub fn format_secs(t: SystemTime) -> String {
    let mut s = format(t);
    s.replace_range(19..29, "");
    s
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_instants() {
        assert_eq!(format(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(format(UNIX_EPOCH + Duration::new(951_782_400, 5)), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(format(UNIX_EPOCH + Duration::from_secs(1_795_000_000)), "2026-11-18T11:06:40.000000000Z");
        assert_eq!(format_secs(UNIX_EPOCH + Duration::new(1_795_000_000, 7)), "2026-11-18T11:06:40Z");
    }
}
