//! `spec.managed`: roles and services the operator reconciles declaratively.

use crate::common::{EnsureOption, LocalObjectReference};
use k8s_openapi::api::core::v1::ServiceSpec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Declaratively managed objects.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct ManagedConfiguration {
    /// PostgreSQL roles to create, alter or drop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<RoleConfiguration>,
    /// Services: default ones to disable and additional ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<ManagedServices>,
}

/// A PostgreSQL role.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RoleConfiguration {
    /// Role name.
    pub name: String,
    /// COMMENT ON ROLE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `present` (default) or `absent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensure: Option<EnsureOption>,
    /// Secret with `username` and `password` of the role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<LocalObjectReference>,
    /// CONNECTION LIMIT; -1 (default) is unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1))]
    pub connection_limit: Option<i64>,
    /// VALID UNTIL timestamp of the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// Roles this role is a member of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_roles: Vec<String>,
    /// INHERIT. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherit: Option<bool>,
    /// Set the password to NULL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_password: Option<bool>,
    /// SUPERUSER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superuser: Option<bool>,
    /// CREATEDB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub createdb: Option<bool>,
    /// CREATEROLE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub createrole: Option<bool>,
    /// LOGIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<bool>,
    /// REPLICATION.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<bool>,
    /// BYPASSRLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bypassrls: Option<bool>,
}

/// Service management.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManagedServices {
    /// Default services not to create: `r` and/or `ro` (`rw` is always created).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disabled_default_services: Vec<ServiceSelectorType>,
    /// Additional services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional: Vec<ManagedService>,
}

/// Which instances a service selects.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ServiceSelectorType {
    /// The primary.
    Rw,
    /// Any instance.
    R,
    /// The standbys.
    Ro,
}

/// An additional service.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManagedService {
    /// Which instances it selects.
    pub selector_type: Option<ServiceSelectorType>,
    /// `patch` (default) or `replace` the service on change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_strategy: Option<String>,
    /// Metadata and spec of the service.
    pub service_template: ServiceTemplateSpec,
}

/// A Service template.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct ServiceTemplateSpec {
    /// Name, labels and annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ServiceTemplateMetadata>,
    /// Service spec; the selector is set by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::common::kubernetes_summaries)]
    pub spec: Option<ServiceSpec>,
}

/// Metadata of a templated Service.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct ServiceTemplateMetadata {
    /// Name of the Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Labels of the Service.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Annotations of the Service.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}
