//! `ImageCatalog` and `ClusterImageCatalog`: PostgreSQL images by major version.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The images of a catalog.
#[derive(
    CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq,
)]
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
pub struct ImageCatalogSpec {
    /// One image per PostgreSQL major version.
    pub images: Vec<CatalogImage>,
}

/// The same list, cluster-scoped.
#[derive(
    CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq,
)]
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
pub struct ClusterImageCatalogSpec {
    /// One image per PostgreSQL major version.
    pub images: Vec<CatalogImage>,
}

/// An image for a major version.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct CatalogImage {
    /// Image reference.
    pub image: String,
    /// PostgreSQL major version (e.g. 15).
    pub major: i32,
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
