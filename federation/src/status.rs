//! The Federation's status, built from what every member reported and what the switchover plan
//! decided. Pure; written by the controller only when it differs from the stored one.

use crate::lag::{self, Lag};
use crate::member::Placement;
use crate::reseed::{self, Divergence};
use crate::switchover::{MemberView, Plan, Standing};
use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::core::v1::SecretKeySelector;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use pgfed_api::cluster::ClusterStatus;
use pgfed_api::federation::{Federation, FederationStatus, MemberStatus, federation_phase};
use pgfed_operator::cluster::decide::reseed::{RESEEDED, WAITING};
use pgfed_operator::cluster::status as cluster_status;

/// Condition types of a Federation.
pub mod condition {
    /// One primary, every member reachable and healthy, no switchover running.
    pub const READY: &str = "Ready";
    /// Every member's API server answered and its Cluster exists.
    pub const MEMBERS_REACHABLE: &str = "MembersReachable";
    /// Exactly one member accepts writes.
    pub const PRIMARY_CONSISTENT: &str = "PrimaryConsistent";
    /// Every replica member runs as a replica of the primary.
    pub const REPLICAS_IN_SYNC: &str = "ReplicasInSync";
    /// The switchover `spec.primary` asks for can run (false: refused, with why).
    pub const SWITCHOVER_ALLOWED: &str = "SwitchoverAllowed";
    /// With `failover.mode: Automatic`: true while the primary renews the fencing lease and a
    /// lost primary region would be failed over; false with why not (lease unreadable, no
    /// member could be promoted, a failover running).
    pub const AUTOMATIC_FAILOVER: &str = "AutomaticFailover";
}

/// One member as observed this turn.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// What the switchover plan reads.
    pub view: MemberView,
    /// Its region.
    pub region: String,
    /// Its Cluster's status, when read.
    pub cluster: Option<ClusterStatus>,
    /// Why it could not be read (unreachable API server, no Cluster yet).
    pub error: Option<String>,
    /// Where its Cluster lives.
    pub place: Placement,
    /// Its kubeconfig Secret (absent: the hub).
    pub kubeconfig: Option<SecretKeySelector>,
}

/// `replication.maxAcceptableLag` when the Federation does not say (or says something the
/// admission webhook would have refused).
pub const DEFAULT_MAX_ACCEPTABLE_LAG: std::time::Duration = std::time::Duration::from_secs(60);

/// `replication.maxAcceptableLag`, or its default.
pub fn max_acceptable_lag(fed: &Federation) -> std::time::Duration {
    fed.spec
        .replication
        .as_ref()
        .and_then(|r| r.max_acceptable_lag.as_deref())
        .and_then(|l| pgfed_api::validation::formats::parse_duration(l).ok())
        .unwrap_or(DEFAULT_MAX_ACCEPTABLE_LAG)
}

/// The member condition set while a replica member is further behind than accepted.
pub const LAGGING: &str = "Lagging";

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn role(standing: Standing) -> Option<String> {
    match standing {
        Standing::Primary => Some("primary".into()),
        Standing::Replica => Some("replica".into()),
        Standing::Demoting => Some("demoting".into()),
        Standing::Promoting => Some("promoting".into()),
        Standing::Unknown => None,
    }
}

fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: DateTime<Utc>,
) {
    let new = cluster_status::condition(type_, ok, reason, message, generation, now);
    cluster_status::set_condition(conditions, new);
}

/// How stale `lastSeen` of a reachable member may get: refreshing it on every poll would write
/// the status every few seconds for nothing.
pub const LAST_SEEN_REFRESH: chrono::Duration = chrono::Duration::seconds(60);

fn last_seen(
    previous: Option<&MemberStatus>,
    reachable: bool,
    now: DateTime<Utc>,
) -> Option<String> {
    let before = previous.and_then(|m| m.last_seen.clone());
    if !reachable {
        return before;
    }
    let fresh = before
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| now - t.with_timezone(&Utc) < LAST_SEEN_REFRESH);
    if fresh && previous.is_some_and(|m| m.reachable) {
        before
    } else {
        Some(at(now))
    }
}

