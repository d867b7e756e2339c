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
    category = "pgfed",
    derive = "Default",
    derive = "PartialEq",
    doc = "PostgreSQL images by major version, for Clusters in this namespace.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
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
    category = "pgfed",
    derive = "Default",
    derive = "PartialEq",
    doc = "PostgreSQL images by major version, for Clusters in any namespace.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
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
