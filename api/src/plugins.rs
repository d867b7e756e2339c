//! CloudNativePG's Barman Cloud plugin (`barman-cloud.cloudnative-pg.io`), served in-process.
//!
//! A CloudNativePG 1.26+ Cluster keeps its object store in an `ObjectStore` and names it in
//! `spec.plugins[].parameters.barmanObjectName` (its own archive and backups) or in
//! `spec.externalClusters[].plugin.parameters.barmanObjectName` (a source to recover or replicate
//! from). pgfed has no plugin sidecar: the instance manager archives, backs up and restores
//! itself, from a Cluster's `backup.barmanObjectStore` and `externalClusters[].barmanObjectStore`.
//! [`resolve_plugin_stores`] turns the first form into the second, so everything downstream
//! (pods, the managers' configuration, backups) reads one shape. It is pure: the caller fetches
//! the ObjectStores [`object_store_references`] lists.
//!
//! What the plugin does, and so what this does (plugin-barman-cloud
//! `internal/cnpgi/operator/config`, CloudNativePG `internal/cnpi/plugin/client/wal.go`):
//! - The enabled entry of `spec.plugins` archives WAL and takes the backups into its store, under
//!   `serverName` or else the cluster's name; the store's `retentionPolicy` prunes it.
//!   CloudNativePG asks every enabled plugin that can archive to archive each segment, whether
//!   it is `isWALArchiver` or not (that flag only forbids the in-tree `barmanObjectStore`
//!   beside it and makes a missing plugin an error), so an entry without it archives too.
//! - An external cluster's plugin reads `barmanObjectName` under `serverName`, or else under the
//!   name of the cluster being created (not the external cluster's name, unlike an in-tree
//!   `barmanObjectStore`).
//! - The ObjectStore's own `configuration.serverName` is not read (admission refuses it).

use crate::cluster::ClusterSpec;
use crate::common::PluginConfiguration;
use crate::object_store::ObjectStoreSpec;
use std::collections::BTreeMap;

/// The name of CloudNativePG's Barman Cloud plugin, the one plugin pgfed serves.
pub const BARMAN_CLOUD: &str = "barman-cloud.cloudnative-pg.io";
/// The plugin parameter naming the ObjectStore (in the Cluster's namespace).
pub const BARMAN_OBJECT_NAME: &str = "barmanObjectName";
/// The plugin parameter naming the server (the folder under `destinationPath`).
pub const SERVER_NAME: &str = "serverName";
/// Every parameter the plugin reads.
pub const PARAMETERS: &[&str] = &[BARMAN_OBJECT_NAME, SERVER_NAME];

/// Whether a plugin entry is on (`enabled` defaults to true).
pub fn is_enabled(plugin: &PluginConfiguration) -> bool {
    plugin.enabled != Some(false)
}

/// The entry of `spec.plugins` that archives WAL and takes backups, with its index: the enabled
/// Barman Cloud entry.
pub fn backup_plugin(spec: &ClusterSpec) -> Option<(usize, &PluginConfiguration)> {
    spec.plugins
        .iter()
        .enumerate()
        .find(|(_, p)| p.name == BARMAN_CLOUD && is_enabled(p))
}

/// Where a Cluster names an ObjectStore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreReference {
    /// The field that names it, e.g. `spec.plugins[0].parameters.barmanObjectName`.
    pub field: String,
    /// The ObjectStore's name, in the Cluster's namespace.
    pub name: String,
    /// What the store serves.
    pub place: StorePlace,
    /// The server (folder under `destinationPath`) the plugin entry reads and writes.
    pub server_name: String,
    /// Whether the cluster cannot work without it: the backup store, and the stores of the
    /// external clusters in use (see [`ClusterSpec::external_clusters_in_use`]).
    pub required: bool,
}

/// What a store named by a plugin entry serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorePlace {
    /// The cluster's own archive and backups (`backup.barmanObjectStore`).
    Backup,
    /// The external cluster at this index of `externalClusters`.
    ExternalCluster(usize),
}

