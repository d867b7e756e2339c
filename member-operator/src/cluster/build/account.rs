//! The ServiceAccount the instance pods run as, named after the Cluster, with the labels and
//! annotations of `serviceAccountTemplate` (how cloud IAM bindings such as IRSA or Workload
//! Identity attach object-store credentials to the instances). The instance managers call no
//! Kubernetes API — the operator pushes everything they need — so no Role is bound to it and its
//! token is not mounted: least privilege is no privilege.

use super::meta::Owner;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
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
        // Mounted by the pod itself (only the instances use this account).
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

/// The Role of `cluster`'s instances: get and update its primary Lease (named after the
/// cluster). Pure.
pub fn role(owner: &Owner) -> Role {
    Role {
        metadata: owner.child_meta(&owner.name, BTreeMap::new()),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["coordination.k8s.io".into()]),
            resources: Some(vec!["leases".into()]),
            resource_names: Some(vec![owner.name.clone()]),
            verbs: vec!["get".into(), "update".into()],
            ..PolicyRule::default()
        }]),
    }
}

/// Binds [`role`] to the instances' ServiceAccount. Pure.
pub fn role_binding(owner: &Owner) -> RoleBinding {
    RoleBinding {
        metadata: owner.child_meta(&owner.name, BTreeMap::new()),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: owner.name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: owner.name.clone(),
            namespace: Some(owner.namespace.clone()),
            ..Subject::default()
        }]),
    }
}

/// The cluster's primary Lease as the operator creates it: nobody holds it; the first primary
/// takes it. Pure.
pub fn primary_lease(owner: &Owner) -> Lease {
    Lease {
        metadata: owner.child_meta(&owner.name, BTreeMap::new()),
        spec: Some(LeaseSpec::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::build::meta::tests::stored_cluster;
    use pgfed_api::cluster::{ServiceAccountTemplate, ServiceTemplateMetadata};
    use pgfed_api::names::LABEL_CLUSTER;

    #[test]
    fn the_instances_may_only_read_and_renew_their_own_lease() {
        let cluster = stored_cluster(3);
        let owner = Owner::of(&cluster).expect("owner");
        let role = role(&owner);
        let rules = role.rules.expect("rules");
        assert_eq!(rules.len(), 1);
        assert_eq!(
            rules[0].resource_names.as_deref(),
            Some(&["pg".to_string()][..])
        );
        assert_eq!(rules[0].verbs, ["get", "update"]);
        let binding = role_binding(&owner);
        assert_eq!(binding.role_ref.name, "pg");
        assert_eq!(binding.subjects.expect("subjects")[0].name, "pg");
        let lease = primary_lease(&owner);
        assert_eq!(lease.metadata.name.as_deref(), Some("pg"));
        assert_eq!(lease.spec.expect("spec").holder_identity, None);
    }

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
