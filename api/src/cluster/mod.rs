//! The `Cluster` kind: one PostgreSQL primary with its standbys in one Kubernetes cluster.
//!
//! Field names and shapes are CloudNativePG's so that a CloudNativePG manifest applies with only
//! `apiVersion` changed. Sub-structures live in one module per area.

mod backup;
mod bootstrap;
mod certificates;
pub mod fencing;
mod managed;
mod monitoring;
mod postgres;
mod probes;
mod replica;
mod scheduling;
mod status;
mod storage;

pub use backup::*;
pub use bootstrap::*;
pub use certificates::*;
pub use managed::*;
pub use monitoring::*;
pub use postgres::*;
pub use probes::*;
pub use replica::*;
pub use scheduling::*;
pub use status::*;
pub use storage::*;

use crate::common::{EmbeddedObjectMetadata, LocalObjectReference, PluginConfiguration};
use k8s_openapi::api::core::v1::{
    EnvFromSource, EnvVar, EphemeralVolumeSource, PodSecurityContext, ProjectedVolumeSource,
    ResourceRequirements, SeccompProfile, SecurityContext, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Desired state of a PostgreSQL cluster.
///
/// The CEL rules below are the part of admission the API server can enforce by itself, so a
/// cluster installed without the webhook still refuses the most damaging updates; the webhook
/// checks the same rules and everything else.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, KubeSchema, PartialEq)]
#[kube(
    group = "pgfed.io",
    version = "v1",
    kind = "Cluster",
    namespaced,
    status = "ClusterStatus",
    shortname = "pgc",
    category = "pgfed",
    derive = "Default",
    derive = "PartialEq",
    doc = "A PostgreSQL cluster: a primary and its standbys, with backups, pooling and monitoring.",
    scale(
        spec_replicas_path = ".spec.instances",
        status_replicas_path = ".status.instances",
        label_selector_path = ".status.selector"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Instances",
        type_ = "integer",
        json_path = ".status.instances",
        description = "Number of instances"
    ),
    printcolumn(
        name = "Ready",
        type_ = "integer",
        json_path = ".status.readyInstances",
        description = "Number of ready instances"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.phase",
        description = "Cluster phase"
    ),
    printcolumn(
        name = "Primary",
        type_ = "string",
        json_path = ".status.currentPrimary",
        description = "Primary pod"
    )
)]
#[x_kube(
    validation = Rule::new("!has(self.imageName) || !has(self.imageCatalogRef)")
        .message("imageName and imageCatalogRef are mutually exclusive"),
    validation = Rule::new(
        "(has(self.postgresUID) ? self.postgresUID : 26) == (has(oldSelf.postgresUID) ? oldSelf.postgresUID : 26)"
    )
    .message("postgresUID is immutable: the data directory is owned by the old UID"),
    validation = Rule::new(
        "(has(self.postgresGID) ? self.postgresGID : 26) == (has(oldSelf.postgresGID) ? oldSelf.postgresGID : 26)"
    )
    .message("postgresGID is immutable: the data directory is owned by the old GID"),
    validation = Rule::new("!has(oldSelf.walStorage) || has(self.walStorage)")
        .message("walStorage cannot be removed once added: the WAL volume holds data not yet archived")
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// Free-text description of the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Labels and annotations every object created for this cluster inherits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherited_metadata: Option<EmbeddedObjectMetadata>,
    /// The PostgreSQL image to run. Mutually exclusive with `imageCatalogRef`. Defaults to the
    /// operator's default PostgreSQL image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
    /// Take the image from an ImageCatalog or ClusterImageCatalog entry for a major version.
    /// Mutually exclusive with `imageName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_catalog_ref: Option<ImageCatalogRef>,
    /// Pull policy of the PostgreSQL image (`Always`, `IfNotPresent`, `Never`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Secrets used to pull the PostgreSQL image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// Scheduler for the instance pods (default: the cluster's default scheduler).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    /// UID the postgres process runs as. Default: 26.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "postgresUID")]
    #[schemars(range(min = 0))]
    pub postgres_uid: Option<i64>,
    /// GID the postgres process runs as. Default: 26.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "postgresGID")]
    #[schemars(range(min = 0))]
    pub postgres_gid: Option<i64>,
    /// Number of instances (one primary plus standbys). Minimum 1, default 1.
    #[serde(default = "default_instances")]
    #[schemars(range(min = 1))]
    pub instances: i32,
    /// Minimum number of synchronous standbys when quorum-based synchronous replication is on. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_sync_replicas: Option<i32>,
    /// Maximum number of synchronous standbys. Must be less than `instances`. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_sync_replicas: Option<i32>,
    /// PostgreSQL configuration: parameters, pg_hba, pg_ident, libraries, synchronous replication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgresql: Option<PostgresConfiguration>,
    /// Replication slots for high availability and their synchronization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_slots: Option<ReplicationSlotsConfiguration>,
    /// How the cluster's first instance is created: initdb (default), recovery or pg_basebackup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<BootstrapConfiguration>,
    /// Makes this cluster a replica of another one (distributed topology).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<ReplicaClusterConfiguration>,
    /// Secret with the `postgres` superuser password (`username`/`password`). Generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superuser_secret: Option<LocalObjectReference>,
    /// Allow connecting as `postgres` with a password. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_superuser_access: Option<bool>,
    /// TLS certificates: user-provided or generated by the operator's per-cluster CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<CertificatesConfiguration>,
    /// Storage of the data directory (PGDATA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageConfiguration>,
    /// Separate storage for WAL (pg_wal). Cannot be removed once added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_storage: Option<StorageConfiguration>,
    /// Use an ephemeral volume instead of a PVC for scratch space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::common::kubernetes_summaries)]
    pub ephemeral_volume_source: Option<EphemeralVolumeSource>,
    /// Metadata for the ServiceAccount created for the instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_template: Option<ServiceAccountTemplate>,
    /// Run the instances under this existing ServiceAccount of the namespace instead of one the
    /// operator creates (e.g. to share a cloud IAM identity). Excludes `serviceAccountTemplate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("serviceAccountName is immutable"))]
    pub service_account_name: Option<String>,
    /// Size limits of the scratch volumes every instance mounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_volumes_size_limit: Option<EphemeralVolumesSizeLimit>,
    /// Seconds an instance may take to start before it is restarted. Default 3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub start_delay: Option<i32>,
    /// Seconds an instance may take to stop (smart then fast shutdown). Default 1800.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub stop_delay: Option<i32>,
    /// Seconds of the stop delay reserved for a smart shutdown before a fast one. Default 180.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub smart_shutdown_timeout: Option<i32>,
    /// Seconds the primary may take to shut down during a switchover. Default 3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub switchover_delay: Option<i32>,
    /// Seconds to wait after the primary fails before failing over. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub failover_delay: Option<i32>,
    /// Seconds the liveness probe may fail before the instance is restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub liveness_probe_timeout: Option<i32>,
    /// Scheduling: anti-affinity, node selectors, tolerations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<AffinityConfiguration>,
    /// Topology spread constraints for the instance pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = crate::common::kubernetes_summaries)]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// CPU and memory of the postgres container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::common::kubernetes_summaries)]
    pub resources: Option<ResourceRequirements>,
    /// PriorityClass of the instance pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Whether the primary is updated automatically (`unsupervised`, default) or waits for a user
    /// to switch over or restart it (`supervised`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_update_strategy: Option<PrimaryUpdateStrategy>,
    /// How the primary is updated: restart in place (`restart`, default) or `switchover` first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_update_method: Option<PrimaryUpdateMethod>,
    /// Backups: object store, volume snapshots, retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupConfiguration>,
    /// Node maintenance: whether PVCs are reused when a node drains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_maintenance_window: Option<NodeMaintenanceWindow>,
    /// Metrics exporter configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<MonitoringConfiguration>,
    /// Other clusters this one can reach: for replica clusters, recovery, import and subscriptions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_clusters: Vec<ExternalCluster>,
    /// Log level of the instance manager: error, warning, info (default), debug, trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
    /// Extra projected volume mounted at /projected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::common::kubernetes_summaries)]
    pub projected_volume_template: Option<ProjectedVolumeSource>,
    /// Environment variables for the postgres container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = crate::common::kubernetes_summaries)]
    pub env: Vec<EnvVar>,
    /// Environment variables from ConfigMaps and Secrets for the postgres container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = crate::common::kubernetes_summaries)]
    pub env_from: Vec<EnvFromSource>,
    /// Declaratively managed roles and services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedConfiguration>,
    /// Seccomp profile of the instance pods (default RuntimeDefault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::common::kubernetes_summaries)]
    pub seccomp_profile: Option<SeccompProfile>,
    /// Pod-level security context override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::common::kubernetes_summaries)]
    pub pod_security_context: Option<PodSecurityContext>,
    /// Container-level security context override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::common::kubernetes_summaries)]
    pub security_context: Option<SecurityContext>,
    /// Tablespaces, each on its own volume.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tablespaces: Vec<TablespaceConfiguration>,
    /// Create a PodDisruptionBudget for the primary and the standbys. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "enablePDB")]
    pub enable_pdb: Option<bool>,
    /// Startup, readiness and liveness probe tuning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<ProbesConfiguration>,
    /// Timings of the Kubernetes Lease that gates who may be primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_lease: Option<PrimaryLeaseConfiguration>,
    /// CloudNativePG-I plugins of this cluster, with their parameters. pgfed serves
    /// `barman-cloud.cloudnative-pg.io` in-process: its enabled entry archives WAL and takes
    /// backups into the ObjectStore `parameters.barmanObjectName` names, with that store's
    /// retention policy, as `backup.barmanObjectStore` would.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginConfiguration>,
    /// Named pod selectors usable as `${podselector:NAME}` in the address of a `pg_hba` rule:
    /// the rule is expanded to the IPs of the matching pods of this namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pod_selector_refs: Vec<PodSelectorRef>,
}

