//! `Federation`: one PostgreSQL system across several Kubernetes clusters in different regions.
//!
//! Exactly one member holds the primary; the others are replica clusters fed by WAL shipped through
//! object storage. Editing `spec.primary` moves the primary by demote/promote, never by re-cloning.

use crate::barman::BarmanObjectStoreConfiguration;
use crate::cluster::{AffinityConfiguration, ClusterSpec, StorageConfiguration};
use k8s_openapi::api::core::v1::{ResourceRequirements, SecretKeySelector};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Desired state of a multi-region PostgreSQL system.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "pgfed.io",
    version = "v1",
    kind = "Federation",
    namespaced,
    status = "FederationStatus",
    shortname = "pgfed",
    category = "pgfed",
    derive = "Default",
    derive = "PartialEq",
    doc = "A PostgreSQL system spanning several Kubernetes clusters: one primary region, replica regions fed through object storage.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Primary",
        type_ = "string",
        json_path = ".status.currentPrimary",
        description = "Member holding the primary"
    ),
    printcolumn(
        name = "Region",
        type_ = "string",
        json_path = ".status.currentPrimaryRegion",
        description = "Region of the primary"
    ),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Max Lag (s)",
        type_ = "number",
        json_path = ".status.maxLagSeconds",
        description = "Largest replication lag of a replica region, seconds"
    ),
    printcolumn(
        name = "Max Lag (bytes)",
        type_ = "integer",
        json_path = ".status.maxLagBytes",
        priority = 1
    )
)]
#[serde(rename_all = "camelCase")]
pub struct FederationSpec {
    /// The member clusters, one per region. Names are unique.
    pub members: Vec<FederationMember>,
    /// Name of the member that holds the primary. Changing it runs a planned switchover:
    /// demote the current primary, promote this member with the demotion token, and make the
    /// former primary follow, with no data loss and no re-clone.
    pub primary: String,
    /// The Cluster spec every member gets (same fields as a Cluster's spec; see
    /// `kubectl explain clusters.spec`). The controller sets `replica`, `externalClusters`,
    /// `bootstrap` (for replicas) and `backup.barmanObjectStore` per member.
    #[schemars(schema_with = "crate::common::embedded_object_schema")]
    pub template: ClusterSpec,
    /// What happens when the primary region is lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<FederationFailover>,
    /// How WAL crosses regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<FederationReplication>,
}

/// One member cluster of a federation.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FederationMember {
    /// Member name, unique in the federation; also the name used in `replica.self/primary`.
    pub name: String,
    /// Region label of the member, for humans and topology reports.
    pub region: String,
    /// Secret key holding a kubeconfig for the member's API server. Absent: the Kubernetes
    /// cluster the Federation lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig_secret_ref: Option<SecretKeySelector>,
    /// Namespace of the member Cluster. Default: the Federation's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name of the member Cluster. Default: the Federation's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// The member's own object store: it archives its WAL and backups here, and the other
    /// members read them from here. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barman_object_store: Option<BarmanObjectStoreConfiguration>,
    /// Changes to the template for this member only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<MemberOverrides>,
}

/// Per-member changes to the Cluster template. Set fields replace the template's value;
/// `parameters` are merged into the template's `postgresql.parameters`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MemberOverrides {
    /// Number of instances in this member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<i32>,
    /// PostgreSQL image for this member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
    /// Resources of this member's instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Data volume of this member's instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageConfiguration>,
    /// WAL volume of this member's instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_storage: Option<StorageConfiguration>,
    /// Scheduling of this member's instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<AffinityConfiguration>,
    /// PriorityClass of this member's instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// postgresql.conf parameters merged over the template's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
}

