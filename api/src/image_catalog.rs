//! `ImageCatalog` and `ClusterImageCatalog`: PostgreSQL images by major version.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The images of a catalog.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "pgfed.io",
    version = "v1",
    kind = "ImageCatalog",
    namespaced,
    status = "CatalogStatus",
    category = "pgfed",
    derive = "Default",
    derive = "PartialEq",
    doc = "PostgreSQL images by major version, for Clusters in this namespace.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Clusters",
        type_ = "integer",
        json_path = ".status.clustersUsing"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ImageCatalogSpec {
    /// One image per PostgreSQL major version.
    pub images: Vec<CatalogImage>,
    /// Images of components other than PostgreSQL (e.g. PgBouncer), by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub component_images: Vec<CatalogComponentImage>,
}

/// The same list, cluster-scoped.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "pgfed.io",
    version = "v1",
    kind = "ClusterImageCatalog",
    status = "CatalogStatus",
    category = "pgfed",
    derive = "Default",
    derive = "PartialEq",
    doc = "PostgreSQL images by major version, for Clusters in any namespace.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Clusters",
        type_ = "integer",
        json_path = ".status.clustersUsing"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterImageCatalogSpec {
    /// One image per PostgreSQL major version.
    pub images: Vec<CatalogImage>,
    /// Images of components other than PostgreSQL (e.g. PgBouncer), by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub component_images: Vec<CatalogComponentImage>,
}

/// An image for a major version.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct CatalogImage {
    /// Image reference.
    pub image: String,
    /// PostgreSQL major version (e.g. 15).
    #[schemars(range(min = 10))]
    pub major: i32,
    /// Image-mounted extensions that clusters using this entry get.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<crate::cluster::ExtensionConfiguration>,
}

/// An image of a component other than PostgreSQL.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct CatalogComponentImage {
    /// Unique key of the entry (a DNS label), referenced by e.g. a Pooler's
    /// `pgbouncer.imageCatalogRef.key`.
    pub key: String,
    /// Image reference.
    pub image: String,
}

/// Observed state of a catalog, written by the operator.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CatalogStatus {
    /// The generation the status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// How many Clusters take their image from this catalog; such a catalog's majors cannot be
    /// removed while in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters_using: Option<i32>,
    /// Standard conditions (`Ready`: every image reference is well-formed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
}
