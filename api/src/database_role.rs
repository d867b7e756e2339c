//! `DatabaseRole`: one PostgreSQL role of a Cluster as its own Kubernetes object, for teams that
//! manage roles apart from the Cluster (the same role attributes as `spec.managed.roles`).

use crate::cluster::RoleConfiguration;
use crate::common::{LocalObjectReference, ReclaimPolicy};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A PostgreSQL role of a cluster.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, KubeSchema, PartialEq)]
#[kube(
    group = "pgfed.io",
    version = "v1",
    kind = "DatabaseRole",
    namespaced,
    status = "DatabaseRoleStatus",
    category = "pgfed",
    derive = "Default",
    derive = "PartialEq",
    doc = "A PostgreSQL role in a pgfed Cluster.",
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
#[x_kube(
    validation = Rule::new("self.name == oldSelf.name")
        .message("name is immutable: it is the role's name in PostgreSQL"),
    validation = Rule::new("self.name.size() != 0").message("role name must not be empty"),
    validation = Rule::new(
        "self.name != 'postgres' && self.name != 'streaming_replica' && !self.name.startsWith('pg_')"
    )
    .message("the role names postgres, streaming_replica and pg_* are reserved"),
    validation = Rule::new("!has(self.ensure) || self.ensure != 'absent'")
        .message("ensure: absent is not supported for a DatabaseRole: delete the object with databaseRoleReclaimPolicy: delete"),
    validation = Rule::new("!has(self.passwordSecret) || !has(self.disablePassword) || !self.disablePassword")
        .message("passwordSecret and disablePassword are mutually exclusive")
)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseRoleSpec {
    /// The role: name and attributes, as in the Cluster's `spec.managed.roles`.
    #[serde(flatten)]
    pub role: RoleConfiguration,
    /// The cluster holding the role. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("cluster is immutable"))]
    pub cluster: LocalObjectReference,
    /// `retain` (default) keeps the role in PostgreSQL when this object is deleted; `delete`
    /// drops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_role_reclaim_policy: Option<ReclaimPolicy>,
    /// Issue and renew a TLS client certificate for the role, signed by the cluster's client CA,
    /// in the Secret `<name>-client-cert`. Needs `login: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<ClientCertificateConfiguration>,
}

/// Client certificate issuance for a role.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct ClientCertificateConfiguration {
    /// Issue the certificate. Default true when the block is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Observed state of a DatabaseRole.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseRoleStatus {
    /// Generation, outcome and message of the last reconciliation.
    #[serde(flatten)]
    pub object: crate::database::ManagedObjectStatus,
    /// Resource version of the password Secret last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_resource_version: Option<String>,
    /// State of the issued client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<ClientCertificateState>,
    /// Standard conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
}

/// State of a role's client certificate.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct ClientCertificateState {
    /// Expiration time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    /// Why the certificate was not issued or an existing Secret was left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