/// Failover policy across regions.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FederationFailover {
    /// `Manual` (default): only a change of `spec.primary` moves the primary. `Automatic`: when the
    /// primary region stays unreachable past `primaryUnreachableTimeout`, the most advanced replica
    /// region within `maximumDataLoss` is promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FailoverMode>,
    /// How long the primary region must be unreachable before an automatic failover, e.g. `60s`.
    /// Default `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_unreachable_timeout: Option<String>,
    /// Duration of the fencing lease kept in object storage; the primary region stops accepting
    /// writes when it cannot renew it. Default `30s`; must be shorter than the unreachable timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration: Option<String>,
    /// How long a planned switchover step may take before it is reported as stuck. Default `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switchover_step_timeout: Option<String>,
    /// The most data an automatic failover may lose; no replica further behind is promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_data_loss: Option<MaximumDataLoss>,
    /// Where the fencing lease lives (`<destinationPath>/pgfed-fencing-lease.json`), in the same
    /// shape as a member's `barmanObjectStore`. Required with `mode: Automatic`. Put it in a store
    /// that stays reachable when any one region is lost (a multi-region bucket): the primary
    /// region renews the lease there and the controller takes it over there before it promotes
    /// another region; while neither can reach it, no region is promoted. Its credential Secrets
    /// must exist in the Federation's namespace (the controller reads them) and in every member
    /// Cluster's namespace (the instances read them). The store must support conditional writes
    /// (S3 and S3-compatible stores, Azure Blob, Google Cloud Storage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_object_store: Option<BarmanObjectStoreConfiguration>,
}

/// Bounds on data lost by an automatic failover.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MaximumDataLoss {
    /// Maximum WAL bytes a promoted member may be behind the lost primary's last recorded WAL
    /// position, as a quantity (e.g. `64Mi`). What the primary wrote after that record is not
    /// known; `seconds` bounds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<String>,
    /// Maximum seconds of commits lost: the lost primary's last fencing lease renewal plus the
    /// lease duration (when it stopped accepting writes at the latest) minus the commit time of
    /// the last transaction the promoted member replayed, both on the primary's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<i64>,
}

/// Failover mode.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum FailoverMode {
    /// Only planned switchovers.
    #[default]
    Manual,
    /// Promote a replica region when the primary region is lost.
    Automatic,
}

/// How WAL reaches replica regions.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FederationReplication {
    /// How often the primary uploads the WAL segment in progress, bounding the RPO of replica
    /// regions (e.g. `5s`). Default `5s`; CloudNativePG's equivalent is archive_timeout (5 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_wal_upload_interval: Option<String>,
    /// Also stream WAL over TLS between regions when a network path exists. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming: Option<bool>,
    /// How far a replica region may fall behind the primary, as a duration (e.g. `60s`), before
    /// its member reports the condition `Lagging` and `ReplicasInSync` turns false. Default `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_acceptable_lag: Option<String>,
}

/// Federation phases.
pub mod federation_phase {
    /// Members are being created.
    pub const CREATING: &str = "Creating";
    /// One primary, every replica region replaying.
    pub const HEALTHY: &str = "Healthy";
    /// A planned switchover is running.
    pub const SWITCHOVER: &str = "Switchover in progress";
    /// The primary region is lost and a replica region is being promoted.
    pub const FAILING_OVER: &str = "Failing over";
    /// A member is unreachable or unhealthy.
    pub const DEGRADED: &str = "Degraded";
    /// The spec is invalid.
    pub const INVALID: &str = "Invalid federation definition";
}

