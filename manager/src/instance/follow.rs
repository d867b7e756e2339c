//! Follow another primary or source: stop, reconfigure as a standby of the configured replica
//! source (its object store, and streaming when it has connection parameters), rewinding first
//! when a streaming source is available and timelines diverged. Leaves postgres stopped.

use super::{InstanceError, configure};
use crate::config::{ExternalCluster, ManagerConfig, PrimaryConnection};
use crate::pg::conf::Role;
use crate::pg::{controldata, ctl, io};
use crate::wal::restore::clear_spool;
use std::path::Path;
use std::process::Command;

/// libpq connection string for an external cluster. Pure.
pub fn conninfo(c: &ExternalCluster) -> String {
    conninfo_from(
        c.connection_parameters
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone())),
        [
            ("sslcert", &c.ssl_cert),
            ("sslkey", &c.ssl_key),
            ("sslrootcert", &c.ssl_root_cert),
        ],
    )
}

/// libpq connection string for this cluster's primary `primary`, with `{primary}` in parameter
/// values replaced by its instance name. Pure.
pub fn primary_conninfo(c: &PrimaryConnection, primary: &str) -> String {
    conninfo_from(
        c.connection_parameters
            .iter()
            .map(|(k, v)| (k.as_str(), v.replace("{primary}", primary))),
        [
            ("sslcert", &c.ssl_cert),
            ("sslkey", &c.ssl_key),
            ("sslrootcert", &c.ssl_root_cert),
        ],
    )
}

fn conninfo_from<'a>(
    params: impl Iterator<Item = (&'a str, String)>,
    files: [(&str, &Option<std::path::PathBuf>); 3],
) -> String {
    let mut parts: Vec<String> = params
        .map(|(k, v)| format!("{k}={}", quote_conninfo(&v)))
        .collect();
    for (k, v) in files {
        if let Some(p) = v {
            parts.push(format!("{k}={}", quote_conninfo(&p.display().to_string())));
        }
    }
    parts.join(" ")
}

fn quote_conninfo(v: &str) -> String {
    if !v.is_empty()
        && v.chars()
            .all(|c| !c.is_whitespace() && c != '\'' && c != '\\')
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// Reconfigures the local instance as a standby of `cfg.replica.source`.
pub fn follow(cfg: &ManagerConfig, config_file: &Path) -> Result<(), InstanceError> {
    ctl::stop(cfg, ctl::StopMode::Fast, 600)?;
    let role = configure::standby_role(cfg, None);
    if let Role::Standby {
        primary_conninfo: Some(conninfo),
        ..
    } = &role
    {
        rewind_if_needed(cfg, conninfo)?;
    }
    clear_spool(cfg).map_err(io("clearing the WAL spool"))?;
    configure::write_all(cfg, config_file, &role)?;
    Ok(())
}

/// Whether a data directory in this pg_controldata state was last running as a primary, so it
/// may hold WAL its new primary never saw and must go through pg_rewind before it can follow.
/// A base backup not yet started also reads "in production" (the state copied from its source),
/// but its `backup_label` gives it away: it has never run, so there is nothing to rewind. Pure.
pub fn was_primary(state: &str, has_backup_label: bool) -> bool {
    !has_backup_label && matches!(state, "in production" | "shut down" | "in crash recovery")
}

/// Runs pg_rewind against the streaming source when this instance was a primary; pg_rewind
/// itself decides whether timelines diverged ("no rewind required" otherwise) and first finishes
/// crash recovery when the old primary was not shut down cleanly.
pub fn rewind_if_needed(cfg: &ManagerConfig, conninfo: &str) -> Result<(), InstanceError> {
    let cd = controldata::read(&cfg.pg_bindir, &cfg.pgdata)?;
    if !was_primary(cd.state()?, cfg.pgdata.join("backup_label").exists()) {
        return Ok(());
    }
    // pg_rewind finishes an interrupted primary's crash recovery in single-user mode, which
    // refuses to run with a standby signal. Callers write the role files again afterwards,
    // whether pg_rewind succeeded or not.
    for signal in ["standby.signal", "recovery.signal"] {
        let path = cfg.pgdata.join(signal);
        if path.exists() {
            std::fs::remove_file(&path).map_err(io(format!("removing {}", path.display())))?;
        }
    }
    let mut cmd = Command::new(ctl::program(cfg, "pg_rewind"));
    cmd.arg("--target-pgdata")
        .arg(&cfg.pgdata)
        .arg(format!("--source-server={conninfo} dbname=postgres"))
        .arg("--progress")
        .env("LC_ALL", "C");
    let output = ctl::run(cmd)?;
    tracing::info!(%output, "pg_rewind finished");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_conninfo_names_the_target() {
        let mut c = PrimaryConnection::default();
        c.connection_parameters
            .insert("host".into(), "{primary}.pg-headless".into());
        c.connection_parameters
            .insert("user".into(), "streaming_replica".into());
        c.ssl_root_cert = Some("/certs/ca.crt".into());
        assert_eq!(
            primary_conninfo(&c, "pg-2"),
            "host=pg-2.pg-headless user=streaming_replica sslrootcert=/certs/ca.crt"
        );
    }

    #[test]
    fn only_former_primaries_are_rewound() {
        for (state, backup_label, want) in [
            ("in production", false, true),
            ("shut down", false, true),
            ("in crash recovery", false, true),
            ("shut down in recovery", false, false),
            ("in archive recovery", false, false),
            // A fresh pg_basebackup copy carries its source's state and a backup_label.
            ("in production", true, false),
        ] {
            assert_eq!(
                was_primary(state, backup_label),
                want,
                "{state} {backup_label}"
            );
        }
    }

    #[test]
    fn conninfo_quotes_values() {
        let mut c = ExternalCluster {
            name: "a".into(),
            ..Default::default()
        };
        c.connection_parameters
            .insert("host".into(), "10.0.0.1".into());
        c.connection_parameters
            .insert("application_name".into(), "my app".into());
        c.ssl_cert = Some("/certs/tls.crt".into());
        assert_eq!(
            conninfo(&c),
            "application_name='my app' host=10.0.0.1 sslcert=/certs/tls.crt"
        );
    }
}
