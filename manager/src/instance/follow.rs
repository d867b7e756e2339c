//! Follow another primary or source: stop, reconfigure as a standby of the configured replica
//! source (its object store, and streaming when it has connection parameters), rewinding first
//! when a streaming source is available and timelines diverged. Leaves postgres stopped.

use super::{InstanceError, configure};
use crate::config::{ConfigError, ManagerConfig, PrimaryConnection};
use crate::pg::conf::Role;
use crate::pg::{controldata, ctl, io};
use crate::secrets::selector_path;
use crate::wal::restore::clear_spool;
use pgfed_api::cluster::ExternalCluster;
use std::path::{Path, PathBuf};
use std::process::Command;

/// libpq connection string for an external cluster, its TLS selectors resolved to the files
/// mounted under `secrets_dir`. Refuses `password`: the manager authenticates with client
/// certificates only and writes no password file. Pure.
pub fn conninfo(c: &ExternalCluster, secrets_dir: &Path) -> Result<String, ConfigError> {
    if c.password.is_some() {
        return Err(ConfigError::Unsupported {
            field: format!("externalClusters[{}].password", c.name),
            reason: "authenticate with sslCert and sslKey".to_string(),
        });
    }
    let file = |s: &Option<_>| s.as_ref().map(|s| selector_path(secrets_dir, s));
    Ok(conninfo_from(
        c.connection_parameters
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone())),
        [
            ("sslcert", file(&c.ssl_cert)),
            ("sslkey", file(&c.ssl_key)),
            ("sslrootcert", file(&c.ssl_root_cert)),
        ],
    ))
}

/// libpq connection string for this cluster's primary `primary`, with `{primary}` in parameter
/// values replaced by its instance name. Pure.
pub fn primary_conninfo(c: &PrimaryConnection, primary: &str) -> String {
    conninfo_from(
        c.connection_parameters
            .iter()
            .map(|(k, v)| (k.as_str(), v.replace("{primary}", primary))),
        [
            ("sslcert", c.ssl_cert.clone()),
            ("sslkey", c.ssl_key.clone()),
            ("sslrootcert", c.ssl_root_cert.clone()),
        ],
    )
}

fn conninfo_from<'a>(
    params: impl Iterator<Item = (&'a str, String)>,
    files: [(&str, Option<PathBuf>); 3],
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
    let role = configure::standby_role(cfg, None)?;
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
    use pgfed_api::k8s_openapi::api::core::v1::SecretKeySelector;

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

    fn selector(name: &str, key: &str) -> Option<SecretKeySelector> {
        Some(SecretKeySelector {
            name: name.into(),
            key: key.into(),
            ..Default::default()
        })
    }

    #[test]
    fn conninfo_quotes_values_and_finds_tls_files_among_the_secrets() {
        let mut c = ExternalCluster {
            name: "a".into(),
            ssl_cert: selector("replication", "tls.crt"),
            ssl_key: selector("replication", "tls.key"),
            ssl_root_cert: selector("a-ca", "ca.crt"),
            ..Default::default()
        };
        c.connection_parameters
            .insert("host".into(), "10.0.0.1".into());
        c.connection_parameters
            .insert("application_name".into(), "my app".into());
        assert_eq!(
            conninfo(&c, Path::new("/etc/pgfed/secrets")).expect("conninfo"),
            "application_name='my app' host=10.0.0.1 \
             sslcert=/etc/pgfed/secrets/replication/tls.crt \
             sslkey=/etc/pgfed/secrets/replication/tls.key \
             sslrootcert=/etc/pgfed/secrets/a-ca/ca.crt"
        );
    }

    #[test]
    fn conninfo_refuses_a_password() {
        let c = ExternalCluster {
            name: "far".into(),
            password: selector("far-pw", "password"),
            ..Default::default()
        };
        let err = conninfo(&c, Path::new("/s")).expect_err("password refused");
        assert!(
            err.to_string().contains("externalClusters[far].password"),
            "{err}"
        );
    }
}
