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

/// Checks one user parameter. The error says why pgfed refuses it and what to use instead.
pub fn check_user_parameter(name: &str, value: &str) -> Result<(), String> {
    let lower = name.to_ascii_lowercase();
    if OWNED_PARAMETERS.contains(&lower.as_str()) {
        let hint = match lower.as_str() {
            "synchronous_standby_names" => "; use spec.postgresql.synchronous",
            "recovery_min_apply_delay" => "; use spec.replica.minApplyDelay",
            l if l.starts_with("recovery_target") => "; use spec.bootstrap.recovery.recoveryTarget",
            _ => "",
        };
        return Err(format!(
            "{name} is managed by pgfed and cannot be set{hint}"
        ));
    }
    if lower == "wal_level" && !matches!(value, "replica" | "logical") {
        return Err(format!(
            "wal_level {value:?} is below replica: replication and archiving need replica or logical"
        ));
    }
    if !lower
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        || lower.is_empty()
    {
        return Err(format!("{name:?} is not a PostgreSQL parameter name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters() {
        assert!(check_user_parameter("shared_buffers", "256MB").is_ok());
        assert!(check_user_parameter("wal_level", "logical").is_ok());
        assert!(check_user_parameter("pg_stat_statements.max", "10000").is_ok());
        for (name, value) in [
            ("port", "5433"),
            ("PORT", "5433"),
            ("listen_addresses", "*"),
            ("archive_command", "/bin/true"),
            ("wal_level", "minimal"),
            ("primary_conninfo", "host=x"),
            ("bad name", "1"),
        ] {
            assert!(check_user_parameter(name, value).is_err(), "{name}");
        }
        let msg = check_user_parameter("synchronous_standby_names", "*").expect_err("owned");
        assert!(msg.contains("spec.postgresql.synchronous"), "{msg}");
    }
}
