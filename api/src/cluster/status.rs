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
    /// Resource versions of the password Secrets applied.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub password_status: BTreeMap<String, String>,
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
