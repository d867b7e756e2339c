//! The only place the Cluster controller writes to the API server. Objects are applied with
//! server-side apply under one field manager, and only when what was built differs from what was
//! applied last (an annotation carries the hash of the built object), so an idle cluster costs
//! zero writes. Pods are created, relabelled and deleted, never patched in place: a pod's spec is
//! immutable, and a changed one is replaced by the rollout. Deletions go only to objects that
//! carry this Cluster as their controller.

use super::build::meta::content_hash;
use super::error::ReconcileError;
use crate::webhook::secret::FIELD_MANAGER;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;

/// Annotation: hash of the object as the operator built it, before the API server defaulted it.
pub const ANNOTATION_APPLIED_HASH: &str = "pgfed.io/appliedHash";

/// Anything namespaced the controller applies.
pub trait Child:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
{
}

impl<K> Child for K where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned
{
}

fn describe<K: Child>(obj: &K) -> String {
    format!(
        "{} {}/{}",
        K::kind(&()),
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

/// `desired` with its hash annotation set. Pure.
pub fn stamped<K: Child>(mut desired: K) -> K {
    let meta = desired.meta_mut();
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(ANNOTATION_APPLIED_HASH);
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
    let hash = content_hash(&desired);
    desired
        .meta_mut()
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(ANNOTATION_APPLIED_HASH.into(), hash);
    desired
}

/// Whether `live` already is what `stamped` describes. Pure.
pub fn up_to_date<K: Child>(stamped: &K, live: Option<&K>) -> bool {
    let hash = |o: &K| o.annotations().get(ANNOTATION_APPLIED_HASH).cloned();
    live.is_some_and(|live| hash(live).is_some() && hash(live) == hash(stamped))
}

/// Applies `desired` unless `live` is already it. Returns whether a write was made.
pub async fn ensure<K: Child>(
    client: &Client,
    desired: K,
    live: Option<&K>,
) -> Result<bool, ReconcileError> {
    let desired = stamped(desired);
    if up_to_date(&desired, live) {
        return Ok(false);
    }
    let api: Api<K> = Api::namespaced(client.clone(), &desired.namespace().unwrap_or_default());
    api.patch(
        &desired.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&desired),
    )
    .await
    .map_err(ReconcileError::kube(format!(
        "applying {}",
        describe(&desired)
    )))?;
    Ok(true)
}

/// Creates `pod`; one that already exists (a watch that lagged) is not an error.
pub async fn create_pod(client: &Client, pod: &Pod) -> Result<(), ReconcileError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
    match api.create(&PostParams::default(), pod).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(source) => Err(ReconcileError::Kube {
            action: format!("creating {}", describe(pod)),
            source,
        }),
    }
}

/// Sets `labels` on `obj` with a merge patch (other labels are left alone).
pub async fn set_labels<K: Child>(
    client: &Client,
    obj: &K,
    labels: &BTreeMap<String, String>,
) -> Result<(), ReconcileError> {
    let api: Api<K> = Api::namespaced(client.clone(), &obj.namespace().unwrap_or_default());
    let patch = serde_json::json!({ "metadata": { "labels": labels } });
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(ReconcileError::kube(format!("labelling {}", describe(obj))))?;
    Ok(())
}

/// Merge-patches `obj` with `patch` (fields it names only).
pub async fn merge_patch<K: Child>(
    client: &Client,
    obj: &K,
    patch: &serde_json::Value,
) -> Result<(), ReconcileError> {
    let api: Api<K> = Api::namespaced(client.clone(), &obj.namespace().unwrap_or_default());
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(patch),
    )
    .await
    .map_err(ReconcileError::kube(format!("patching {}", describe(obj))))?;
    Ok(())
}

/// Whether `obj` is controlled by the Cluster with uid `owner_uid`. Pure.
pub fn owned_by<K: Resource>(obj: &K, owner_uid: &str) -> bool {
    obj.meta()
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && r.kind == "Cluster" && r.uid == owner_uid)
}

/// Deletes `obj` if it is still the object observed (same uid) and this Cluster controls it;
/// one already gone is not an error.
pub async fn delete_owned<K: Child>(
    client: &Client,
    obj: &K,
    owner_uid: &str,
) -> Result<bool, ReconcileError> {
    if !owned_by(obj, owner_uid) {
        return Ok(false);
    }
    let api: Api<K> = Api::namespaced(client.clone(), &obj.namespace().unwrap_or_default());
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: obj.uid(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&obj.name_any(), &params).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(false),
        Err(source) => Err(ReconcileError::Kube {
            action: format!("deleting {}", describe(obj)),
            source,
        }),
    }
}

/// Names among `live` that this Cluster controls and that were not built this time. Pure.
pub fn orphans<'a, K: Resource>(
    live: &'a BTreeMap<String, K>,
    built: &[String],
    owner_uid: &str,
) -> Vec<&'a K> {
    live.iter()
        .filter(|(name, obj)| !built.contains(name) && owned_by(*obj, owner_uid))
        .map(|(_, obj)| obj)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    fn map(name: &str, owner: Option<&str>, data: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                owner_references: owner.map(|uid| {
                    vec![OwnerReference {
                        api_version: "pgfed.io/v1".into(),
                        kind: "Cluster".into(),
                        name: "pg".into(),
                        uid: uid.into(),
                        controller: Some(true),
                        block_owner_deletion: Some(true),
                    }]
                }),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([("k".to_string(), data.to_string())])),
            ..ConfigMap::default()
        }
    }

    #[test]
    fn an_object_applied_before_is_not_written_again() {
        let built = stamped(map("pg-config", Some("u1"), "a"));
        // the API server adds fields (resourceVersion, managedFields): the hash still matches
        let mut live = built.clone();
        live.metadata.resource_version = Some("42".into());
        assert!(up_to_date(
            &stamped(map("pg-config", Some("u1"), "a")),
            Some(&live)
        ));
        assert!(!up_to_date(
            &stamped(map("pg-config", Some("u1"), "b")),
            Some(&live)
        ));
        assert!(!up_to_date(&built, None));
        // an object someone else made (no hash) is applied once
        assert!(!up_to_date(
            &built,
            Some(&map("pg-config", Some("u1"), "a"))
        ));
    }

    #[test]
    fn stamping_twice_gives_the_same_hash() {
        let once = stamped(map("x", None, "a"));
        let twice = stamped(once.clone());
        assert_eq!(once.annotations(), twice.annotations());
    }

    #[test]
    fn only_objects_this_cluster_controls_are_orphans() {
        let live = BTreeMap::from([
            ("kept".to_string(), map("kept", Some("u1"), "")),
            ("gone".to_string(), map("gone", Some("u1"), "")),
            ("users".to_string(), map("users", None, "")),
            ("other".to_string(), map("other", Some("u2"), "")),
        ]);
        let names: Vec<String> = orphans(&live, &["kept".to_string()], "u1")
            .into_iter()
            .map(|o| o.name_any())
            .collect();
        assert_eq!(names, vec!["gone".to_string()]);
    }
}
