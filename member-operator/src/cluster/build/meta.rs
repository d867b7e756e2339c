//! Metadata every child object of a Cluster carries: its name and namespace, the Cluster's label
//! (how orphans are found and Services select pods), the labels and annotations the user asked
//! every object to inherit (`spec.inheritedMetadata`), and a controller owner reference so that
//! deleting the Cluster deletes what it owns and nothing else.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use pgfed_api::cluster::Cluster;
use pgfed_api::names::LABEL_CLUSTER;
use std::collections::BTreeMap;

/// Why a child object cannot be built for this Cluster.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetaError {
    /// The Cluster has no name, namespace or uid yet (it was not read from the API server).
    #[error(
        "the Cluster has no {0} (it must be read from the API server before building children)"
    )]
    MissingIdentity(&'static str),
}

/// Name, namespace and uid of the owning Cluster, checked once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Cluster name.
    pub name: String,
    /// Cluster namespace.
    pub namespace: String,
    /// Cluster uid, for the owner reference.
    pub uid: String,
    /// Labels every child inherits (`spec.inheritedMetadata.labels`).
    pub inherited_labels: BTreeMap<String, String>,
    /// Annotations every child inherits (`spec.inheritedMetadata.annotations`).
    pub inherited_annotations: BTreeMap<String, String>,
}

impl Owner {
    /// Reads the identity of `cluster`; fails when it was never stored by the API server.
    pub fn of(cluster: &Cluster) -> Result<Self, MetaError> {
        let meta = &cluster.metadata;
        let name = meta
            .name
            .clone()
            .ok_or(MetaError::MissingIdentity("name"))?;
        let namespace = meta
            .namespace
            .clone()
            .ok_or(MetaError::MissingIdentity("namespace"))?;
        let uid = meta.uid.clone().ok_or(MetaError::MissingIdentity("uid"))?;
        let inherited = cluster.spec.inherited_metadata.clone().unwrap_or_default();
        Ok(Self {
            name,
            namespace,
            uid,
            inherited_labels: inherited.labels,
            inherited_annotations: inherited.annotations,
        })
    }

    /// The owner reference children carry: the Cluster is their controller, and the garbage
    /// collector deletes them after the Cluster.
    pub fn owner_reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: "pgfed.io/v1".into(),
            kind: "Cluster".into(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    /// Labels that select everything of this Cluster (orphan clean-up, Services, PDBs).
    pub fn selector_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(LABEL_CLUSTER.to_string(), self.name.clone())])
    }

    /// Metadata of a child named `name`: inherited labels and annotations first, then `labels`
    /// and the Cluster label, which the user's inherited metadata cannot override (they are how
    /// the operator finds its objects).
    pub fn child_meta(&self, name: &str, labels: BTreeMap<String, String>) -> ObjectMeta {
        let mut all_labels = self.inherited_labels.clone();
        all_labels.extend(labels);
        all_labels.extend(self.selector_labels());
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(self.namespace.clone()),
            labels: Some(all_labels),
            annotations: (!self.inherited_annotations.is_empty())
                .then(|| self.inherited_annotations.clone()),
            owner_references: Some(vec![self.owner_reference()]),
            ..ObjectMeta::default()
        }
    }
}

/// A stable hash of `value`'s JSON (64-bit FNV-1a, in hex): how the operator tells whether what
/// it built differs from what it applied before, without a write. FNV needs no extra dependency
/// and is stable across Rust versions, unlike `std`'s hasher.
pub fn content_hash<T: serde::Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in json {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pgfed_api::cluster::{Cluster, ClusterSpec};
    use pgfed_api::common::EmbeddedObjectMetadata;

    /// A stored Cluster `pg` in namespace `ns` with `instances` instances.
    pub(crate) fn stored_cluster(instances: i32) -> Cluster {
        let mut cluster = Cluster::new(
            "pg",
            ClusterSpec {
                instances,
                ..ClusterSpec::default()
            },
        );
        cluster.metadata.namespace = Some("ns".into());
        cluster.metadata.uid = Some("uid-1".into());
        cluster
    }

    #[test]
    fn content_hash_is_stable_and_tells_values_apart() {
        // Pinned: a change of algorithm would roll every pod of every cluster.
        assert_eq!(content_hash(&"pg"), "d923f583fb4ace4e");
        assert_ne!(content_hash(&1), content_hash(&2));
    }

    #[test]
    fn a_cluster_never_stored_has_no_owner() {
        let mut cluster = stored_cluster(1);
        cluster.metadata.uid = None;
        assert_eq!(Owner::of(&cluster), Err(MetaError::MissingIdentity("uid")));
        cluster.metadata.namespace = None;
        assert_eq!(
            Owner::of(&cluster),
            Err(MetaError::MissingIdentity("namespace"))
        );
    }

    #[test]
    fn children_inherit_metadata_but_keep_the_cluster_label() {
        let mut cluster = stored_cluster(1);
        cluster.spec.inherited_metadata = Some(EmbeddedObjectMetadata {
            labels: BTreeMap::from([
                ("team".to_string(), "shop".to_string()),
                (LABEL_CLUSTER.to_string(), "hijack".to_string()),
            ]),
            annotations: BTreeMap::from([("note".to_string(), "x".to_string())]),
        });
        let owner = Owner::of(&cluster).expect("stored cluster");
        let meta = owner.child_meta("pg-rw", BTreeMap::new());
        let labels = meta.labels.expect("labels");
        assert_eq!(labels.get("team").map(String::as_str), Some("shop"));
        assert_eq!(labels.get(LABEL_CLUSTER).map(String::as_str), Some("pg"));
        assert_eq!(
            meta.annotations.and_then(|a| a.get("note").cloned()),
            Some("x".to_string())
        );
        let owners = meta.owner_references.expect("owner");
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].uid, "uid-1");
        assert_eq!(owners[0].controller, Some(true));
        assert_eq!(meta.namespace.as_deref(), Some("ns"));
    }
}
