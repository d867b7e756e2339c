//! `status` of a Cluster, written by the operator. Phase strings are CloudNativePG's.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The phases a cluster can be in (the `status.phase` strings).
pub mod phase {
    /// The first instance is being created.
    pub const SETTING_UP_PRIMARY: &str = "Setting up primary";
    /// A standby is being created.
    pub const CREATING_REPLICA: &str = "Creating a new replica";
    /// Every instance is up and replicating.
    pub const HEALTHY: &str = "Cluster in healthy state";
    /// A planned switchover is running.
    pub const SWITCHOVER: &str = "Switchover in progress";
    /// The primary failed and a standby is being promoted.
    pub const FAILING_OVER: &str = "Failing over";
    /// Instances are being updated to a new image or configuration.
    pub const UPGRADING: &str = "Upgrading cluster";
    /// A supervised upgrade waits for the user.
    pub const UPGRADE_DELAYED: &str = "Cluster upgrade delayed";
    /// The operator waits for the user (e.g. a supervised switchover).
    pub const WAITING_FOR_USER: &str = "Waiting for user action";
    /// The primary restarts in place.
    pub const PRIMARY_RESTARTING: &str = "Primary instance is being restarted in-place";
    /// The primary restarts without a switchover.
    pub const PRIMARY_RESTARTING_WITHOUT_SWITCHOVER: &str =
        "Primary instance is being restarted without a switchover";
    /// Instances are starting.
    pub const WAITING_FOR_INSTANCES: &str = "Waiting for the instances to become active";
    /// Instance managers are being upgraded online.
    pub const ONLINE_UPGRADING: &str = "Online upgrade in progress";
    /// New configuration is being applied.
    pub const APPLYING_CONFIGURATION: &str = "Applying configuration";
    /// A replica cluster is becoming the primary cluster.
    pub const PROMOTING_TO_PRIMARY_CLUSTER: &str = "Promoting to primary cluster";
    /// Objects could not be created.
    pub const UNABLE_TO_CREATE_OBJECTS: &str = "Unable to create required cluster objects";
    /// The spec is invalid.
    pub const INVALID_DEFINITION: &str = "Invalid cluster definition";
    /// No instance can become primary without data loss.
    pub const UNRECOVERABLE: &str = "Cluster is unrecoverable and needs manual intervention";
    /// A volume is full.
    pub const NOT_ENOUGH_DISK_SPACE: &str = "Not enough disk space";

    /// Every phase, in the order above.
    pub const ALL: [&str; 18] = [
        SETTING_UP_PRIMARY,
        CREATING_REPLICA,
        HEALTHY,
        SWITCHOVER,
        FAILING_OVER,
        UPGRADING,
        UPGRADE_DELAYED,
        WAITING_FOR_USER,
        PRIMARY_RESTARTING,
        PRIMARY_RESTARTING_WITHOUT_SWITCHOVER,
        WAITING_FOR_INSTANCES,
        ONLINE_UPGRADING,
        APPLYING_CONFIGURATION,
        PROMOTING_TO_PRIMARY_CLUSTER,
        UNABLE_TO_CREATE_OBJECTS,
        INVALID_DEFINITION,
        UNRECOVERABLE,
        NOT_ENOUGH_DISK_SPACE,
    ];
}