/// Size limits of the instances' scratch volumes.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EphemeralVolumesSizeLimit {
    /// Limit of the shared memory volume (`/dev/shm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm: Option<Quantity>,
    /// Limit of the temporary data volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporary_data: Option<Quantity>,
}

/// A named label selector of pods, for `pg_hba` addresses.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct PodSelectorRef {
    /// The NAME of `${podselector:NAME}`: lower case letters, digits, `-` and `_`.
    pub name: String,
    /// The pods whose IPs the rule admits.
    #[schemars(transform = crate::common::kubernetes_summaries)]
    pub selector: LabelSelector,
}

fn default_instances() -> i32 {
    1
}

/// A reference to an image catalog entry.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ImageCatalogRef {
    /// API group of the catalog (`pgfed.io`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// `ImageCatalog` or `ClusterImageCatalog`.
    pub kind: String,
    /// Name of the catalog.
    pub name: String,
    /// PostgreSQL major version to take from the catalog.
    #[schemars(range(min = 10))]
    pub major: i32,
}

/// Metadata for the generated ServiceAccount.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct ServiceAccountTemplate {
    /// Labels and annotations of the ServiceAccount (its name is always the cluster's).
    pub metadata: ServiceTemplateMetadata,
}

/// Whether primary updates are automatic.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PrimaryUpdateStrategy {
    /// Update the primary automatically.
    Unsupervised,
    /// Wait for the user to switch over or restart the primary.
    Supervised,
}

