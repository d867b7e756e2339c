//! Where an instance pod may run: the generated pod anti-affinity that spreads the instances of
//! one Cluster over `topologyKey` (`preferred` with weight 100 by default, `required`, or none
//! when `enablePodAntiAffinity: false`), the user's additional anti-affinity terms appended to
//! it, and the user's pod affinity and node affinity taken as given, as in CloudNativePG.

use super::super::service::POD_ROLE_INSTANCE;
use k8s_openapi::api::core::v1::{
    Affinity, PodAffinity, PodAffinityTerm, PodAntiAffinity, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use pgfed_api::cluster::{AffinityConfiguration, PodAntiAffinityType};
use pgfed_api::names::{LABEL_CLUSTER, LABEL_POD_ROLE};

/// Topology key of the generated anti-affinity when `affinity.topologyKey` is unset.
pub const DEFAULT_TOPOLOGY_KEY: &str = "kubernetes.io/hostname";
/// Weight of the generated `preferred` anti-affinity term.
const PREFERRED_WEIGHT: i32 = 100;

fn label_in(key: &str, value: &str) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: key.into(),
        operator: "In".into(),
        values: Some(vec![value.into()]),
    }
}

/// The term matching the instance pods of `cluster` (not its poolers) in the same topology domain.
fn instances_of(cluster: &str, config: &AffinityConfiguration) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_expressions: Some(vec![
                label_in(LABEL_CLUSTER, cluster),
                label_in(LABEL_POD_ROLE, POD_ROLE_INSTANCE),
            ]),
            match_labels: None,
        }),
        topology_key: config
            .topology_key
            .clone()
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| DEFAULT_TOPOLOGY_KEY.into()),
        ..PodAffinityTerm::default()
    }
}

/// The pod's affinity, or none when nothing constrains it.
pub fn affinity(cluster: &str, config: &AffinityConfiguration) -> Option<Affinity> {
    let mut anti = PodAntiAffinity::default();
    if config.enable_pod_anti_affinity != Some(false) {
        let term = instances_of(cluster, config);
        match config
            .pod_anti_affinity_type
            .unwrap_or(PodAntiAffinityType::Preferred)
        {
            PodAntiAffinityType::Required => {
                anti.required_during_scheduling_ignored_during_execution = Some(vec![term]);
            }
            PodAntiAffinityType::Preferred => {
                anti.preferred_during_scheduling_ignored_during_execution =
                    Some(vec![WeightedPodAffinityTerm {
                        weight: PREFERRED_WEIGHT,
                        pod_affinity_term: term,
                    }]);
            }
        }
    }
    if let Some(extra) = &config.additional_pod_anti_affinity {
        append(
            &mut anti.required_during_scheduling_ignored_during_execution,
            &extra.required,
        );
        append(
            &mut anti.preferred_during_scheduling_ignored_during_execution,
            &extra.preferred,
        );
    }
    let pod_affinity = config
        .additional_pod_affinity
        .as_ref()
        .map(|terms| PodAffinity {
            required_during_scheduling_ignored_during_execution: non_empty(&terms.required),
            preferred_during_scheduling_ignored_during_execution: non_empty(&terms.preferred),
        });
    let pod_anti_affinity = (anti != PodAntiAffinity::default()).then_some(anti);
    let affinity = Affinity {
        node_affinity: config.node_affinity.clone(),
        pod_affinity,
        pod_anti_affinity,
    };
    (affinity != Affinity::default()).then_some(affinity)
}

fn append<T: Clone>(to: &mut Option<Vec<T>>, extra: &[T]) {
    if !extra.is_empty() {
        to.get_or_insert_with(Vec::new).extend_from_slice(extra);
    }
}

fn non_empty<T: Clone>(terms: &[T]) -> Option<Vec<T>> {
    (!terms.is_empty()).then(|| terms.to_vec())
}
