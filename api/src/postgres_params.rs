//! Which postgresql.conf parameters pgfed owns, and the rule a user-supplied parameter must meet.
//! Shared by admission validation and the instance manager, which refuses the same values.

/// Parameters the instance manager sets itself; a user value would break replication, archiving,
/// TLS or the pod layout, so it is refused rather than silently overridden.
pub const OWNED_PARAMETERS: &[&str] = &[
    "archive_command",
    "archive_library",
    "archive_mode",
    "cluster_name",
    "config_file",
    "data_directory",
    "external_pid_file",
    "full_page_writes",
    "hba_file",
    "hot_standby",
    "ident_file",
    "listen_addresses",
    "log_destination",
    "log_directory",
    "log_file_mode",
    "log_filename",
    "log_rotation_age",
    "log_rotation_size",
    "log_truncate_on_rotation",
    "logging_collector",
    "port",
    "primary_conninfo",
    "primary_slot_name",
    "promote_trigger_file",
    "recovery_end_command",
    "recovery_min_apply_delay",
    "recovery_target",
    "recovery_target_action",
    "recovery_target_inclusive",
    "recovery_target_lsn",
    "recovery_target_name",
    "recovery_target_time",
    "recovery_target_timeline",
    "recovery_target_xid",
    "restore_command",
    "ssl",
    "ssl_ca_file",
    "ssl_cert_file",
    "ssl_crl_file",
    "ssl_key_file",
    "synchronous_standby_names",
    "unix_socket_directories",
    "unix_socket_group",
    "unix_socket_permissions",
    "wal_log_hints",
];

/// Owned parameters that pgfed always sets to `on`: a user value of `on` (or another spelling of
/// true) repeats pgfed's own and is accepted, as CloudNativePG accepts a fixed parameter set to
/// the value it would use anyway. `off` is refused: pg_rewind needs `wal_log_hints`, torn pages
/// after a crash need `full_page_writes`, standbys serve reads with `hot_standby`, and the
/// instance manager reads postgres' log through `logging_collector`.
const ALWAYS_ON: &[&str] = &[
    "full_page_writes",
    "hot_standby",
    "logging_collector",
    "wal_log_hints",
];

/// Why a user parameter is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParameterError {
    /// pgfed sets this parameter itself.
    #[error("{name} is managed by pgfed and cannot be set{hint}")]
    Owned {
        /// The parameter as the user wrote it.
        name: String,
        /// Where to set the same thing instead (starting with "; "), or empty.
        hint: &'static str,
    },
    /// `wal_level` below replica.
    #[error("wal_level {0:?} is below replica: replication and archiving need replica or logical")]
    WalLevelBelowReplica(String),
    /// Not a name postgresql.conf can hold.
    #[error(
        "{0:?} is not a PostgreSQL parameter name: a GUC name, optionally with one '.' (e.g. pg_stat_statements.max)"
    )]
    NotAName(String),
}

impl ParameterError {
    /// A short, stable label for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            ParameterError::Owned { .. } => "owned_parameter",
            ParameterError::WalLevelBelowReplica(_) => "wal_level",
            ParameterError::NotAName(_) => "parameter_name",
        }
    }
}

/// Whether `name` is a configuration parameter name: `[A-Za-z_][A-Za-z0-9_$]*`, optionally twice
/// joined by one dot for an extension's parameter (the lexer of postgresql.conf; keys are written
/// to the file verbatim, so anything else could inject a directive).
fn is_parameter_name(name: &str) -> bool {
    let part = |p: &str| {
        p.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    match name.split_once('.') {
        Some((extension, parameter)) => part(extension) && part(parameter),
        None => part(name),
    }
}

/// PostgreSQL's boolean spellings (`on`, `true`, `yes`, `1` and unique prefixes); `None` when
/// the value is not a boolean.
fn parse_bool(value: &str) -> Option<bool> {
    let v = value.trim().to_ascii_lowercase();
    match v.as_str() {
        "" | "o" => None,
        "1" | "on" => Some(true),
        "0" | "of" | "off" => Some(false),
        _ if "true".starts_with(&v) || "yes".starts_with(&v) => Some(true),
        _ if "false".starts_with(&v) || "no".starts_with(&v) => Some(false),
        _ => None,
    }
}

/// Checks one user parameter. The error says why pgfed refuses it and what to use instead.
pub fn check_user_parameter(name: &str, value: &str) -> Result<(), ParameterError> {
    if !is_parameter_name(name) {
        return Err(ParameterError::NotAName(name.to_string()));
    }
    let lower = name.to_ascii_lowercase();
    if ALWAYS_ON.contains(&lower.as_str()) && parse_bool(value) == Some(true) {
        return Ok(());
    }
    if OWNED_PARAMETERS.contains(&lower.as_str()) {
        let hint = match lower.as_str() {
            "synchronous_standby_names" => "; use spec.postgresql.synchronous",
            "recovery_min_apply_delay" => "; use spec.replica.minApplyDelay",
            l if l.starts_with("recovery_target") => "; use spec.bootstrap.recovery.recoveryTarget",
            l if ALWAYS_ON.contains(&l) => " to anything but on",
            _ => "",
        };
        return Err(ParameterError::Owned {
            name: name.to_string(),
            hint,
        });
    }
    // Enum values are case-insensitive in postgresql.conf, as names are.
    if lower == "wal_level" && !matches!(value.to_ascii_lowercase().as_str(), "replica" | "logical")
    {
        return Err(ParameterError::WalLevelBelowReplica(value.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters() {
        for (name, value) in [
            ("shared_buffers", "256MB"),
            ("wal_level", "logical"),
            ("WAL_LEVEL", "Replica"),
            ("pg_stat_statements.max", "10000"),
            ("pg_stat_statements.track", "all"),
            ("auto_explain.log_min_duration", "10s"),
            ("custom$var", "1"),
            // pgfed's own value, repeated: CloudNativePG manifests often carry these.
            ("wal_log_hints", "on"),
            ("full_page_writes", "true"),
            ("hot_standby", "ON"),
        ] {
            assert_eq!(check_user_parameter(name, value), Ok(()), "{name}");
        }
        for (name, value, label) in [
            ("port", "5433", "owned_parameter"),
            ("PORT", "5433", "owned_parameter"),
            ("listen_addresses", "*", "owned_parameter"),
            ("archive_command", "/bin/true", "owned_parameter"),
            ("primary_conninfo", "host=x", "owned_parameter"),
            ("wal_log_hints", "off", "owned_parameter"),
            ("full_page_writes", "no", "owned_parameter"),
            ("wal_level", "minimal", "wal_level"),
            ("bad name", "1", "parameter_name"),
            ("1abc", "1", "parameter_name"),
            ("a..b", "1", "parameter_name"),
            ("a.b.c", "1", "parameter_name"),
            ("x\ninclude", "1", "parameter_name"),
        ] {
            let err = check_user_parameter(name, value).expect_err(name);
            assert_eq!(err.label(), label, "{name}: {err}");
        }
        let msg = check_user_parameter("synchronous_standby_names", "*")
            .expect_err("owned")
            .to_string();
        assert!(msg.contains("spec.postgresql.synchronous"), "{msg}");
    }

    #[test]
    fn booleans() {
        for (v, want) in [
            ("on", Some(true)),
            ("t", Some(true)),
            ("YES", Some(true)),
            ("1", Some(true)),
            ("off", Some(false)),
            ("f", Some(false)),
            ("o", None),
            ("maybe", None),
        ] {
            assert_eq!(parse_bool(v), want, "{v}");
        }
    }
}
