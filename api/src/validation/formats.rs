//! Parsers for the string formats users write in specs: quantities, durations, cron schedules,
//! retention policies, timestamps and names. Each error is phrased for a field error.

use std::time::Duration;

/// A string that is not in the format its field needs. Its message is fit for a field error and
/// echoes only what the user wrote in a spec (never a secret).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Not a Kubernetes quantity.
    #[error("{0:?} is not a quantity (e.g. 10Gi, 512Mi, 1G)")]
    Quantity(String),
    /// Not a Go duration.
    #[error("{0:?} is not a duration (e.g. 30s, 5m, 1h30m)")]
    Duration(String),
    /// `@every` with a zero duration.
    #[error("{0:?}: @every needs a positive duration")]
    ZeroEvery(String),
    /// A cron schedule with the wrong number of fields.
    #[error(
        "{schedule:?} has {fields} fields; schedules have six, seconds first (e.g. \"0 0 2 * * *\" for 02:00 daily), or five, the same without the day of week"
    )]
    CronFields {
        /// The schedule as written.
        schedule: String,
        /// How many fields it has.
        fields: usize,
    },
    /// Six fields, but not a schedule.
    #[error("{schedule:?} is not a valid cron schedule: {reason}")]
    Cron {
        /// The schedule as written.
        schedule: String,
        /// What the cron parser objected to.
        reason: String,
    },
    /// Not `<number><d|w|m>`.
    #[error("{0:?} is not a retention policy: expected <number><d|w|m>, e.g. 30d")]
    RetentionPolicy(String),
    /// Not a timestamp recovery can use.
    #[error(
        "{0:?} is not a timestamp: use RFC 3339 (2026-11-20T22:00:00Z) or \"2026-11-20 22:00:00+00\""
    )]
    Timestamp(String),
    /// Not a DNS-1123 label, for a name that becomes (part of) a Kubernetes object name.
    #[error(
        "{0:?} is not a DNS-1123 label: lowercase letters, digits and '-', at most 63, starting and ending alphanumeric, because it becomes part of Kubernetes object names"
    )]
    DnsLabel(String),
    /// Not a DNS-1035 label, for names that become Service names (they must start with a letter).
    #[error(
        "{0:?} is not a DNS-1035 label: lowercase letters, digits and '-', at most 63, starting with a letter and ending alphanumeric, because it becomes part of Service names"
    )]
    Dns1035Label(String),
    /// A tablespace name that is not a plain identifier or is reserved.
    #[error(
        "{0:?} is not a tablespace name: letters, digits, '_' and '$', starting with a letter or '_', at most 63, not starting with pg_ (PostgreSQL's), because it also names the tablespace's volumes"
    )]
    TablespaceName(String),
    /// An empty PostgreSQL object name.
    #[error("must not be empty: PostgreSQL has no zero-length names")]
    EmptyName,
    /// A PostgreSQL object name longer than PostgreSQL keeps.
    #[error(
        "{name:?} is {bytes} bytes: PostgreSQL cuts names to 63 bytes, so two different names could become the same object"
    )]
    NameTooLong {
        /// The name as written.
        name: String,
        /// Its length in bytes.
        bytes: usize,
    },
    /// A PostgreSQL object name with a NUL or another control character.
    #[error(
        "{0:?} contains a control character: PostgreSQL refuses NUL, and a line break or tab would corrupt the line-based files (pg_hba.conf, .pgpass) that carry this name"
    )]
    NameControlCharacter(String),
    /// A name that is used as one path component (a directory or object-store prefix).
    #[error(
        "{0:?} cannot be used: it is one path component, so it cannot be empty, '.' or '..' or contain '/' or '\\'"
    )]
    PathComponent(String),
}

impl FormatError {
    /// A short, stable label for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            FormatError::Quantity(_) => "quantity",
            FormatError::Duration(_) => "duration",
            FormatError::ZeroEvery(_)
            | FormatError::CronFields { .. }
            | FormatError::Cron { .. } => "cron_schedule",
            FormatError::RetentionPolicy(_) => "retention_policy",
            FormatError::Timestamp(_) => "timestamp",
            FormatError::DnsLabel(_) | FormatError::Dns1035Label(_) => "dns_label",
            FormatError::TablespaceName(_) => "tablespace_name",
            FormatError::EmptyName
            | FormatError::NameTooLong { .. }
            | FormatError::NameControlCharacter(_) => "postgres_name",
            FormatError::PathComponent(_) => "path_component",
        }
    }
}

