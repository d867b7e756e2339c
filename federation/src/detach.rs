//! Members removed from `spec.members`. Pure.
//!
//! Removing a member never deletes its data: its Cluster is detached (the Federation's labels and
//! spec-hash annotation removed, so the controller no longer claims it) and keeps running as it
//! was — a replica cluster replaying the primary's object store — until someone deletes it. Its
//! place is only known from the status (the spec no longer names it), so a member stays listed
//! there until it is detached.

use crate::member::{LABEL_FEDERATION, LABEL_MEMBER};
use pgfed_api::federation::{Federation, FederationMember, MemberStatus};
use serde_json::{Value, json};

/// Members the status lists that `spec.members` no longer names and whose Cluster's place is
/// recorded. None while a switchover runs: a member must not vanish from its steps.
pub fn removed(fed: &Federation) -> Vec<MemberStatus> {
    let Some(status) = &fed.status else {
        return Vec::new();
    };
    if status.switchover.is_some() {
        return Vec::new();
    }
    status
        .members
        .iter()
        .filter(|m| !fed.spec.members.iter().any(|s| s.name == m.name))
        .filter(|m| m.namespace.is_some() && m.cluster_name.is_some())
        .cloned()
        .collect()
}

/// The member as the clients cache knows members: enough to reach its API server.
pub fn as_member(m: &MemberStatus) -> FederationMember {
    FederationMember {
        name: m.name.clone(),
        region: m.region.clone().unwrap_or_default(),
        kubeconfig_secret_ref: m.kubeconfig_secret_ref.clone(),
        namespace: m.namespace.clone(),
        cluster_name: m.cluster_name.clone(),
        ..FederationMember::default()
    }
}

/// The merge patch that detaches a member Cluster: the Federation's labels and the applied-spec
/// annotation go; its spec stays as it is.
pub fn detach_patch(spec_hash_annotation: &str) -> Value {
    json!({"metadata": {
        "labels": {LABEL_FEDERATION: null, LABEL_MEMBER: null},
        "annotations": {spec_hash_annotation: null}
    }})
}

/// A removed member still listed because it could not be detached yet.
pub fn still_listed(m: &MemberStatus, why: &str) -> MemberStatus {
    MemberStatus {
        reachable: false,
        message: Some(format!(
            "removed from spec.members; its Cluster is not detached yet: {why}"
        )),
        ..m.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgfed_api::federation::{FederationStatus, SwitchoverProgress};

    fn fed(spec_members: &[&str], listed: &[(&str, bool)], switching: bool) -> Federation {
        let mut fed: Federation = serde_json::from_value(json!({
            "apiVersion": "pgfed.io/v1", "kind": "Federation",
            "metadata": {"name": "shop", "namespace": "demo"},
            "spec": {"primary": "a", "members": spec_members.iter().map(|m| json!({"name": m, "region": "r"})).collect::<Vec<_>>(), "template": {"instances": 1}}
        }))
        .expect("federation");
        fed.status = Some(FederationStatus {
            members: listed
                .iter()
                .map(|(name, placed)| MemberStatus {
                    name: name.to_string(),
                    namespace: placed.then(|| "ns".to_string()),
                    cluster_name: placed.then(|| format!("shop-{name}")),
                    ..MemberStatus::default()
                })
                .collect(),
            switchover: switching.then(SwitchoverProgress::default),
            ..FederationStatus::default()
        });
        fed
    }

    fn names(v: Vec<MemberStatus>) -> Vec<String> {
        v.into_iter().map(|m| m.name).collect()
    }

    #[test]
    fn removed_members_are_the_listed_ones_the_spec_dropped() {
        let cases = [
            (
                "nothing removed",
                fed(&["a", "b"], &[("a", true), ("b", true)], false),
                vec![],
            ),
            (
                "c removed",
                fed(&["a", "b"], &[("a", true), ("b", true), ("c", true)], false),
                vec!["c"],
            ),
            (
                "not during a switchover",
                fed(&["a"], &[("a", true), ("c", true)], true),
                vec![],
            ),
            (
                "a status from before places were recorded",
                fed(&["a"], &[("a", true), ("c", false)], false),
                vec![],
            ),
        ];
        for (name, fed, want) in cases {
            assert_eq!(names(removed(&fed)), want, "{name}");
        }
    }

    #[test]
    fn the_patch_removes_only_the_federation_marks() {
        let patch = detach_patch("pgfed.io/federation-spec-hash");
        assert_eq!(patch["metadata"]["labels"][LABEL_FEDERATION], Value::Null);
        assert!(patch.get("spec").is_none(), "{patch}");
        let member = as_member(&MemberStatus {
            name: "c".into(),
            namespace: Some("ns".into()),
            cluster_name: Some("shop-c".into()),
            ..MemberStatus::default()
        });
        assert_eq!(
            (member.namespace.as_deref(), member.cluster_name.as_deref()),
            (Some("ns"), Some("shop-c"))
        );
    }
}