/// Condition types set on a Cluster.
pub mod condition {
    /// All instances are ready.
    pub const READY: &str = "Ready";
    /// WAL archiving works.
    pub const CONTINUOUS_ARCHIVING: &str = "ContinuousArchiving";
    /// The last backup succeeded.
    pub const LAST_BACKUP_SUCCEEDED: &str = "LastBackupSucceeded";
    /// The first instance was created.
    pub const INITIALIZED: &str = "Initialized";
    /// All instances share one system identifier.
    pub const CONSISTENT_SYSTEM_ID: &str = "ConsistentSystemID";
    /// The synchronous replication topology matches the spec.
    pub const SYNC_REPLICATION_TOPOLOGY_SATISFIED: &str = "SyncReplicationTopologySatisfied";
    /// The designated primary of a replica cluster is transitioning.
    pub const REPLICA_CLUSTER_DESIGNATED_PRIMARY_TRANSITION: &str =
        "ReplicaClusterDesignatedPrimaryTransition";
    /// The cluster is fenced during a replica switch.
    pub const REPLICA_CLUSTER_FENCING: &str = "ReplicaClusterFencing";
    /// The cluster switches between primary and replica.
    pub const REPLICA_CLUSTER_SWITCH: &str = "ReplicaClusterSwitch";
}

/// The WAL position of a cluster's primary (or designated primary) when the operator read it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WalPosition {
    /// A primary cluster: the primary's current write LSN. A replica cluster: the LSN its
    /// designated primary has replayed.
    pub lsn: String,
    /// Timeline of that instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<u32>,
    /// When the operator read it (RFC 3339).
    pub observed_at: String,
    /// A replica cluster: commit time of the last transaction its designated primary replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_replay_time: Option<String>,
}

