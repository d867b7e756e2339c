//! `spec.storage`, `spec.walStorage` and `spec.tablespaces`.

use k8s_openapi::api::core::v1::PersistentVolumeClaimSpec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A volume of every instance.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StorageConfiguration {
    /// StorageClass of new PVCs (default: the cluster's default class). Changing it leaves existing
    /// volumes where they are; instances created afterwards get the new class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub storage_class: Option<String>,
    /// Size as a Kubernetes quantity, e.g. `10Gi`. Can grow, never shrink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Resize PVCs of running instances when `size` grows. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "resizeInUseVolumes")]
    pub resize_in_use_volumes: Option<bool>,
    /// A full PVC spec template; `size` and `storageClass` take precedence over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::common::kubernetes_summaries)]
    pub pvc_template: Option<PersistentVolumeClaimSpec>,
}

/// A tablespace and its volume.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TablespaceConfiguration {
    /// Tablespace name (a PostgreSQL identifier not starting with `pg_`).
    pub name: String,
    /// Volume holding the tablespace.
    pub storage: StorageConfiguration,
    /// Owner of the tablespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<DatabaseRoleRef>,
    /// A temporary tablespace (listed in temp_tablespaces, not backed up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporary: Option<bool>,
}

/// A reference to a PostgreSQL role.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct DatabaseRoleRef {
    /// Role name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}
