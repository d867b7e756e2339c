//! The Cluster's status at the end of a turn: the phase (the instances' own, or what is under
//! way), the reason, the replica topology's tokens and conditions, and the Events they call for;
//! written only when it changed, and only over the status this turn started from.

use crate::cluster::decide::phase::{Overrides, Phase, PhaseInput, overridden, phase};
use crate::cluster::decide::replica::Standing;
use crate::cluster::decide::reseed::ReseedStep;
use crate::cluster::decide::scale::{ObservedInstance, ScaleStep};
use crate::cluster::decide::sync::SyncPlan;
use crate::cluster::error::ReconcileError;
use crate::cluster::observe::Observed;
use crate::cluster::status::{self, StatusInput};
use chrono::{DateTime, Utc};
use kube::Client;
use pgfed_api::cluster::phase as phases;
use pgfed_api::cluster::{CertificatesStatus, Cluster, ClusterStatus};
use pgfed_api::instance::InstanceStatus;
use std::collections::BTreeMap;

/// What the status is made of.
pub struct Turn<'a> {
    /// The Cluster (its spec as reconciled).
    pub cluster: &'a Cluster,
    /// The status this turn started from.
    pub old_status: &'a ClusterStatus,
    /// The resourceVersion the status is written over (the turn's own, or the Cluster's).
    pub own_status_version: Option<&'a str>,
    /// This turn's observation.
    pub observed: &'a Observed,
    /// What the instance managers reported.
    pub reported: &'a BTreeMap<String, InstanceStatus>,
    /// The instances as the scale decision saw them.
    pub instances: &'a [ObservedInstance],
    /// The scale step of this turn.
    pub step: &'a ScaleStep,
    /// Instances wanted.
    pub desired: u32,
    /// Serial of the target primary.
    pub target_serial: Option<u32>,
    /// `status.targetPrimary` to write.
    pub target_primary: Option<String>,
    /// `status.currentPrimary` to write.
    pub current_primary: Option<String>,
    /// The highest instance serial generated.
    pub latest_generated: u32,
    /// `status.certificates`.
    pub certificates: CertificatesStatus,
    /// The operand image.
    pub image: String,
    /// The fenced instances.
    pub fenced: &'a crate::cluster::decide::fencing::Fenced,
    /// Since when the primary is failing, while it is.
    pub failing_since: Option<DateTime<Utc>>,
    /// Synchronous replication as planned this turn.
    pub sync_plan: &'a SyncPlan,
    /// The former primaries' rejoins already told in Events.
    pub rejoins_published: BTreeMap<String, String>,
    /// This cluster's standing in a replica topology.
    pub standing: Standing,
    /// The designated primary and its raw report (replica topology).
    pub designated_raw: Option<&'a (String, Option<InstanceStatus>)>,
    /// The re-seed step of this turn.
    pub reseed_step: &'a ReseedStep,
    /// Instances on an outdated spec or waiting for a restart.
    pub outdated: u32,
    /// What takes the phase over, the replica topology's aside (computed here).
    pub under_way: Overrides,
    /// This turn's time.
    pub now: DateTime<Utc>,
}

