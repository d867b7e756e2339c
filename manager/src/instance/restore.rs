//! `instance restore`: bootstrap from a base backup in an external cluster's object store. A
//! replica cluster is left configured as a standby replaying that store; otherwise recovery runs
//! to the recovery target (time, xid, name, LSN, immediate; timeline; exclusive) and promotes.

use super::{InstanceError, configure};
use crate::backup::fetch::{catalog, restore_backup};
use crate::config::{ManagerConfig, refuse_unsupported};
use crate::objstore::Archive;
use crate::pg::conf::Role;
use crate::pg::ctl;
use pgfed_api::barman::select::select_backup;
use std::collections::BTreeMap;
use std::path::Path;

/// Restores the data directory and returns the backup ID used.
pub async fn restore(cfg: &ManagerConfig, config_file: &Path) -> Result<String, InstanceError> {
    let rec = cfg
        .bootstrap
        .as_ref()
        .and_then(|b| b.recovery.clone())
        .ok_or_else(|| InstanceError::Refused("bootstrap.recovery is not configured".into()))?;
    refuse_unsupported(
        "bootstrap.recovery",
        &[
            ("backup", rec.backup.is_some()),
            ("volumeSnapshots", rec.volume_snapshots.is_some()),
        ],
        "restore from an external cluster's object store with bootstrap.recovery.source",
    )?;
    let source = rec.source.clone().ok_or_else(|| {
        InstanceError::Refused(
            "bootstrap.recovery.source is not set: the instance manager restores only from an \
             external cluster's object store"
                .into(),
        )
    })?;
    // A replica cluster ends as a standby of its source; refuse what that needs before restoring.
    let standby = if cfg.is_replica_cluster() {
        Some(configure::standby_role(cfg, None)?)
    } else {
        None
    };
    let store = cfg.external_store(&source)?;
    let archive = Archive::open(store, &source, &cfg.secrets_dir)
        .map_err(crate::backup::BackupError::from)?;
    let entries = catalog(&archive).await?;
    let entry = select_backup(&entries, rec.recovery_target.as_ref()).map_err(|why| {
        InstanceError::Refused(format!("cannot restore from {}: {why}", archive.url()))
    })?;
    let jobs = store.data.as_ref().and_then(|d| d.jobs).unwrap_or(2).max(1) as usize;
    let relocate: BTreeMap<String, std::path::PathBuf> = match &cfg.tablespaces_dir {
        Some(dir) => entry
            .info
            .tablespaces()
            .map_err(crate::backup::BackupError::from)?
            .into_iter()
            .map(|t| (t.name.clone(), dir.join(&t.name)))
            .collect(),
        None => BTreeMap::new(),
    };
    restore_backup(&archive, entry, &cfg.pgdata, &relocate, jobs * 2).await?;

    if let Some(standby) = standby {
        configure::write_all(cfg, config_file, &standby)?;
        return Ok(entry.id.clone());
    }
    configure::write_all(
        cfg,
        config_file,
        &Role::Recovery {
            restore_from: source.clone(),
            target: rec.recovery_target.clone(),
        },
    )?;
    // pg_ctl returns once recovery reached its target and promoted; PostgreSQL itself fails when
    // the archive ends before the target.
    ctl::start(cfg, 24 * 3600)?;
    wait_promoted(cfg).await?;
    ctl::stop(cfg, ctl::StopMode::Fast, 600)?;
    configure::write_role(cfg, config_file, &Role::Primary)?;
    Ok(entry.id.clone())
}

/// Waits until recovery ended and the server left recovery; fails when postgres exits instead
/// (for example "recovery ended before configured recovery target was reached").
async fn wait_promoted(cfg: &ManagerConfig) -> Result<(), InstanceError> {
    loop {
        if !ctl::is_running(cfg) {
            let log =
                std::fs::read_to_string(cfg.pgdata.join("log/postgres.json")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            return Err(InstanceError::Refused(format!(
                "postgres stopped during recovery; last log lines: {}",
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            )));
        }
        if let Ok(client) = crate::pg::sql::connect(cfg, "postgres").await
            && let Ok(row) = client.query_one("SELECT pg_is_in_recovery()", &[]).await
            && !row.get::<_, bool>(0)
        {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
