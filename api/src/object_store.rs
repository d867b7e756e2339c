//! `ObjectStore`: an object-store configuration as its own object, shaped like the
//! `barmancloud.cnpg.io/v1` ObjectStore of CloudNativePG's Barman Cloud plugin.
//!
//! Why `pgfed.io/v1` and this shape: the plugin's users keep their bucket settings in an
//! ObjectStore and point clusters at it (`spec.plugins[].parameters.barmanObjectName`). Serving the
//! same kind in pgfed's one API group, with the same `spec.configuration` as a Cluster's
//! `backup.barmanObjectStore` (the same Rust type), lets such a manifest apply with only
//! `apiVersion` changed and keeps one definition of an object store in pgfed. A Cluster's
//! plugin entries are resolved into in-tree stores (`crate::plugins`). The plugin's sidecar
//! settings are accepted for the same reason; pgfed archives in-process and has no sidecar, so
//! admission refuses them.

use crate::barman::BarmanObjectStoreConfiguration;
use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An object store that clusters can archive to and recover from.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "pgfed.io",
    version = "v1",
    kind = "ObjectStore",
    namespaced,
    status = "ObjectStoreStatus",
    category = "pgfed",
    derive = "Default",
    derive = "PartialEq",
    doc = "An object store (bucket, credentials, compression) for backups and WAL.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Destination",
        type_ = "string",
        json_path = ".spec.configuration.destinationPath"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStoreSpec {
    /// Where and how backups and WAL are stored: the same fields as a Cluster's
    /// `backup.barmanObjectStore`.
    pub configuration: BarmanObjectStoreConfiguration,
    /// How long backups are kept, e.g. `30d`, `4w`, `6m`: the retention policy of every Cluster
    /// whose `spec.plugins` entry archives here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<String>,
    /// Settings of the Barman Cloud plugin's sidecar container (pgfed has no sidecar).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_sidecar_configuration: Option<InstanceSidecarConfiguration>,
}

/// The Barman Cloud plugin's sidecar settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceSidecarConfiguration {
    /// Environment variables of the sidecar.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Resources of the sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Seconds between two retention policy runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy_interval_seconds: Option<i32>,
    /// Log level of the sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<crate::cluster::LogLevel>,
    /// Extra arguments of the sidecar.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_container_args: Vec<String>,
}

/// Observed state of an object store.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStoreStatus {
    /// Recovery window of each server (folder under `destinationPath`), by server name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub server_recovery_window: BTreeMap<String, RecoveryWindow>,
}

/// The span of time a server can be recovered to.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryWindow {
    /// Oldest point in time the server can be restored to (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_recoverability_point: Option<String>,
    /// When the last backup succeeded (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_backup_time: Option<String>,
    /// When the last backup failed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failed_backup_time: Option<String>,
}
