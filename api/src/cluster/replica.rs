//! `spec.replica` and `spec.externalClusters`: distributed topology and other reachable servers.

use crate::barman::BarmanObjectStoreConfiguration;
use k8s_openapi::api::core::v1::SecretKeySelector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Replica-cluster configuration. In a distributed topology every cluster carries the same
/// `primary`, and the one whose `self` (or name) equals it is the primary cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
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
    /// The federation's fencing lease (a pgfed field). The federation controller sets it on
    /// every member when `failover.mode` is `Automatic`: while this cluster is the primary
    /// cluster, its primary instance creates and renews the lease, and stops accepting writes
    /// (postgres is fenced) when it cannot renew it within `leaseDuration`, so the controller can
    /// promote a replica region once the lease has stopped changing. Replica clusters and
    /// standbys never write it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fencing_lease: Option<FencingLeaseConfiguration>,
}

/// The object key of the fencing lease when `fencingLease.key` is unset.
pub const DEFAULT_FENCING_LEASE_KEY: &str = "pgfed-fencing-lease.json";
/// How long the fencing lease lasts when `fencingLease.leaseDuration` is unset.
pub const DEFAULT_FENCING_LEASE_DURATION: &str = "30s";
/// The shortest `fencingLease.leaseDuration`: renewals happen every third of it, and a shorter
/// one would fence a primary over an object store's ordinary hiccups.
pub const MIN_FENCING_LEASE_DURATION: std::time::Duration = std::time::Duration::from_secs(5);

/// Where the federation's fencing lease lives and how this member holds it. Every write of the
/// lease is conditional (create-if-absent, replace-if-unchanged), so the object store must
/// support conditional writes (S3 and S3-compatible stores, Azure Blob, Google Cloud Storage).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FencingLeaseConfiguration {
    /// The object store holding the lease, in the same shape as `backup.barmanObjectStore`
    /// (credentials are read from the same kind of Secret references). The lease object is
    /// `<destinationPath>/<key>`; `serverName` and the `wal`/`data` settings are not used.
    pub object_store: BarmanObjectStoreConfiguration,
    /// Which federation the lease belongs to (`<namespace>/<name>/<uid>` of the Federation), as
    /// written into the lease: a lease left by another federation at the same key is never
    /// taken for this one's.
    pub federation: String,
    /// The object key of the lease under `objectStore.destinationPath`.
    /// Default: `pgfed-fencing-lease.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// This member's name in the lease. Default: `replica.self` (else the cluster's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// How long the primary keeps accepting writes after a renewal of the lease starts, e.g.
    /// `30s` (the default); at least `5s`. It renews every third of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration: Option<String>,
}

impl FencingLeaseConfiguration {
    /// The object key of the lease, the default when unset.
    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or(DEFAULT_FENCING_LEASE_KEY)
    }

    /// The holder name of the member whose `spec.replica` carries this configuration: `holder`,
    /// else `replica.self`, else `cluster_name`.
    pub fn holder<'a>(
        &'a self,
        replica: &'a ReplicaClusterConfiguration,
        cluster_name: &'a str,
    ) -> &'a str {
        self.holder
            .as_deref()
            .or(replica.self_name.as_deref())
            .unwrap_or(cluster_name)
    }

    /// The lease duration, the default when unset; an error for an unreadable duration (the
    /// validation refuses it, and below the minimum, before it reaches an instance).
    pub fn lease_duration(
        &self,
    ) -> Result<std::time::Duration, crate::validation::formats::FormatError> {
        crate::validation::formats::parse_duration(
            self.lease_duration
                .as_deref()
                .unwrap_or(DEFAULT_FENCING_LEASE_DURATION),
        )
    }
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
    /// The object store of `replica.fencingLease`, whose credentials the instances need like
    /// those of `backup.barmanObjectStore`. Pure.
    pub fn fencing_lease_store(&self) -> Option<&BarmanObjectStoreConfiguration> {
        self.replica
            .as_ref()
            .and_then(|r| r.fencing_lease.as_ref())
            .map(|l| &l.object_store)
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fencing_lease_defaults() {
        let replica = |yaml: &str| -> ReplicaClusterConfiguration {
            serde_norway::from_str(yaml).expect("replica")
        };
        let bare = replica(
            "source: b\nfencingLease: {objectStore: {destinationPath: 's3://l/'}, federation: f}",
        );
        let lease = bare.fencing_lease.clone().expect("lease");
        assert_eq!(lease.key(), "pgfed-fencing-lease.json");
        assert_eq!(
            lease.holder(&bare, "pg"),
            "pg",
            "no self: the cluster's name"
        );
        assert_eq!(lease.lease_duration().ok(), Some(Duration::from_secs(30)));
        let named = replica(
            "self: east\nsource: b\nfencingLease: {objectStore: {destinationPath: 's3://l/'}, federation: f, key: k.json, leaseDuration: 1m}",
        );
        let lease = named.fencing_lease.clone().expect("lease");
        assert_eq!(lease.key(), "k.json");
        assert_eq!(lease.holder(&named, "pg"), "east", "replica.self");
        assert_eq!(lease.lease_duration().ok(), Some(Duration::from_secs(60)));
        let explicit = FencingLeaseConfiguration {
            holder: Some("h".into()),
            ..lease
        };
        assert_eq!(explicit.holder(&named, "pg"), "h");
    }
}
