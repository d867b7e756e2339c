//! postgresql.conf rendering: pgfed's defaults, then the user's parameters, then the parameters
//! pgfed owns (refusing a user value for one of those), plus the role file that says whether this
//! instance is a primary, a standby of an object store or of a server, or recovering to a target.

use crate::config::ManagerConfig;
use pgfed_api::cluster::RecoveryTarget;
use std::collections::BTreeMap;
use std::path::Path;

/// The include file holding role-specific settings, rewritten on every role change.
pub const ROLE_CONF: &str = "pgfed_role.conf";

/// Defaults the user may override.
const DEFAULTS: &[(&str, &str)] = &[
    ("archive_timeout", "5min"),
    ("dynamic_shared_memory_type", "posix"),
    ("max_replication_slots", "32"),
    ("max_wal_senders", "10"),
    ("max_worker_processes", "32"),
    ("shared_memory_type", "mmap"),
    ("wal_keep_size", "512MB"),
    ("wal_receiver_timeout", "5s"),
    // How long a standby waits before it tries again to stream (or restore) WAL after a failure.
    // PostgreSQL's 5 s is paid by every standby at each change of primary (its upstream went
    // away, or ended its timeline), and with synchronous replication a commit on the new primary
    // waits for it; 1 s keeps a restore_command at one call a second while nothing is there.
    ("wal_retrieve_retry_interval", "1s"),
    ("wal_sender_timeout", "5s"),
    // Logical so Publications work without a restart; users may lower it to replica, never to
    // minimal (refused by pgfed_api::postgres_params).
    ("wal_level", "logical"),
];

/// A user parameter that pgfed cannot accept.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfError {
    /// The parameter is refused; the rule is `pgfed_api::postgres_params`, shared with admission.
    #[error("postgresql.parameters.{name}: {reason}; remove it from the Cluster spec")]
    Refused {
        /// The parameter as the user wrote it.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// A `postgresql` field the Cluster API has but the manager does not implement yet; refused
    /// so that postgres never runs without a setting the user asked for.
    #[error(
        "postgresql.{field} is not supported by the instance manager yet; remove it from the Cluster spec"
    )]
    Unsupported {
        /// The field's name under `postgresql`.
        field: &'static str,
    },
    /// A Cluster field outside `postgresql` that the manager turns into a parameter is invalid
    /// (admission refuses it too; a file written by hand may not have gone through it).
    #[error("{field}: {reason}; fix it in the Cluster spec")]
    Invalid {
        /// The field's path in the Cluster spec.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

/// Quotes a value for postgresql.conf.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// Reverses [`quote`]; `None` for anything [`quote`] cannot have written. Pure.
pub fn unquote(v: &str) -> Option<String> {
    let inner = v.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' if chars.next() == Some('\'') => out.push('\''),
            '\\' if chars.next() == Some('\\') => out.push('\\'),
            '\'' | '\\' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// The `primary_conninfo` a role file written by [`render_role_conf`] sets, if any. Pure.
pub fn role_conf_primary_conninfo(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("primary_conninfo = "))
        .and_then(unquote)
}

/// The archive and restore commands calling this very binary with this configuration file.
pub fn wal_commands(
    manager: &Path,
    config_file: &Path,
    restore_from: Option<&str>,
) -> (String, String) {
    let exe = shell_word(&manager.display().to_string());
    let cfg = shell_word(&config_file.display().to_string());
    let from = restore_from
        .map(|f| format!(" --from {}", shell_word(f)))
        .unwrap_or_default();
    (
        format!("{exe} wal-archive --config {cfg} %p"),
        format!("{exe} wal-restore --config {cfg}{from} %f %p"),
    )
}