/// Every ObjectStore the spec of Cluster `cluster_name` names, in field order (a name may appear
/// more than once). Pure.
pub fn object_store_references(cluster_name: &str, spec: &ClusterSpec) -> Vec<StoreReference> {
    let server = |plugin: &PluginConfiguration| {
        plugin
            .parameters
            .get(SERVER_NAME)
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| cluster_name.to_string())
    };
    let mut references = Vec::new();
    if let Some((i, plugin)) = backup_plugin(spec)
        && let Some(name) = plugin.parameters.get(BARMAN_OBJECT_NAME)
    {
        references.push(StoreReference {
            field: format!("spec.plugins[{i}].parameters.{BARMAN_OBJECT_NAME}"),
            name: name.clone(),
            place: StorePlace::Backup,
            server_name: server(plugin),
            required: true,
        });
    }
    let in_use = spec.external_clusters_in_use();
    for (i, external) in spec.external_clusters.iter().enumerate() {
        let Some(plugin) = external.plugin.as_ref().filter(|p| p.name == BARMAN_CLOUD) else {
            continue;
        };
        if let Some(name) = plugin.parameters.get(BARMAN_OBJECT_NAME) {
            references.push(StoreReference {
                field: format!("spec.externalClusters[{i}].plugin.parameters.{BARMAN_OBJECT_NAME}"),
                name: name.clone(),
                place: StorePlace::ExternalCluster(i),
                server_name: server(plugin),
                required: in_use.contains(&external.name.as_str()),
            });
        }
    }
    references
}

/// The field of the spec the user wrote that `field`, a field of the effective spec, comes from:
/// inside a store a plugin entry stands for, the field of the ObjectStore and the entry that
/// names it (`ObjectStore "archive" spec.configuration.s3Credentials (named by
/// spec.plugins[0].parameters.barmanObjectName)`); any other field as it is. So an error found
/// on the effective spec (a missing credentials Secret) points where the user can fix it. Pure.
pub fn written_field(cluster_name: &str, spec: &ClusterSpec, field: &str) -> String {
    for reference in object_store_references(cluster_name, spec) {
        let store = match reference.place {
            StorePlace::Backup => "spec.backup.barmanObjectStore".to_string(),
            StorePlace::ExternalCluster(i) => {
                format!("spec.externalClusters[{i}].barmanObjectStore")
            }
        };
        let inside = field
            .strip_prefix(&store)
            .filter(|rest| rest.is_empty() || rest.starts_with('.'));
        if let Some(rest) = inside {
            return format!(
                "ObjectStore {:?} spec.configuration{rest} (named by {})",
                reference.name, reference.field
            );
        }
    }
    field.to_string()
}

/// A named ObjectStore that is needed and does not exist.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: ObjectStore {name:?} does not exist in the Cluster's namespace")]
pub struct MissingObjectStore {
    /// The field naming it.
    pub field: String,
    /// Its name.
    pub name: String,
}

