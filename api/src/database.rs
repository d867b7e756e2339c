//! `Database`, `Publication` and `Subscription`: PostgreSQL objects managed declaratively.

use crate::common::{EnsureOption, LocalObjectReference, ReclaimPolicy};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Shared status of declaratively managed PostgreSQL objects.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ManagedObjectStatus {
    /// The generation last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Whether the object was applied successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<bool>,
    /// Error message when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Observed state of a Database: the shared fields plus the state of each managed object.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct DatabaseStatus {
    /// Generation, outcome and message of the last reconciliation.
    #[serde(flatten)]
    pub object: ManagedObjectStatus,
    /// State of each entry of `spec.schemas`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<DatabaseObjectStatus>,
    /// State of each entry of `spec.extensions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<DatabaseObjectStatus>,
    /// State of each entry of `spec.fdws`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fdws: Vec<DatabaseObjectStatus>,
    /// State of each entry of `spec.servers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<DatabaseObjectStatus>,
}

/// Whether one schema, extension, FDW or server was applied.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct DatabaseObjectStatus {
    /// Object name.
    pub name: String,
    /// Whether it is in the state the spec asks for.
    pub applied: bool,
    /// Error message when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A Database object as the operator hands it to the primary's instance manager (the manager
/// configuration's `databases`): the object's identity, so that the manager's report can be told
/// apart from one about an earlier version or another object, and what it asks for.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManagedDatabase {
    /// Name of the Database object.
    pub object: String,
    /// Its `metadata.uid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Its `metadata.generation`, which the report carries back as `observedGeneration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// The object is being deleted and its `databaseReclaimPolicy` is `delete`: the database is
    /// dropped. Nothing else ever drops one but `ensure: absent`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reclaim: bool,
    /// The object's spec.
    pub spec: DatabaseSpec,
}

impl ManagedDatabase {
    /// Whether the database must not exist: `ensure: absent`, or reclaimed on deletion.
    pub fn wants_absent(&self) -> bool {
        self.reclaim || self.spec.ensure == Some(EnsureOption::Absent)
    }
}

/// What the primary's instance manager did about one entry of its configuration's `databases`
/// (the status document's `databases`): the status the operator copies to the Database object.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseReport {
    /// Name of the Database object.
    pub object: String,
    /// Its `metadata.uid`, as the configuration gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Whether the database exists after the pass (false once a drop went through).
    pub exists: bool,
    /// The status: `observedGeneration` is the generation the configuration gave.
    #[serde(flatten)]
    pub status: DatabaseStatus,
}

/// A database inside a cluster.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, KubeSchema, PartialEq)]
#[kube(
    group = "pgfed.io",
    version = "v1",
    kind = "Database",
    namespaced,
    status = "DatabaseStatus",
    category = "pgfed",
    derive = "Default",
    derive = "PartialEq",
    doc = "A PostgreSQL database in a pgfed Cluster.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster.name"),
    printcolumn(name = "PG Name", type_ = "string", json_path = ".spec.name"),
    printcolumn(name = "Applied", type_ = "boolean", json_path = ".status.applied"),
    printcolumn(name = "Message", type_ = "string", json_path = ".status.message")
)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSpec {
    /// The cluster holding the database. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("cluster is immutable"))]
    pub cluster: LocalObjectReference,
    /// `present` (default) or `absent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensure: Option<EnsureOption>,
    /// Database name in PostgreSQL. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("name is immutable"))]
    pub name: String,
    /// Owner role.
    pub owner: String,
    /// Template to copy. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("template is immutable"))]
    pub template: Option<String>,
    /// Character encoding. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("encoding is immutable"))]
    pub encoding: Option<String>,
    /// Locale (all categories). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("locale is immutable"))]
    pub locale: Option<String>,
    /// LC_COLLATE. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("localeCollate is immutable"))]
    pub locale_collate: Option<String>,
    /// LC_CTYPE. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("localeCType is immutable"))]
    #[serde(rename = "localeCType")]
    pub locale_ctype: Option<String>,
    /// Locale provider (`libc`, `icu`). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("localeProvider is immutable"))]
    pub locale_provider: Option<String>,
    /// ICU locale. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("icuLocale is immutable"))]
    pub icu_locale: Option<String>,
    /// Extra collation rules of the default collation with the `icu` provider (PostgreSQL 16+).
    /// Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("icuRules is immutable"))]
    pub icu_rules: Option<String>,
    /// Locale with the `builtin` provider (PostgreSQL 17+). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("builtinLocale is immutable"))]
    pub builtin_locale: Option<String>,
    /// COLLATION_VERSION recorded for the database. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("collationVersion is immutable"))]
    pub collation_version: Option<String>,
    /// Mark the database as a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_template: Option<bool>,
    /// Allow connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_connections: Option<bool>,
    /// Connection limit; -1 is unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1))]
    pub connection_limit: Option<i32>,
    /// Default tablespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tablespace: Option<String>,
    /// `retain` (default) keeps the database when this object is deleted; `delete` drops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_reclaim_policy: Option<ReclaimPolicy>,
    /// Schemas to create or drop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<SchemaSpec>,
    /// Extensions to create, update or drop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<ExtensionSpec>,
    /// Foreign data wrappers to create, alter or drop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fdws: Vec<FdwSpec>,
    /// Foreign servers to create, alter or drop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<ForeignServerSpec>,
}