/// `recovery_min_apply_delay` in milliseconds: `replica.minApplyDelay` (a Go duration, `1h30m`)
/// while this is a replica cluster, else 0.
fn min_apply_delay(cfg: &ManagerConfig) -> Result<String, ConfError> {
    let delay = cfg
        .replica
        .as_ref()
        .filter(|_| cfg.is_replica_cluster())
        .and_then(|r| r.min_apply_delay.as_deref());
    let Some(delay) = delay else {
        return Ok("0".to_string());
    };
    let parsed =
        pgfed_api::validation::formats::parse_duration(delay).map_err(|e| ConfError::Invalid {
            field: "spec.replica.minApplyDelay",
            reason: e.to_string(),
        })?;
    Ok(format!("{}ms", parsed.as_millis()))
}

/// The archive command `archive` (from [`wal_commands`]) made to acknowledge without uploading:
/// see [`ManagerConfig::leaves_archiving_to_the_primary`]. Pure.
pub fn skipping(archive: &str) -> String {
    archive.replacen(" wal-archive ", &format!(" wal-archive {SKIP_FLAG} "), 1)
}

/// Whether the archive command `archive` acknowledges without uploading. Pure.
pub fn archive_command_skips(archive: &str) -> bool {
    archive.contains(&format!(" wal-archive {SKIP_FLAG} "))
}

/// The flag of `wal-archive` that acknowledges without uploading.
const SKIP_FLAG: &str = "--skip";

fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-=:".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Merges defaults, user parameters and owned parameters (with the replication slots' ones, see
/// [`crate::slots::parameters`]). Pure apart from reading `PG_VERSION` in the data directory.
pub fn render_parameters(
    cfg: &ManagerConfig,
    manager: &Path,
    config_file: &Path,
) -> Result<BTreeMap<String, String>, ConfError> {
    let pg = &cfg.postgresql;
    if pg.ldap.is_some() {
        return Err(ConfError::Unsupported { field: "ldap" });
    }
    let mut out: BTreeMap<String, String> = DEFAULTS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in &cfg.postgresql.parameters {
        pgfed_api::postgres_params::check_user_parameter(k, v).map_err(|reason| {
            ConfError::Refused {
                name: k.clone(),
                reason: reason.to_string(),
            }
        })?;
        out.insert(k.to_ascii_lowercase(), v.clone());
    }
    // `postgresql.shared_preload_libraries` adds to whatever the parameter itself lists, in order,
    // each library once (CloudNativePG's rule).
    if !pg.shared_preload_libraries.is_empty() {
        let mut libraries: Vec<String> = out
            .get("shared_preload_libraries")
            .map(|v| {
                v.split(',')
                    .map(|l| l.trim().trim_matches('"').to_string())
                    .filter(|l| !l.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        for l in &pg.shared_preload_libraries {
            if !libraries.contains(l) {
                libraries.push(l.clone());
            }
        }
        out.insert("shared_preload_libraries".into(), libraries.join(","));
    }
    let (archive, restore) = wal_commands(manager, config_file, None);
    let archive = if cfg.leaves_archiving_to_the_primary() {
        skipping(&archive)
    } else {
        archive
    };
    // With no object store to replay from, a standby streams only: a restore_command would fail
    // for every file recovery asks for, filling the log with errors.
    let restore = if cfg.restore_store(None).is_ok() {
        restore
    } else {
        String::new()
    };
    let owned = [
        ("listen_addresses", "*".to_string()),
        ("port", cfg.port.to_string()),
        (
            "unix_socket_directories",
            cfg.socket_dir.display().to_string(),
        ),
        ("cluster_name", cfg.cluster_name.clone()),
        // pg_rewind needs hint bits WAL-logged; torn pages must never be possible.
        ("wal_log_hints", "on".to_string()),
        ("full_page_writes", "on".to_string()),
        ("hot_standby", "on".to_string()),
        // Backups store archived WAL; with no object store, archiving would only fill pg_wal.
        ("archive_mode", cfg.archive_mode().to_string()),
        // `replica.minApplyDelay` on every instance of a replica cluster (a cascading standby
        // receives WAL as soon as its designated primary does); none elsewhere.
        ("recovery_min_apply_delay", min_apply_delay(cfg)?),
        ("archive_command", archive),
        ("restore_command", restore),
        ("recovery_target_timeline", "latest".to_string()),
        ("logging_collector", "on".to_string()),
        ("log_destination", "jsonlog".to_string()),
        ("log_directory", "log".to_string()),
        ("log_filename", "postgres".to_string()),
        ("log_rotation_age", "0".to_string()),
        ("log_rotation_size", "0".to_string()),
        ("log_truncate_on_rotation", "false".to_string()),
        // The operator's choice, on every role: only a primary's commits wait for it (recovery
        // ignores it), and a primary told to step down, or cut off and told so, keeps waiting for
        // its synchronous standbys until it has stopped, so no commit is acknowledged unprotected
        // in between. A promoted standby enforces it at once; the operator then pushes the value
        // chosen for it.
        (
            "synchronous_standby_names",
            cfg.synchronous_standby_names.clone().unwrap_or_default(),
        ),
    ];
    for (k, v) in owned {
        out.insert(k.to_string(), v);
    }
    let major = crate::slots::data_major_version(&cfg.pgdata);
    for (k, v) in crate::slots::parameters(cfg, major) {
        out.insert(k.to_string(), v);
    }
    if let Some(certs) = &cfg.certificates {
        out.insert("ssl".into(), "on".into());
        out.insert(
            "ssl_cert_file".into(),
            certs.server_cert.display().to_string(),
        );
        out.insert(
            "ssl_key_file".into(),
            certs.server_key.display().to_string(),
        );
        out.insert("ssl_ca_file".into(), certs.client_ca.display().to_string());
    }
    Ok(out)
}

/// The text of postgresql.conf. Pure.
pub fn render_postgresql_conf(params: &BTreeMap<String, String>) -> String {
    let mut s = String::from("# Written by the pgfed instance manager; edits are overwritten.\n");
    for (k, v) in params {
        s.push_str(&format!("{k} = {}\n", quote(v)));
    }
    s.push_str(&format!("include_if_exists = {}\n", quote(ROLE_CONF)));
    s
}

/// What the role file should make this instance.
#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    /// A primary: nothing to add.
    Primary,
    /// A standby replaying from an object store (`restore_from`, an external cluster name) and/or
    /// streaming from `primary_conninfo`.
    Standby {
        /// External cluster whose object store has the WAL; `None` uses the configuration's rule.
        restore_from: Option<String>,
        /// libpq connection string of the upstream server.
        primary_conninfo: Option<String>,
    },
    /// Point-in-time recovery from an external cluster's archive, then promotion.
    Recovery {
        /// External cluster holding the WAL.
        restore_from: String,
        /// Where to stop.
        target: Option<RecoveryTarget>,
    },
}

/// The role file's text. Pure. `can_restore`: an object store holds the WAL a standby would
/// restore; without one it streams only, since a restore_command would fail (and log an error)
/// for every file recovery asks for.
pub fn render_role_conf(
    role: &Role,
    manager: &Path,
    config_file: &Path,
    can_restore: bool,
) -> String {
    let mut lines =
        vec!["# Written by the pgfed instance manager; edits are overwritten.".to_string()];
    let mut set = |k: &str, v: &str| lines.push(format!("{k} = {}", quote(v)));
    match role {
        Role::Primary => {}
        Role::Standby {
            restore_from,
            primary_conninfo,
        } => {
            if can_restore {
                let (_, restore) = wal_commands(manager, config_file, restore_from.as_deref());
                set("restore_command", &restore);
            }
            if let Some(conninfo) = primary_conninfo {
                set("primary_conninfo", conninfo);
            }
        }
        Role::Recovery {
            restore_from,
            target,
        } => {
            let (_, restore) = wal_commands(manager, config_file, Some(restore_from));
            set("restore_command", &restore);
            set("recovery_target_action", "promote");
            if let Some(t) = target {
                for (k, v) in recovery_target_parameters(t) {
                    set(k, &v);
                }
            }
        }
    }
    lines.join("\n") + "\n"
}

/// Maps a `recoveryTarget` to PostgreSQL's recovery parameters. Pure.
pub fn recovery_target_parameters(t: &RecoveryTarget) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(tli) = &t.target_tli {
        out.push(("recovery_target_timeline", tli.clone()));
    }
    if t.target_immediate == Some(true) {
        out.push(("recovery_target", "immediate".to_string()));
    } else if let Some(v) = &t.target_xid {
        out.push(("recovery_target_xid", v.clone()));
    } else if let Some(v) = &t.target_name {
        out.push(("recovery_target_name", v.clone()));
    } else if let Some(v) = &t.target_lsn {
        out.push(("recovery_target_lsn", v.clone()));
    } else if let Some(v) = &t.target_time {
        out.push(("recovery_target_time", v.clone()));
    }
    if t.exclusive == Some(true) {
        out.push(("recovery_target_inclusive", "false".to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standby_without_an_object_store_gets_no_restore_command() {
        let role = Role::Standby {
            restore_from: None,
            primary_conninfo: Some("host=pg-1".into()),
        };
        let (m, f) = (Path::new("/m"), Path::new("/c"));
        assert!(render_role_conf(&role, m, f, true).contains("restore_command = "));
        let streaming_only = render_role_conf(&role, m, f, false);
        assert!(
            !streaming_only.contains("restore_command"),
            "{streaming_only}"
        );
        assert!(streaming_only.contains("primary_conninfo = 'host=pg-1'"));
    }

    #[test]
    fn role_file_primary_conninfo_reads_back() {
        for conninfo in [
            "host=pg-1 port=5432",
            "application_name='my app' sslkey=/a\\b",
            "",
        ] {
            let text = render_role_conf(
                &Role::Standby {
                    restore_from: None,
                    primary_conninfo: Some(conninfo.to_string()),
                },
                Path::new("/controller/manager"),
                Path::new("/etc/pgfed/config.json"),
                true,
            );
            assert_eq!(
                role_conf_primary_conninfo(&text).as_deref(),
                Some(conninfo),
                "{text}"
            );
        }
        assert_eq!(role_conf_primary_conninfo("restore_command = 'x'\n"), None);
        for bad in ["'a'b'", "'a\\b'", "no quotes"] {
            assert_eq!(unquote(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_replica_topology_archives_always_and_only_the_target_primary_uploads() {
        let m = Path::new("/controller/manager");
        let f = Path::new("/c.json");
        let store = "backup: {barmanObjectStore: {destinationPath: 's3://b/'}}\n";
        let topology = "replica: {primary: a, source: b}\n";
        let replica = "replica: {enabled: true, source: b, minApplyDelay: 1h30m}\n";
        let uploads = "/controller/manager wal-archive --config /c.json %p";
        let skips = "/controller/manager wal-archive --skip --config /c.json %p";
        // (file, instance, target primary) → archive_mode, archive_command, delay
        let cases = [
            ("", "a-1", "a-1", "off", uploads, "0"),
            (store, "a-1", "a-1", "on", uploads, "0"),
            (store, "a-2", "a-1", "on", uploads, "0"),
            // the primary cluster of a topology: always, so promotion and demotion need no
            // restart; its standbys acknowledge without uploading
            (
                &format!("{store}{topology}"),
                "a-1",
                "a-1",
                "always",
                uploads,
                "0",
            ),
            (
                &format!("{store}{topology}"),
                "a-2",
                "a-1",
                "always",
                skips,
                "0",
            ),
            // a delayed replica cluster: its designated primary uploads, every instance delays
            (
                &format!("{store}{replica}"),
                "a-1",
                "a-1",
                "always",
                uploads,
                "5400000ms",
            ),
            (
                &format!("{store}{replica}"),
                "a-2",
                "a-1",
                "always",
                skips,
                "5400000ms",
            ),
        ];
        for (file, me, target, mode, command, delay) in cases {
            let c = ManagerConfig::parse(&format!(
                "clusterName: a\ninstanceName: {me}\npgdata: /d\ntargetPrimary: {target}\n{file}"
            ))
            .expect("config");
            let p = render_parameters(&c, m, f).expect("parameters");
            assert_eq!(p["archive_mode"], mode, "{file} {me}");
            assert_eq!(p["archive_command"], command, "{file} {me}");
            assert_eq!(archive_command_skips(command), command == skips);
            assert_eq!(p["recovery_min_apply_delay"], delay, "{file} {me}");
        }
        let c = ManagerConfig::parse(
            "clusterName: a\npgdata: /d\nreplica: {enabled: true, source: b, minApplyDelay: soon}\n",
        )
        .expect("config");
        let err = render_parameters(&c, m, f).expect_err("bad delay");
        assert!(
            err.to_string().contains("spec.replica.minApplyDelay"),
            "{err}"
        );
    }

    fn cfg(params: &[(&str, &str)]) -> ManagerConfig {
        let mut c = ManagerConfig {
            cluster_name: "a".into(),
            port: 5433,
            ..Default::default()
        };
        for (k, v) in params {
            c.postgresql.parameters.insert(k.to_string(), v.to_string());
        }
        c
    }

    #[test]
    fn user_values_override_defaults_and_owned_values_are_refused() {
        let m = Path::new("/controller/manager");
        let f = Path::new("/etc/pgfed/config.json");
        let p = render_parameters(
            &cfg(&[("archive_timeout", "60s"), ("shared_buffers", "256MB")]),
            m,
            f,
        )
        .expect("ok");
        assert_eq!(p["archive_timeout"], "60s");
        assert_eq!(p["shared_buffers"], "256MB");
        assert_eq!(p["port"], "5433");
        assert_eq!(
            p["archive_command"],
            "/controller/manager wal-archive --config /etc/pgfed/config.json %p"
        );
        // no object store: nothing to restore from, streaming only
        assert_eq!(p["restore_command"], "");
        assert_eq!(p["archive_mode"], "off");
        for owned in [
            "archive_command",
            "Port",
            "restore_command",
            "full_page_writes",
        ] {
            let err = render_parameters(&cfg(&[(owned, "x")]), m, f).expect_err(owned);
            assert!(matches!(&err, ConfError::Refused { name, .. } if name == owned));
            assert!(err.to_string().contains("managed by pgfed"), "{err}");
        }
        let err = render_parameters(&cfg(&[("wal_level", "minimal")]), m, f).expect_err("minimal");
        assert!(err.to_string().contains("below replica"), "{err}");
        let p =
            render_parameters(&cfg(&[("wal_level", "replica")]), m, f).expect("replica is allowed");
        assert_eq!(p["wal_level"], "replica");
        assert_eq!(p["full_page_writes"], "on");
        assert!(matches!(
            render_parameters(&cfg(&[("a b", "1")]), m, f),
            Err(ConfError::Refused { .. })
        ));
    }

    #[test]
    fn shared_preload_libraries_field_adds_to_the_parameter() {
        let m = Path::new("/controller/manager");
        let f = Path::new("/etc/pgfed/config.json");
        // (parameters, the shared_preload_libraries field, the rendered parameter)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], Option<&'a str>);
        let cases: [Case; 4] = [
            (&[], &[], None),
            (&[], &["pg_stat_statements"], Some("pg_stat_statements")),
            (
                &[(
                    "shared_preload_libraries",
                    "auto_explain, pg_stat_statements",
                )],
                &["pg_stat_statements", "pgaudit"],
                Some("auto_explain,pg_stat_statements,pgaudit"),
            ),
            (
                &[("shared_preload_libraries", "auto_explain")],
                &[],
                Some("auto_explain"),
            ),
        ];
        for (params, field, want) in cases {
            let mut c = cfg(params);
            c.postgresql.shared_preload_libraries = field.iter().map(|l| l.to_string()).collect();
            let out = render_parameters(&c, m, f).expect("renders");
            assert_eq!(
                out.get("shared_preload_libraries").map(String::as_str),
                want,
                "{params:?} {field:?}"
            );
        }
    }

    #[test]
    fn unimplemented_postgresql_fields_are_refused_by_name() {
        let m = Path::new("/controller/manager");
        let f = Path::new("/etc/pgfed/config.json");
        let mut c = cfg(&[]);
        c.postgresql.ldap = Some(Default::default());
        let err = render_parameters(&c, m, f).expect_err("ldap");
        assert!(err.to_string().contains("postgresql.ldap"), "{err}");
    }

    #[test]
    fn the_synchronous_standby_names_are_the_operators() {
        let m = Path::new("/controller/manager");
        let f = Path::new("/etc/pgfed/config.json");
        let mut c = cfg(&[]);
        c.postgresql.synchronous = Some(Default::default());
        let p = render_parameters(&c, m, f).expect("synchronous is implemented");
        assert_eq!(
            p["synchronous_standby_names"], "",
            "none chosen: asynchronous"
        );
        c.synchronous_standby_names = Some("ANY 1 (\"pg-2\",\"pg-3\")".into());
        let p = render_parameters(&c, m, f).expect("renders");
        assert_eq!(p["synchronous_standby_names"], "ANY 1 (\"pg-2\",\"pg-3\")");
        assert!(
            render_postgresql_conf(&p)
                .contains("synchronous_standby_names = 'ANY 1 (\"pg-2\",\"pg-3\")'\n")
        );
        // The role file never overrides it: a primary about to step down keeps waiting.
        for role in [
            Role::Primary,
            Role::Standby {
                restore_from: None,
                primary_conninfo: Some("host=pg-1".into()),
            },
        ] {
            assert!(!render_role_conf(&role, m, f, true).contains("synchronous_standby_names"));
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(quote(r"a\b"), r"'a\\b'");
        let (_, restore) = wal_commands(
            Path::new("/my dir/manager"),
            Path::new("/c.json"),
            Some("b"),
        );
        assert_eq!(
            restore,
            "'/my dir/manager' wal-restore --config /c.json --from b %f %p"
        );
    }

    #[test]
    fn recovery_targets() {
        let t = |f: fn(&mut RecoveryTarget)| {
            let mut t = RecoveryTarget::default();
            f(&mut t);
            recovery_target_parameters(&t)
        };
        assert_eq!(
            t(|t| t.target_immediate = Some(true)),
            vec![("recovery_target", "immediate".into())]
        );
        assert_eq!(
            t(|t| t.target_xid = Some("742".into())),
            vec![("recovery_target_xid", "742".into())]
        );
        assert_eq!(
            t(|t| {
                t.target_lsn = Some("0/3000000".into());
                t.exclusive = Some(true);
                t.target_tli = Some("2".into());
            }),
            vec![
                ("recovery_target_timeline", "2".into()),
                ("recovery_target_lsn", "0/3000000".into()),
                ("recovery_target_inclusive", "false".into())
            ]
        );
        assert_eq!(
            t(|t| t.target_name = Some("before".into())),
            vec![("recovery_target_name", "before".into())]
        );
        assert_eq!(
            t(|t| t.target_time = Some("2026-11-20 22:00:00+00".into())),
            vec![("recovery_target_time", "2026-11-20 22:00:00+00".into())]
        );
        let role = Role::Recovery {
            restore_from: "origin".into(),
            target: None,
        };
        let text = render_role_conf(&role, Path::new("/m"), Path::new("/c"), true);
        assert!(
            text.contains("restore_command = '/m wal-restore --config /c --from origin %f %p'"),
            "{text}"
        );
        assert!(text.contains("recovery_target_action = 'promote'"));
    }
}
