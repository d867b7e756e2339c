//! Carries out [`super::decide::reseed`]: sets a diverged designated primary's claims aside (label,
//! annotation, owner reference removed, so they outlive even the Cluster), deletes its pod, and
//! names the next serial the target primary, which the scale step then creates and which
//! bootstraps from the source's store. Also the views the decision and the rest of the reconcile
//! need: which claims are set aside, and the designated primary's claims.

use super::apply;
use super::decide::reseed::{
    self, ANNOTATION_DIVERGED, CONDITION, ConditionChange, LABEL_DIVERGED_AT, Replacement,
    ReseedInput, ReseedStep,
};
use super::error::ReconcileError;
use super::observe::Observed;
use super::reconcile::Outcome;
use super::status;
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::{Client, ResourceExt};
use pgfed_api::cluster::phase as phases;
use pgfed_api::cluster::{Cluster, ClusterStatus};
use pgfed_api::instance::InstanceStatus;
use pgfed_api::names::{LABEL_INSTANCE_NAME, instance_serial};
use serde_json::json;

/// The value of [`LABEL_DIVERGED_AT`] when `claim` was set aside.
pub fn set_aside_at(claim: &PersistentVolumeClaim) -> Option<String> {
    claim.labels().get(LABEL_DIVERGED_AT).cloned()
}

/// The claims of `instance` (name, when they were set aside), in name order. Pure.
pub fn claims_of(observed: &Observed, instance: &str) -> Vec<(String, Option<String>)> {
    observed
        .pvcs
        .iter()
        .filter(|(_, c)| c.labels().get(LABEL_INSTANCE_NAME).map(String::as_str) == Some(instance))
        .map(|(name, c)| (name.clone(), set_aside_at(c)))
        .collect()
}

/// Forgets the claims set aside, so that no later step of the reconcile (scale, resize, status,
/// pod problems) takes them for an instance's.
pub fn without_set_aside(observed: &mut Observed) {
    observed.pvcs.retain(|_, c| set_aside_at(c).is_none());
}

/// The highest serial among the pods and claims of cluster `name` and `latest_generated`. Pure.
pub fn latest_serial(name: &str, observed: &Observed, latest_generated: u32) -> u32 {
    let pods = observed
        .pods
        .keys()
        .filter_map(|p| instance_serial(name, p));
    let claims = observed
        .pvcs
        .values()
        .filter_map(|c| c.labels().get(LABEL_INSTANCE_NAME).cloned())
        .filter_map(|i| instance_serial(name, &i));
    pods.chain(claims).fold(latest_generated, u32::max)
}

/// The reseed decision of this turn, from the designated primary (`status.targetPrimary`), its
/// manager's raw report and its claims as observed (set-aside ones included).
pub fn step(
    name: &str,
    observed: &Observed,
    old_status: &ClusterStatus,
    replica_cluster: bool,
    designated: Option<&InstanceStatus>,
    now: DateTime<Utc>,
) -> ReseedStep {
    let target = old_status.target_primary.as_deref();
    let claims = target.map(|t| claims_of(observed, t)).unwrap_or_default();
    let latest_generated = old_status
        .latest_generated_node
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0);
    reseed::decide(&ReseedInput {
        cluster: name,
        replica_cluster,
        target,
        divergence: designated.and_then(|r| r.diverged_from_source.as_ref()),
        claims: &claims,
        latest_serial: latest_serial(name, observed, latest_generated),
        now_label: &reseed::label_value(now),
    })
}

/// Puts `step`'s condition into `status` (whose conditions are the stored ones) and returns its
/// Warning Event, if one is due.
pub fn report(
    step: &ReseedStep,
    status: &mut ClusterStatus,
    generation: Option<i64>,
    now: DateTime<Utc>,
) -> Option<(&'static str, String)> {
    let current = status
        .conditions
        .iter()
        .find(|c| c.type_ == CONDITION)
        .map(|c| c.reason.as_str());
    let (change, warning) = reseed::report(step, current);
    match change {
        ConditionChange::Keep => {}
        ConditionChange::Set(ok, why, message) => status::set_condition(
            &mut status.conditions,
            status::condition(CONDITION, ok, why, message, generation, now),
        ),
        ConditionChange::Remove => status.conditions.retain(|c| c.type_ != CONDITION),
    }
    warning
}

fn owner_name(cluster: &Cluster) -> String {
    cluster.metadata.name.clone().unwrap_or_default()
}

/// Sets the diverged instance's claims aside and deletes its pod. Idempotent: a reconcile
/// interrupted half-way does the rest next time.
pub async fn replace(
    client: &Client,
    owner_uid: &str,
    observed: &Observed,
    r: &Replacement,
) -> Result<(), ReconcileError> {
    let patch = json!({"metadata": {
        "labels": {LABEL_DIVERGED_AT: r.diverged_at},
        "annotations": {ANNOTATION_DIVERGED: r.message},
        // Owned, the Cluster's deletion would take them with it.
        "ownerReferences": null,
    }});
    for name in &r.kept_claims {
        if let Some(claim) = observed.pvcs.get(name) {
            apply::merge_patch(client, claim, &patch).await?;
        }
    }
    if let Some(pod) = observed.pods.get(&r.diverged) {
        apply::delete_owned(client, pod, owner_uid).await?;
    }
    Ok(())
}

