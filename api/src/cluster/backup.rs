//! `spec.backup`: where and how the cluster's backups go.

use crate::barman::BarmanObjectStoreConfiguration;
use crate::common::BackupTarget;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Backup configuration of a cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupConfiguration {
    /// Continuous WAL archiving and base backups to object storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barman_object_store: Option<BarmanObjectStoreConfiguration>,
    /// Backups as Kubernetes VolumeSnapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshot: Option<VolumeSnapshotConfiguration>,
    /// How long backups are kept, e.g. `30d`, `4w`, `6m` (days, weeks, months). Older backups and
    /// the WAL only they need are removed from the object store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<String>,
    /// Which instance takes backups: `prefer-standby` (default) or `primary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<BackupTarget>,
}

/// VolumeSnapshot backups.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotConfiguration {
    /// VolumeSnapshotClass for PGDATA (and WAL when `walClassName` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// VolumeSnapshotClass for the WAL volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_class_name: Option<String>,
    /// VolumeSnapshotClass per tablespace name (default: `className`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tablespace_class_name: BTreeMap<String, String>,
    /// Labels added to the snapshots.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations added to the snapshots.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Take snapshots without stopping the instance. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
    /// Options of online snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_configuration: Option<OnlineConfiguration>,
    /// Naming of snapshots: `append` the time or the backup name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_owner_reference: Option<String>,
}

/// Online snapshot options.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OnlineConfiguration {
    /// Wait until the WAL needed by the snapshot is archived. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for_archive: Option<bool>,
    /// Request an immediate checkpoint at backup start. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immediate_checkpoint: Option<bool>,
}