/// The new status. Pure.
pub fn build(
    fed: &Federation,
    members: &[Observed],
    plan: &Plan,
    now: DateTime<Utc>,
) -> FederationStatus {
    let old = fed.status.clone().unwrap_or_default();
    let generation = fed.metadata.generation;
    let previous = |name: &str| old.members.iter().find(|m| m.name == name);
    let acceptable = max_acceptable_lag(fed);
    // Lag is measured against a running primary only: mid-switchover nobody writes.
    let written = members
        .iter()
        .find(|m| m.view.name == plan.holder && m.view.standing == Standing::Primary)
        .and_then(|m| m.cluster.as_ref())
        .and_then(|c| c.wal_position.as_ref());
    let mut too_far: Vec<String> = Vec::new();
    let mut diverged: Vec<String> = Vec::new();
    let member_status: Vec<MemberStatus> = members
        .iter()
        .map(|o| {
            let c = o.cluster.as_ref();
            let position = c.and_then(|c| c.wal_position.as_ref());
            let lag = if o.view.standing == Standing::Replica {
                lag::lag(written, position)
            } else {
                Lag::default()
            };
            let before = previous(&o.view.name);
            let mut conditions = before.map(|m| m.conditions.clone()).unwrap_or_default();
            if o.view.standing == Standing::Replica && lag.seconds.is_some() {
                let behind = lag::too_far_behind(&lag, acceptable);
                if behind {
                    too_far.push(o.view.name.clone());
                }
                set(
                    &mut conditions,
                    LAGGING,
                    behind,
                    if behind {
                        "BehindPrimary"
                    } else {
                        "WithinLimit"
                    },
                    format!(
                        "{:.0} s behind the primary (limit {} s)",
                        lag.seconds.unwrap_or_default(),
                        acceptable.as_secs()
                    ),
                    generation,
                    now,
                );
            } else if o.view.standing != Standing::Replica {
                conditions.retain(|c| c.type_ != LAGGING);
            }
            match c.and_then(reseed::divergence) {
                Some(Divergence::WaitingForBaseBackup(message)) => {
                    diverged.push(o.view.name.clone());
                    set(
                        &mut conditions,
                        reseed::DIVERGED,
                        true,
                        WAITING,
                        message,
                        generation,
                        now,
                    );
                }
                Some(Divergence::Reseeded(message)) => {
                    set(
                        &mut conditions,
                        reseed::DIVERGED,
                        false,
                        RESEEDED,
                        message,
                        generation,
                        now,
                    );
                }
                None => conditions.retain(|c| c.type_ != reseed::DIVERGED),
            }
            // An unreachable member keeps what was last known of its data (a regional failover
            // measures its data-loss bound against the lost primary's last position).
            let known = |now: Option<String>, then: fn(&MemberStatus) -> Option<String>| {
                if o.view.reachable {
                    now
                } else {
                    now.or_else(|| before.and_then(then))
                }
            };
            MemberStatus {
                name: o.view.name.clone(),
                region: Some(o.region.clone()),
                reachable: o.view.reachable,
                role: role(o.view.standing),
                phase: c.and_then(|c| c.phase.clone()),
                timeline: o.view.timeline.or_else(|| {
                    before
                        .filter(|_| !o.view.reachable)
                        .and_then(|m| m.timeline)
                }),
                system_identifier: known(o.view.system_id.clone(), |m| m.system_identifier.clone()),
                lsn: known(position.map(|p| p.lsn.clone()), |m| m.lsn.clone()),
                last_replay_time: known(position.and_then(|p| p.last_replay_time.clone()), |m| {
                    m.last_replay_time.clone()
                }),
                lag_bytes: lag.bytes,
                lag_seconds: lag.seconds,
                last_seen: last_seen(before, o.view.reachable, now),
                message: o.error.clone(),
                namespace: Some(o.place.namespace.clone()),
                cluster_name: Some(o.place.name.clone()),
                kubeconfig_secret_ref: o.kubeconfig.clone(),
                conditions,
            }
        })
        .collect();
    let max_lag_seconds = member_status
        .iter()
        .filter_map(|m| m.lag_seconds)
        .fold(None, |worst: Option<f64>, s| {
            Some(worst.map_or(s, |w| w.max(s)))
        });
    let max_lag_bytes = member_status.iter().filter_map(|m| m.lag_bytes).max();
    let mut status = FederationStatus {
        current_primary: Some(plan.holder.clone()),
        current_primary_region: members
            .iter()
            .find(|m| m.view.name == plan.holder)
            .map(|m| m.region.clone()),
        switchover: plan.progress.clone(),
        last_failover: old.last_failover.clone(),
        max_lag_seconds,
        max_lag_bytes,
        observed_generation: generation,
        conditions: old.conditions.clone(),
        ..FederationStatus::default()
    };

    let unreachable: Vec<&str> = members
        .iter()
        .filter(|m| !m.view.reachable)
        .map(|m| m.view.name.as_str())
        .collect();
    set(
        &mut status.conditions,
        condition::MEMBERS_REACHABLE,
        unreachable.is_empty(),
        if unreachable.is_empty() {
            "AllReachable"
        } else {
            "Unreachable"
        },
        if unreachable.is_empty() {
            "every member answered".to_string()
        } else {
            format!("not reachable: {}", unreachable.join(", "))
        },
        generation,
        now,
    );
    let writable: Vec<&str> = members
        .iter()
        .filter(|m| m.view.standing == Standing::Primary)
        .map(|m| m.view.name.as_str())
        .collect();
    let consistent = writable.len() == 1;
    set(
        &mut status.conditions,
        condition::PRIMARY_CONSISTENT,
        consistent,
        match writable.len() {
            1 => "OnePrimary",
            0 => "NoPrimary",
            _ => "SeveralPrimaries",
        },
        match writable.as_slice() {
            [one] => format!("{one} is the only member accepting writes"),
            [] if plan.progress.is_some() => {
                "no member accepts writes while the switchover runs".to_string()
            }
            [] => "no member accepts writes".to_string(),
            many => format!("several members accept writes: {}", many.join(", ")),
        },
        generation,
        now,
    );
    let lagging: Vec<&str> = members
        .iter()
        .filter(|m| m.view.name != plan.holder && m.view.standing != Standing::Replica)
        .map(|m| m.view.name.as_str())
        .collect();
    let (in_sync, reason, message) = if !diverged.is_empty() {
        (
            false,
            "Diverged",
            format!(
                "went past the primary's history and wait to be re-seeded from its base backup: {}",
                diverged.join(", ")
            ),
        )
    } else if !lagging.is_empty() {
        (
            false,
            "NotReplaying",
            format!("not running as a replica: {}", lagging.join(", ")),
        )
    } else if !too_far.is_empty() {
        (
            false,
            "Lagging",
            format!(
                "further behind the primary than {} s: {}",
                acceptable.as_secs(),
                too_far.join(", ")
            ),
        )
    } else {
        (
            true,
            "Replaying",
            "every other member replays the primary".to_string(),
        )
    };
    set(
        &mut status.conditions,
        condition::REPLICAS_IN_SYNC,
        in_sync,
        reason,
        message,
        generation,
        now,
    );
    set(
        &mut status.conditions,
        condition::SWITCHOVER_ALLOWED,
        plan.refused.is_none(),
        if plan.refused.is_none() {
            "Allowed"
        } else {
            "Refused"
        },
        plan.refused
            .clone()
            .unwrap_or_else(|| "spec.primary can move".to_string()),
        generation,
        now,
    );
    let healthy_members = members.iter().all(|m| {
        m.cluster.as_ref().and_then(|c| c.phase.as_deref())
            == Some(pgfed_api::cluster::phase::HEALTHY)
    });
    // A member whose Cluster does not exist yet or sets up its first instance is being created;
    // one that sets up an instance because it is being re-seeded after a divergence is not: the
    // federation is degraded until it replays again.
    let creating = members.iter().any(|m| {
        let reseeding = m.cluster.as_ref().and_then(reseed::divergence).is_some();
        m.view.reachable
            && (m.view.standing == Standing::Unknown
                || (!reseeding
                    && m.cluster.as_ref().and_then(|c| c.phase.as_deref())
                        == Some(pgfed_api::cluster::phase::SETTING_UP_PRIMARY)))
    });
    let phase = if plan.progress.is_some() {
        federation_phase::SWITCHOVER
    } else if !unreachable.is_empty() || !consistent || (!healthy_members && !creating) {
        federation_phase::DEGRADED
    } else if creating {
        federation_phase::CREATING
    } else {
        federation_phase::HEALTHY
    };
    let ready = phase == federation_phase::HEALTHY && in_sync;
    set(
        &mut status.conditions,
        condition::READY,
        ready,
        if ready {
            "FederationReady"
        } else {
            "FederationNotReady"
        },
        match (&plan.progress, ready) {
            (Some(p), _) => format!(
                "switchover {} → {}: {}{}",
                p.from,
                p.to,
                p.step,
                p.message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ),
            (None, true) => format!("{} holds the primary; every member replays it", plan.holder),
            (None, false) => format!("phase {phase}"),
        },
        generation,
        now,
    );
    status.phase = Some(phase.to_string());
    status.members = member_status;
    status
}

#[cfg(test)]
mod tests;