/// Parses a Kubernetes quantity (`10Gi`, `500M`, `1.5`, `2e3`) into its value in base units.
pub fn parse_quantity(s: &str) -> Result<f64, FormatError> {
    let bad = || FormatError::Quantity(s.to_string());
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
pub fn parse_duration(s: &str) -> Result<Duration, FormatError> {
    let bad = || FormatError::Duration(s.to_string());
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

/// Checks a cron schedule and returns it in the form a scheduler reads: six fields with seconds
/// first (`0 0 2 * * *`), or a descriptor such as `@daily` or `@every 1h`. Five fields are read
/// as CloudNativePG reads them: seconds first with the day of week left out (`*`), so a manifest
/// written for CloudNativePG runs on the same schedule (`0 0 0 * *` is daily at midnight; beware
/// that `0 0 * * *` is hourly, not the crontab reading).
pub fn normalize_cron_schedule(s: &str) -> Result<String, FormatError> {
    let s = s.trim();
    if let Some(every) = s.strip_prefix("@every ") {
        return match parse_duration(every.trim()) {
            Ok(d) if d.is_zero() => Err(FormatError::ZeroEvery(s.to_string())),
            Ok(_) => Ok(s.to_string()),
            Err(e) => Err(e),
        };
    }
    if matches!(
        s,
        "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly"
    ) {
        return Ok(s.to_string());
    }
    let schedule = match s.split_whitespace().count() {
        6 => s.to_string(),
        5 => format!("{s} *"),
        fields => {
            return Err(FormatError::CronFields {
                schedule: s.to_string(),
                fields,
            });
        }
    };
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .build()
        .parse(&schedule)
        .map(|_| schedule)
        .map_err(|e| FormatError::Cron {
            schedule: s.to_string(),
            reason: e.to_string(),
        })
}

/// Checks a cron schedule; see [`normalize_cron_schedule`] for the forms accepted.
pub fn check_cron_schedule(s: &str) -> Result<(), FormatError> {
    normalize_cron_schedule(s).map(|_| ())
}

/// Checks a retention policy: a positive number followed by d, w or m (`30d`, `4w`, `6m`).
pub fn check_retention_policy(s: &str) -> Result<(), FormatError> {
    let (number, unit) = s.split_at(s.len().saturating_sub(1));
    if !matches!(unit, "d" | "w" | "m")
        || number.is_empty()
        || number.starts_with('0')
        || !number.chars().all(|c| c.is_ascii_digit())
    {
        return Err(FormatError::RetentionPolicy(s.to_string()));
    }
    Ok(())
}

/// Checks a recovery target time: RFC 3339, or PostgreSQL's `YYYY-MM-DD HH:MM:SS[.ffffff][±HH[:MM]]`.
pub fn check_timestamp(s: &str) -> Result<(), FormatError> {
    // The same parser recovery uses to pick a backup, so whatever passes admission can be used.
    match crate::barman::select::parse_time(s) {
        Some(_) => Ok(()),
        None => Err(FormatError::Timestamp(s.to_string())),
    }
}

/// Checks a DNS-1123 label: only for names that become Kubernetes object names or parts of them
/// (a Cluster's name prefixes its pods, PVCs, services and secrets).
pub fn check_dns_label(s: &str) -> Result<(), FormatError> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(FormatError::DnsLabel(s.to_string()))
    }
}

/// Checks a DNS-1035 label: a DNS-1123 label that starts with a letter, as Service names must.
pub fn check_dns_1035_label(s: &str) -> Result<(), FormatError> {
    match check_dns_label(s) {
        Ok(()) if s.starts_with(|c: char| c.is_ascii_lowercase()) => Ok(()),
        _ => Err(FormatError::Dns1035Label(s.to_string())),
    }
}

/// Checks a tablespace name: CloudNativePG's rule, a plain PostgreSQL identifier that does not
/// start with `pg_`, because the name also becomes part of the tablespace's PVC names.
pub fn check_tablespace_name(s: &str) -> Result<(), FormatError> {
    let ok = s.len() <= 63
        && !s.starts_with("pg_")
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ok {
        Ok(())
    } else {
        Err(FormatError::TablespaceName(s.to_string()))
    }
}

