//! `instance restore`: bootstrap from a base backup in an external cluster's object store. A
//! replica cluster is left configured as a standby replaying that store; otherwise recovery runs
//! to the recovery target (time, xid, name, LSN, immediate; timeline; exclusive) and promotes.

use super::bootstrap::error::BootstrapError;
use super::bootstrap::record::{self, Method};
use super::{InstanceError, configure};
use crate::backup::fetch::{catalog, restore_backup};
use crate::config::{ManagerConfig, refuse_unsupported};
use crate::objstore::Archive;
use crate::pg::conf::Role;
use crate::pg::ctl;
use crate::run::source_divergence;
use pgfed_api::barman::select::select_backup;
use pgfed_api::cluster::BootstrapRecovery;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Restores the data directory into an empty PGDATA and returns the backup ID used; run through
/// `instance::bootstrap::bootstrap`, which lets a failed restore be retried from scratch.
pub(super) async fn restore(
    cfg: &ManagerConfig,
    config_file: &Path,
) -> Result<String, InstanceError> {
    let (rec, source) = recovery_source(cfg)?;
    refuse_unsupported(
        "bootstrap.recovery",
        &[
            ("backup", rec.backup.is_some()),
            ("volumeSnapshots", rec.volume_snapshots.is_some()),
        ],
        "restore from an external cluster's object store with bootstrap.recovery.source",
    )?;
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
    let entry = match (&standby, &rec.recovery_target) {
        // A replica cluster's designated primary replays on to the source's newest timeline: only
        // a backup on that timeline's history can (the rule its manager reports the seed by).
        (Some(_), None) => {
            let history = source_divergence::source_history(cfg, 1).await?;
            source_divergence::decide::seed_backup(&entries, &history).ok_or_else(|| {
                BootstrapError::NoBackupOnSourceHistory {
                    archive: archive.url().to_string(),
                    timeline: history.timeline,
                }
            })?
        }
        _ => select_backup(&entries, rec.recovery_target.as_ref()).map_err(|source| {
            BootstrapError::NoBackup {
                archive: archive.url().to_string(),
                source,
            }
        })?,
    };
    let jobs = store.data.as_ref().and_then(|d| d.jobs).unwrap_or(2).max(1) as usize;
    let tablespaces = entry
        .info
        .tablespaces()
        .map_err(crate::backup::BackupError::from)?;
    let relocate: BTreeMap<String, PathBuf> = match &cfg.tablespaces_dir {
        Some(dir) => tablespaces
            .iter()
            .map(|t| (t.name.clone(), dir.join(&t.name)))
            .collect(),
        None => BTreeMap::new(),
    };
    // The tablespace directories are this restore's work too: a retry empties them with PGDATA.
    let targets: Vec<PathBuf> = tablespaces
        .iter()
        .map(|t| {
            relocate
                .get(&t.name)
                .cloned()
                .unwrap_or_else(|| PathBuf::from(&t.location))
        })
        .collect();
    record::claim(cfg, Method::Restore, &targets)?;
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

/// What to restore and from where. A replica cluster restores from `replica.source`, the store
/// it replays next, with `bootstrap.recovery`'s target only when that names the same source (a
/// re-seeded designated primary of a former primary region has no `bootstrap.recovery`, or one
/// naming a region that is no longer its source); any other cluster needs
/// `bootstrap.recovery.source`. Pure.
pub fn recovery_source(cfg: &ManagerConfig) -> Result<(BootstrapRecovery, String), BootstrapError> {
    let rec = cfg.bootstrap.as_ref().and_then(|b| b.recovery.clone());
    let replica_source = cfg
        .replica
        .as_ref()
        .filter(|_| cfg.is_replica_cluster())
        .map(|r| r.source.clone());
    match (rec, replica_source) {
        (Some(rec), Some(source)) if rec.source.as_deref() == Some(source.as_str()) => {
            Ok((rec, source))
        }
        (_, Some(source)) => Ok((BootstrapRecovery::default(), source)),
        (Some(rec), None) => {
            let source = rec.source.clone().ok_or(BootstrapError::NoRecoverySource)?;
            Ok((rec, source))
        }
        (None, None) => Err(BootstrapError::NotConfigured("bootstrap.recovery")),
    }
}

/// Waits until recovery ended and the server left recovery; fails when postgres exits instead
/// (for example "recovery ended before configured recovery target was reached").
async fn wait_promoted(cfg: &ManagerConfig) -> Result<(), InstanceError> {
    loop {
        if !ctl::is_running(cfg) {
            let log =
                std::fs::read_to_string(cfg.pgdata.join("log/postgres.json")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            return Err(BootstrapError::RecoveryStopped {
                log_tail: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
            }
            .into());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> ManagerConfig {
        ManagerConfig::parse(&format!("clusterName: c\npgdata: /d\n{yaml}\n")).expect("config")
    }

    #[test]
    fn a_replica_cluster_restores_from_its_source() {
        let target = "recovery: {source: a, recoveryTarget: {targetLSN: 0/3000000}}";
        for (yaml, want_source, keeps_target) in [
            // An ordinary recovery: its source and target.
            (format!("bootstrap: {{{target}}}"), "a", true),
            // A replica cluster of the same source keeps the target.
            (
                format!("replica: {{primary: a, source: a}}\nbootstrap: {{{target}}}"),
                "a",
                true,
            ),
            // Its source is another region now: that one, without a target meant for the first.
            (
                format!("replica: {{primary: b, source: b}}\nbootstrap: {{{target}}}"),
                "b",
                false,
            ),
            // A former primary region (initdb) re-seeded from the new primary region.
            (
                "replica: {primary: b, source: b}\nbootstrap: {initdb: {database: app}}"
                    .to_string(),
                "b",
                false,
            ),
        ] {
            let (rec, source) = recovery_source(&cfg(&yaml)).expect("restorable");
            assert_eq!(source, want_source, "{yaml}");
            assert_eq!(rec.recovery_target.is_some(), keeps_target, "{yaml}");
        }
        assert!(matches!(
            recovery_source(&cfg("bootstrap: {initdb: {database: app}}")),
            Err(BootstrapError::NotConfigured(_))
        ));
        assert!(matches!(
            recovery_source(&cfg("bootstrap: {recovery: {database: app}}")),
            Err(BootstrapError::NoRecoverySource)
        ));
    }
}
