//! The ServiceAccount the instance pods run as, named after the Cluster, with the labels and
//! annotations of `serviceAccountTemplate` (how cloud IAM bindings such as IRSA or Workload
//! Identity attach object-store credentials to the instances). The instance managers call no
//! Kubernetes API — the operator pushes everything they need — so no Role is bound to it and its
//! token is not mounted: least privilege is no privilege.

use super::meta::Owner;
use k8s_openapi::api::core::v1::ServiceAccount;
use pgfed_api::cluster::Cluster;
use std::collections::BTreeMap;

/// The ServiceAccount of `cluster`'s instances. Pure.
pub fn build(cluster: &Cluster, owner: &Owner) -> ServiceAccount {
    let template = cluster
        .spec
        .service_account_template
        .as_ref()
        .map(|t| t.metadata.clone())
        .unwrap_or_default();
    let mut metadata = owner.child_meta(&owner.name, template.labels);
    // The Cluster label cannot be overridden (child_meta), but template annotations add to the
    // inherited ones.
    if !template.annotations.is_empty() {
        metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .extend(template.annotations);
    }
    ServiceAccount {
        metadata,
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::build::meta::tests::stored_cluster;
    use pgfed_api::cluster::{ServiceAccountTemplate, ServiceTemplateMetadata};
    use pgfed_api::names::LABEL_CLUSTER;

    #[test]
    fn named_after_the_cluster_without_a_token_and_with_the_template_metadata() {
        let mut cluster = stored_cluster(1);
        cluster.spec.service_account_template = Some(ServiceAccountTemplate {
            metadata: ServiceTemplateMetadata {
                name: None,
                labels: BTreeMap::from([("team".into(), "shop".into())]),
                annotations: BTreeMap::from([(
                    "eks.amazonaws.com/role-arn".into(),
                    "arn:aws:iam::1:role/pg".into(),
                )]),
            },
        });
        let owner = Owner::of(&cluster).expect("owner");
        let sa = build(&cluster, &owner);
        assert_eq!(sa.metadata.name.as_deref(), Some("pg"));
        assert_eq!(sa.automount_service_account_token, Some(false));
        let labels = sa.metadata.labels.expect("labels");
        assert_eq!(labels["team"], "shop");
        assert_eq!(labels[LABEL_CLUSTER], "pg");
        assert_eq!(
            sa.metadata.annotations.expect("annotations")["eks.amazonaws.com/role-arn"],
            "arn:aws:iam::1:role/pg"
        );
    }
}
