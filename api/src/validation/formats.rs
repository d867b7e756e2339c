//! Parsers for the string formats users write in specs: quantities, durations, cron schedules,
//! retention policies, timestamps and names. Each returns a message fit for a field error.

use std::time::Duration;

/// Parses a Kubernetes quantity (`10Gi`, `500M`, `1.5`, `2e3`) into its value in base units.
pub fn parse_quantity(s: &str) -> Result<f64, String> {
    let bad = || format!("{s:?} is not a quantity (e.g. 10Gi, 512Mi, 1G)");
    let s_trim = s.trim();
    if s_trim.is_empty() || s_trim != s {
        return Err(bad());
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let digits = number.trim_start_matches(['+', '-']);
    if digits.is_empty()
        || digits.matches('.').count() > 1
        || !digits.chars().any(|c| c.is_ascii_digit())
        || number.len() - digits.len() > 1
    {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let multiplier = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        exp if exp.starts_with(['e', 'E']) => {
            let e: i32 = exp[1..].parse().map_err(|_| bad())?;
            10f64.powi(e)
        }
        _ => return Err(bad()),
    };
    Ok(value * multiplier)
}

/// Parses a Go duration (`300ms`, `5s`, `1h30m`, `1.5h`) as used by Kubernetes `metav1.Duration`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (e.g. 30s, 5m, 1h30m)");
    if s.is_empty() {
        return Err(bad());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * seconds;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_secs_f64(total))
}

/// Checks a six-field cron schedule with seconds first (`0 0 2 * * *`), or a descriptor such as
/// `@daily` or `@every 1h`.
pub fn check_cron_schedule(s: &str) -> Result<(), String> {
    let s = s.trim();
    if let Some(every) = s.strip_prefix("@every ") {
        return parse_duration(every.trim())
            .and_then(|d| {
                if d.is_zero() {
                    Err("@every needs a positive duration".to_string())
                } else {
                    Ok(())
                }
            })
            .map_err(|e| format!("{s:?}: {e}"));
    }
    if matches!(
        s,
        "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly"
    ) {
        return Ok(());
    }
    let fields = s.split_whitespace().count();
    if fields != 6 {
        return Err(format!(
            "{s:?} has {fields} fields; schedules have six, seconds first (e.g. \"0 0 2 * * *\" for 02:00 daily)"
        ));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .build()
        .parse(s)
        .map(|_| ())
        .map_err(|e| format!("{s:?} is not a valid cron schedule: {e}"))
}

/// Checks a retention policy: a positive number followed by d, w or m (`30d`, `4w`, `6m`).
pub fn check_retention_policy(s: &str) -> Result<(), String> {
    let bad = || format!("{s:?} is not a retention policy: expected <number><d|w|m>, e.g. 30d");
    let (number, unit) = s.split_at(s.len().saturating_sub(1));
    if !matches!(unit, "d" | "w" | "m")
        || number.is_empty()
        || number.starts_with('0')
        || !number.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    Ok(())
}

/// Checks a recovery target time: RFC 3339, or PostgreSQL's `YYYY-MM-DD HH:MM:SS[.ffffff][±HH[:MM]]`.
pub fn check_timestamp(s: &str) -> Result<(), String> {
    // The same parser recovery uses to pick a backup, so whatever passes admission can be used.
    match crate::barman::select::parse_time(s) {
        Some(_) => Ok(()),
        None => Err(format!(
            "{s:?} is not a timestamp: use RFC 3339 (2026-11-20T22:00:00Z) or \"2026-11-20 22:00:00+00\""
        )),
    }
}

/// Checks a DNS-1123 label (names of Kubernetes objects that become parts of other names).
pub fn check_dns_label(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a DNS-1123 label: lowercase letters, digits and '-', at most 63, starting and ending alphanumeric"
        ))
    }
}

/// Checks a PostgreSQL identifier used unquoted by the operator (roles, databases, tablespaces).
pub fn check_pg_identifier(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a PostgreSQL identifier: letters, digits, '_' or '$', starting with a letter or '_', at most 63"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        let gi = 1024f64.powi(3);
        for (s, want) in [
            ("10Gi", 10.0 * gi),
            ("1G", 1e9),
            ("512Mi", 512.0 * 1024.0 * 1024.0),
            ("1.5Gi", 1.5 * gi),
            ("100", 100.0),
            ("2e3", 2000.0),
            ("500m", 0.5),
        ] {
            assert_eq!(parse_quantity(s), Ok(want), "{s}");
        }
        for s in ["", "Gi", "10 Gi", "10GB", "1.2.3Gi", "ten", " 1Gi", "--1"] {
            assert!(parse_quantity(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn durations() {
        for (s, want) in [
            ("5s", 5.0),
            ("1h30m", 5400.0),
            ("300ms", 0.3),
            ("1.5h", 5400.0),
            ("0", 0.0),
            ("2m10s", 130.0),
        ] {
            let got = parse_duration(s).map(|d| d.as_secs_f64());
            assert_eq!(got, Ok(want), "{s}");
        }
        for s in ["", "5", "s", "5x", "1h-30m", "five seconds", "5 s"] {
            assert!(parse_duration(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn cron_schedules() {
        for s in [
            "0 0 0 * * *",
            "*/30 * * * * *",
            "0 15 2 * * 1-5",
            "@daily",
            "@every 1h",
        ] {
            assert_eq!(check_cron_schedule(s), Ok(()), "{s}");
        }
        for s in [
            "0 0 * * *",
            "0 0 0 * * * * *",
            "61 0 0 * * *",
            "@every",
            "@every 0s",
            "@sometimes",
            "",
        ] {
            assert!(check_cron_schedule(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn retention_policies() {
        for s in ["1d", "30d", "4w", "12m"] {
            assert_eq!(check_retention_policy(s), Ok(()), "{s}");
        }
        for s in ["", "d", "0d", "30", "30y", "-1d", "1.5d", "030d"] {
            assert!(check_retention_policy(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn timestamps() {
        for s in [
            "2026-11-20T22:00:00Z",
            "2026-11-20T22:00:00.123+01:00",
            "2026-11-20 22:00:00",
            "2026-11-20 22:00:00.123456+00",
            "2026-11-20 22:00:00+02:00",
        ] {
            assert_eq!(check_timestamp(s), Ok(()), "{s}");
        }
        for s in [
            "",
            "yesterday",
            "2026-13-01 00:00:00",
            "2026-11-20",
            "22:00:00",
        ] {
            assert!(check_timestamp(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn names() {
        assert!(check_dns_label("cluster-example").is_ok());
        assert!(check_dns_label("Cluster").is_err());
        assert!(check_dns_label("-a").is_err());
        assert!(check_pg_identifier("app_user").is_ok());
        assert!(check_pg_identifier("1abc").is_err());
        assert!(check_pg_identifier("a-b").is_err());
    }
}
