//! The edge of [`pgfed_api::plugins`]: reads the ObjectStores a Cluster's Barman Cloud plugin
//! entries name (one `get` per name, in the Cluster's namespace) and returns the effective
//! Cluster, whose spec carries them as in-tree `barmanObjectStore`s. The Cluster and Backup
//! controllers work on that Cluster only, so pods, credentials and the managers' configuration
//! are built the same way whichever form the user wrote.

use kube::api::Api;
use kube::{Client, ResourceExt};
use pgfed_api::cluster::Cluster;
use pgfed_api::object_store::ObjectStore;
use pgfed_api::plugins::{MissingObjectStore, object_store_references, resolve_plugin_stores};
use std::collections::{BTreeMap, BTreeSet};

/// Why the effective Cluster could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PluginStoreError {
    /// An ObjectStore the cluster needs does not exist (the user must create it or fix the name).
    #[error(transparent)]
    Missing(#[from] MissingObjectStore),
    /// The API server did not answer a read.
    #[error("reading ObjectStore {namespace}/{name}: {source}")]
    Read {
        /// The Cluster's namespace.
        namespace: String,
        /// The ObjectStore.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
}

/// The ObjectStores of `namespace` among `names` that exist, by name.
async fn read_stores(
    client: &Client,
    namespace: &str,
    names: BTreeSet<String>,
) -> Result<BTreeMap<String, pgfed_api::object_store::ObjectStoreSpec>, PluginStoreError> {
    let api: Api<ObjectStore> = Api::namespaced(client.clone(), namespace);
    let mut stores = BTreeMap::new();
    for name in names {
        let found = api
            .get_opt(&name)
            .await
            .map_err(|source| PluginStoreError::Read {
                namespace: namespace.to_string(),
                name: name.clone(),
                source,
            })?;
        if let Some(store) = found {
            stores.insert(name, store.spec);
        }
    }
    Ok(stores)
}

/// `cluster` with the stores its plugin entries name filled in; `cluster` itself when it names
/// none (no read then).
pub async fn effective_cluster(
    client: &Client,
    cluster: &Cluster,
) -> Result<Cluster, PluginStoreError> {
    let name = cluster.name_any();
    let references = object_store_references(&name, &cluster.spec);
    if references.is_empty() {
        return Ok(cluster.clone());
    }
    let namespace = cluster.namespace().unwrap_or_default();
    let names = references.into_iter().map(|r| r.name).collect();
    let stores = read_stores(client, &namespace, names).await?;
    let mut effective = cluster.clone();
    effective.spec = resolve_plugin_stores(&name, &cluster.spec, &stores)?;
    Ok(effective)
}

#[cfg(test)]
mod tests {
    use crate::cluster::build::config::{DynamicSettings, manager_config};
    use crate::cluster::build::credentials::{external_cluster_secrets, object_store_secrets};
    use crate::cluster::build::meta::Owner;
    use crate::cluster::build::meta::tests::stored_cluster;
    use pgfed_api::cluster::Cluster;
    use pgfed_api::object_store::ObjectStoreSpec;
    use pgfed_api::plugins::resolve_plugin_stores;
    use serde_json::{Value, json};
    use std::collections::BTreeMap;

    fn cluster(spec: Value) -> Cluster {
        let mut cluster = stored_cluster(3);
        cluster.spec = serde_json::from_value(spec).expect("cluster spec");
        cluster
    }

    fn store_configuration(bucket: &str) -> Value {
        json!({
            "destinationPath": format!("s3://{bucket}/"),
            "endpointURL": "http://minio:9000",
            "endpointCA": {"name": format!("{bucket}-ca"), "key": "ca.crt"},
            "s3Credentials": {
                "accessKeyId": {"name": format!("{bucket}-creds"), "key": "ACCESS_KEY_ID"},
                "secretAccessKey": {"name": format!("{bucket}-creds"), "key": "ACCESS_SECRET_KEY"}
            },
            "wal": {"compression": "zstd", "maxParallel": 4},
            "data": {"compression": "gzip", "jobs": 2}
        })
    }

    /// A cluster written with plugins, and the same cluster written with in-tree stores.
    fn twins() -> (Cluster, Cluster, BTreeMap<String, ObjectStoreSpec>) {
        let plugin = |parameters: Value| json!({"name": pgfed_api::plugins::BARMAN_CLOUD, "parameters": parameters});
        let with_plugins = cluster(json!({
            "instances": 3,
            "bootstrap": {"recovery": {"source": "origin"}},
            "backup": {"target": "primary"},
            "plugins": [{"name": pgfed_api::plugins::BARMAN_CLOUD, "isWALArchiver": true,
                         "parameters": {"barmanObjectName": "archive"}}],
            "externalClusters": [{"name": "origin",
                "plugin": plugin(json!({"barmanObjectName": "origin-store", "serverName": "old-pg"}))}]
        }));
        let mut archive = store_configuration("archive");
        archive["serverName"] = json!("pg");
        let mut origin = store_configuration("origin");
        origin["serverName"] = json!("old-pg");
        let in_tree = cluster(json!({
            "instances": 3,
            "bootstrap": {"recovery": {"source": "origin"}},
            "backup": {"target": "primary", "retentionPolicy": "14d", "barmanObjectStore": archive},
            "externalClusters": [{"name": "origin", "barmanObjectStore": origin}]
        }));
        let stores = BTreeMap::from([
            (
                "archive".to_string(),
                serde_json::from_value(json!({"configuration": store_configuration("archive"),
                                              "retentionPolicy": "14d"}))
                .expect("store"),
            ),
            (
                "origin-store".to_string(),
                serde_json::from_value(json!({"configuration": store_configuration("origin")}))
                    .expect("store"),
            ),
        ]);
        (with_plugins, in_tree, stores)
    }

    #[test]
    fn a_plugin_cluster_builds_what_its_in_tree_twin_builds() {
        let (with_plugins, in_tree, stores) = twins();
        let mut effective = with_plugins.clone();
        effective.spec =
            resolve_plugin_stores("pg", &with_plugins.spec, &stores).expect("stores exist");
        let dynamic = DynamicSettings {
            target_primary: Some("pg-1".into()),
            instances: vec!["pg-1".into(), "pg-2".into()],
            version: 3,
            ..DynamicSettings::default()
        };
        let config = |c: &Cluster| {
            let owner = Owner::of(c).expect("owner");
            serde_json::to_value(manager_config(c, &owner, &dynamic, None)).expect("json")
        };
        assert_eq!(config(&effective), config(&in_tree));
        assert_eq!(config(&effective)["backup"]["retentionPolicy"], "14d");

        let all_exist = |_: &str| true;
        let mounted = object_store_secrets(&effective, all_exist).expect("mounted");
        assert_eq!(
            mounted,
            object_store_secrets(&in_tree, all_exist).expect("mounted")
        );
        assert_eq!(
            mounted,
            ["archive-ca", "archive-creds", "origin-ca", "origin-creds"]
        );
        assert_eq!(
            external_cluster_secrets(&effective, all_exist),
            external_cluster_secrets(&in_tree, all_exist)
        );
        // A missing credential of the store is named by the in-tree field it now sits in.
        let err = object_store_secrets(&effective, |n| n != "origin-creds").expect_err("missing");
        assert_eq!(
            err.field,
            "spec.externalClusters[0].barmanObjectStore.s3Credentials.accessKeyId"
        );
    }
}
