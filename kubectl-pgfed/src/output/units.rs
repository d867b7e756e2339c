//! Numbers and times as people read them: bytes in binary units, durations in at most two units,
//! timestamps with how long ago (or how far ahead) they are. Pure; `now` is always given.

use chrono::{DateTime, Duration, Utc};

/// `n` bytes in binary units with one decimal (`1.5 MiB`); under 1 KiB, exact (`512 B`).
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let sign = if n < 0 { "-" } else { "" };
    let magnitude = n.unsigned_abs();
    if magnitude < 1024 {
        return format!("{sign}{magnitude} B");
    }
    // Precision is irrelevant past one decimal; f64 holds every i64 magnitude closely enough.
    let mut value = magnitude as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{sign}{value:.1} {}", UNITS[unit])
}

/// A lag in seconds with one decimal (`2.3s`).
pub fn seconds(s: f64) -> String {
    format!("{s:.1}s")
}

/// `d` in at most two units (`45s`, `5m3s`, `2h`, `3d4h`); negative durations read as zero.
pub fn duration(d: Duration) -> String {
    let total = d.num_seconds().max(0);
    let (days, hours, minutes, secs) = (
        total / 86_400,
        total % 86_400 / 3_600,
        total % 3_600 / 60,
        total % 60,
    );
    let two = |big: i64, big_unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{big_unit}")
        } else {
            format!("{big}{big_unit}{small}{small_unit}")
        }
    };
    if days > 0 {
        two(days, "d", hours, "h")
    } else if hours > 0 {
        two(hours, "h", minutes, "m")
    } else if minutes > 0 {
        two(minutes, "m", secs, "s")
    } else {
        format!("{secs}s")
    }
}

/// An RFC 3339 time from a status field; `None` when it is not one.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// How long ago `at` was (`12s`); `-` when absent, the text itself when it is not a time.
pub fn age(at: Option<&str>, now: DateTime<Utc>) -> String {
    match at {
        None => "-".to_string(),
        Some(text) => parse_time(text).map_or_else(|| text.to_string(), |t| duration(now - t)),
    }
}

/// `at` followed by how far it is from now: `2026-12-01T10:00:00Z (3h ago)` or `(in 89d)`.
pub fn when(at: &str, now: DateTime<Utc>) -> String {
    match parse_time(at) {
        None => at.to_string(),
        Some(t) if t <= now => format!("{at} ({} ago)", duration(now - t)),
        Some(t) => format!("{at} (in {})", duration(t - now)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_in_binary_units() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (16 * 1024 * 1024, "16.0 MiB"),
            (5 * 1024 * 1024 * 1024 + 512 * 1024 * 1024, "5.5 GiB"),
            (-2048, "-2.0 KiB"),
            (i64::MAX, "8.0 EiB"),
        ];
        for (n, want) in cases {
            assert_eq!(bytes(n), want, "{n}");
        }
    }

    #[test]
    fn durations_in_two_units_at_most() {
        let cases = [
            (-5, "0s"),
            (0, "0s"),
            (59, "59s"),
            (60, "1m"),
            (303, "5m3s"),
            (7_200, "2h"),
            (7_260, "2h1m"),
            (86_400 * 3 + 3_600 * 4 + 59, "3d4h"),
        ];
        for (s, want) in cases {
            assert_eq!(duration(Duration::seconds(s)), want, "{s}");
        }
        assert_eq!(seconds(2.345), "2.3s");
    }

    #[test]
    fn times_read_relative_to_now() {
        let now = parse_time("2026-12-01T12:00:00Z").expect("time");
        assert_eq!(age(Some("2026-12-01T11:59:48Z"), now), "12s");
        assert_eq!(age(None, now), "-");
        assert_eq!(age(Some("yesterday"), now), "yesterday");
        assert_eq!(
            when("2026-12-01T09:00:00Z", now),
            "2026-12-01T09:00:00Z (3h ago)"
        );
        assert_eq!(
            when("2027-03-01T12:00:00Z", now),
            "2027-03-01T12:00:00Z (in 90d)"
        );
        assert_eq!(when("soon", now), "soon");
    }
}
