//! Which instances are fenced: the annotation `pgfed.io/fencedInstances` (or CloudNativePG's
//! `cnpg.io/fencedInstances`, so existing runbooks work) holds a JSON list of instance names, or
//! `["*"]` for all. A fenced instance keeps its pod; its manager keeps postgres stopped.

use super::Cluster;
use crate::names::ANNOTATION_FENCED_INSTANCES;
use std::collections::BTreeSet;

/// CloudNativePG's spelling of the annotation.
pub const CNPG_ANNOTATION_FENCED_INSTANCES: &str = "cnpg.io/fencedInstances";

/// The fenced instances.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fenced {
    /// Every instance (`["*"]`).
    pub all: bool,
    /// These instances.
    pub instances: BTreeSet<String>,
    /// The annotation could not be read as a JSON list of names (nothing is fenced by it).
    pub malformed: Option<String>,
}

impl Fenced {
    /// Whether `instance` is fenced.
    pub fn contains(&self, instance: &str) -> bool {
        self.all || self.instances.contains(instance)
    }
}

/// Reads the fencing annotations of `cluster` (both spellings; their union). Pure.
pub fn fenced_instances(cluster: &Cluster) -> Fenced {
    let mut fenced = Fenced::default();
    let annotations = cluster.metadata.annotations.clone().unwrap_or_default();
    for key in [
        ANNOTATION_FENCED_INSTANCES,
        CNPG_ANNOTATION_FENCED_INSTANCES,
    ] {
        let Some(value) = annotations.get(key) else {
            continue;
        };
        match serde_json::from_str::<Vec<String>>(value) {
            Ok(names) => {
                for name in names {
                    if name == "*" {
                        fenced.all = true;
                    } else {
                        fenced.instances.insert(name);
                    }
                }
            }
            Err(e) => {
                fenced.malformed = Some(format!("{key}: not a JSON list of instance names ({e})"))
            }
        }
    }
    fenced
}
