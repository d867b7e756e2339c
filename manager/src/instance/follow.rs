//! Follow another primary or source: stop, reconfigure as a standby of the configured replica
//! source (its object store, and streaming when it has connection parameters), rewinding first
//! when a streaming source is available and timelines diverged. Leaves postgres stopped.

use super::{InstanceError, configure};
use crate::config::{ExternalCluster, ManagerConfig};
use crate::pg::conf::Role;
use crate::pg::{controldata, ctl, io};
use crate::wal::restore::clear_spool;
use std::path::Path;
use std::process::Command;

/// libpq connection string for an external cluster. Pure.
pub fn conninfo(c: &ExternalCluster) -> String {
    let mut parts: Vec<String> = c
        .connection_parameters
        .iter()
        .map(|(k, v)| format!("{k}={}", quote_conninfo(v)))
        .collect();
    for (k, v) in [
        ("sslcert", &c.ssl_cert),
        ("sslkey", &c.ssl_key),
        ("sslrootcert", &c.ssl_root_cert),
    ] {
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
    let role = configure::standby_role(cfg);
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

/// Runs pg_rewind against the streaming source when this instance was a primary; pg_rewind
/// itself decides whether timelines diverged ("no rewind required" otherwise).
fn rewind_if_needed(cfg: &ManagerConfig, conninfo: &str) -> Result<(), InstanceError> {
    let cd = controldata::read(&cfg.pg_bindir, &cfg.pgdata)?;
    if cd.state()? == "shut down in recovery" {
        return Ok(());
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
