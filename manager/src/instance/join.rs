//! `instance join`: clone a standby from a running primary with pg_basebackup over TLS,
//! authenticating with the replication client certificate (no password), then configure it to
//! stream from that primary (and replay its object store when one is configured).

use super::bootstrap::error::BootstrapError;
use super::{InstanceError, configure};
use crate::config::ManagerConfig;
use crate::pg::conf::Role;
use crate::pg::ctl;
use std::path::Path;
use std::process::Command;

/// Clones the data directory from `bootstrap.pg_basebackup.source` into an empty PGDATA; run
/// through `instance::bootstrap::bootstrap`.
pub(super) fn join(cfg: &ManagerConfig, config_file: &Path) -> Result<(), InstanceError> {
    let source = cfg
        .bootstrap
        .as_ref()
        .and_then(|b| b.pg_basebackup.as_ref())
        .map(|p| p.source.clone())
        .ok_or(BootstrapError::NotConfigured("bootstrap.pg_basebackup"))?;
    let external = cfg
        .external_cluster(&source)
        .ok_or_else(|| BootstrapError::UnknownExternalCluster(source.clone()))?;
    let conn = cfg.external_conninfo(external)?;
    let mut cmd = Command::new(ctl::program(cfg, "pg_basebackup"));
    cmd.arg("-D")
        .arg(&cfg.pgdata)
        .arg("--dbname")
        .arg(&conn)
        .args(["--wal-method=stream", "--checkpoint=fast", "--no-password"])
        .env("LC_ALL", "C");
    ctl::run(cmd)?;
    let restore_from = cfg.external_store(&source).ok().map(|_| source.clone());
    configure::write_all(
        cfg,
        config_file,
        &Role::Standby {
            restore_from,
            primary_conninfo: Some(conn),
        },
    )?;
    Ok(())
}