/// The phase written, and the Events the status calls for.
pub struct Reported {
    /// The phase written.
    pub phase: &'static str,
    /// Transitions (for Events): reason, message.
    pub actions: Vec<(&'static str, String)>,
    /// Problems first seen (for Warning Events): reason, message.
    pub warnings: Vec<(&'static str, String)>,
}

/// Builds the status and writes it when it changed.
pub async fn write(client: &Client, turn: Turn<'_>) -> Result<Reported, ReconcileError> {
    let Turn {
        cluster,
        old_status,
        own_status_version,
        observed,
        reported,
        instances,
        step,
        desired,
        target_serial,
        target_primary,
        current_primary,
        latest_generated,
        certificates,
        image,
        fenced,
        failing_since,
        sync_plan,
        rejoins_published,
        standing,
        designated_raw,
        reseed_step,
        outdated,
        mut under_way,
        now,
    } = turn;
    let spec = &cluster.spec;
    let mut actions = Vec::new();
    let mut warnings = Vec::new();
    let ready = u32::try_from(instances.iter().filter(|i| i.ready).count()).unwrap_or(0);
    let Phase {
        phase: base,
        mut reason,
    } = phase(&PhaseInput {
        step: step.clone(),
        target_primary: target_serial,
        primary_elected: current_primary.is_some(),
        desired,
        ready,
        outdated,
    });
    // A pod that cannot start says why, in the phase reason; an Event when first seen.
    let problems =
        crate::cluster::decide::pod_problems::pod_problems(&observed.pods, &observed.pvcs);
    if !problems.is_empty() && base != phases::HEALTHY {
        let previous = old_status.phase_reason.clone().unwrap_or_default();
        for problem in problems.values() {
            if !previous.contains(problem.as_str()) {
                warnings.push(("InstanceNotStarting", problem.clone()));
            }
        }
        reason = problems.values().cloned().collect::<Vec<_>>().join("; ");
    }
    let topology = crate::cluster::decide::replica::replica_status(
        standing,
        spec.replica.as_ref(),
        designated_raw.map(|(n, r)| (n.as_str(), r.as_ref())),
        old_status.demotion_token.as_deref(),
        old_status.last_promotion_token.as_deref(),
    );
    under_way.topology = topology.phase.clone();
    let phase_now = overridden(
        Phase {
            phase: base,
            reason,
        },
        under_way,
    );
    let written = phase_now.phase;
    let mut new_status = status::build(&StatusInput {
        cluster,
        observed,
        phase: phase_now.phase,
        phase_reason: phase_now.reason,
        target_primary,
        current_primary,
        latest_generated,
        certificates,
        image,
        reported,
        fenced,
        failing_since,
        sync_replication: crate::cluster::decide::sync::condition(
            sync_plan,
            cluster.metadata.generation,
            now,
        ),
        now,
    });
    new_status.rejoins_reported = rejoins_published;
    new_status.wal_position = crate::cluster::decide::wal_position::wal_position(
        standing,
        designated_raw.and_then(|(_, r)| r.as_ref()),
        old_status.wal_position.as_ref(),
        now,
    );
    // The replica topology: tokens and the switch conditions; an Event when a token appears.
    if topology.demotion_token.is_some() && topology.demotion_token != old_status.demotion_token {
        actions.push((
            "DemotionTokenPublished",
            "demoted to a replica cluster; the demotion token is in status.demotionToken".into(),
        ));
    }
    if topology.last_promotion_token.is_some()
        && topology.last_promotion_token != old_status.last_promotion_token
    {
        actions.push((
            "PromotedToPrimaryCluster",
            "promoted at the promotion token: this is the primary cluster now".into(),
        ));
    }
    new_status.demotion_token = topology.demotion_token.clone();
    new_status.last_promotion_token = topology.last_promotion_token.clone();
    new_status.conditions.retain(|c| {
        !crate::cluster::decide::replica::CONDITIONS.contains(&c.type_.as_str())
            || topology.conditions.iter().any(|t| t.0 == c.type_)
    });
    for (type_, ok, why, message) in &topology.conditions {
        status::set_condition(
            &mut new_status.conditions,
            status::condition(
                type_,
                *ok,
                why,
                message.clone(),
                cluster.metadata.generation,
                now,
            ),
        );
    }
    if let Some((warning, reason, note)) = crate::cluster::decide::archiving::archiving_event(
        &old_status.conditions,
        &new_status.conditions,
    ) {
        if warning {
            warnings.push((reason, note));
        } else {
            actions.push((reason, note));
        }
    }
    let reseed_warning = crate::cluster::reseed::report(
        reseed_step,
        &mut new_status,
        cluster.metadata.generation,
        now,
    );
    warnings.extend(reseed_warning);
    status::write_if_changed_at(client, cluster, own_status_version, old_status, new_status)
        .await?;
    Ok(Reported {
        phase: written,
        actions,
        warnings,
    })
}
