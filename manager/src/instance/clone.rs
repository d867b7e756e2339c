//! A new instance of a running cluster clones itself from the instance `targetPrimary` names:
//! pg_basebackup over TLS as the replication user with the client certificate `primaryConnection`
//! names (no password), then configured as a standby streaming from that primary (WAL missing
//! from the stream comes from the cluster's object store, when it has one, as for any standby).
//! Only the target primary runs the cluster's own `bootstrap`.

use super::bootstrap::error::BootstrapError;
use super::{InstanceError, configure};
use crate::config::ManagerConfig;
use crate::pg::{PgError, ctl};
use std::path::Path;
use std::process::Command;

/// The libpq connection string of the target primary to clone from: refused, naming the missing
/// field, when `targetPrimary` names no other instance or `primaryConnection` is unset. Pure.
pub fn source_conninfo(cfg: &ManagerConfig) -> Result<String, BootstrapError> {
    let primary = cfg
        .other_target_primary()
        .ok_or(BootstrapError::NotConfigured(
            "targetPrimary (another instance)",
        ))?;
    cfg.target_primary_conninfo()
        .ok_or_else(|| BootstrapError::NoPrimaryConnection {
            target_primary: primary.to_string(),
        })
}

/// Clones the data directory from the target primary into an empty PGDATA (`conninfo` from
/// [`source_conninfo`]) and configures it as a standby of it; run through
/// `instance::bootstrap::bootstrap`.
pub(super) fn clone(
    cfg: &ManagerConfig,
    config_file: &Path,
    conninfo: &str,
) -> Result<(), InstanceError> {
    base_backup(cfg, &cfg.pgdata, conninfo)?;
    let role = configure::standby_role(cfg, Some(conninfo))?;
    configure::write_all(cfg, config_file, &role)?;
    Ok(())
}

/// pg_basebackup of the server `conninfo` reaches into `into` (empty or absent), WAL streamed
/// alongside so the copy is consistent on its own.
pub(super) fn base_backup(cfg: &ManagerConfig, into: &Path, conninfo: &str) -> Result<(), PgError> {
    let mut cmd = Command::new(ctl::program(cfg, "pg_basebackup"));
    cmd.arg("-D")
        .arg(into)
        .arg("--dbname")
        .arg(conninfo)
        .args(["--wal-method=stream", "--checkpoint=fast", "--no-password"])
        .env("LC_ALL", "C");
    ctl::run(cmd).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_is_the_target_primary_through_primary_connection() {
        let base = "clusterName: pg\ninstanceName: pg-2\npgdata: /d\n";
        let conn = "primaryConnection:\n  connectionParameters: {host: '{primary}.pg-rw', user: streaming_replica}\n  sslCert: /c/tls.crt\n";
        let ok = |extra: &str| {
            source_conninfo(&ManagerConfig::parse(&format!("{base}{extra}")).expect("config"))
        };
        assert_eq!(
            ok(&format!("targetPrimary: pg-1\n{conn}")).expect("conninfo"),
            "application_name=pg-2 host=pg-1.pg-rw user=streaming_replica sslcert=/c/tls.crt"
        );
        let missing = ok("targetPrimary: pg-1\n").expect_err("no primaryConnection");
        assert!(
            matches!(&missing, BootstrapError::NoPrimaryConnection { target_primary } if target_primary == "pg-1"),
            "{missing}"
        );
        assert!(
            missing.to_string().contains("primaryConnection"),
            "{missing}"
        );
        assert!(matches!(
            ok(&format!("targetPrimary: pg-2\n{conn}")),
            Err(BootstrapError::NotConfigured(_))
        ));
    }
}