/// Observed state of a cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// Number of instance pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<i32>,
    /// Number of ready instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_instances: Option<i32>,
    /// Instance names by health: `healthy`, `replicating`, `failed`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub instances_status: BTreeMap<String, Vec<String>>,
    /// Names of all instances.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance_names: Vec<String>,
    /// Label selector of the instance pods (for the scale subresource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// The instance that is primary now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_primary: Option<String>,
    /// The instance that should be primary; differs from `currentPrimary` during a switchover or failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_primary: Option<String>,
    /// When `currentPrimary` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_primary_timestamp: Option<String>,
    /// Since when the current primary has been failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_primary_failing_since_timestamp: Option<String>,
    /// When `targetPrimary` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_primary_timestamp: Option<String>,
    /// Timeline of the primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "timelineID")]
    pub timeline_id: Option<i32>,
    /// Where the cluster's WAL stands, so a federation (or a person) can tell how far a replica
    /// cluster lags its source without a network path between them. Kept only on clusters with
    /// `spec.replica`, and refreshed at most every 10 seconds while it moves, so a busy cluster
    /// does not rewrite its status on every commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_position: Option<WalPosition>,
    /// Phase, one of CloudNativePG's phase strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Why the cluster is in this phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_reason: Option<String>,
    /// Standard conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Token published by this cluster when it was demoted from primary cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demotion_token: Option<String>,
    /// The last promotion token this cluster promoted with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_promotion_token: Option<String>,
    /// PostgreSQL system identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "systemID")]
    pub system_id: Option<String>,
    /// Certificates in use and their expirations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<CertificatesStatus>,
    /// The oldest point in time the cluster can be restored to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_recoverability_point: Option<String>,
    /// When the last backup succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_backup: Option<String>,
    /// When the last backup failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failed_backup: Option<String>,
    /// Name of the read-write service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_service: Option<String>,
    /// Name of the read-only service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_service: Option<String>,
    /// Reconciliation state of the managed roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_roles_status: Option<ManagedRolesStatus>,
    /// Reconciliation state of the tablespaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tablespaces_status: Vec<TablespaceState>,
    /// Number of PVCs of the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc_count: Option<i32>,
    /// PVCs not attached to any instance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "danglingPVC")]
    pub dangling_pvc: Vec<String>,
    /// PVCs in use and healthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "healthyPVC")]
    pub healthy_pvc: Vec<String>,
    /// PostgreSQL image in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The image (and its major version) that last ran on the data directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "pgDataImageInfo")]
    pub pg_data_image_info: Option<ImageInfo>,
    /// The image a major upgrade in progress moves the data directory to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "targetPgDataImageInfo")]
    pub target_pg_data_image_info: Option<ImageInfo>,
    /// PVCs being initialized.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "initializingPVC")]
    pub initializing_pvc: Vec<String>,
    /// PVCs being resized.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "resizingPVC")]
    pub resizing_pvc: Vec<String>,
    /// PVCs that cannot be used because a PVC of the same instance is missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "unusablePVC")]
    pub unusable_pvc: Vec<String>,
    /// Number of Jobs created for this cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_count: Option<i32>,
    /// Highest instance serial used so far (kept for CloudNativePG compatibility; unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_generated_node: Option<i32>,
    /// Role, IP and timeline each instance reported at the last reconciliation, by pod name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub instances_reported_state: BTreeMap<String, InstanceReportedState>,
    /// Where the instances run: topology labels per instance and the number of nodes used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<Topology>,
    /// What the primary enforced for synchronous replication (from its own
    /// `synchronous_standby_names`), kept so that a failover can prove the promoted standby holds
    /// every synchronously acknowledged commit (`postgresql.synchronous.failoverQuorum`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_quorum: Option<FailoverQuorumStatus>,
    /// Resource versions of the Secrets the instances read, so a change reaches them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_resource_version: Option<SecretsResourceVersion>,
    /// Resource versions of the ConfigMaps the instances read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_resource_version: Option<ConfigMapResourceVersion>,
    /// Oldest recovery point per backup method (RFC 3339).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub first_recoverability_point_by_method: BTreeMap<String, String>,
    /// Last successful backup per backup method (RFC 3339).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub last_successful_backup_by_method: BTreeMap<String, String>,
    /// Whether instance managers are upgraded in place, without restarting PostgreSQL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_update_enabled: Option<bool>,
    /// Builds of the instance manager available per CPU architecture.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub available_architectures: Vec<AvailableArchitecture>,
    /// Commit of the operator build (field name kept from CloudNativePG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "cloudNativePGCommitHash")]
    pub operator_commit_hash: Option<String>,
    /// Hash of the operator binary (field name kept from CloudNativePG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "cloudNativePGOperatorHash")]
    pub operator_hash: Option<String>,
    /// SHA-256 fingerprint of the operator's client certificate key, pinned by the instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_certificate_fingerprint: Option<String>,
    /// State of the plugins loaded for the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugin_status: Vec<PluginStatus>,
    /// The pod IPs each `spec.podSelectorRefs` selector resolved to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pod_selector_refs: Vec<PodSelectorRefStatus>,
    /// What Poolers pointing at this cluster need from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooler_integrations: Option<PoolerIntegrations>,
    /// Progress of turning this cluster into a replica cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch_replica_cluster_status: Option<SwitchReplicaClusterStatus>,
    /// By pod name: the time (as its manager reported it) of the instance's last re-clone or
    /// refused pg_rewind that was published as an Event, so each occurrence is published once.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rejoins_reported: BTreeMap<String, String>,
}

/// An image and the PostgreSQL major version it runs.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageInfo {
    /// Image reference.
    pub image: String,
    /// PostgreSQL major version of the image.
    pub major_version: i32,
    /// Image-mounted extensions that came with the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<super::ExtensionConfiguration>,
}

/// What an instance reported at the last reconciliation.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceReportedState {
    /// Whether it is the primary.
    pub is_primary: bool,
    /// Its timeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "timeLineID")]
    pub timeline_id: Option<i32>,
    /// Its pod IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

/// Placement of the instances.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Topology {
    /// Topology labels (label → value) of each instance's pod, by pod name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub instances: BTreeMap<String, BTreeMap<String, String>>,
    /// Number of distinct nodes running instances; 1 means no protection from a node failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes_used: Option<i32>,
    /// Whether the labels could be read (synchronous standby election falls back otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successfully_extracted: Option<bool>,
}

