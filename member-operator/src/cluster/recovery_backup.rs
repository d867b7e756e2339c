//! `bootstrap.recovery.backup`: recovering from a Backup object by name.
//!
//! The instance manager restores from an external cluster's object store; a Backup object says
//! where its backup went (destination, server name, endpoint, credentials) and which one it is
//! (backup ID). So the operator turns `backup: {name}` into an external cluster built from the
//! Backup's status and points `recovery.source` and `recoveryTarget.backupID` at it, before
//! anything else reads the spec: the pods then mount that store's credentials and the manager
//! restores exactly that backup, with any other recovery target applied on top.
//!
//! The Backup is needed only until the first instance exists: once the cluster has been
//! bootstrapped, a deleted Backup changes nothing.

use super::error::ReconcileError;
use kube::{Client, ResourceExt};
use pgfed_api::backup::{Backup, backup_phase};
use pgfed_api::barman::BarmanObjectStoreConfiguration;
use pgfed_api::cluster::{BackupSource, Cluster, ExternalCluster};
use pgfed_api::common::BackupMethod;

/// The external cluster a Backup named `backup` becomes.
pub fn source_name(backup: &str) -> String {
    format!("pgfed-backup-{backup}")
}

/// Why `bootstrap.recovery.backup` cannot be used (yet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryBackupError {
    /// The Backup does not exist and the cluster still has to be bootstrapped from it.
    #[error("spec.bootstrap.recovery.backup.name: Backup {0} does not exist")]
    Missing(String),
    /// The Backup has not completed.
    #[error(
        "spec.bootstrap.recovery.backup.name: Backup {name} is {phase}, not completed; recovery waits for it"
    )]
    NotCompleted {
        /// The Backup.
        name: String,
        /// Its phase.
        phase: String,
    },
    /// The Backup was taken with a method recovery does not read yet.
    #[error(
        "spec.bootstrap.recovery.backup.name: Backup {0} is a volume snapshot backup; recovering from volume snapshots is not supported yet"
    )]
    VolumeSnapshot(String),
    /// The completed Backup's status lacks where or which backup it is.
    #[error("spec.bootstrap.recovery.backup.name: Backup {name} has no {field} in its status")]
    Incomplete {
        /// The Backup.
        name: String,
        /// The missing status field.
        field: &'static str,
    },
    /// `recoveryTarget.backupID` names another backup than the Backup object.
    #[error(
        "spec.bootstrap.recovery.recoveryTarget.backupID: {given} is not the backup of Backup {name} ({actual})"
    )]
    OtherBackupId {
        /// The Backup.
        name: String,
        /// The backup ID in the spec.
        given: String,
        /// The Backup's backup ID.
        actual: String,
    },
    /// `recovery.source` names another object store than the one the Backup is in.
    #[error(
        "spec.bootstrap.recovery.source: {external} is not the object store Backup {name} is in ({archive}); pgfed replays WAL from the Backup's own store"
    )]
    OtherSource {
        /// The Backup.
        name: String,
        /// The external cluster named as source.
        external: String,
        /// Where the Backup is.
        archive: String,
    },
    /// The cluster would archive its WAL into the Backup's archive.
    #[error(
        "spec.backup.barmanObjectStore.serverName: the cluster would archive into {0}, the archive it recovers from; give it another destinationPath or serverName"
    )]
    SameArchive(String),
}

/// The Backup `bootstrap.recovery.backup` names, if any.
fn named_backup(cluster: &Cluster) -> Option<&BackupSource> {
    cluster
        .spec
        .bootstrap
        .as_ref()
        .and_then(|b| b.recovery.as_ref())
        .and_then(|r| r.backup.as_ref())
}

/// `cluster` as the reconcile works on it: `bootstrap.recovery.backup` resolved from the Backup
/// it names ([`resolve`]; `None`: nothing to change), and checked not to archive into the archive
/// it recovers or replicates from (admission checked the spec as written; stores named by plugin
/// entries, or by a Backup, are only known now).
pub async fn effective(
    client: &Client,
    cluster: &Cluster,
) -> Result<Option<Cluster>, ReconcileError> {
    let resolved = match named_backup(cluster) {
        None => None,
        Some(named) => {
            let name = named.name.clone();
            let backups: kube::Api<Backup> =
                kube::Api::namespaced(client.clone(), &cluster.namespace().unwrap_or_default());
            let backup = backups
                .get_opt(&name)
                .await
                .map_err(ReconcileError::kube(format!("reading Backup {name}")))?;
            let bootstrapped = cluster
                .status
                .as_ref()
                .and_then(|s| s.latest_generated_node)
                .is_some_and(|n| n > 0);
            resolve(cluster, backup.as_ref(), bootstrapped)?
        }
    };
    let checked = resolved.as_ref().unwrap_or(cluster);
    let mut errors = pgfed_api::validation::FieldErrors::default();
    pgfed_api::validation::check_own_archive(&mut errors, &checked.name_any(), &checked.spec);
    errors
        .into_result()
        .map_err(|e| ReconcileError::Invalid(e.to_string()))?;
    Ok(resolved)
}

