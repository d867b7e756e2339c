//! Small reference types shared by several kinds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A reference to an object in the same namespace, by name.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct LocalObjectReference {
    /// Name of the referent.
    pub name: String,
}

/// A reference to a key of a Secret in the same namespace.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct SecretKeySelector {
    /// Name of the Secret.
    pub name: String,
    /// The key of the Secret to select.
    pub key: String,
}

/// A reference to a key of a ConfigMap in the same namespace.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct ConfigMapKeySelector {
    /// Name of the ConfigMap.
    pub name: String,
    /// The key of the ConfigMap to select.
    pub key: String,
}

/// Lists of Secret and ConfigMap keys holding SQL to run.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SqlRefs {
    /// Secret keys holding SQL, executed in order before `configMapRefs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_refs: Vec<SecretKeySelector>,
    /// ConfigMap keys holding SQL, executed in order after `secretRefs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_map_refs: Vec<ConfigMapKeySelector>,
}

/// Labels and annotations copied onto every object the operator creates for a resource.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct EmbeddedObjectMetadata {
    /// Labels to add.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Annotations to add.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// Whether the operator makes an object exist or makes it go away.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EnsureOption {
    /// The object must exist (the default).
    #[default]
    Present,
    /// The object must not exist.
    Absent,
}

/// What happens to the PostgreSQL object when its Kubernetes resource is deleted.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ReclaimPolicy {
    /// Drop the object from PostgreSQL.
    Delete,
    /// Keep the object in PostgreSQL (the default).
    #[default]
    Retain,
}

/// Which instance a backup runs on.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum BackupTarget {
    /// Always the primary.
    Primary,
    /// The most up-to-date standby when there is one, else the primary.
    PreferStandby,
}

/// How a backup is taken.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum BackupMethod {
    /// A base backup streamed to the cluster's object store.
    #[serde(rename = "barmanObjectStore")]
    BarmanObjectStore,
    /// Kubernetes VolumeSnapshots of the instance's PVCs.
    #[serde(rename = "volumeSnapshot")]
    VolumeSnapshot,
}

/// Schema of a field that embeds a whole other spec (a Cluster spec in a Federation, a pod template
/// in a Pooler). Inlining those schemas would push the CRD past the 256 KiB that client-side
/// `kubectl apply` can store, so the API server keeps the object as is and the admission webhook
/// validates it field by field against the typed struct (same rules, same field paths).
pub(crate) fn embedded_object_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}