/// Resource versions of the Secrets the instances use.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretsResourceVersion {
    /// The `postgres` user's Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superuser_secret_version: Option<String>,
    /// The `streaming_replica` user's Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_secret_version: Option<String>,
    /// The application user's Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_secret_version: Option<String>,
    /// The managed roles' password Secrets, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub managed_role_secret_version: BTreeMap<String, String>,
    /// Unused (kept for CloudNativePG compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_version: Option<String>,
    /// The client CA Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_secret_version: Option<String>,
    /// The server CA Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_ca_secret_version: Option<String>,
    /// The server certificate Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_secret_version: Option<String>,
    /// The object store endpoint CA Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "barmanEndpointCA")]
    pub barman_endpoint_ca: Option<String>,
    /// The external clusters' Secrets, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external_cluster_secret_version: BTreeMap<String, String>,
    /// The Secrets with custom metric queries, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, String>,
}

/// Resource versions of the ConfigMaps the instances use.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct ConfigMapResourceVersion {
    /// The ConfigMaps with custom metric queries, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, String>,
}

/// An instance manager build for one CPU architecture.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AvailableArchitecture {
    /// Architecture name as Go spells it (`amd64`, `arm64`).
    pub go_arch: String,
    /// Hash of the binary.
    pub hash: String,
}

/// State of a loaded plugin.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PluginStatus {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// General capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// Reconciler capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operator_capabilities: Vec<String>,
    /// WAL capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "walCapabilities")]
    pub wal_capabilities: Vec<String>,
    /// Backup capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backup_capabilities: Vec<String>,
    /// Restore job hook capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restore_job_hook_capabilities: Vec<String>,
    /// Status text the plugin reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// The pod IPs a named pod selector resolved to.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct PodSelectorRefStatus {
    /// Name of the selector in `spec.podSelectorRefs`.
    pub name: String,
    /// Matching pod IPs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
}

/// What Poolers need from the cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PoolerIntegrations {
    /// What PgBouncer poolers need.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_bouncer_integration: Option<PgBouncerIntegration>,
}

/// What PgBouncer poolers need from the cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct PgBouncerIntegration {
    /// Secrets the poolers read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
}

/// Progress of a switch to replica cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SwitchReplicaClusterStatus {
    /// A switch is in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<bool>,
}

/// Certificate status.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CertificatesStatus {
    /// The certificate configuration in effect.
    #[serde(flatten)]
    pub configuration: super::CertificatesConfiguration,
    /// Expiration time of each certificate Secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub expirations: BTreeMap<String, String>,
}

/// State of the managed roles.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ManagedRolesStatus {
    /// Role names by state (`reconciled`, `not-managed`, `pending-reconciliation`, `reserved`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_status: BTreeMap<String, Vec<String>>,
    /// Errors by role name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cannot_reconcile: BTreeMap<String, Vec<String>>,
    /// What was last applied for each role's password, by role name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub password_status: BTreeMap<String, PasswordState>,
}

/// The password last applied to a role.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PasswordState {
    /// Transaction ID of the last change to the role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "transactionID")]
    pub transaction_id: Option<i64>,
    /// Resource version of the password Secret applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// State of a tablespace.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct TablespaceState {
    /// Tablespace name.
    pub name: String,
    /// Owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `reconciled` or `pending`.
    pub state: String,
    /// Error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The synchronous replication a primary enforced, as the failover quorum check reads it: a
/// commit was acknowledged by `standbyNumber` of `standbyNames`, so a set of reachable standbys
/// holds every acknowledged commit when it has more than `len(standbyNames) - standbyNumber` of
/// them (R + W > N).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FailoverQuorumStatus {
    /// `any` (quorum) or `first` (priority), as the primary enforced it.
    pub method: super::SynchronousMethod,
    /// How many of `standbyNames` acknowledged each commit before it returned.
    pub standby_number: i32,
    /// The standbys commits could wait for, the primary itself excluded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub standby_names: Vec<String>,
    /// The primary that enforced it.
    pub primary: String,
}
