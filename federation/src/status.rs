//! The Federation's status, built from what every member reported and what the switchover plan
//! decided. Pure; written by the controller only when it differs from the stored one.

use crate::switchover::{MemberView, Plan, Standing};
use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use pgfed_api::cluster::ClusterStatus;
use pgfed_api::federation::{Federation, FederationStatus, MemberStatus, federation_phase};
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
}

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
    let member_status: Vec<MemberStatus> = members
        .iter()
        .map(|o| {
            let c = o.cluster.as_ref();
            MemberStatus {
                name: o.view.name.clone(),
                region: Some(o.region.clone()),
                reachable: o.view.reachable,
                role: role(o.view.standing),
                phase: c.and_then(|c| c.phase.clone()),
                timeline: o.view.timeline,
                system_identifier: o.view.system_id.clone(),
                lag_bytes: None,
                lag_seconds: None,
                last_seen: last_seen(previous(&o.view.name), o.view.reachable, now),
                message: o.error.clone(),
            }
        })
        .collect();
    let mut status = FederationStatus {
        current_primary: Some(plan.holder.clone()),
        current_primary_region: members
            .iter()
            .find(|m| m.view.name == plan.holder)
            .map(|m| m.region.clone()),
        switchover: plan.progress.clone(),
        last_failover: old.last_failover.clone(),
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
    set(
        &mut status.conditions,
        condition::REPLICAS_IN_SYNC,
        lagging.is_empty(),
        if lagging.is_empty() {
            "Replaying"
        } else {
            "NotReplaying"
        },
        if lagging.is_empty() {
            "every other member replays the primary".to_string()
        } else {
            format!("not running as a replica: {}", lagging.join(", "))
        },
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
    // A member whose Cluster does not exist yet or sets up its first instance is being created.
    let creating = members.iter().any(|m| {
        m.view.reachable
            && (m.view.standing == Standing::Unknown
                || m.cluster.as_ref().and_then(|c| c.phase.as_deref())
                    == Some(pgfed_api::cluster::phase::SETTING_UP_PRIMARY))
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
    let ready = phase == federation_phase::HEALTHY && lagging.is_empty();
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
mod tests {
    use super::*;
    use crate::switchover::Plan;

    fn fed() -> Federation {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "Federation",
            "metadata": {"name": "shop", "namespace": "demo", "generation": 3},
            "spec": {"primary": "a", "members": [], "template": {"instances": 1}}
        }))
        .expect("federation")
    }

    fn observed(name: &str, standing: Standing, reachable: bool, phase: &str) -> Observed {
        Observed {
            view: MemberView {
                name: name.into(),
                reachable,
                standing,
                ..MemberView::default()
            },
            region: format!("region-{name}"),
            cluster: reachable.then(|| ClusterStatus {
                phase: Some(phase.into()),
                ..ClusterStatus::default()
            }),
            error: (!reachable).then(|| "connection refused".to_string()),
        }
    }

    fn cond<'a>(s: &'a FederationStatus, t: &str) -> (&'a str, &'a str) {
        s.conditions
            .iter()
            .find(|c| c.type_ == t)
            .map(|c| (c.status.as_str(), c.reason.as_str()))
            .unwrap_or_default()
    }

    #[test]
    fn phases_and_conditions() {
        let healthy = pgfed_api::cluster::phase::HEALTHY;
        let plan = Plan {
            holder: "a".into(),
            ..Plan::default()
        };
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let s = build(
            &fed(),
            &[
                observed("a", Standing::Primary, true, healthy),
                observed("b", Standing::Replica, true, healthy),
            ],
            &plan,
            now,
        );
        assert_eq!(s.phase.as_deref(), Some(federation_phase::HEALTHY));
        assert_eq!(cond(&s, condition::READY), ("True", "FederationReady"));
        assert_eq!(
            cond(&s, condition::PRIMARY_CONSISTENT),
            ("True", "OnePrimary")
        );
        assert_eq!(
            (s.current_primary_region.as_deref(), s.observed_generation),
            (Some("region-a"), Some(3))
        );
        assert_eq!(s.members[1].role.as_deref(), Some("replica"));

        let s = build(
            &fed(),
            &[
                observed("a", Standing::Primary, true, healthy),
                observed("b", Standing::Unknown, false, ""),
            ],
            &plan,
            now,
        );
        assert_eq!(s.phase.as_deref(), Some(federation_phase::DEGRADED));
        assert_eq!(
            cond(&s, condition::MEMBERS_REACHABLE),
            ("False", "Unreachable")
        );
        assert_eq!(s.members[1].message.as_deref(), Some("connection refused"));

        let two = build(
            &fed(),
            &[
                observed("a", Standing::Primary, true, healthy),
                observed("b", Standing::Primary, true, healthy),
            ],
            &plan,
            now,
        );
        assert_eq!(
            cond(&two, condition::PRIMARY_CONSISTENT),
            ("False", "SeveralPrimaries")
        );

        let creating = build(
            &fed(),
            &[
                observed("a", Standing::Primary, true, healthy),
                observed("b", Standing::Unknown, true, "Setting up primary"),
            ],
            &plan,
            now,
        );
        assert_eq!(creating.phase.as_deref(), Some(federation_phase::CREATING));
        let bootstrapping = build(
            &fed(),
            &[
                observed("a", Standing::Primary, true, healthy),
                observed("b", Standing::Replica, true, "Setting up primary"),
            ],
            &plan,
            now,
        );
        assert_eq!(
            bootstrapping.phase.as_deref(),
            Some(federation_phase::CREATING)
        );

        let refused = Plan {
            refused: Some("b is unreachable".into()),
            ..plan.clone()
        };
        let s = build(
            &fed(),
            &[observed("a", Standing::Primary, true, healthy)],
            &refused,
            now,
        );
        assert_eq!(
            cond(&s, condition::SWITCHOVER_ALLOWED),
            ("False", "Refused")
        );
    }
}
