//! The automatic failover across regions as persisted steps, and who the fencing lease must name.
//! Pure: the controller reads the lease and the members, calls these, writes the status first,
//! then the lease, then the member Clusters.
//!
//! A failover [`start`]s from a [`Decision::Promote`](crate::failover::Decision) and is recorded
//! in `status.failover` before anything else is written. Then:
//! 1. `TakingLease`: the lease passes to the promoted member at the next epoch, conditionally on
//!    the version the lost primary last left. If that primary renewed it meanwhile it is alive:
//!    the failover is abandoned and nothing was changed. A lease already naming the promoted
//!    member at that epoch (a take-over whose answer was lost, a restarted controller) moves on.
//! 2. `Promoting`: every member is told the promoted member is the primary; it promotes without
//!    a token (there is no clean demotion to take one from). Once it runs as the primary, the
//!    failover is recorded in `status.lastFailover` with its data-loss bound and `spec.primary`
//!    is set to it, so the switchover machinery does not move the primary back on its own.
//!
//! The lost primary's region, when it returns, is told to follow the new primary like any other
//! member: its own fencing lease task found the lease taken and keeps postgres stopped until then.

use crate::failover::{DataLossLimit, Decision, Hold, LeaseView, MemberState, PrimaryPosition};
use crate::member::Roles;
use crate::status::Observed;
use crate::switchover::{MemberView, Plan, Standing};
use chrono::{DateTime, SecondsFormat, Utc};
use pgfed_api::federation::{
    FailoverProgress, FailoverRecord, Federation, FederationStatus, failover_step,
};
use pgfed_api::lsn::Lsn;
use std::collections::BTreeMap;

/// What the controller does with the fencing lease this turn, once the status is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseAction {
    /// Nothing.
    Keep,
    /// Hand the lease to `to` at the next epoch, only if it is still the version read this turn.
    TakeOver {
        /// The new holder.
        to: String,
    },
}

/// One turn of a failover in progress.
#[derive(Clone, Debug, PartialEq)]
pub struct Turn {
    /// Roles, the holder of the primary and Events, as a switchover plan would give them (its
    /// `progress` is always `None`).
    pub plan: Plan,
    /// The new `status.failover`.
    pub progress: Option<FailoverProgress>,
    /// The new `status.lastFailover`, when the failover completed this turn.
    pub record: Option<FailoverRecord>,
    /// The lease write to make.
    pub lease: LeaseAction,
    /// `spec.primary` to set before the status drops the progress, when the failover completed.
    pub set_spec_primary: Option<String>,
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn everyone(members: &[MemberView], primary: &str) -> BTreeMap<String, Roles> {
    members
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                Roles {
                    primary: primary.to_string(),
                    promotion_token: None,
                },
            )
        })
        .collect()
}

/// The progress recorded when the failover decision promotes `to` at `epoch`, away from `from`.
pub fn start(
    from: &str,
    to: &str,
    epoch: u64,
    bound_bytes: Option<u64>,
    bound_seconds: Option<i64>,
    now: DateTime<Utc>,
) -> FailoverProgress {
    FailoverProgress {
        from: from.to_string(),
        to: to.to_string(),
        step: failover_step::TAKING_LEASE.to_string(),
        epoch: i64::try_from(epoch).unwrap_or(i64::MAX),
        started_at: Some(at(now)),
        data_loss_bound_bytes: bound_bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
        data_loss_bound_seconds: bound_seconds,
        message: None,
    }
}

