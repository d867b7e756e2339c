//! `spec.affinity`: where instance pods may and should run.

use k8s_openapi::api::core::v1::{
    NodeAffinity, PodAffinityTerm, Toleration, WeightedPodAffinityTerm,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Scheduling of instance pods.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AffinityConfiguration {
    /// Spread instances across `topologyKey` with pod anti-affinity. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_pod_anti_affinity: Option<bool>,
    /// Topology key of the anti-affinity. Default `kubernetes.io/hostname`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_key: Option<String>,
    /// Node labels the pods must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Node affinity of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::common::kubernetes_summaries)]
    pub node_affinity: Option<NodeAffinity>,
    /// Tolerations of the pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = crate::common::kubernetes_summaries)]
    pub tolerations: Vec<Toleration>,
    /// `preferred` (default) or `required` anti-affinity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_anti_affinity_type: Option<PodAntiAffinityType>,
    /// Extra pod anti-affinity terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_pod_anti_affinity: Option<PodAffinityTerms>,
    /// Extra pod affinity terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_pod_affinity: Option<PodAffinityTerms>,
}

/// Strength of the generated anti-affinity.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PodAntiAffinityType {
    /// Spread when possible.
    Preferred,
    /// Never co-locate two instances.
    Required,
}

/// Pod (anti-)affinity terms, as in the core Pod API.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct PodAffinityTerms {
    /// Hard terms.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        rename = "requiredDuringSchedulingIgnoredDuringExecution"
    )]
    #[schemars(transform = crate::common::kubernetes_summaries)]
    pub required: Vec<PodAffinityTerm>,
    /// Soft, weighted terms.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        rename = "preferredDuringSchedulingIgnoredDuringExecution"
    )]
    #[schemars(transform = crate::common::kubernetes_summaries)]
    pub preferred: Vec<WeightedPodAffinityTerm>,
}
