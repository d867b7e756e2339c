//! `spec.replica` and `spec.externalClusters`: distributed topology and other reachable servers.

use crate::barman::BarmanObjectStoreConfiguration;
use k8s_openapi::api::core::v1::SecretKeySelector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Replica-cluster configuration. In a distributed topology every cluster carries the same
/// `primary`, and the one whose `self` (or name) equals it is the primary cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaClusterConfiguration {
    /// The name of this cluster in the topology. Default: `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "self")]
    pub self_name: Option<String>,
    /// The name of the cluster that is primary in the topology.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// The external cluster this replica replicates from (object store and/or streaming).
    pub source: String,
    /// Explicitly make this cluster a replica (`true`) or a primary (`false`). Cannot be combined
    /// with `primary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Demotion token of the former primary cluster. The replica promotes only once it has
    /// replayed exactly to the token's checkpoint, so nothing is lost and the former primary can
    /// follow without a re-clone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_token: Option<String>,
    /// Delay replay by this duration (`recovery_min_apply_delay`), e.g. `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_apply_delay: Option<String>,
}

impl ReplicaClusterConfiguration {
    /// Whether a cluster named `cluster_name` with this configuration runs as a replica.
    pub fn is_replica(&self, cluster_name: &str) -> bool {
        if let Some(enabled) = self.enabled {
            return enabled;
        }
        match &self.primary {
            Some(primary) => self.self_name.as_deref().unwrap_or(cluster_name) != primary,
            None => false,
        }
    }
}

/// Another PostgreSQL server reachable from this cluster, by streaming and/or object store.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalCluster {
    /// Name referenced by `replica.source`, `bootstrap.*.source` and subscriptions.
    pub name: String,
    /// libpq connection parameters (host, port, dbname, user, sslmode, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub connection_parameters: BTreeMap<String, String>,
    /// Client certificate for TLS authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_cert: Option<SecretKeySelector>,
    /// Client key for TLS authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_key: Option<SecretKeySelector>,
    /// CA used to verify the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_root_cert: Option<SecretKeySelector>,
    /// Password for password authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretKeySelector>,
    /// The server's object store, to restore backups and WAL from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barman_object_store: Option<BarmanObjectStoreConfiguration>,
    /// A CloudNativePG-I plugin that reads this server's backups and WAL (instead of
    /// `barmanObjectStore`): `barman-cloud.cloudnative-pg.io` with `parameters.barmanObjectName`
    /// naming an ObjectStore, read under `parameters.serverName` (default: this cluster's name,
    /// as the plugin does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<crate::common::PluginConfiguration>,
}

impl super::ClusterSpec {
    /// The external clusters the instances reach: the sources of `bootstrap.pg_basebackup`,
    /// `bootstrap.recovery` and `replica`, in that order. A reference an entry of
    /// `externalClusters` holds (a Secret, an ObjectStore) must exist only for these; the other
    /// entries are not read. Pure.
    pub fn external_clusters_in_use(&self) -> Vec<&str> {
        let bootstrap = self.bootstrap.as_ref();
        [
            bootstrap
                .and_then(|b| b.pg_basebackup.as_ref())
                .map(|p| p.source.as_str()),
            bootstrap
                .and_then(|b| b.recovery.as_ref())
                .and_then(|r| r.source.as_deref()),
            self.replica.as_ref().map(|r| r.source.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
