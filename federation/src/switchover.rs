//! Which member holds the primary, and the planned switchover that moves it, step by step. Pure:
//! from the Federation's `spec.primary`, what its status recorded (the member holding the primary,
//! the switchover in progress) and what each member's Cluster reports, it decides what every
//! member is told ([`Roles`]) and the new progress.
//!
//! A switchover from `from` to `to` goes:
//! 1. `Demoting`: `from` is told `to` is the primary. Its operator demotes it: a clean shutdown,
//!    every byte of WAL archived, a demotion token in its status. Everyone else still follows
//!    `from`.
//! 2. `Promoting`: the token is checked against `to` (same system, a timeline `to` can reach) and
//!    `to` is told it is the primary, with the token. Its designated primary promotes once it has
//!    replayed exactly to the token, so nothing `from` acknowledged is lost, and `from` can follow
//!    without pg_rewind or a re-clone.
//! 3. `FollowingNewPrimary`: every member is told `to` is the primary (the token is dropped);
//!    done once `from` runs as a replica of `to`.
//!
//! The progress is persisted in the Federation's status after every step, so a restarted
//! controller resumes where it was; what each member is told follows from it alone.

use crate::member::Roles;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use pgfed_api::federation::SwitchoverProgress;
use pgfed_api::token::DemotionToken;
use std::collections::BTreeMap;

/// Step names persisted in `status.switchover.step`.
pub mod step {
    /// The former primary demotes and publishes its token.
    pub const DEMOTING: &str = "Demoting";
    /// The target promotes at the token.
    pub const PROMOTING: &str = "Promoting";
    /// Every member follows the new primary.
    pub const FOLLOWING: &str = "FollowingNewPrimary";
}

/// A member Cluster's place in the topology, from its `ReplicaClusterSwitch` condition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Standing {
    /// Runs as the primary of the topology.
    Primary,
    /// Runs as a replica cluster.
    Replica,
    /// Being demoted (shutting down, archiving, publishing its token).
    Demoting,
    /// Waiting to promote.
    Promoting,
    /// Not known (unreachable, no Cluster yet, not bootstrapped).
    #[default]
    Unknown,
}

impl Standing {
    /// From the reason of the member's `ReplicaClusterSwitch` condition.
    pub fn from_reason(reason: Option<&str>) -> Standing {
        match reason {
            Some("PrimaryCluster") => Standing::Primary,
            Some("ReplicaCluster") => Standing::Replica,
            Some("Demoting") => Standing::Demoting,
            Some("Promoting") => Standing::Promoting,
            _ => Standing::Unknown,
        }
    }
}

/// One member as the controller observed it this turn.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberView {
    /// Member name.
    pub name: String,
    /// Its API server answered and its Cluster exists.
    pub reachable: bool,
    /// Where it stands.
    pub standing: Standing,
    /// `status.demotionToken`.
    pub demotion_token: Option<String>,
    /// `status.lastPromotionToken`.
    pub last_promotion_token: Option<String>,
    /// `status.systemID`.
    pub system_id: Option<String>,
    /// `status.timelineID`.
    pub timeline: Option<i32>,
    /// What its Cluster's spec says now (`replica.primary`, `replica.promotionToken`); `None`
    /// while it has no Cluster.
    pub told: Option<Roles>,
    /// How far it is behind the primary, when that is past `replication.maxAcceptableLag`: a
    /// switchover to it would keep the federation without a primary while it catches up.
    pub too_far_behind: Option<String>,
}

/// What the controller observed and remembers.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    /// `spec.primary`.
    pub wanted: &'a str,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `status.currentPrimary` (`None` before the first turn: `wanted` is taken).
    pub holder: Option<&'a str>,
    /// `status.switchover`.
    pub progress: Option<&'a SwitchoverProgress>,
    /// Every member, in `spec.members` order.
    pub members: &'a [MemberView],
    /// The primary an automatic failover moved away from (`status.lastFailover.from`, while the
    /// holder is the member it promoted): a member still told it is the primary is that lost
    /// region come back, re-pointed at the holder like the others rather than left alone.
    pub deposed: Option<&'a str>,
    /// How long a step may take before it is reported as stuck.
    pub step_timeout: Duration,
    /// Now.
    pub now: DateTime<Utc>,
}

