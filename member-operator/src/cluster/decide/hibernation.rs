//! Declarative hibernation: `pgfed.io/hibernation: on` (CloudNativePG's `cnpg.io/hibernation`
//! accepted too) removes every instance pod and keeps every claim, so the cluster costs no CPU or
//! memory and comes back with the same data and the same primary when the annotation is `off` or
//! removed. The primary's pod goes first: its clean shutdown sends the last WAL to the standbys,
//! which are still streaming, so they stop in step with it and no switchover happens.

use pgfed_api::cluster::Cluster;
use pgfed_api::names::ANNOTATION_HIBERNATION;

/// CloudNativePG's spelling of the annotation.
pub const CNPG_ANNOTATION_HIBERNATION: &str = "cnpg.io/hibernation";

/// Whether hibernation is asked for. A value other than `on`/`off` is an error naming the
/// annotation (the cluster is left as it is). Pure.
pub fn requested(cluster: &Cluster) -> Result<bool, String> {
    let annotations = cluster.metadata.annotations.clone().unwrap_or_default();
    let mut on = false;
    for key in [ANNOTATION_HIBERNATION, CNPG_ANNOTATION_HIBERNATION] {
        match annotations.get(key).map(String::as_str) {
            None | Some("off") => {}
            Some("on") => on = true,
            Some(other) => {
                return Err(format!("annotation {key}: {other:?} is neither on nor off"));
            }
        }
    }
    Ok(on)
}

/// One instance pod as hibernation sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HibernatingPod {
    /// Pod (instance) name.
    pub name: String,
    /// Being deleted already.
    pub terminating: bool,
}

/// What hibernation does now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HibernationStep {
    /// Delete these pods (the primary alone first, then the standbys).
    Delete(Vec<String>),
    /// Pods are shutting down.
    Wait,
    /// No pod is left: hibernated.
    Hibernated,
}

/// The next hibernation step. Pure.
pub fn next_step(pods: &[HibernatingPod], primary: Option<&str>) -> HibernationStep {
    if pods.is_empty() {
        return HibernationStep::Hibernated;
    }
    let live: Vec<&HibernatingPod> = pods.iter().filter(|p| !p.terminating).collect();
    if let Some(p) = live.iter().find(|p| Some(p.name.as_str()) == primary) {
        return HibernationStep::Delete(vec![p.name.clone()]);
    }
    if pods.iter().any(|p| Some(p.name.as_str()) == primary) {
        // The primary is still shutting down: the standbys wait for its last WAL.
        return HibernationStep::Wait;
    }
    if live.is_empty() {
        return HibernationStep::Wait;
    }
    HibernationStep::Delete(live.iter().map(|p| p.name.clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::build::meta::tests::stored_cluster;
    use std::collections::BTreeMap;

    fn pod(name: &str, terminating: bool) -> HibernatingPod {
        HibernatingPod {
            name: name.into(),
            terminating,
        }
    }

    #[test]
    fn the_primary_goes_first_then_the_standbys() {
        use HibernationStep::*;
        let cases = [
            (
                vec![pod("pg-1", false), pod("pg-2", false), pod("pg-3", false)],
                Delete(vec!["pg-1".into()]),
            ),
            (vec![pod("pg-1", true), pod("pg-2", false)], Wait),
            (
                vec![pod("pg-2", false), pod("pg-3", false)],
                Delete(vec!["pg-2".into(), "pg-3".into()]),
            ),
            (vec![pod("pg-2", true)], Wait),
            (vec![], Hibernated),
        ];
        for (pods, want) in cases {
            assert_eq!(next_step(&pods, Some("pg-1")), want, "{pods:?}");
        }
        // no known primary: every pod at once
        assert_eq!(
            next_step(&[pod("pg-2", false)], None),
            Delete(vec!["pg-2".into()])
        );
    }

    #[test]
    fn both_spellings_and_bad_values() {
        let with = |pairs: &[(&str, &str)]| {
            let mut c = stored_cluster(1);
            c.metadata.annotations = Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            );
            requested(&c)
        };
        assert_eq!(with(&[]), Ok(false));
        assert_eq!(with(&[(ANNOTATION_HIBERNATION, "on")]), Ok(true));
        assert_eq!(with(&[(CNPG_ANNOTATION_HIBERNATION, "on")]), Ok(true));
        assert_eq!(with(&[(CNPG_ANNOTATION_HIBERNATION, "off")]), Ok(false));
        let err = with(&[(ANNOTATION_HIBERNATION, "yes")]).expect_err("bad value");
        assert!(err.contains(ANNOTATION_HIBERNATION), "{err}");
    }
}