/// How the primary is updated.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PrimaryUpdateMethod {
    /// Restart the primary in place.
    Restart,
    /// Switch over to an updated standby first.
    Switchover,
}

/// Node maintenance behaviour.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NodeMaintenanceWindow {
    /// While a maintenance is in progress: true (the default) recreates a standby whose pod is
    /// gone on its existing PVCs (on node-local storage it waits for its node to come back) and
    /// lifts the standbys' PodDisruptionBudget; false removes that standby and its PVCs and
    /// clones a new one, with a new name, wherever it can be scheduled, keeping the budgets so
    /// standbys go one at a time. The primary always comes back on its own PVCs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "reusePVC")]
    pub reuse_pvc: Option<bool>,
    /// Nodes are being drained for maintenance: with `reusePVC` a one-instance cluster lifts its
    /// PodDisruptionBudget so its pod may move, and `reusePVC` decides what becomes of evicted
    /// standbys. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<bool>,
}

/// Log level of the instance manager.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warning,
    /// Informational messages (default).
    Info,
    /// Debug messages.
    Debug,
    /// Everything.
    Trace,
}

/// Timings of the primary Lease.
#[derive(Clone, Debug, Default, Deserialize, Serialize, KubeSchema, PartialEq, Eq)]
#[x_kube(
    validation = Rule::new(
        "(has(self.renewDeadlineSeconds) ? self.renewDeadlineSeconds : 10) < (has(self.leaseDurationSeconds) ? self.leaseDurationSeconds : 15)"
    )
    .message("renewDeadlineSeconds must be less than leaseDurationSeconds (defaults 10 and 15)"),
    validation = Rule::new(
        "(has(self.retryPeriodSeconds) ? self.retryPeriodSeconds : 2) < (has(self.renewDeadlineSeconds) ? self.renewDeadlineSeconds : 10)"
    )
    .message("retryPeriodSeconds must be less than renewDeadlineSeconds (defaults 2 and 10)")
)]
#[serde(rename_all = "camelCase")]
pub struct PrimaryLeaseConfiguration {
    /// How long a lease is valid without renewal. Default 15.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration_seconds: Option<i32>,
    /// How long the primary keeps trying to renew before giving up. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_deadline_seconds: Option<i32>,
    /// Seconds between renewal attempts. Default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub retry_period_seconds: Option<i32>,
    /// Lease duration written when the primary gives the lease up on a clean shutdown, so a
    /// standby can take over without waiting out `leaseDurationSeconds`. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub released_lease_duration_seconds: Option<i32>,
}
