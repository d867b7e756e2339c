//! A hibernating cluster: its pods removed one step at a time, the primary's first, every claim
//! kept; only the user resumes it.

use super::Outcome;
use super::view::terminating;
use crate::cluster::apply;
use crate::cluster::build::meta::Owner;
use crate::cluster::error::ReconcileError;
use crate::cluster::observe::Observed;
use crate::cluster::status::{self, StatusInput};
use chrono::Utc;
use kube::Client;
use pgfed_api::cluster::phase as phases;
use pgfed_api::cluster::{Cluster, ClusterStatus};
use pgfed_api::names::instance_serial;
use std::collections::BTreeMap;

/// What the hibernation step needs besides the observation.
pub struct HibernateInput<'a> {
    /// The target primary, kept in the status.
    pub target_primary: Option<String>,
    /// The primary, the first pod removed.
    pub current_primary: Option<String>,
    /// The highest instance serial generated.
    pub latest_generated: u32,
    /// `status.certificates`.
    pub certificates: pgfed_api::cluster::CertificatesStatus,
    /// The operand image.
    pub image: String,
    /// What the instance managers reported.
    pub reported: &'a BTreeMap<String, pgfed_api::instance::InstanceStatus>,
    /// The fenced instances.
    pub fenced: &'a crate::cluster::decide::fencing::Fenced,
    /// This turn's time.
    pub now: chrono::DateTime<Utc>,
}

/// Takes a hibernating cluster one step further and writes its status: phase "Waiting for user
/// action" (only the user resumes it) and condition `pgfed.io/hibernation`.
pub async fn hibernate(
    client: &Client,
    cluster: &Cluster,
    owner: &Owner,
    observed: &Observed,
    old_status: &ClusterStatus,
    input: HibernateInput<'_>,
) -> Result<Outcome, ReconcileError> {
    use crate::cluster::decide::hibernation::{HibernatingPod, HibernationStep, next_step};
    let pods: Vec<HibernatingPod> = observed
        .pods
        .iter()
        .filter(|(n, _)| instance_serial(&owner.name, n).is_some())
        .map(|(n, p)| HibernatingPod {
            name: n.clone(),
            terminating: terminating(p),
        })
        .collect();
    let mut actions = Vec::new();
    let step = next_step(&pods, input.current_primary.as_deref());
    if let HibernationStep::Delete(names) = &step {
        for name in names {
            if let Some(p) = observed.pods.get(name) {
                apply::delete_owned(client, p, &owner.uid).await?;
                actions.push((
                    "Hibernating",
                    format!("hibernation: stopping instance {name}"),
                ));
            }
        }
    }
    let hibernated = step == HibernationStep::Hibernated;
    let reason = if hibernated {
        "hibernated: every pod removed, every volume kept; set pgfed.io/hibernation to off to resume"
    } else {
        "hibernating: stopping the instances, the primary first"
    };
    let mut new_status = status::build(&StatusInput {
        cluster,
        observed,
        phase: phases::WAITING_FOR_USER,
        phase_reason: reason.to_string(),
        target_primary: input.target_primary,
        current_primary: input.current_primary,
        latest_generated: input.latest_generated,
        certificates: input.certificates,
        image: input.image,
        reported: input.reported,
        fenced: input.fenced,
        failing_since: None,
        // Hibernated: no primary, no synchronous replication to report on.
        sync_replication: None,
        now: input.now,
    });
    status::set_condition(
        &mut new_status.conditions,
        status::condition(
            status::HIBERNATION_CONDITION,
            hibernated,
            if hibernated {
                "Hibernated"
            } else {
                "Hibernating"
            },
            reason.to_string(),
            cluster.metadata.generation,
            input.now,
        ),
    );
    status::write_if_changed(client, cluster, old_status, new_status).await?;
    Ok(Outcome {
        phase: phases::WAITING_FOR_USER,
        previous_phase: old_status.phase.clone(),
        actions,
        warnings: Vec::new(),
        converging: !hibernated,
        primary_changing: false,
    })
}
