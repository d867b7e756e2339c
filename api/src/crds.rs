//! Every CustomResourceDefinition of the API, generated from the types. Pure: the binaries'
//! `crd` command (`pgfed_operator::crd_command`) prints or writes what this returns.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// All CRDs with the file name each one is checked in under (`manifests/crds/<file>`).
pub fn all() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("cluster.yaml", crate::cluster::Cluster::crd()),
        ("backup.yaml", crate::backup::Backup::crd()),
        (
            "scheduledbackup.yaml",
            crate::backup::ScheduledBackup::crd(),
        ),
        ("pooler.yaml", crate::pooler::Pooler::crd()),
        ("database.yaml", crate::database::Database::crd()),
        (
            "databaserole.yaml",
            crate::database_role::DatabaseRole::crd(),
        ),
        ("publication.yaml", crate::database::Publication::crd()),
        ("subscription.yaml", crate::database::Subscription::crd()),
        (
            "imagecatalog.yaml",
            crate::image_catalog::ImageCatalog::crd(),
        ),
        (
            "clusterimagecatalog.yaml",
            crate::image_catalog::ClusterImageCatalog::crd(),
        ),
        ("objectstore.yaml", crate::object_store::ObjectStore::crd()),
        ("federation.yaml", crate::federation::Federation::crd()),
    ]
}

/// Renders CRDs as a multi-document YAML stream.
pub fn to_yaml(crds: &[CustomResourceDefinition]) -> Result<String, serde_norway::Error> {
    let mut out = String::new();
    for crd in crds {
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(crd)?);
    }
    Ok(out)
}