/// Carries the failover `progress` as far as this turn's observations allow. `lease`: the lease
/// as read this turn (`None`: unreadable or absent).
pub fn advance(
    progress: &FailoverProgress,
    lease: Option<&LeaseView>,
    members: &[MemberView],
    now: DateTime<Utc>,
) -> Turn {
    let mut p = progress.clone();
    let (from, to) = (p.from.clone(), p.to.clone());
    let epoch = u64::try_from(p.epoch).unwrap_or_default();
    let waiting = |mut p: FailoverProgress, why: String| Turn {
        plan: Plan {
            roles: everyone(members, &from),
            holder: from.clone(),
            ..Plan::default()
        },
        progress: {
            p.message = Some(why);
            Some(p)
        },
        record: None,
        lease: LeaseAction::Keep,
        set_spec_primary: None,
    };
    if p.step == failover_step::TAKING_LEASE {
        let Some(lease) = lease else {
            return waiting(
                p,
                "waiting to read the fencing lease before taking it over".to_string(),
            );
        };
        if lease.holder == to && lease.epoch == epoch {
            p.step = failover_step::PROMOTING.to_string();
            p.message = None;
        } else if lease.holder == from && lease.epoch.saturating_add(1) == epoch {
            if !lease.expired {
                return abandoned(
                    members,
                    &from,
                    format!(
                        "automatic failover from {from} to {to} abandoned: {from} renewed the fencing lease, so it is alive and keeps the primary; nothing was changed"
                    ),
                );
            }
            let mut turn = waiting(
                p,
                format!("taking the fencing lease over for {to} at epoch {epoch}"),
            );
            turn.lease = LeaseAction::TakeOver { to: to.clone() };
            return turn;
        } else {
            return abandoned(
                members,
                &from,
                format!(
                    "automatic failover from {from} to {to} abandoned: the fencing lease is held by {} at epoch {}, not by {from} at epoch {}; nothing was changed",
                    lease.holder,
                    lease.epoch,
                    epoch.saturating_sub(1)
                ),
            );
        }
    }
    // Promoting.
    let promoted = members
        .iter()
        .any(|m| m.name == to && m.reachable && m.standing == Standing::Primary);
    let plan = Plan {
        roles: everyone(members, &to),
        holder: to.clone(),
        ..Plan::default()
    };
    if !promoted {
        let mut events = Vec::new();
        if progress.step != failover_step::PROMOTING {
            events.push((
                true,
                "FailoverPromoting",
                format!("{to} holds the fencing lease at epoch {epoch}; it promotes now"),
            ));
        }
        p.message = Some(format!("waiting for {to} to promote"));
        return Turn {
            plan: Plan { events, ..plan },
            progress: Some(p),
            record: None,
            lease: LeaseAction::Keep,
            set_spec_primary: None,
        };
    }
    let record = FailoverRecord {
        from: from.clone(),
        to: to.clone(),
        at: at(now),
        data_loss_bound_bytes: p.data_loss_bound_bytes,
        data_loss_bound_seconds: p.data_loss_bound_seconds,
        epoch: Some(p.epoch),
        base_backup: None,
    };
    let bound = match (p.data_loss_bound_bytes, p.data_loss_bound_seconds) {
        (Some(b), Some(s)) => format!("at most {b} bytes and {s} s of commits"),
        (Some(b), None) => format!("at most {b} bytes of WAL"),
        (None, Some(s)) => format!("at most {s} s of commits"),
        (None, None) => "an unknown amount of data".to_string(),
    };
    Turn {
        plan: Plan {
            events: vec![(
                true,
                "FailoverCompleted",
                format!(
                    "{to} is the primary after {from} was lost; {bound} may be lost; spec.primary is set to {to}; {from} follows {to} once it is reachable again"
                ),
            )],
            ..plan
        },
        progress: None,
        record: Some(record),
        lease: LeaseAction::Keep,
        set_spec_primary: Some(to),
    }
}

fn abandoned(members: &[MemberView], from: &str, why: String) -> Turn {
    Turn {
        plan: Plan {
            roles: everyone(members, from),
            holder: from.to_string(),
            events: vec![(true, "FailoverAbandoned", why)],
            ..Plan::default()
        },
        progress: None,
        record: None,
        lease: LeaseAction::Keep,
        set_spec_primary: None,
    }
}

/// Whether the lease must be handed to `primary`, the member that holds or is about to take the
/// primary (the target of a switchover from its `Promoting` step on): it names another member,
/// and that member demonstrably does not write — it runs as a replica, or its lease expired.
/// Never during an automatic failover (which takes the lease itself). Pure.
pub fn handover(lease: &LeaseView, primary: &str, members: &[MemberView]) -> bool {
    if lease.holder == primary {
        return false;
    }
    let holder_is_replica = members
        .iter()
        .any(|m| m.name == lease.holder && m.reachable && m.standing == Standing::Replica);
    holder_is_replica || lease.expired
}

/// Whether the primary member may carry the fencing lease configuration now: its manager adopts
/// a lease that names it (or creates one when there is none) but fences at once on a lease that
/// names someone else, so the configuration reaches it only once the lease is its own — or
/// when it already carries it. Pure.
pub fn armed(lease: Option<&LeaseView>, lease_absent: bool, primary: &str, carries: bool) -> bool {
    carries || lease_absent || lease.is_some_and(|l| l.holder == primary)
}

/// Every member as the failover decision reads it. Pure.
pub fn candidates(observed: &[Observed]) -> Vec<MemberState> {
    observed
        .iter()
        .map(|o| {
            let position = o.cluster.as_ref().and_then(|c| c.wal_position.as_ref());
            MemberState {
                name: o.view.name.clone(),
                reachable: o.view.reachable,
                standing: o.view.standing,
                system_id: o.view.system_id.clone(),
                replay_lsn: position.and_then(|p| p.lsn.parse::<Lsn>().ok()),
                last_replay_at: position
                    .and_then(|p| p.last_replay_time.as_deref())
                    .and_then(parse_time),
            }
        })
        .collect()
}