/// What to do this turn.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// What each member is told, by member.
    pub roles: BTreeMap<String, Roles>,
    /// The new `status.currentPrimary`.
    pub holder: String,
    /// The new `status.switchover`.
    pub progress: Option<SwitchoverProgress>,
    /// Why a switchover asked for does not start (a condition on the Federation); `None` when
    /// nothing is refused.
    pub refused: Option<String>,
    /// Events: (warning, reason, message).
    pub events: Vec<(bool, &'static str, String)>,
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn tell(members: &[MemberView], primary_of: impl Fn(&str) -> Roles) -> BTreeMap<String, Roles> {
    members
        .iter()
        .map(|m| (m.name.clone(), primary_of(&m.name)))
        .collect()
}

fn everyone(members: &[MemberView], primary: &str) -> BTreeMap<String, Roles> {
    tell(members, |_| Roles {
        primary: primary.to_string(),
        promotion_token: None,
    })
}

/// Why `to` cannot take the primary from `from` now, if it cannot. Pure.
pub fn refusal(from: &MemberView, to: Option<&MemberView>) -> Option<String> {
    let Some(to) = to else {
        return Some("the target is not a member".to_string());
    };
    if !to.reachable {
        return Some(format!(
            "{} is unreachable; {} keeps the primary",
            to.name, from.name
        ));
    }
    if to.standing != Standing::Replica {
        return Some(format!(
            "{} does not run as a replica of {} yet; {} keeps the primary",
            to.name, from.name, from.name
        ));
    }
    if let Some(behind) = &to.too_far_behind {
        return Some(format!(
            "{} is {behind}; {} keeps the primary until it catches up",
            to.name, from.name
        ));
    }
    if !from.reachable {
        return Some(format!(
            "{} (the primary) is unreachable: a planned switchover needs its clean demotion",
            from.name
        ));
    }
    match (&from.system_id, &to.system_id) {
        (Some(a), Some(b)) if a != b => Some(format!(
            "{} is another database system ({b}, the primary is {a}); {} keeps the primary",
            to.name, from.name
        )),
        (_, None) => Some(format!(
            "{} has not reported its system identifier yet",
            to.name
        )),
        _ => None,
    }
}

/// Checks `token` against the target: the same database system, a timeline it can reach.
pub fn check_token(token: &str, to: &MemberView) -> Result<(), String> {
    let t = DemotionToken::decode(token).map_err(|e| e.to_string())?;
    if to.system_id.as_deref() != Some(t.system_identifier.as_str()) {
        return Err(format!(
            "the demotion token is of system {}, {} is {}",
            t.system_identifier,
            to.name,
            to.system_id.as_deref().unwrap_or("unknown")
        ));
    }
    let token_timeline: i32 = t.timeline.trim().parse().map_err(|_| {
        format!(
            "the demotion token's timeline {:?} is not a number",
            t.timeline
        )
    })?;
    if let Some(tl) = to.timeline
        && tl > token_timeline
    {
        return Err(format!(
            "{} is on timeline {tl}, past the token's {token_timeline}",
            to.name
        ));
    }
    Ok(())
}

/// Decides this turn. Pure.
pub fn plan(input: &Input<'_>) -> Plan {
    let holder = input.holder.unwrap_or(input.wanted).to_string();
    let member = |n: &str| input.members.iter().find(|m| m.name == n);
    let Some(progress) = input.progress.cloned() else {
        let steady = Plan {
            roles: everyone(input.members, &holder),
            holder: holder.clone(),
            ..Plan::default()
        };
        // Members told another primary while no switchover is recorded (edited by hand, or a
        // record lost): re-pointing them blindly could make two primaries, so nothing changes
        // until a person looks.
        let astray: Vec<String> = input
            .members
            .iter()
            .filter_map(|m| {
                let told = m.told.as_ref()?;
                (told.primary != holder && Some(told.primary.as_str()) != input.deposed)
                    .then(|| format!("{} is told {}", m.name, told.primary))
            })
            .collect();
        if !astray.is_empty() {
            return Plan {
                roles: tell(input.members, |name| {
                    member(name)
                        .and_then(|m| m.told.clone())
                        .unwrap_or_else(|| Roles {
                            primary: holder.clone(),
                            promotion_token: None,
                        })
                }),
                refused: Some(format!(
                    "{holder} holds the primary, but {} and no switchover is recorded: no member is changed; set each member Cluster's spec.replica.primary to {holder}, or spec.primary to the member that runs as the primary",
                    astray.join(", ")
                )),
                ..steady
            };
        }
        if input.wanted == holder {
            return steady;
        }
        let gone = MemberView {
            name: holder.clone(),
            ..MemberView::default()
        };
        let from = member(&holder).unwrap_or(&gone);
        if let Some(why) = refusal(from, member(input.wanted)) {
            return Plan {
                refused: Some(why),
                ..steady
            };
        }
        let started = SwitchoverProgress {
            from: holder.clone(),
            to: input.wanted.to_string(),
            step: step::DEMOTING.to_string(),
            generation: input.generation,
            started_at: Some(at(input.now)),
            step_started_at: Some(at(input.now)),
            ..SwitchoverProgress::default()
        };
        let mut p = advance(input, started);
        p.events.insert(
            0,
            (
                false,
                "SwitchoverStarted",
                format!(
                    "switching the primary from {holder} to {}: demoting {holder}",
                    input.wanted
                ),
            ),
        );
        return p;
    };
    advance(input, progress)
}

/// Carries the switchover in progress one step as far as the observations allow.
fn advance(input: &Input<'_>, mut progress: SwitchoverProgress) -> Plan {
    let member = |n: &str| input.members.iter().find(|m| m.name == n);
    let (from, to) = (progress.from.clone(), progress.to.clone());
    let mut events = Vec::new();
    let next = |progress: &mut SwitchoverProgress, s: &str| {
        progress.step = s.to_string();
        progress.step_started_at = Some(at(input.now));
        progress.message = None;
    };
    if progress.step == step::DEMOTING {
        match member(&from).and_then(|m| {
            m.demotion_token
                .clone()
                .filter(|_| m.standing == Standing::Replica)
        }) {
            None => progress.message = Some(format!("waiting for {from}'s demotion token")),
            Some(token) => match member(&to).map(|t| check_token(&token, t)) {
                Some(Ok(())) => {
                    progress.demotion_token = Some(token);
                    next(&mut progress, step::PROMOTING);
                    events.push((
                        false,
                        "Demoted",
                        format!("{from} is demoted; promoting {to} at its demotion token"),
                    ));
                }
                Some(Err(why)) => {
                    progress.message = Some(format!("the demotion token is refused: {why}"))
                }
                None => progress.message = Some(format!("{to} is no longer a member")),
            },
        }
    }
    if progress.step == step::PROMOTING {
        let token = progress.demotion_token.clone();
        let promoted = member(&to).is_some_and(|m| {
            m.standing == Standing::Primary && m.last_promotion_token == token && token.is_some()
        });
        if promoted {
            next(&mut progress, step::FOLLOWING);
            events.push((
                false,
                "Promoted",
                format!("{to} is the primary; the other members follow it"),
            ));
        } else {
            progress.message = Some(format!(
                "waiting for {to} to replay to the demotion token and promote"
            ));
        }
    }
    if progress.step == step::FOLLOWING {
        let followed = member(&from).is_some_and(|m| m.standing == Standing::Replica);
        if followed {
            events.push((
                false,
                "SwitchoverCompleted",
                format!("the primary moved from {from} to {to}"),
            ));
            return Plan {
                roles: everyone(input.members, &to),
                holder: to,
                progress: None,
                events,
                ..Plan::default()
            };
        }
        progress.message = Some(format!("waiting for {from} to follow {to}"));
    }
    // Stuck past the step timeout: said once per step (the message carries it from then on).
    let step_started = progress
        .step_started_at
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    if let (Some(since), Some(waiting)) = (step_started, progress.message.clone())
        && input.now - since > input.step_timeout
    {
        let stuck = format!(
            "step {} stuck for {}s: {waiting}",
            progress.step,
            (input.now - since).num_seconds()
        );
        if input
            .progress
            .and_then(|p| p.message.as_deref())
            .is_none_or(|m| !m.starts_with("step "))
        {
            events.push((true, "SwitchoverStuck", stuck.clone()));
        }
        progress.message = Some(stuck);
    }
    let token = progress.demotion_token.clone();
    let step_now = progress.step.clone();
    let roles = tell(input.members, |name| {
        let told = |primary: &str, token: Option<String>| Roles {
            primary: primary.to_string(),
            promotion_token: token,
        };
        match step_now.as_str() {
            s if s == step::DEMOTING && name == from => told(&to, None),
            s if s == step::DEMOTING => told(&from, None),
            s if s == step::PROMOTING && name == to => told(&to, token.clone()),
            s if s == step::PROMOTING && name == from => told(&to, None),
            s if s == step::PROMOTING => told(&from, None),
            _ => told(&to, None),
        }
    });
    let holder = if step_now == step::FOLLOWING {
        to
    } else {
        from
    };
    Plan {
        roles,
        holder,
        progress: Some(progress),
        events,
        ..Plan::default()
    }
}

#[cfg(test)]
mod tests;