/// Observed state of a federation.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FederationStatus {
    /// Phase of the federation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The member holding the primary now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_primary: Option<String>,
    /// Region of the member holding the primary now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_primary_region: Option<String>,
    /// Per-member state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberStatus>,
    /// The planned switchover in progress, persisted so a restarted controller resumes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switchover: Option<SwitchoverProgress>,
    /// The automatic failover in progress, persisted before the fencing lease is taken over so
    /// a restarted controller resumes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<FailoverProgress>,
    /// The last automatic failover and the data-loss bound recorded for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failover: Option<FailoverRecord>,
    /// Largest lag of a replica member, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lag_seconds: Option<f64>,
    /// Largest lag of a replica member, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lag_bytes: Option<i64>,
    /// The generation the status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Standard conditions (Ready, MembersReachable, SwitchoverComplete…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// State of one member as last observed.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    /// Member name.
    pub name: String,
    /// Region of the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Whether the member's API server answered the last poll.
    pub reachable: bool,
    /// `primary` or `replica`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Phase of the member Cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// PostgreSQL timeline of the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<i32>,
    /// PostgreSQL system identifier of the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_identifier: Option<String>,
    /// The primary member: its write LSN. A replica member: the LSN its designated primary has
    /// replayed. As its member operator last recorded it (`Cluster.status.walPosition`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lsn: Option<String>,
    /// A replica member: commit time of the last transaction it replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_replay_time: Option<String>,
    /// Replication lag behind the primary, bytes: the primary's write LSN minus the LSN this
    /// member replayed, as both member operators last recorded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_bytes: Option<i64>,
    /// Replication lag behind the primary, seconds: 0 when it replayed all the primary wrote;
    /// otherwise the age of its last replayed commit when it was recorded (after an idle period
    /// the first new commit shows the idle time until it is replayed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<f64>,
    /// Where the member's Cluster lives (namespace), so a member removed from `spec.members`
    /// can still be found and detached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name of the member's Cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// The member's kubeconfig Secret in the Federation's namespace (absent: the hub).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig_secret_ref: Option<SecretKeySelector>,
    /// `Lagging`: true while the member is further behind than `replication.maxAcceptableLag`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// When the member last answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// Last error talking to the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Progress of a planned switchover.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SwitchoverProgress {
    /// The member being demoted.
    pub from: String,
    /// The member being promoted.
    pub to: String,
    /// Current step: `Demoting` (the former primary shuts down cleanly, archives its WAL and
    /// publishes its demotion token), `Promoting` (the target replays exactly to the token and
    /// promotes), `FollowingNewPrimary` (every other member follows the new primary).
    pub step: String,
    /// The demotion token of `from`, once published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demotion_token: Option<String>,
    /// The Federation's `metadata.generation` whose `spec.primary` asked for this switchover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// When the switchover started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the current step started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_started_at: Option<String>,
    /// Why the switchover waits or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Steps of an automatic failover.
pub mod failover_step {
    /// The decision is recorded; the fencing lease is being taken over for the promoted member.
    pub const TAKING_LEASE: &str = "TakingLease";
    /// The lease is the promoted member's; it is told to promote, every reachable member to
    /// follow it.
    pub const PROMOTING: &str = "Promoting";
}

/// Progress of an automatic failover.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FailoverProgress {
    /// The lost primary member.
    pub from: String,
    /// The member being promoted.
    pub to: String,
    /// `TakingLease` (the fencing lease passes to `to` at `epoch`, only if the lost primary has
    /// not renewed it since) or `Promoting` (`to` promotes; the others follow it).
    pub step: String,
    /// The fencing epoch `to` holds the lease at.
    pub epoch: i64,
    /// When the failover was decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// WAL bytes of the lost primary's last recorded position that `to` had not replayed. A
    /// lower bound: the primary may have written more before it fenced itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_loss_bound_bytes: Option<i64>,
    /// Upper bound of the commit-time window lost, seconds: the lost primary's last fencing
    /// lease renewal plus the lease duration (it stopped accepting writes by then) minus the
    /// commit time of the last transaction `to` replayed; both times are on the lost primary's
    /// clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_loss_bound_seconds: Option<i64>,
    /// What the current step waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An automatic failover that happened.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FailoverRecord {
    /// The lost primary member.
    pub from: String,
    /// The promoted member.
    pub to: String,
    /// When it happened.
    pub at: String,
    /// WAL bytes of the lost primary's last recorded position the promoted member had not
    /// replayed (a lower bound of the WAL lost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_loss_bound_bytes: Option<i64>,
    /// Upper bound of the commit-time window lost, seconds (see `failover.dataLossBoundSeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_loss_bound_seconds: Option<i64>,
    /// Fencing epoch after the failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i64>,
    /// The Backup (in the promoted member's namespace) asked of the promoted member once it was
    /// healthy: the first base backup of its new timeline, which point-in-time recovery and the
    /// re-seeding of the lost region once it returns start from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_backup: Option<String>,
}
