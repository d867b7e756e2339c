//! The Backup a ScheduledBackup creates for one slot. Pure.
//!
//! Named `<scheduledbackup>-<slot as YYYYMMDDHHMMSS>` like CloudNativePG's, but after the slot
//! rather than the instant of creation, so one slot can only ever be one Backup. Labelled with
//! the schedule and the cluster, so `kubectl get backups -l` finds a schedule's backups.

use super::decide::Slot;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use pgfed_api::backup::{Backup, BackupOwnerReference, BackupSpec, ScheduledBackup};
use pgfed_api::names::{ANNOTATION_IMMEDIATE_BACKUP, LABEL_CLUSTER, LABEL_SCHEDULED_BACKUP};
use std::collections::BTreeMap;

/// The owner a `backupOwnerReference: cluster` points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterIdentity {
    /// Cluster name.
    pub name: String,
    /// Cluster uid.
    pub uid: String,
}

/// Why a Backup cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    /// The ScheduledBackup was not read from the API server (no name, namespace or uid).
    #[error("the ScheduledBackup has no {0}")]
    Identity(&'static str),
}

/// The name of the Backup for `slot`.
pub fn backup_name(schedule_name: &str, slot: Slot) -> String {
    format!("{schedule_name}-{}", slot.time().format("%Y%m%d%H%M%S"))
}

/// The Backup `scheduled` creates for `slot`.
pub fn backup(
    scheduled: &ScheduledBackup,
    slot: Slot,
    cluster: Option<&ClusterIdentity>,
) -> Result<Backup, BuildError> {
    let name = scheduled
        .metadata
        .name
        .clone()
        .ok_or(BuildError::Identity("name"))?;
    let namespace = scheduled
        .metadata
        .namespace
        .clone()
        .ok_or(BuildError::Identity("namespace"))?;
    let spec = &scheduled.spec;
    let owner = match spec
        .backup_owner_reference
        .unwrap_or(BackupOwnerReference::None)
    {
        BackupOwnerReference::None => None,
        BackupOwnerReference::SelfRef => Some(owner_reference(
            "ScheduledBackup",
            &name,
            scheduled
                .metadata
                .uid
                .as_deref()
                .ok_or(BuildError::Identity("uid"))?,
        )),
        // Observed just before: a cluster that vanished in between leaves the Backup unowned
        // rather than pointing at nothing; the Backup controller fails it for the missing cluster.
        BackupOwnerReference::Cluster => {
            cluster.map(|c| owner_reference("Cluster", &c.name, &c.uid))
        }
    };
    let labels = BTreeMap::from([
        (LABEL_SCHEDULED_BACKUP.to_string(), name.clone()),
        (LABEL_CLUSTER.to_string(), spec.cluster.name.clone()),
    ]);
    let annotations = match slot {
        Slot::Immediate(_) => Some(BTreeMap::from([(
            ANNOTATION_IMMEDIATE_BACKUP.to_string(),
            "true".to_string(),
        )])),
        Slot::Scheduled(_) => None,
    };
    Ok(Backup {
        metadata: ObjectMeta {
            name: Some(backup_name(&name, slot)),
            namespace: Some(namespace),
            labels: Some(labels),
            annotations,
            owner_references: owner.map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: BackupSpec {
            cluster: spec.cluster.clone(),
            target: spec.target,
            method: spec.method,
            online: spec.online,
            online_configuration: spec.online_configuration.clone(),
            plugin_configuration: spec.plugin_configuration.clone(),
        },
        status: None,
    })
}

fn owner_reference(kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "pgfed.io/v1".to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
        uid: uid.to_string(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use pgfed_api::common::{BackupMethod, BackupTarget};

    fn scheduled(owner: Option<&str>) -> ScheduledBackup {
        let mut spec = serde_json::json!({
            "schedule": "0 0 0 * * *", "cluster": {"name": "pg"},
            "target": "primary", "method": "volumeSnapshot", "online": false,
            "onlineConfiguration": {"immediateCheckpoint": true}
        });
        if let Some(o) = owner {
            spec["backupOwnerReference"] = o.into();
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "ScheduledBackup",
            "metadata": {"name": "nightly", "namespace": "ns", "uid": "sb-uid"},
            "spec": spec
        }))
        .expect("scheduled backup")
    }

    fn slot() -> Slot {
        Slot::Scheduled(
            DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
                .expect("time")
                .with_timezone(&Utc),
        )
    }

    #[test]
    fn the_backup_carries_the_schedule_spec_name_and_labels() {
        let b = backup(&scheduled(None), slot(), None).expect("backup");
        assert_eq!(b.metadata.name.as_deref(), Some("nightly-20261201000000"));
        assert_eq!(b.metadata.namespace.as_deref(), Some("ns"));
        let labels = b.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels[LABEL_SCHEDULED_BACKUP], "nightly");
        assert_eq!(labels[LABEL_CLUSTER], "pg");
        assert_eq!(b.metadata.owner_references, None);
        assert_eq!(b.metadata.annotations, None);
        assert_eq!(b.spec.cluster.name, "pg");
        assert_eq!(b.spec.target, Some(BackupTarget::Primary));
        assert_eq!(b.spec.method, Some(BackupMethod::VolumeSnapshot));
        assert_eq!(b.spec.online, Some(false));
        assert_eq!(
            b.spec
                .online_configuration
                .and_then(|c| c.immediate_checkpoint),
            Some(true)
        );
    }

    #[test]
    fn owner_reference_follows_backup_owner_reference() {
        let cluster = ClusterIdentity {
            name: "pg".into(),
            uid: "cluster-uid".into(),
        };
        let owner = |o| {
            backup(&scheduled(Some(o)), slot(), Some(&cluster))
                .expect("backup")
                .metadata
                .owner_references
                .map(|r| (r[0].kind.clone(), r[0].uid.clone()))
        };
        assert_eq!(owner("none"), None);
        assert_eq!(
            owner("self"),
            Some(("ScheduledBackup".into(), "sb-uid".into()))
        );
        assert_eq!(
            owner("cluster"),
            Some(("Cluster".into(), "cluster-uid".into()))
        );
    }

    #[test]
    fn an_immediate_backup_is_marked() {
        let t = slot().time();
        let b = backup(&scheduled(None), Slot::Immediate(t), None).expect("backup");
        assert_eq!(
            b.metadata.annotations.unwrap_or_default()[ANNOTATION_IMMEDIATE_BACKUP],
            "true"
        );
    }
}
