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
    /// The plugin named in `pluginConfiguration` takes the backup. pgfed serves the Barman Cloud
    /// plugin (`barman-cloud.cloudnative-pg.io`) in-process: a base backup into the ObjectStore
    /// of the Cluster's plugin entry, as `barmanObjectStore` would; other plugins are refused.
    #[serde(rename = "plugin")]
    Plugin,
}

/// The plugin that takes a backup (`method: plugin`) and its parameters.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct BackupPluginConfiguration {
    /// Name of the plugin, as listed in the cluster's `spec.plugins`.
    pub name: String,
    /// Parameters handed to the plugin for this backup only.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub parameters: std::collections::BTreeMap<String, String>,
}

/// A CloudNativePG-I plugin entry of a cluster (or an external cluster) and its parameters. pgfed
/// serves one plugin, `barman-cloud.cloudnative-pg.io`, inside its instance manager (no sidecar);
/// admission refuses any other.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PluginConfiguration {
    /// Name of the plugin (e.g. `barman-cloud.cloudnative-pg.io`).
    pub name: String,
    /// Whether the plugin is used. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// This plugin is the cluster's WAL archiver. At most one plugin may be. As in
    /// CloudNativePG, an enabled Barman Cloud entry archives WAL to its store either way; pgfed
    /// refuses it beside `backup.barmanObjectStore`, as it archives to one store. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "isWALArchiver")]
    pub is_wal_archiver: Option<bool>,
    /// Plugin-specific settings. Barman Cloud reads `barmanObjectName` (the ObjectStore, in the
    /// cluster's namespace) and `serverName` (its folder in the store; default: the name of the
    /// cluster this entry belongs to).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub parameters: std::collections::BTreeMap<String, String>,
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

/// Schema transform for fields of a Kubernetes core type (a PVC template, affinity, a security
/// context, …): every description inside it is cut to its first sentence. The Cluster CRD embeds
/// several such types (three PVC templates alone), and with Kubernetes' full texts it would not
/// fit the 256 KiB that client-side `kubectl apply` can store; the first sentence still says what
/// a field is, and `kubectl explain pod.spec` (or `persistentvolumeclaim.spec`, …) shows the
/// rest. The field's own description, written here, is kept whole.
pub(crate) fn kubernetes_summaries(schema: &mut schemars::Schema) {
    if let Some(top) = schema.as_object_mut() {
        for (key, value) in top.iter_mut() {
            if key != "description" {
                summarize(value);
            }
        }
    }
}

fn summarize(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(fields) => {
            for (key, child) in fields.iter_mut() {
                match child {
                    serde_json::Value::String(text) if key == "description" => {
                        *text = first_sentence(text).to_string();
                    }
                    other => summarize(other),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(summarize),
        _ => {}
    }
}

/// The text up to the first full stop that ends a sentence (not one of `e.g.`, `i.e.`, `etc.`).
fn first_sentence(text: &str) -> &str {
    let mut from = 0;
    while let Some(pos) = text[from..].find(". ").or_else(|| text[from..].find(".\n")) {
        let end = from + pos + 1;
        let before = &text[..end];
        if !(before.ends_with("e.g.") || before.ends_with("i.e.") || before.ends_with("etc.")) {
            return before;
        }
        from = end;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sentence_stops_at_the_first_real_full_stop() {
        for (text, want) in [
            ("One. Two.", "One."),
            ("Values, e.g. 5. More.", "Values, e.g. 5."),
            ("Line one.\nLine two.", "Line one."),
            ("No full stop", "No full stop"),
            ("Ends here.", "Ends here."),
        ] {
            assert_eq!(first_sentence(text), want, "{text:?}");
        }
    }

    #[test]
    fn summaries_keep_the_fields_own_description() {
        let mut schema = schemars::json_schema!({
            "description": "Ours. Kept whole.",
            "type": "object",
            "properties": {
                "a": {"description": "First. Second.", "type": "string"},
                "b": {"items": {"description": "Item. More."}}
            }
        });
        kubernetes_summaries(&mut schema);
        let v = schema.as_value();
        assert_eq!(v["description"], "Ours. Kept whole.");
        assert_eq!(v["properties"]["a"]["description"], "First.");
        assert_eq!(v["properties"]["b"]["items"]["description"], "Item.");
    }
}
