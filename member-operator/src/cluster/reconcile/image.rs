//! The operand image an instance runs.

use crate::cluster::error::ReconcileError;
use kube::{Client, ResourceExt};
use pgfed_api::cluster::Cluster;
use pgfed_api::image_catalog::{ClusterImageCatalog, ImageCatalog};

/// The operand image: `imageName`, or the catalog entry for `imageCatalogRef.major`.
pub async fn operand_image(client: &Client, cluster: &Cluster) -> Result<String, ReconcileError> {
    let spec = &cluster.spec;
    if let Some(image) = &spec.image_name {
        return Ok(image.clone());
    }
    let Some(reference) = &spec.image_catalog_ref else {
        return Ok(pgfed_api::names::DEFAULT_POSTGRES_IMAGE.to_string());
    };
    let namespace = cluster.namespace().unwrap_or_default();
    let missing = || ReconcileError::MissingReference {
        kind: if reference.kind == "ClusterImageCatalog" {
            "ClusterImageCatalog"
        } else {
            "ImageCatalog"
        },
        name: reference.name.clone(),
        field: "spec.imageCatalogRef".into(),
    };
    let images = if reference.kind == "ClusterImageCatalog" {
        let api: kube::Api<ClusterImageCatalog> = kube::Api::all(client.clone());
        api.get_opt(&reference.name)
            .await
            .map_err(ReconcileError::kube("reading the ClusterImageCatalog"))?
            .ok_or_else(missing)?
            .spec
            .images
    } else {
        let api: kube::Api<ImageCatalog> = kube::Api::namespaced(client.clone(), &namespace);
        api.get_opt(&reference.name)
            .await
            .map_err(ReconcileError::kube("reading the ImageCatalog"))?
            .ok_or_else(missing)?
            .spec
            .images
    };
    images
        .into_iter()
        .find(|i| i.major == reference.major)
        .map(|i| i.image)
        .ok_or_else(|| {
            ReconcileError::Invalid(format!(
                "spec.imageCatalogRef.major: {} {} has no image for major {}",
                reference.kind, reference.name, reference.major
            ))
        })
}