/// A foreign data wrapper of a managed database.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct FdwSpec {
    /// FDW name.
    pub name: String,
    /// `present` (default) or `absent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensure: Option<EnsureOption>,
    /// Handler function (default: the one the FDW's extension registers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    /// Validator function (default: the one the FDW's extension registers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator: Option<String>,
    /// Owner (a superuser role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// FDW options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<OptionSpec>,
    /// Roles granted or revoked USAGE on the FDW.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<UsageSpec>,
}

/// A foreign server of a managed database.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct ForeignServerSpec {
    /// Server name.
    pub name: String,
    /// The foreign data wrapper the server uses.
    pub fdw: String,
    /// `present` (default) or `absent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensure: Option<EnsureOption>,
    /// Server options (host, port, dbname, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<OptionSpec>,
    /// Roles granted or revoked USAGE on the server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<UsageSpec>,
}

/// An option of an FDW or foreign server.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct OptionSpec {
    /// Option name.
    pub name: String,
    /// Option value.
    pub value: String,
    /// `present` (default) or `absent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensure: Option<EnsureOption>,
}

/// A role granted or revoked USAGE.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct UsageSpec {
    /// Role name.
    pub name: String,
    /// `grant` (default) or `revoke`.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub usage_type: Option<UsageType>,
}

/// Whether USAGE is granted or revoked.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UsageType {
    /// GRANT USAGE.
    Grant,
    /// REVOKE USAGE.
    Revoke,
}

/// A schema of a managed database.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct SchemaSpec {
    /// Schema name.
    pub name: String,
    /// Owner role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `present` (default) or `absent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensure: Option<EnsureOption>,
}

/// An extension of a managed database.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct ExtensionSpec {
    /// Extension name.
    pub name: String,
    /// Version to install or update to (default: the default version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Schema to install into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// `present` (default) or `absent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensure: Option<EnsureOption>,
}

/// A logical-replication publication inside a cluster.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, KubeSchema, PartialEq)]
#[kube(
    group = "pgfed.io",
    version = "v1",
    kind = "Publication",
    namespaced,
    status = "ManagedObjectStatus",
    category = "pgfed",
    derive = "Default",
    derive = "PartialEq",
    doc = "A logical replication publication in a pgfed Cluster.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster.name"),
    printcolumn(name = "PG Name", type_ = "string", json_path = ".spec.name"),
    printcolumn(name = "Applied", type_ = "boolean", json_path = ".status.applied")
)]
#[serde(rename_all = "camelCase")]
pub struct PublicationSpec {
    /// The cluster holding the publication. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("cluster is immutable"))]
    pub cluster: LocalObjectReference,
    /// Publication name in PostgreSQL. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("name is immutable"))]
    pub name: String,
    /// Database of the publication. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("dbname is immutable"))]
    pub dbname: String,
    /// WITH (…) parameters of CREATE PUBLICATION.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// What is published.
    pub target: PublicationTarget,
    /// `retain` (default) or `delete` the publication when this object is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publication_reclaim_policy: Option<ReclaimPolicy>,
}

/// What a publication publishes: all tables, or a list of objects.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PublicationTarget {
    /// FOR ALL TABLES.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_tables: Option<bool>,
    /// FOR TABLE … / FOR TABLES IN SCHEMA …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<PublicationTargetObject>,
}

/// One published object: a schema or a table.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PublicationTargetObject {
    /// All tables in this schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables_in_schema: Option<String>,
    /// One table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<PublicationTargetTable>,
}

/// A published table.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct PublicationTargetTable {
    /// Include only this table, not its descendants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<bool>,
    /// Table name.
    pub name: String,
    /// Schema of the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Published columns (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
}

/// A logical-replication subscription inside a cluster.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, KubeSchema, PartialEq)]
#[kube(
    group = "pgfed.io",
    version = "v1",
    kind = "Subscription",
    namespaced,
    status = "ManagedObjectStatus",
    category = "pgfed",
    derive = "Default",
    derive = "PartialEq",
    doc = "A logical replication subscription in a pgfed Cluster.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster.name"),
    printcolumn(name = "PG Name", type_ = "string", json_path = ".spec.name"),
    printcolumn(name = "Applied", type_ = "boolean", json_path = ".status.applied")
)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionSpec {
    /// The cluster holding the subscription. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("cluster is immutable"))]
    pub cluster: LocalObjectReference,
    /// Subscription name in PostgreSQL. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("name is immutable"))]
    pub name: String,
    /// Database of the subscription. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("dbname is immutable"))]
    pub dbname: String,
    /// WITH (…) parameters of CREATE SUBSCRIPTION.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// Name of the publication on the source.
    pub publication_name: String,
    /// Database of the publication on the source (default: the external cluster's dbname).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "publicationDBName")]
    pub publication_db_name: Option<String>,
    /// The entry of the cluster's `externalClusters` to subscribe to.
    pub external_cluster_name: String,
    /// `retain` (default) or `delete` the subscription when this object is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_reclaim_policy: Option<ReclaimPolicy>,
}
