//! `Backup` and `ScheduledBackup`: on-demand and periodic base backups of a Cluster.

use crate::barman::{AzureCredentials, GoogleCredentials, S3Credentials};
use crate::cluster::OnlineConfiguration;
use crate::common::{BackupMethod, BackupPluginConfiguration, BackupTarget, LocalObjectReference};
use k8s_openapi::api::core::v1::SecretKeySelector;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A request for one base backup of a cluster. The spec is immutable.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, KubeSchema, PartialEq)]
#[kube(
    group = "pgfed.io",
    version = "v1",
    kind = "Backup",
    namespaced,
    status = "BackupStatus",
    category = "pgfed",
    derive = "Default",
    derive = "PartialEq",
    doc = "A base backup of a pgfed Cluster.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster.name"),
    printcolumn(name = "Method", type_ = "string", json_path = ".spec.method"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Error", type_ = "string", json_path = ".status.error")
)]
#[x_kube(validation = Rule::new("self == oldSelf")
    .message("a Backup's spec is immutable: create a new Backup instead"))]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    /// The cluster to back up.
    pub cluster: LocalObjectReference,
    /// Which instance takes the backup. Default: the cluster's `backup.target`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<BackupTarget>,
    /// `barmanObjectStore` (default) or `volumeSnapshot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<BackupMethod>,
    /// Take the backup while the instance runs. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
    /// Online snapshot options for this backup, overriding the cluster's
    /// `backup.volumeSnapshot.onlineConfiguration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_configuration: Option<OnlineConfiguration>,
    /// The plugin that takes the backup when `method` is `plugin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_configuration: Option<BackupPluginConfiguration>,
}

/// Phase of a backup (CloudNativePG's strings).
pub mod backup_phase {
    /// Accepted, not started.
    pub const PENDING: &str = "pending";
    /// Started on an instance.
    pub const STARTED: &str = "started";
    /// Copying data.
    pub const RUNNING: &str = "running";
    /// Waiting for the end WAL to be archived.
    pub const FINALIZING: &str = "finalizing";
    /// Done and usable.
    pub const COMPLETED: &str = "completed";
    /// Failed; see `status.error`.
    pub const FAILED: &str = "failed";
    /// WAL archiving fails, so the backup cannot complete.
    pub const WAL_ARCHIVING_FAILING: &str = "walArchivingFailing";
}

/// Observed state of a backup.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    /// pending, started, running, finalizing, completed, failed, walArchivingFailing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Barman backup ID (e.g. `20261120T220000`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "backupId")]
    pub backup_id: Option<String>,
    /// Backup name in the object store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_name: Option<String>,
    /// Object store path of the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_path: Option<String>,
    /// Server name in the object store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// First WAL file needed to restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_wal: Option<String>,
    /// Last WAL file needed to reach consistency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_wal: Option<String>,
    /// LSN at backup start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "beginLSN")]
    pub begin_lsn: Option<String>,
    /// LSN at backup end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "endLSN")]
    pub end_lsn: Option<String>,
    /// When the backup started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the backup stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    /// Why the backup failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The instance that took the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "instanceID")]
    pub instance_id: Option<InstanceId>,
    /// Backup method used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<BackupMethod>,
    /// Whether the backup was online.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
    /// PostgreSQL major version the backup was taken from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major_version: Option<i32>,
    /// Object store endpoint the backup went to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "endpointURL")]
    pub endpoint_url: Option<String>,
    /// CA bundle of the object store endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "endpointCA")]
    pub endpoint_ca: Option<SecretKeySelector>,
    /// S3 credentials used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_credentials: Option<S3Credentials>,
    /// Azure credentials used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_credentials: Option<AzureCredentials>,
    /// Google Cloud Storage credentials used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google_credentials: Option<GoogleCredentials>,
    /// Server-side encryption requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    /// Content of `backup_label` returned by `pg_backup_stop` (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_label_file: Option<String>,
    /// Content of `tablespace_map` returned by `pg_backup_stop` (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tablespace_map_file: Option<String>,
    /// Output of the backup command when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_error: Option<String>,
    /// Unused (kept for CloudNativePG compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_output: Option<String>,
    /// When the operator started working on the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciliation_started_at: Option<String>,
    /// When the operator stopped working on the backup, successfully or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciliation_terminated_at: Option<String>,
    /// The VolumeSnapshots of a `volumeSnapshot` backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_backup_status: Option<SnapshotBackupStatus>,
    /// Metadata a backup plugin attached.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugin_metadata: BTreeMap<String, String>,
}

/// The VolumeSnapshots taken by a backup.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct SnapshotBackupStatus {
    /// One entry per snapshot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elements: Vec<BackupSnapshotElementStatus>,
}

/// One VolumeSnapshot of a backup.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BackupSnapshotElementStatus {
    /// Name of the VolumeSnapshot.
    pub name: String,
    /// What it holds: `PG_DATA`, `PG_WAL` or `PG_TABLESPACE`.
    #[serde(rename = "type")]
    pub element_type: String,
    /// The tablespace, for `PG_TABLESPACE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tablespace_name: Option<String>,
}

/// The instance a backup ran on.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceId {
    /// Pod name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    /// Container ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "ContainerID")]
    pub container_id: Option<String>,
    /// Session of the instance manager, new on every restart: a change means the backup process
    /// was lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "sessionID")]
    pub session_id: Option<String>,
}

/// A schedule creating Backups periodically.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, KubeSchema, PartialEq)]
#[kube(
    group = "pgfed.io",
    version = "v1",
    kind = "ScheduledBackup",
    namespaced,
    status = "ScheduledBackupStatus",
    category = "pgfed",
    derive = "Default",
    derive = "PartialEq",
    doc = "Periodic base backups of a pgfed Cluster.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster.name"),
    printcolumn(
        name = "Last Backup",
        type_ = "date",
        json_path = ".status.lastScheduleTime"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledBackupSpec {
    /// Six-field cron schedule, seconds first (e.g. `0 0 0 * * *` for midnight).
    pub schedule: String,
    /// Stop creating backups while true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Take a backup right after the schedule is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immediate: Option<bool>,
    /// The cluster to back up. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("cluster is immutable"))]
    pub cluster: LocalObjectReference,
    /// Owner of the created Backups: `none` (default), `self` or `cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_owner_reference: Option<BackupOwnerReference>,
    /// Which instance takes the backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<BackupTarget>,
    /// `barmanObjectStore` (default) or `volumeSnapshot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<BackupMethod>,
    /// Take the backups online. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
    /// Online snapshot options of the backups, overriding the cluster's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_configuration: Option<OnlineConfiguration>,
    /// The plugin that takes the backups when `method` is `plugin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_configuration: Option<BackupPluginConfiguration>,
}

/// Owner reference set on Backups created by a schedule.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackupOwnerReference {
    /// No owner: Backups outlive the schedule and the cluster.
    None,
    /// Owned by the ScheduledBackup.
    #[serde(rename = "self")]
    SelfRef,
    /// Owned by the Cluster.
    Cluster,
}

/// Observed state of a schedule.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledBackupStatus {
    /// When the schedule was last evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check_time: Option<String>,
    /// When the last backup was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<String>,
    /// When the next backup will be created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<String>,
    /// Why the schedule was last refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