/// The cluster with `bootstrap.recovery.backup` replaced by an external cluster built from
/// `backup` (the Backup it names, `None` when it does not exist); `bootstrapped`: the first
/// instance has been created. `Ok(None)`: nothing to change. Pure.
pub fn resolve(
    cluster: &Cluster,
    backup: Option<&Backup>,
    bootstrapped: bool,
) -> Result<Option<Cluster>, RecoveryBackupError> {
    let Some(named) = named_backup(cluster) else {
        return Ok(None);
    };
    let name = named.name.clone();
    let Some(backup) = backup else {
        return if bootstrapped {
            Ok(None)
        } else {
            Err(RecoveryBackupError::Missing(name))
        };
    };
    let status = backup.status.clone().unwrap_or_default();
    if matches!(backup.spec.method, Some(BackupMethod::VolumeSnapshot))
        || matches!(status.method, Some(BackupMethod::VolumeSnapshot))
    {
        return Err(RecoveryBackupError::VolumeSnapshot(name));
    }
    let phase = status.phase.clone().unwrap_or_else(|| "pending".into());
    if phase != backup_phase::COMPLETED {
        return Err(RecoveryBackupError::NotCompleted { name, phase });
    }
    let incomplete = |field| RecoveryBackupError::Incomplete {
        name: name.clone(),
        field,
    };
    let backup_id = status
        .backup_id
        .clone()
        .ok_or_else(|| incomplete("backupId"))?;
    let destination_path = status
        .destination_path
        .clone()
        .ok_or_else(|| incomplete("destinationPath"))?;
    let store = BarmanObjectStoreConfiguration {
        destination_path,
        endpoint_url: status.endpoint_url.clone(),
        endpoint_ca: named
            .endpoint_ca
            .as_ref()
            .map(|s| k8s_openapi::api::core::v1::SecretKeySelector {
                name: s.name.clone(),
                key: s.key.clone(),
                optional: None,
            })
            .or(status.endpoint_ca.clone()),
        s3_credentials: status.s3_credentials.clone(),
        azure_credentials: status.azure_credentials.clone(),
        google_credentials: status.google_credentials.clone(),
        // The Backup's cluster archived under its own name unless it named another server.
        server_name: Some(
            status
                .server_name
                .clone()
                .unwrap_or_else(|| backup.spec.cluster.name.clone()),
        ),
        ..Default::default()
    };
    let cluster_name = cluster.metadata.name.clone().unwrap_or_default();
    let archive = store.archive(&backup.spec.cluster.name);
    if let Some(own) = cluster
        .spec
        .backup
        .as_ref()
        .and_then(|b| b.barman_object_store.as_ref())
        && own.archive(&cluster_name) == archive
    {
        return Err(RecoveryBackupError::SameArchive(archive));
    }
    let mut effective = cluster.clone();
    let Some(recovery) = effective
        .spec
        .bootstrap
        .as_mut()
        .and_then(|b| b.recovery.as_mut())
    else {
        return Ok(None);
    };
    if let Some(source) = recovery.source.clone() {
        let same = cluster
            .spec
            .external_clusters
            .iter()
            .find(|e| e.name == source)
            .and_then(|e| e.barman_object_store.as_ref())
            .is_some_and(|s| s.archive(&source) == archive);
        if !same {
            return Err(RecoveryBackupError::OtherSource {
                name,
                external: source,
                archive,
            });
        }
    }
    let target = recovery
        .recovery_target
        .get_or_insert_with(Default::default);
    match &target.backup_id {
        Some(given) if *given != backup_id => {
            return Err(RecoveryBackupError::OtherBackupId {
                name,
                given: given.clone(),
                actual: backup_id,
            });
        }
        _ => target.backup_id = Some(backup_id),
    }
    let source = source_name(&name);
    recovery.backup = None;
    recovery.source = Some(source.clone());
    effective
        .spec
        .external_clusters
        .retain(|e| e.name != source);
    effective.spec.external_clusters.push(ExternalCluster {
        name: source,
        barman_object_store: Some(store),
        ..Default::default()
    });
    Ok(Some(effective))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgfed_api::backup::BackupStatus;

    fn cluster(yaml: &str) -> Cluster {
        let mut c: Cluster = serde_norway::from_str(&format!(
            "apiVersion: pgfed.io/v1\nkind: Cluster\nmetadata: {{name: restored, namespace: ns}}\nspec:\n  instances: 1\n{yaml}"
        ))
        .expect("cluster");
        c.metadata.uid = Some("u".into());
        c
    }

    fn backup(phase: &str) -> Backup {
        let mut b = Backup::new(
            "nightly",
            serde_norway::from_str("cluster: {name: origin}").expect("spec"),
        );
        b.status = Some(BackupStatus {
            phase: Some(phase.into()),
            backup_id: Some("20261201T101010".into()),
            destination_path: Some("s3://bucket/prefix/".into()),
            server_name: Some("origin".into()),
            endpoint_url: Some("http://minio:9000".into()),
            s3_credentials: serde_norway::from_str(
                "accessKeyId: {name: s3, key: id}\nsecretAccessKey: {name: s3, key: secret}",
            )
            .expect("creds"),
            ..Default::default()
        });
        b
    }

    const FROM_BACKUP: &str = "  bootstrap:\n    recovery:\n      backup: {name: nightly}\n      recoveryTarget: {targetTime: '2026-12-01 10:20:00+00'}\n";

    #[test]
    fn a_completed_backup_becomes_the_recovery_source_with_its_backup_id() {
        let effective = resolve(&cluster(FROM_BACKUP), Some(&backup("completed")), false)
            .expect("resolved")
            .expect("changed");
        let recovery = effective
            .spec
            .bootstrap
            .as_ref()
            .and_then(|b| b.recovery.as_ref())
            .expect("recovery");
        assert_eq!(recovery.backup, None);
        assert_eq!(recovery.source.as_deref(), Some("pgfed-backup-nightly"));
        let target = recovery.recovery_target.as_ref().expect("target");
        assert_eq!(target.backup_id.as_deref(), Some("20261201T101010"));
        assert_eq!(
            target.target_time.as_deref(),
            Some("2026-12-01 10:20:00+00")
        );
        let [external] = effective.spec.external_clusters.as_slice() else {
            panic!(
                "one external cluster: {:?}",
                effective.spec.external_clusters
            );
        };
        let store = external.barman_object_store.as_ref().expect("store");
        assert_eq!(store.destination_path, "s3://bucket/prefix/");
        assert_eq!(store.server_name.as_deref(), Some("origin"));
        assert_eq!(store.endpoint_url.as_deref(), Some("http://minio:9000"));
        assert!(store.s3_credentials.is_some());
    }

    #[test]
    fn what_cannot_be_recovered_yet_is_named() {
        use RecoveryBackupError as E;
        let snapshot = {
            let mut b = backup("completed");
            b.spec.method = Some(BackupMethod::VolumeSnapshot);
            b
        };
        let no_id = {
            let mut b = backup("completed");
            if let Some(s) = b.status.as_mut() {
                s.backup_id = None;
            }
            b
        };
        let archiving_into_it = format!(
            "{FROM_BACKUP}  backup:\n    barmanObjectStore: {{destinationPath: 's3://bucket/prefix', serverName: origin}}\n"
        );
        let other_id = FROM_BACKUP.replace("targetTime: '2026-12-01 10:20:00+00'", "backupID: x");
        let other_source = format!(
            "{}      source: other\n  externalClusters:\n  - name: other\n    barmanObjectStore: {{destinationPath: 's3://elsewhere'}}\n",
            FROM_BACKUP
        );
        // The spec, the Backup, whether bootstrapped, and whether the spec changes (or why not).
        type Case = (String, Option<Backup>, bool, Result<bool, E>);
        let cases: Vec<Case> = vec![
            (
                FROM_BACKUP.into(),
                None,
                false,
                Err(E::Missing("nightly".into())),
            ),
            // Bootstrapped already: the Backup is not needed any more.
            (FROM_BACKUP.into(), None, true, Ok(false)),
            (
                FROM_BACKUP.into(),
                Some(backup("running")),
                false,
                Err(E::NotCompleted {
                    name: "nightly".into(),
                    phase: "running".into(),
                }),
            ),
            (
                FROM_BACKUP.into(),
                Some(snapshot),
                false,
                Err(E::VolumeSnapshot("nightly".into())),
            ),
            (
                FROM_BACKUP.into(),
                Some(no_id),
                false,
                Err(E::Incomplete {
                    name: "nightly".into(),
                    field: "backupId",
                }),
            ),
            (
                archiving_into_it,
                Some(backup("completed")),
                false,
                Err(E::SameArchive("s3://bucket/prefix/origin".into())),
            ),
            (
                other_id,
                Some(backup("completed")),
                false,
                Err(E::OtherBackupId {
                    name: "nightly".into(),
                    given: "x".into(),
                    actual: "20261201T101010".into(),
                }),
            ),
            (
                other_source,
                Some(backup("completed")),
                false,
                Err(E::OtherSource {
                    name: "nightly".into(),
                    external: "other".into(),
                    archive: "s3://bucket/prefix/origin".into(),
                }),
            ),
            // No backup named: nothing to do.
            ("  bootstrap: {initdb: {}}\n".into(), None, false, Ok(false)),
        ];
        for (spec, backup, bootstrapped, want) in cases {
            let got = resolve(&cluster(&spec), backup.as_ref(), bootstrapped).map(|c| c.is_some());
            assert_eq!(got, want, "{spec}");
        }
    }
}
