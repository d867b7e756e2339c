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
    configure::write_all(cfg, config_file, &role_after_join(cfg, &source, conn))?;
    Ok(())
}

/// How an instance cloned from `source` starts. A replica cluster follows its source (streaming,
/// and replaying its object store when there is one), as does an instance that joins without
/// being named the target primary. The target primary of a cluster copied from another
/// (`bootstrap.pg_basebackup` without `replica`) only replays the WAL its backup streamed, then is
/// promoted on a timeline of its own: it must never go on following the cluster it was copied
/// from. Pure.
fn role_after_join(cfg: &ManagerConfig, source: &str, conn: String) -> Role {
    let copy = !cfg.is_replica_cluster() && cfg.target_primary.as_deref() == Some(cfg.me());
    if copy {
        return Role::Standby {
            restore_from: None,
            primary_conninfo: None,
        };
    }
    Role::Standby {
        restore_from: cfg.external_store(source).ok().map(|_| source.to_string()),
        primary_conninfo: Some(conn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copied_cluster_stops_following_its_source_and_a_replica_cluster_does_not() {
        let base = concat!(
            "clusterName: copy\n",
            "instanceName: copy-1\n",
            "pgdata: /nonexistent\n",
            "externalClusters: [{name: src, connectionParameters: {host: src-rw}}]\n",
        );
        let cfg = |extra: &str| {
            ManagerConfig::parse(&format!("{base}{extra}")).expect("valid configuration")
        };
        let follows = Role::Standby {
            restore_from: None,
            primary_conninfo: Some("host=src-rw".into()),
        };
        let copy = Role::Standby {
            restore_from: None,
            primary_conninfo: None,
        };
        for (extra, want) in [
            ("targetPrimary: copy-1\n", copy),
            ("", follows.clone()),
            ("targetPrimary: copy-2\n", follows.clone()),
            (
                "targetPrimary: copy-1\nreplica: {enabled: true, source: src}\n",
                follows,
            ),
        ] {
            assert_eq!(
                role_after_join(&cfg(extra), "src", "host=src-rw".into()),
                want,
                "{extra}"
            );
        }
    }
}