/// The replacement as this reconcile's whole work: claims set aside, pod deleted, and the status
/// naming the replacement the target primary (no current primary until it runs), with the
/// condition and the phase saying why. The Warning Event goes out with the returned outcome.
pub async fn carry_out(
    client: &Client,
    cluster: &Cluster,
    owner_uid: &str,
    observed: &Observed,
    old_status: &ClusterStatus,
    r: &Replacement,
    now: DateTime<Utc>,
) -> Result<Outcome, ReconcileError> {
    replace(client, owner_uid, observed, r).await?;
    let mut new_status = old_status.clone();
    if new_status.target_primary.as_deref() != Some(r.replacement.as_str()) {
        new_status.target_primary = Some(r.replacement.clone());
        new_status.target_primary_timestamp = Some(now.to_rfc3339());
    }
    if new_status.current_primary.is_some() {
        new_status.current_primary = None;
        new_status.current_primary_timestamp = Some(now.to_rfc3339());
    }
    new_status.current_primary_failing_since_timestamp = None;
    // The scale step numbers the next instance from here: the replacement's serial must be next
    // even when the set-aside instance held the highest one.
    let before = instance_serial(&owner_name(cluster), &r.replacement).map(|s| s.saturating_sub(1));
    if let Some(before) = before.and_then(|b| i32::try_from(b).ok()) {
        new_status.latest_generated_node = new_status.latest_generated_node.max(Some(before));
    }
    new_status.phase = Some(phases::SETTING_UP_PRIMARY.to_string());
    new_status.phase_reason = Some(format!(
        "{} diverged from the replica source: {} replaces it, seeded from the source",
        r.diverged, r.replacement
    ));
    let warning = report(
        &ReseedStep::Replace(r.clone()),
        &mut new_status,
        cluster.metadata.generation,
        now,
    );
    status::write_if_changed(client, cluster, old_status, new_status).await?;
    Ok(Outcome {
        phase: phases::SETTING_UP_PRIMARY,
        previous_phase: old_status.phase.clone(),
        actions: Vec::new(),
        warnings: warning.into_iter().collect(),
        converging: true,
        primary_changing: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn claim(name: &str, instance: &str, aside: Option<&str>) -> (String, PersistentVolumeClaim) {
        let mut labels = BTreeMap::from([(LABEL_INSTANCE_NAME.to_string(), instance.to_string())]);
        if let Some(at) = aside {
            labels.insert(LABEL_DIVERGED_AT.to_string(), at.to_string());
        }
        let mut c = PersistentVolumeClaim::default();
        c.metadata.name = Some(name.to_string());
        c.metadata.labels = Some(labels);
        (name.to_string(), c)
    }

    #[test]
    fn claims_set_aside_leave_the_instance_set() {
        let mut observed = Observed {
            pvcs: BTreeMap::from([
                claim("pg-1", "pg-1", Some("20260101T000000Z")),
                claim("pg-1-wal", "pg-1", Some("20260101T000000Z")),
                claim("pg-2", "pg-2", None),
                claim("pg-7", "pg-7", None),
            ]),
            ..Observed::default()
        };
        assert_eq!(
            claims_of(&observed, "pg-1"),
            vec![
                ("pg-1".to_string(), Some("20260101T000000Z".to_string())),
                ("pg-1-wal".to_string(), Some("20260101T000000Z".to_string())),
            ]
        );
        assert_eq!(
            claims_of(&observed, "pg-2"),
            vec![("pg-2".to_string(), None)]
        );
        assert_eq!(latest_serial("pg", &observed, 3), 7);
        assert_eq!(latest_serial("pg", &observed, 9), 9);
        // The turn's decision reads the designated primary's claims, set aside ones included.
        let status = ClusterStatus {
            target_primary: Some("pg-1".into()),
            latest_generated_node: Some(7),
            ..ClusterStatus::default()
        };
        let now = chrono::Utc::now();
        let ReseedStep::Replace(r) = step("pg", &observed, &status, true, None, now) else {
            panic!("an interrupted replacement is carried on");
        };
        assert_eq!(r.replacement, "pg-8");
        assert_eq!(r.diverged_at, "20260101T000000Z");
        let mut written = status.clone();
        let warning = report(&ReseedStep::Replace(r), &mut written, Some(3), now);
        assert_eq!(warning.map(|w| w.0), Some(reseed::RESEEDED));
        let condition = written.conditions.iter().find(|c| c.type_ == CONDITION);
        assert_eq!(condition.map(|c| c.status.as_str()), Some("True"));
        // Not a replica cluster: nothing, and the story told stays.
        assert_eq!(
            step("pg", &observed, &status, false, None, now),
            ReseedStep::Nothing
        );
        assert_eq!(
            report(&ReseedStep::Nothing, &mut written, Some(3), now),
            None
        );
        assert_eq!(written.conditions.len(), 1);
        without_set_aside(&mut observed);
        assert_eq!(
            observed.pvcs.keys().cloned().collect::<Vec<_>>(),
            vec!["pg-2".to_string(), "pg-7".to_string()]
        );
    }
}