/// The spec of Cluster `cluster_name` with every store its Barman Cloud plugin entries name
/// filled in, from `stores` (the ObjectStores of its namespace that exist, by name):
/// `backup.barmanObjectStore` and `backup.retentionPolicy` from the enabled `spec.plugins` entry,
/// `externalClusters[].barmanObjectStore` from each external cluster's plugin (which the store
/// then replaces, so the entry reads exactly as its in-tree twin). `spec.plugins` stays (a
/// Backup with `method: plugin` checks it). A spec without plugins comes back as it was. Admission refuses a plugin beside an in-tree store in the same place; should one get
/// through, the plugin's store is the one used. A store missing for an external cluster not in
/// use is left out; any other missing store is an error naming its field. Pure.
pub fn resolve_plugin_stores(
    cluster_name: &str,
    spec: &ClusterSpec,
    stores: &BTreeMap<String, ObjectStoreSpec>,
) -> Result<ClusterSpec, MissingObjectStore> {
    let mut effective = spec.clone();
    for reference in object_store_references(cluster_name, spec) {
        let Some(store) = stores.get(&reference.name) else {
            if reference.required {
                return Err(MissingObjectStore {
                    field: reference.field,
                    name: reference.name,
                });
            }
            continue;
        };
        let mut configuration = store.configuration.clone();
        configuration.server_name = Some(reference.server_name);
        match reference.place {
            StorePlace::Backup => {
                let backup = effective.backup.get_or_insert_with(Default::default);
                backup.barman_object_store = Some(configuration);
                backup.retention_policy = store.retention_policy.clone();
            }
            StorePlace::ExternalCluster(i) => {
                if let Some(external) = effective.external_clusters.get_mut(i) {
                    external.barman_object_store = Some(configuration);
                    // The store stands for the plugin now: the entry reads as its in-tree twin.
                    external.plugin = None;
                }
            }
        }
    }
    Ok(effective)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn spec(value: Value) -> ClusterSpec {
        serde_json::from_value(value).expect("cluster spec")
    }

    fn store(destination: &str, retention: Option<&str>) -> ObjectStoreSpec {
        serde_json::from_value(json!({
            "configuration": {
                "destinationPath": destination,
                "endpointURL": "http://minio:9000",
                "s3Credentials": {
                    "accessKeyId": {"name": "minio", "key": "ACCESS_KEY_ID"},
                    "secretAccessKey": {"name": "minio", "key": "ACCESS_SECRET_KEY"}
                },
                "wal": {"compression": "gzip"}
            },
            "retentionPolicy": retention
        }))
        .expect("object store")
    }

    /// The store block `store(destination)` resolves to under `server`.
    fn resolved(destination: &str, server: &str) -> Value {
        json!({
            "destinationPath": destination,
            "endpointURL": "http://minio:9000",
            "s3Credentials": {
                "accessKeyId": {"name": "minio", "key": "ACCESS_KEY_ID"},
                "secretAccessKey": {"name": "minio", "key": "ACCESS_SECRET_KEY"}
            },
            "wal": {"compression": "gzip"},
            "serverName": server
        })
    }

    fn stores() -> BTreeMap<String, ObjectStoreSpec> {
        BTreeMap::from([
            ("store-a".to_string(), store("s3://a/", Some("30d"))),
            ("store-b".to_string(), store("s3://b/", None)),
        ])
    }

    fn plugin(parameters: Value, extra: Value) -> Value {
        let mut entry = json!({"name": BARMAN_CLOUD, "parameters": parameters});
        if let (Some(entry), Some(extra)) = (entry.as_object_mut(), extra.as_object()) {
            entry.extend(extra.clone());
        }
        entry
    }

    #[test]
    fn plugin_stores_become_the_in_tree_stores_they_stand_for() {
        let external = |name: &str, parameters: Value| json!({"name": name, "plugin": {"name": BARMAN_CLOUD, "parameters": parameters}});
        let cases: Vec<(&str, Value, Value)> = vec![
            (
                "an archiver entry: backup store under the cluster's name, the store's retention",
                json!({"plugins": [plugin(json!({"barmanObjectName": "store-a"}),
                                          json!({"isWALArchiver": true}))]}),
                json!({"barmanObjectStore": resolved("s3://a/", "pg"), "retentionPolicy": "30d"}),
            ),
            (
                "serverName names the folder; the Cluster's backup target is kept",
                json!({"backup": {"target": "primary"},
                       "plugins": [plugin(json!({"barmanObjectName": "store-b", "serverName": "old-pg"}),
                                          json!({"isWALArchiver": true}))]}),
                json!({"barmanObjectStore": resolved("s3://b/", "old-pg"), "target": "primary"}),
            ),
            (
                "an entry without isWALArchiver archives and backs up too, as in CloudNativePG",
                json!({"plugins": [plugin(json!({"barmanObjectName": "store-b"}), json!({}))]}),
                json!({"barmanObjectStore": resolved("s3://b/", "pg")}),
            ),
            (
                "enabled: false turns the plugin off",
                json!({"plugins": [plugin(json!({"barmanObjectName": "store-a"}),
                                          json!({"enabled": false, "isWALArchiver": true}))]}),
                Value::Null,
            ),
        ];
        for (why, input, want_backup) in cases {
            let got = resolve_plugin_stores("pg", &spec(input.clone()), &stores()).expect(why);
            assert_eq!(
                serde_json::to_value(&got.backup).expect("json"),
                want_backup,
                "{why}"
            );
            assert_eq!(got.plugins, spec(input).plugins, "{why}: entries kept");
        }

        // External clusters: the plugin's store, under serverName or else this cluster's name.
        let input = spec(json!({
            "bootstrap": {"recovery": {"source": "origin"}},
            "replica": {"source": "other", "primary": "pg"},
            "externalClusters": [
                external("origin", json!({"barmanObjectName": "store-a", "serverName": "cluster-example"})),
                external("other", json!({"barmanObjectName": "store-b"})),
                {"name": "streaming", "connectionParameters": {"host": "h"}},
            ]
        }));
        let got = resolve_plugin_stores("pg", &input, &stores()).expect("resolved");
        let stores_of: Vec<Value> = got
            .external_clusters
            .iter()
            .map(|e| serde_json::to_value(&e.barman_object_store).expect("json"))
            .collect();
        assert_eq!(
            stores_of,
            [
                resolved("s3://a/", "cluster-example"),
                resolved("s3://b/", "pg"),
                Value::Null
            ]
        );
        assert_eq!(got.backup, None, "no spec.plugins: no archive");
        assert!(
            got.external_clusters.iter().all(|e| e.plugin.is_none()),
            "resolved entries read as in-tree ones"
        );
    }

    #[test]
    fn a_spec_without_plugins_is_unchanged() {
        let input = spec(json!({
            "instances": 3,
            "backup": {"barmanObjectStore": {"destinationPath": "s3://x/"}, "retentionPolicy": "7d"},
            "externalClusters": [{"name": "o", "barmanObjectStore": {"destinationPath": "s3://o/"}}]
        }));
        assert_eq!(
            resolve_plugin_stores("pg", &input, &BTreeMap::new()),
            Ok(input)
        );
    }

    #[test]
    fn a_missing_store_is_named_by_its_field_when_it_is_needed() {
        let archive_missing = spec(json!({
            "plugins": [plugin(json!({"barmanObjectName": "gone"}), json!({"isWALArchiver": true}))]
        }));
        let err = resolve_plugin_stores("pg", &archive_missing, &stores()).expect_err("missing");
        assert_eq!(
            err,
            MissingObjectStore {
                field: "spec.plugins[0].parameters.barmanObjectName".into(),
                name: "gone".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "spec.plugins[0].parameters.barmanObjectName: ObjectStore \"gone\" does not exist in the Cluster's namespace"
        );

        let externals = |source: Option<&str>| {
            let mut s = json!({"externalClusters": [
                {"name": "a", "plugin": {"name": BARMAN_CLOUD, "parameters": {"barmanObjectName": "store-a"}}},
                {"name": "b", "plugin": {"name": BARMAN_CLOUD, "parameters": {"barmanObjectName": "gone"}}}
            ]});
            if let Some(source) = source {
                s["bootstrap"] = json!({"recovery": {"source": source}});
            }
            spec(s)
        };
        assert_eq!(
            resolve_plugin_stores("pg", &externals(Some("b")), &stores()),
            Err(MissingObjectStore {
                field: "spec.externalClusters[1].plugin.parameters.barmanObjectName".into(),
                name: "gone".into()
            })
        );
        // Not a source: left without a store, like a missing Secret of an unused entry.
        let got = resolve_plugin_stores("pg", &externals(Some("a")), &stores()).expect("unused");
        assert!(got.external_clusters[0].barman_object_store.is_some());
        assert_eq!(got.external_clusters[1].barman_object_store, None);
    }

    #[test]
    fn fields_of_plugin_stores_are_named_where_the_user_wrote_them() {
        let input = spec(json!({
            "plugins": [plugin(json!({"barmanObjectName": "archive"}), json!({"isWALArchiver": true}))],
            "externalClusters": [
                {"name": "a", "barmanObjectStore": {"destinationPath": "s3://a/"}},
                {"name": "b", "plugin": {"name": BARMAN_CLOUD, "parameters": {"barmanObjectName": "origin"}}}
            ]
        }));
        let cases = [
            (
                "spec.backup.barmanObjectStore.s3Credentials.accessKeyId",
                "ObjectStore \"archive\" spec.configuration.s3Credentials.accessKeyId (named by spec.plugins[0].parameters.barmanObjectName)",
            ),
            (
                "spec.externalClusters[1].barmanObjectStore.endpointCA",
                "ObjectStore \"origin\" spec.configuration.endpointCA (named by spec.externalClusters[1].plugin.parameters.barmanObjectName)",
            ),
            (
                "spec.externalClusters[0].barmanObjectStore.endpointCA",
                "spec.externalClusters[0].barmanObjectStore.endpointCA",
            ),
            (
                "spec.managed.roles[0].passwordSecret",
                "spec.managed.roles[0].passwordSecret",
            ),
        ];
        for (field, want) in cases {
            assert_eq!(written_field("pg", &input, field), want, "{field}");
        }
    }

    #[test]
    fn references_list_every_named_store_with_its_field() {
        let input = spec(json!({
            "plugins": [
                plugin(json!({"barmanObjectName": "off"}), json!({"enabled": false})),
                plugin(json!({"barmanObjectName": "store-a"}), json!({"isWALArchiver": true}))
            ],
            "replica": {"source": "b", "primary": "a"},
            "externalClusters": [
                {"name": "a", "plugin": {"name": BARMAN_CLOUD, "parameters": {"barmanObjectName": "store-a"}}},
                {"name": "b", "plugin": {"name": BARMAN_CLOUD, "parameters": {"barmanObjectName": "store-b"}}}
            ]
        }));
        let got: Vec<(String, String, bool)> = object_store_references("pg", &input)
            .into_iter()
            .map(|r| (r.field, r.name, r.required))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "spec.plugins[1].parameters.barmanObjectName".to_string(),
                    "store-a".to_string(),
                    true
                ),
                (
                    "spec.externalClusters[0].plugin.parameters.barmanObjectName".to_string(),
                    "store-a".to_string(),
                    false
                ),
                (
                    "spec.externalClusters[1].plugin.parameters.barmanObjectName".to_string(),
                    "store-b".to_string(),
                    true
                ),
            ]
        );
    }
}
