//! `spec.postgresql` and `spec.replicationSlots`: how PostgreSQL itself is configured.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// PostgreSQL server configuration.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PostgresConfiguration {
    /// postgresql.conf parameters. Parameters pgfed owns (port, listen_addresses, archive_command,
    /// primary_conninfo, …) are refused; see the documentation for the list.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// pg_hba.conf lines, inserted before the rules pgfed needs for replication and the operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "pg_hba")]
    pub pg_hba: Vec<String>,
    /// pg_ident.conf lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "pg_ident")]
    pub pg_ident: Vec<String>,
    /// Libraries to add to shared_preload_libraries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "shared_preload_libraries")]
    pub shared_preload_libraries: Vec<String>,
    /// LDAP authentication settings used by pg_hba `ldap` rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap: Option<LdapConfig>,
    /// Declarative synchronous replication. Replaces `minSyncReplicas`/`maxSyncReplicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronous: Option<SynchronousReplicaConfiguration>,
    /// Only elect synchronous standbys whose nodes differ in these label values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_replica_election_constraint: Option<SyncReplicaElectionConstraints>,
    /// Seconds a standby may take to promote before the attempt is abandoned. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub promotion_timeout: Option<i32>,
    /// Allow `ALTER SYSTEM`. Default false: configuration lives in the Cluster spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_alter_system: Option<bool>,
    /// Extensions mounted from their own OCI images (Kubernetes image volumes) instead of being
    /// built into the PostgreSQL image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<ExtensionConfiguration>,
}

/// An extension shipped in its own image and mounted into every instance.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct ExtensionConfiguration {
    /// Name of the extension (at most 59 characters: it also names the volume).
    pub name: String,
    /// The image holding the extension's files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::common::kubernetes_summaries)]
    pub image: Option<k8s_openapi::api::core::v1::ImageVolumeSource>,
    /// Directories of the image added to `extension_control_path`. Default `/share`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension_control_path: Vec<String>,
    /// Directories of the image added to `dynamic_library_path`. Default `/lib`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dynamic_library_path: Vec<String>,
    /// Directories of the image added to `LD_LIBRARY_PATH` of the postgres process.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ld_library_path: Vec<String>,
    /// Directories of the image added to `PATH` of the postgres process.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bin_path: Vec<String>,
    /// Environment variables the extension needs in the postgres process; `${image_root}` in a
    /// value stands for the directory the image is mounted at.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<ExtensionEnvVar>,
}

/// An environment variable set for an image-mounted extension.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct ExtensionEnvVar {
    /// Variable name.
    pub name: String,
    /// Value; `${image_root}` is replaced by the extension's mount path.
    pub value: String,
}

/// LDAP settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LdapConfig {
    /// LDAP server host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// LDAP server port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// `ldap` or `ldaps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Simple bind: the user name is wrapped in a prefix and suffix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_as_auth: Option<LdapBindAsAuth>,
    /// Search+bind: the user is searched first with a bind DN and password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_search_auth: Option<LdapBindSearchAuth>,
    /// Use StartTLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
}

/// LDAP simple bind.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct LdapBindAsAuth {
    /// Prefix of the bind DN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Suffix of the bind DN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
}

/// LDAP search+bind.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LdapBindSearchAuth {
    /// Root DN of the search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "baseDN")]
    pub base_dn: Option<String>,
    /// DN used to bind for the search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "bindDN")]
    pub bind_dn: Option<String>,
    /// Secret key holding the bind password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_password: Option<k8s_openapi::api::core::v1::SecretKeySelector>,
    /// Attribute matched against the user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_attribute: Option<String>,
    /// Search filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_filter: Option<String>,
}

/// Declarative synchronous replication.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SynchronousReplicaConfiguration {
    /// `any` (quorum) or `first` (priority).
    pub method: SynchronousMethod,
    /// Number of synchronous standbys a commit waits for (at least 1).
    #[schemars(range(min = 1))]
    pub number: i32,
    /// Upper bound on the number of this cluster's instances listed in synchronous_standby_names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_standby_names_from_cluster: Option<i32>,
    /// Names listed before the cluster's own standbys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub standby_names_pre: Vec<String>,
    /// Names listed after the cluster's own standbys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub standby_names_post: Vec<String>,
    /// `required` (default): writes stop when too few standbys; `preferred`: degrade to fewer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_durability: Option<DataDurability>,
    /// Fail over only to a standby that a quorum of synchronous standbys proves holds every
    /// committed transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_quorum: Option<bool>,
    /// Pod label keys naming failure domains: synchronous standbys are chosen among instances
    /// whose values differ from the primary's. Excludes `nodeFailureDomainKeys`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pod_failure_domain_keys: Vec<String>,
    /// Node label keys naming failure domains (read from each instance's node): synchronous
    /// standbys are chosen on nodes whose values differ from the primary's. Excludes
    /// `podFailureDomainKeys`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_failure_domain_keys: Vec<String>,
}

/// Synchronous replication method.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SynchronousMethod {
    /// Quorum: any `number` of the listed standbys.
    #[default]
    Any,
    /// Priority: the first `number` listed standbys.
    First,
}

/// What happens when too few synchronous standbys are available.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DataDurability {
    /// Commits wait for the configured number of standbys.
    Required,
    /// Commits wait only for the standbys that are available.
    Preferred,
}

/// Node-label constraints on synchronous standby election.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SyncReplicaElectionConstraints {
    /// Turn the constraint on.
    pub enabled: bool,
    /// Node labels whose values must differ from the primary's node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_labels_anti_affinity: Vec<String>,
}

/// Replication slots.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationSlotsConfiguration {
    /// Slots on the primary for every standby, so WAL is kept until they have it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_availability: Option<ReplicationSlotsHaConfiguration>,
    /// Seconds between slot synchronizations on standbys. Default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_interval: Option<i32>,
    /// Copy user-defined slots from the primary to the standbys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronize_replicas: Option<SynchronizeReplicasConfiguration>,
}

/// High-availability replication slots.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationSlotsHaConfiguration {
    /// Turn HA slots on. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Prefix of the slot names. Default `_pgfed_`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_prefix: Option<String>,
    /// Also keep logical decoding slots in step on the standbys, so logical replication
    /// survives a failover (PostgreSQL 17 or later; ignored, with a warning in the log, before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronize_logical_decoding: Option<bool>,
}

/// Synchronization of user slots to standbys.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SynchronizeReplicasConfiguration {
    /// Turn synchronization on. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Regular expressions of slot names not to synchronize.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_patterns: Vec<String>,
}
