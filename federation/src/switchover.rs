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
mod tests {
    use super::*;
    use base64::Engine;

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(1_800_000_000)
    }

    fn token(system: &str, timeline: u32) -> String {
        let json = serde_json::json!({
            "databaseSystemIdentifier": system,
            "latestCheckpointTimelineID": timeline.to_string(),
            "latestCheckpointREDOLocation": "0/5000028",
            "redoWalFile": "000000010000000000000005",
            "timeOfLatestCheckpoint": "Tue Dec  1 10:00:00 2026",
            "operatorVersion": "0.1.0"
        });
        base64::engine::general_purpose::STANDARD.encode(json.to_string())
    }

    fn view(name: &str, standing: Standing) -> MemberView {
        MemberView {
            name: name.into(),
            reachable: true,
            standing,
            system_id: Some("7000".into()),
            timeline: Some(1),
            ..MemberView::default()
        }
    }

    fn input<'a>(
        wanted: &'a str,
        holder: Option<&'a str>,
        progress: Option<&'a SwitchoverProgress>,
        members: &'a [MemberView],
    ) -> Input<'a> {
        Input {
            wanted,
            generation: Some(4),
            holder,
            progress,
            members,
            deposed: None,
            step_timeout: Duration::minutes(10),
            now: now(),
        }
    }

    fn told(p: &Plan) -> Vec<(String, String, Option<String>)> {
        p.roles
            .iter()
            .map(|(m, r)| (m.clone(), r.primary.clone(), r.promotion_token.clone()))
            .collect()
    }

    fn t(m: &str, p: &str, tok: Option<&str>) -> (String, String, Option<String>) {
        (m.into(), p.into(), tok.map(str::to_string))
    }

    #[test]
    fn steady_state_tells_everyone_the_holder() {
        let members = [
            view("a", Standing::Primary),
            view("b", Standing::Replica),
            view("c", Standing::Replica),
        ];
        let p = plan(&input("a", Some("a"), None, &members));
        assert_eq!(
            told(&p),
            [t("a", "a", None), t("b", "a", None), t("c", "a", None)]
        );
        assert_eq!(
            (p.holder.as_str(), p.progress, p.refused),
            ("a", None, None)
        );
        // first turn of a new federation: spec.primary holds it
        assert_eq!(plan(&input("b", None, None, &members)).holder, "b");
    }

    #[test]
    fn members_told_another_primary_without_a_recorded_switchover_are_left_alone() {
        let said = |p: &str, tok: Option<&str>| {
            Some(Roles {
                primary: p.into(),
                promotion_token: tok.map(str::to_string),
            })
        };
        let members = [
            MemberView {
                told: said("b", None),
                ..view("a", Standing::Replica)
            },
            MemberView {
                told: said("b", Some("tok")),
                ..view("b", Standing::Promoting)
            },
            MemberView {
                told: None,
                ..view("c", Standing::Unknown)
            },
        ];
        let p = plan(&input("a", Some("a"), None, &members));
        assert!(
            p.refused
                .as_deref()
                .is_some_and(|r| r.contains("a is told b")),
            "{:?}",
            p.refused
        );
        assert_eq!(
            told(&p),
            [
                t("a", "b", None),
                t("b", "b", Some("tok")),
                t("c", "a", None)
            ]
        );
        // a leftover promotion token on the holder itself is not astray: it is dropped
        let members = [
            MemberView {
                told: said("b", None),
                ..view("a", Standing::Replica)
            },
            MemberView {
                told: said("b", Some("tok")),
                ..view("b", Standing::Primary)
            },
        ];
        let p = plan(&input("b", Some("b"), None, &members));
        assert_eq!(
            (p.refused.clone(), told(&p)),
            (None, vec![t("a", "b", None), t("b", "b", None)])
        );
    }

    #[test]
    fn the_region_an_automatic_failover_left_is_re_pointed_when_it_returns() {
        let said = |p: &str| {
            Some(Roles {
                primary: p.into(),
                promotion_token: None,
            })
        };
        // a was lost, b was promoted; a's Cluster still names itself the primary.
        let members = [
            MemberView {
                told: said("a"),
                ..view("a", Standing::Primary)
            },
            MemberView {
                told: said("b"),
                ..view("b", Standing::Primary)
            },
        ];
        let mut i = input("b", Some("b"), None, &members);
        i.deposed = Some("a");
        let p = plan(&i);
        assert_eq!(
            (p.refused.clone(), told(&p)),
            (None, vec![t("a", "b", None), t("b", "b", None)])
        );
        // Without the record, the same state is left alone for a person to look at.
        i.deposed = None;
        assert!(plan(&i).refused.is_some());
    }

    #[test]
    fn a_switchover_is_refused_while_the_target_cannot_take_the_primary() {
        let mut unreachable = view("b", Standing::Replica);
        unreachable.reachable = false;
        let mut foreign = view("b", Standing::Replica);
        foreign.system_id = Some("9999".into());
        let mut behind = view("b", Standing::Replica);
        behind.too_far_behind = Some("340 s behind the primary".into());
        let cases = [
            (unreachable, "unreachable"),
            (foreign, "another database system"),
            (
                behind,
                "340 s behind the primary; a keeps the primary until it catches up",
            ),
            (view("b", Standing::Unknown), "does not run as a replica"),
        ];
        for (b, why) in cases {
            let members = [view("a", Standing::Primary), b];
            let p = plan(&input("b", Some("a"), None, &members));
            assert!(
                p.refused.as_deref().is_some_and(|r| r.contains(why)),
                "{:?}",
                p.refused
            );
            assert_eq!((p.holder.as_str(), p.progress.clone()), ("a", None));
            assert_eq!(told(&p), [t("a", "a", None), t("b", "a", None)]);
        }
    }

    #[test]
    fn a_switchover_goes_demote_promote_follow_and_resumes_from_its_progress() {
        let tok = token("7000", 1);
        // 1. started: a is told b is primary, b and c still follow a
        let members = [
            view("a", Standing::Primary),
            view("b", Standing::Replica),
            view("c", Standing::Replica),
        ];
        let p = plan(&input("b", Some("a"), None, &members));
        let progress = p.progress.clone().expect("progress");
        assert_eq!(
            (progress.step.as_str(), progress.generation),
            (step::DEMOTING, Some(4))
        );
        assert_eq!(
            told(&p),
            [t("a", "b", None), t("b", "a", None), t("c", "a", None)]
        );
        assert_eq!(p.events[0].1, "SwitchoverStarted");
        // still demoting (a resumed controller gets the same answer)
        let demoting = [
            view("a", Standing::Demoting),
            view("b", Standing::Replica),
            view("c", Standing::Replica),
        ];
        let p = plan(&input("b", Some("a"), Some(&progress), &demoting));
        assert_eq!(
            p.progress.as_ref().map(|p| p.step.as_str()),
            Some(step::DEMOTING)
        );
        assert_eq!(
            told(&p),
            [t("a", "b", None), t("b", "a", None), t("c", "a", None)]
        );
        // 2. token published: b is told to promote with it
        let mut demoted = demoting.clone();
        demoted[0] = MemberView {
            demotion_token: Some(tok.clone()),
            ..view("a", Standing::Replica)
        };
        let p = plan(&input("b", Some("a"), Some(&progress), &demoted));
        let promoting = p.progress.clone().expect("progress");
        assert_eq!(
            (promoting.step.as_str(), promoting.demotion_token.as_deref()),
            (step::PROMOTING, Some(tok.as_str()))
        );
        assert_eq!(
            told(&p),
            [
                t("a", "b", None),
                t("b", "b", Some(&tok)),
                t("c", "a", None)
            ]
        );
        assert_eq!(p.holder, "a");
        // 3. b promoted at the token: everyone follows b, the token is dropped; a is not seen as
        // a replica yet (its operator has not reported), so the switchover waits for it
        let mut promoted = demoted.clone();
        promoted[0].standing = Standing::Unknown;
        promoted[1] = MemberView {
            last_promotion_token: Some(tok.clone()),
            ..view("b", Standing::Primary)
        };
        let p = plan(&input("b", Some("a"), Some(&promoting), &promoted));
        let following = p.progress.clone().expect("progress");
        assert_eq!(following.step, step::FOLLOWING);
        assert_eq!(
            told(&p),
            [t("a", "b", None), t("b", "b", None), t("c", "b", None)]
        );
        assert_eq!(p.holder, "b");
        // 4. a replica of b: done
        promoted[0].standing = Standing::Replica;
        let p = plan(&input("b", Some("b"), Some(&following), &promoted));
        assert_eq!((p.progress.clone(), p.holder.as_str()), (None, "b"));
        assert!(p.events.iter().any(|e| e.1 == "SwitchoverCompleted"));
        assert_eq!(
            told(&p),
            [t("a", "b", None), t("b", "b", None), t("c", "b", None)]
        );
        // promoted and already followed in the same turn: done at once
        let p = plan(&input("b", Some("a"), Some(&promoting), &promoted));
        assert_eq!((p.progress, p.holder.as_str()), (None, "b"));
        // a promotion token seen before (another switchover's) does not count as promoted
        let mut stale = promoted.clone();
        stale[1].last_promotion_token = Some(token("7000", 0));
        let p = plan(&input("b", Some("a"), Some(&promoting), &stale));
        assert_eq!(
            p.progress.map(|p| p.step),
            Some(step::PROMOTING.to_string())
        );
    }

    #[test]
    fn a_token_of_another_system_or_a_passed_timeline_is_refused_and_waits() {
        let mut b = view("b", Standing::Replica);
        let progress = SwitchoverProgress {
            from: "a".into(),
            to: "b".into(),
            step: step::DEMOTING.into(),
            step_started_at: Some(at(now())),
            ..SwitchoverProgress::default()
        };
        for (tok, why) in [
            (token("1234", 1), "of system 1234"),
            ("garbage".to_string(), "base64"),
        ] {
            let members = [
                MemberView {
                    demotion_token: Some(tok),
                    ..view("a", Standing::Replica)
                },
                b.clone(),
            ];
            let p = plan(&input("b", Some("a"), Some(&progress), &members));
            let got = p.progress.expect("progress");
            assert_eq!(got.step, step::DEMOTING);
            assert!(
                got.message.as_deref().is_some_and(|m| m.contains(why)),
                "{:?}",
                got.message
            );
        }
        b.timeline = Some(3);
        assert!(check_token(&token("7000", 2), &b).is_err_and(|e| e.contains("past the token")));
        assert!(check_token(&token("7000", 3), &b).is_ok());
    }

    #[test]
    fn a_step_stuck_past_the_timeout_is_reported_once() {
        let progress = SwitchoverProgress {
            from: "a".into(),
            to: "b".into(),
            step: step::DEMOTING.into(),
            step_started_at: Some(at(now() - Duration::minutes(11))),
            ..SwitchoverProgress::default()
        };
        let members = [view("a", Standing::Demoting), view("b", Standing::Replica)];
        let p = plan(&input("b", Some("a"), Some(&progress), &members));
        assert!(p.events.iter().any(|e| e.0 && e.1 == "SwitchoverStuck"));
        let stuck = p.progress.expect("progress");
        assert!(
            stuck
                .message
                .as_deref()
                .is_some_and(|m| m.contains("stuck for 660s")),
            "{:?}",
            stuck.message
        );
        let again = plan(&input("b", Some("a"), Some(&stuck), &members));
        assert!(again.events.is_empty(), "{:?}", again.events);
    }
}