/// Checks the name of a PostgreSQL object (database, role, owner, schema, publication,
/// subscription). pgfed quotes every name it puts in SQL, so any name PostgreSQL accepts quoted is
/// accepted: `app-two`, `Sales`, `my db`. Refused: the empty name and NUL (PostgreSQL refuses
/// them), names over 63 bytes (PostgreSQL would silently shorten them) and other control
/// characters (they would break the line-based files that carry role and database names).
pub fn check_pg_name(s: &str) -> Result<(), FormatError> {
    if s.is_empty() {
        return Err(FormatError::EmptyName);
    }
    if s.len() > 63 {
        return Err(FormatError::NameTooLong {
            name: s.to_string(),
            bytes: s.len(),
        });
    }
    if s.chars().any(char::is_control) {
        return Err(FormatError::NameControlCharacter(s.to_string()));
    }
    Ok(())
}

/// Checks a name that is used as one component of a file path or object-store prefix (an external
/// cluster's name, a Barman `serverName`): CloudNativePG's rule, no separator and no `.`/`..`, so
/// the name cannot escape its directory or land in another server's folder.
pub fn check_path_component(s: &str) -> Result<(), FormatError> {
    if s.is_empty() || s == "." || s == ".." || s.contains(['/', '\\']) {
        return Err(FormatError::PathComponent(s.to_string()));
    }
    Ok(())
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
        // CloudNativePG's five fields: seconds first, no day of week.
        assert_eq!(
            normalize_cron_schedule("0 0 0 * *"),
            Ok("0 0 0 * * *".to_string())
        );
        assert_eq!(
            normalize_cron_schedule("@every 1h"),
            Ok("@every 1h".to_string())
        );
        for s in [
            "0 0 * *",
            "0 0 0 * * * * *",
            "61 0 0 * *",
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
    fn kubernetes_names() {
        assert!(check_dns_label("cluster-example").is_ok());
        for s in ["Cluster", "-a", "a-", "", "a_b", &"a".repeat(64)] {
            assert_eq!(
                check_dns_label(s),
                Err(FormatError::DnsLabel(s.to_string()))
            );
        }
    }

    #[test]
    fn service_and_tablespace_names() {
        assert_eq!(check_dns_1035_label("pg-1"), Ok(()));
        for s in ["1pg", "Pg", "-pg", ""] {
            assert_eq!(
                check_dns_1035_label(s),
                Err(FormatError::Dns1035Label(s.to_string()))
            );
        }
        for s in ["hot_data", "Hot$2", "_t"] {
            assert_eq!(check_tablespace_name(s), Ok(()), "{s}");
        }
        for s in ["", "pg_data", "1t", "a-b", &"t".repeat(64)] {
            assert_eq!(
                check_tablespace_name(s),
                Err(FormatError::TablespaceName(s.to_string()))
            );
        }
    }

    #[test]
    fn postgres_names_are_anything_postgres_accepts_quoted() {
        for s in [
            "app_user",
            "app-two",
            "1abc",
            "Sales",
            "my db",
            "café",
            "a\"b",
            &"x".repeat(63),
        ] {
            assert_eq!(check_pg_name(s), Ok(()), "{s:?}");
        }
        assert_eq!(check_pg_name(""), Err(FormatError::EmptyName));
        let long = "é".repeat(32); // 64 bytes, 32 characters
        assert_eq!(
            check_pg_name(&long),
            Err(FormatError::NameTooLong {
                name: long.clone(),
                bytes: 64
            })
        );
        for s in ["a\0b", "a\nb", "tab\there"] {
            assert_eq!(
                check_pg_name(s),
                Err(FormatError::NameControlCharacter(s.to_string()))
            );
        }
    }

    #[test]
    fn path_components() {
        for s in ["clusterBackupSas", "pg-backup-Custom-Name", "a.b", "eu_1"] {
            assert_eq!(check_path_component(s), Ok(()), "{s}");
        }
        for s in ["", ".", "..", "a/b", "a\\b"] {
            assert_eq!(
                check_path_component(s),
                Err(FormatError::PathComponent(s.to_string()))
            );
        }
    }

    #[test]
    fn errors_have_labels() {
        assert_eq!(parse_quantity("x").map_err(|e| e.label()), Err("quantity"));
        assert_eq!(
            check_cron_schedule("* *").map_err(|e| e.label()),
            Err("cron_schedule")
        );
    }
}