fn parse_time(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Where the primary `holder` was last seen writing, from the status: its recorded WAL position
/// and when it last answered. Pure.
pub fn primary_position(old: &FederationStatus, holder: &str) -> Option<PrimaryPosition> {
    let m = old.members.iter().find(|m| m.name == holder)?;
    Some(PrimaryPosition {
        lsn: m.lsn.as_deref()?.parse::<Lsn>().ok()?,
        observed_at: parse_time(m.last_seen.as_deref()?)?,
    })
}

/// The primary's system identifier: as observed now, else as last recorded. Pure.
pub fn primary_system_id<'a>(
    old: &'a FederationStatus,
    observed: &'a [Observed],
    holder: &str,
) -> Option<&'a str> {
    observed
        .iter()
        .find(|o| o.view.name == holder)
        .and_then(|o| o.view.system_id.as_deref())
        .or_else(|| {
            old.members
                .iter()
                .find(|m| m.name == holder)
                .and_then(|m| m.system_identifier.as_deref())
        })
}

/// `failover.maximumDataLoss`, parsed (admission refuses what does not parse). Pure.
pub fn data_loss_limit(fed: &Federation) -> DataLossLimit {
    let loss = fed
        .spec
        .failover
        .as_ref()
        .and_then(|f| f.maximum_data_loss.as_ref());
    DataLossLimit {
        bytes: loss
            .and_then(|l| l.bytes.as_deref())
            .and_then(|b| pgfed_api::validation::formats::parse_quantity(b).ok())
            .map(|b| b.max(0.0) as u64),
        seconds: loss.and_then(|l| l.seconds),
    }
}

/// `failover.primaryUnreachableTimeout`, or its default.
pub fn unreachable_timeout(fed: &Federation) -> std::time::Duration {
    fed.spec
        .failover
        .as_ref()
        .and_then(|f| f.primary_unreachable_timeout.as_deref())
        .and_then(|t| pgfed_api::validation::formats::parse_duration(t).ok())
        .unwrap_or(pgfed_api::validation::federation::DEFAULT_PRIMARY_UNREACHABLE_TIMEOUT)
}

/// The `AutomaticFailover` condition: whether the federation would fail over now, and why not.
/// `lease`: `Err` with why it could not be read, `Ok(None)` when there is none yet. Pure.
pub fn condition(
    lease: Result<Option<&LeaseView>, &str>,
    decision: Option<&Decision>,
    progress: Option<&FailoverProgress>,
) -> (bool, &'static str, String) {
    if let Some(p) = progress {
        return (
            false,
            "FailingOver",
            format!(
                "failing over from {} to {}: {}",
                p.from,
                p.to,
                p.message.as_deref().unwrap_or(&p.step)
            ),
        );
    }
    let lease = match lease {
        Err(why) => {
            return (
                false,
                "LeaseUnreadable",
                format!("the fencing lease cannot be read, so no region would be promoted: {why}"),
            );
        }
        Ok(None) => {
            return (
                false,
                "NoLease",
                "the primary has not created the fencing lease yet".to_string(),
            );
        }
        Ok(Some(l)) => l,
    };
    match decision {
        // No age in the message: it would change the status, and write it, on every turn.
        Some(Decision::Hold(Hold::LeaseFresh { .. })) => (
            true,
            "Armed",
            format!(
                "{} renews the fencing lease (epoch {})",
                lease.holder, lease.epoch
            ),
        ),
        Some(Decision::Hold(hold)) => (false, "Holding", hold.to_string()),
        Some(Decision::Wait { reason, .. }) => (false, "NoCandidate", reason.clone()),
        // Promote starts a failover (reported as FailingOver); no decision: a switchover runs.
        Some(Decision::Promote { member, .. }) => {
            (false, "FailingOver", format!("promoting {member}"))
        }
        None => (
            true,
            "Armed",
            format!(
                "{} holds the fencing lease at epoch {}",
                lease.holder, lease.epoch
            ),
        ),
    }
}

/// The name of the Backup to ask of the member promoted by the last failover, when one is due:
/// the failover is over, the promoted member still holds the primary and is healthy, and no
/// Backup was recorded for it yet. Named by the failover's epoch, so asking again after a
/// controller restart finds the same object. `holder_cluster` is the promoted member's Cluster
/// name in its region. Pure.
pub fn failover_backup(
    status: &FederationStatus,
    holder_cluster: &str,
    holder_healthy: bool,
) -> Option<String> {
    let record = status.last_failover.as_ref()?;
    let settled = status.failover.is_none()
        && status.switchover.is_none()
        && status.current_primary.as_deref() == Some(record.to.as_str());
    if !settled || !holder_healthy || record.base_backup.is_some() {
        return None;
    }
    let tag = match record.epoch {
        Some(epoch) => epoch.to_string(),
        None => record.at.chars().filter(char::is_ascii_digit).collect(),
    };
    Some(format!("{holder_cluster}-failover-{tag}"))
}

#[cfg(test)]
mod tests;
