//! Following a switchover from the Federation's status, one poll at a time: what changed since
//! the last poll (a line to print) and whether the switchover is done, refused or out of time.
//! Pure: the caller polls, sleeps and prints.
//!
//! The status only speaks for the request once `observedGeneration` reaches the generation the
//! request wrote; before that it describes the past (a `SwitchoverAllowed=False` left from an
//! earlier request must not fail this one).

use pgfed_api::federation::{FederationStatus, federation_phase};
use std::time::Duration;

/// The condition the controller sets False, with why, when it will not start a switchover.
const SWITCHOVER_ALLOWED: &str = "SwitchoverAllowed";

/// What the follower waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Goal {
    /// Namespace of the Federation.
    pub namespace: String,
    /// Name of the Federation.
    pub name: String,
    /// The member that should end up holding the primary.
    pub member: String,
    /// The Federation's `metadata.generation` once it asked for `member`.
    pub generation: i64,
    /// How long to follow before giving up (the switchover itself goes on).
    pub limit: Duration,
}

/// Where the federation stood at a poll, as far as the follower reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// A switchover is at this step.
    Step {
        /// `status.switchover.step`.
        step: String,
        /// `status.switchover.message`.
        message: Option<String>,
    },
    /// No switchover recorded.
    Settled {
        /// `status.currentPrimary`.
        holder: Option<String>,
        /// `status.phase`.
        phase: Option<String>,
    },
}

/// How a followed switchover ended badly.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FollowError {
    /// The controller refuses to start it.
    #[error(
        "the federation controller refuses to move the primary of {namespace}/{name} to {member}: {why}. spec.primary stays {member}, so the switchover starts by itself once this is resolved; to withdraw the request instead, run `kubectl pgfed federation switchover {name} {holder} -n {namespace}`"
    )]
    Refused {
        /// Namespace of the Federation.
        namespace: String,
        /// Name of the Federation.
        name: String,
        /// The member asked for.
        member: String,
        /// The member holding the primary.
        holder: String,
        /// The condition's message and reason.
        why: String,
    },
    /// Not done within the limit.
    #[error(
        "the switchover of {namespace}/{name} to {member} did not finish within {limit_secs}s ({state}); it goes on in the background: follow it with `kubectl pgfed federation status {name} -n {namespace}`"
    )]
    TimedOut {
        /// Namespace of the Federation.
        namespace: String,
        /// Name of the Federation.
        name: String,
        /// The member asked for.
        member: String,
        /// The limit, seconds.
        limit_secs: u64,
        /// Where it stands.
        state: String,
    },
}

/// What a poll concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Keep polling.
    Waiting,
    /// The member holds the primary and the federation is Healthy; what to print.
    Done(String),
    /// Stop: the switchover failed to start or did not finish in time.
    Failed(FollowError),
}

/// The outcome of one poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    /// A progress line to print, when something changed.
    pub line: Option<String>,
    /// What to pass as `seen` to the next poll.
    pub seen: Option<Stage>,
    /// Whether to go on.
    pub verdict: Verdict,
}

fn stage(status: &FederationStatus) -> Stage {
    match &status.switchover {
        Some(p) => Stage::Step {
            step: p.step.clone(),
            message: p.message.clone(),
        },
        None => Stage::Settled {
            holder: status.current_primary.clone(),
            phase: status.phase.clone(),
        },
    }
}

fn describe(stage: &Stage) -> String {
    match stage {
        Stage::Step {
            step,
            message: Some(m),
        } => format!("{step}: {m}"),
        Stage::Step {
            step,
            message: None,
        } => step.clone(),
        Stage::Settled { holder, phase } => format!(
            "no switchover running; {} holds the primary, phase {}",
            holder.as_deref().unwrap_or("no member"),
            phase.as_deref().unwrap_or("not reported")
        ),
    }
}

/// Whether a progress line is due: a new step, the end of the steps, or a change of phase after
/// them. A step's message alone changing is not reported: the controller rewrites it while a
/// step is stuck (with a growing number of seconds), which would print a line every poll.
fn changed(seen: Option<&Stage>, now: &Stage) -> bool {
    match (seen, now) {
        (None, _) => true,
        (Some(Stage::Step { step: a, .. }), Stage::Step { step: b, .. }) => a != b,
        (Some(a), b) => a != b,
    }
}

/// One poll: `status` read `elapsed` after the request, `seen` returned by the previous poll
/// (`None` at the first). Pure.
pub fn poll(
    goal: &Goal,
    seen: Option<&Stage>,
    status: &FederationStatus,
    elapsed: Duration,
) -> Turn {
    let observed = status
        .observed_generation
        .is_some_and(|g| g >= goal.generation);
    let now = stage(status);
    let turn = |line: Option<String>, verdict: Verdict| Turn {
        line,
        // Until the controller has seen the request, nothing it reports is this switchover's.
        seen: if observed { Some(now.clone()) } else { None },
        verdict,
    };
    if observed
        && status.switchover.is_none()
        && status.current_primary.as_deref() == Some(goal.member.as_str())
        && status.phase.as_deref() == Some(federation_phase::HEALTHY)
    {
        let region = status
            .current_primary_region
            .as_deref()
            .map(|r| format!(" (region {r})"))
            .unwrap_or_default();
        return turn(
            None,
            Verdict::Done(format!(
                "{}{region} holds the primary of federation {}/{}, which is Healthy ({}s)",
                goal.member,
                goal.namespace,
                goal.name,
                elapsed.as_secs()
            )),
        );
    }
    let refusal = status.conditions.iter().find(|c| {
        c.type_ == SWITCHOVER_ALLOWED
            && c.status == "False"
            && c.observed_generation.is_some_and(|g| g >= goal.generation)
    });
    if let Some(c) = refusal {
        return turn(
            None,
            Verdict::Failed(FollowError::Refused {
                namespace: goal.namespace.clone(),
                name: goal.name.clone(),
                member: goal.member.clone(),
                holder: status
                    .current_primary
                    .clone()
                    .unwrap_or_else(|| "<the member holding the primary>".to_string()),
                why: format!("{} ({})", c.message, c.reason),
            }),
        );
    }
    if elapsed >= goal.limit {
        let state = if observed {
            describe(&now)
        } else {
            format!(
                "the controller has not acted on generation {} yet: is pgfed-federation running?",
                goal.generation
            )
        };
        return turn(
            None,
            Verdict::Failed(FollowError::TimedOut {
                namespace: goal.namespace.clone(),
                name: goal.name.clone(),
                member: goal.member.clone(),
                limit_secs: goal.limit.as_secs(),
                state,
            }),
        );
    }
    let line = (observed && changed(seen, &now))
        .then(|| format!("[{}s] {}", elapsed.as_secs(), describe(&now)));
    turn(line, Verdict::Waiting)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use k8s_openapi::jiff::Timestamp;
    use pgfed_api::federation::SwitchoverProgress;

    fn goal() -> Goal {
        Goal {
            namespace: "demo".into(),
            name: "shop".into(),
            member: "b".into(),
            generation: 5,
            limit: Duration::from_secs(600),
        }
    }

    fn allowed(ok: bool, generation: i64) -> Condition {
        Condition {
            type_: SWITCHOVER_ALLOWED.into(),
            status: if ok { "True" } else { "False" }.into(),
            reason: if ok { "Allowed" } else { "Refused" }.into(),
            message: if ok {
                "spec.primary can move"
            } else {
                "b is unreachable; a keeps the primary"
            }
            .into(),
            observed_generation: Some(generation),
            last_transition_time: Time(Timestamp::UNIX_EPOCH),
        }
    }

    /// A status: the generation it reflects, the holder, the phase, the step (with its message).
    fn status(
        generation: i64,
        holder: &str,
        phase: &str,
        step: Option<(&str, &str)>,
    ) -> FederationStatus {
        FederationStatus {
            observed_generation: Some(generation),
            current_primary: Some(holder.into()),
            current_primary_region: Some(format!("region-{holder}")),
            phase: Some(phase.into()),
            switchover: step.map(|(s, m)| SwitchoverProgress {
                from: "a".into(),
                to: "b".into(),
                step: s.into(),
                message: (!m.is_empty()).then(|| m.to_string()),
                ..SwitchoverProgress::default()
            }),
            conditions: vec![allowed(true, generation)],
            ..FederationStatus::default()
        }
    }

    fn step(s: &str, m: &str) -> Stage {
        Stage::Step {
            step: s.into(),
            message: (!m.is_empty()).then(|| m.to_string()),
        }
    }

    fn settled(holder: &str, phase: &str) -> Stage {
        Stage::Settled {
            holder: Some(holder.into()),
            phase: Some(phase.into()),
        }
    }

    const HEALTHY: &str = federation_phase::HEALTHY;
    const SWITCHING: &str = federation_phase::SWITCHOVER;
    const DEGRADED: &str = federation_phase::DEGRADED;

    /// What the poll before saw, the status, seconds since the request; the line expected and
    /// the kind of verdict.
    type Case = (
        Option<Stage>,
        FederationStatus,
        u64,
        Option<&'static str>,
        &'static str,
    );

    #[test]
    fn what_each_poll_prints_and_concludes() {
        let waiting = "waiting for a's demotion token";
        let mut old_refusal = status(4, "a", HEALTHY, None);
        old_refusal.conditions = vec![allowed(false, 4)];
        let mut refused = status(5, "a", HEALTHY, None);
        refused.conditions = vec![allowed(false, 5)];
        let mut stuck = status(
            5,
            "a",
            SWITCHING,
            Some(("Demoting", "step Demoting stuck for 700s: x")),
        );
        stuck.switchover.as_mut().expect("switchover").message =
            Some("step Demoting stuck for 701s: x".into());
        let stuck_seen = step("Demoting", "step Demoting stuck for 700s: x");
        let cases: Vec<Case> = vec![
            // The controller has not seen the request: the old state is not reported.
            (None, status(4, "a", HEALTHY, None), 0, None, "waiting"),
            // An earlier refusal does not fail this request.
            (None, old_refusal, 1, None, "waiting"),
            (
                None,
                status(5, "a", SWITCHING, Some(("Demoting", waiting))),
                1,
                Some("[1s] Demoting: waiting for a's demotion token"),
                "waiting",
            ),
            (
                Some(step("Demoting", waiting)),
                status(5, "a", SWITCHING, Some(("Demoting", waiting))),
                2,
                None,
                "waiting",
            ),
            // A stuck step's message grows every turn: not a line each poll.
            (Some(stuck_seen), stuck, 3, None, "waiting"),
            (
                Some(step("Demoting", waiting)),
                status(5, "a", SWITCHING, Some(("Promoting", ""))),
                9,
                Some("[9s] Promoting"),
                "waiting",
            ),
            (
                Some(step("Promoting", "")),
                status(
                    5,
                    "b",
                    SWITCHING,
                    Some(("FollowingNewPrimary", "waiting for a to follow b")),
                ),
                14,
                Some("[14s] FollowingNewPrimary: waiting for a to follow b"),
                "waiting",
            ),
            // Steps done, members still settling.
            (
                Some(step("FollowingNewPrimary", "")),
                status(5, "b", DEGRADED, None),
                20,
                Some("[20s] no switchover running; b holds the primary, phase Degraded"),
                "waiting",
            ),
            (
                Some(settled("b", DEGRADED)),
                status(5, "b", DEGRADED, None),
                21,
                None,
                "waiting",
            ),
            (
                Some(settled("b", DEGRADED)),
                status(6, "b", HEALTHY, None),
                25,
                None,
                "done",
            ),
            // The request seen, then refused.
            (None, refused, 2, None, "refused"),
            // Healthy with the old primary at the new generation is not done.
            (
                None,
                status(5, "a", HEALTHY, None),
                3,
                Some("[3s] no switchover running; a holds the primary, phase Healthy"),
                "waiting",
            ),
            (
                Some(step("Promoting", "")),
                status(5, "a", SWITCHING, Some(("Promoting", ""))),
                600,
                None,
                "timed out",
            ),
        ];
        for (i, (seen, st, secs, want_line, want)) in cases.into_iter().enumerate() {
            let t = poll(&goal(), seen.as_ref(), &st, Duration::from_secs(secs));
            let kind = match &t.verdict {
                Verdict::Waiting => "waiting",
                Verdict::Done(_) => "done",
                Verdict::Failed(FollowError::Refused { .. }) => "refused",
                Verdict::Failed(FollowError::TimedOut { .. }) => "timed out",
            };
            assert_eq!((t.line.as_deref(), kind), (want_line, want), "case {i}");
        }
    }

    #[test]
    fn the_request_is_remembered_only_once_the_controller_saw_it() {
        let before = poll(
            &goal(),
            None,
            &status(4, "a", HEALTHY, None),
            Duration::ZERO,
        );
        assert_eq!(before.seen, None);
        let after = poll(
            &goal(),
            None,
            &status(5, "a", SWITCHING, Some(("Demoting", ""))),
            Duration::from_secs(1),
        );
        assert_eq!(after.seen, Some(step("Demoting", "")));
    }

    #[test]
    fn the_endings_say_what_happened_and_what_to_do() {
        let done = poll(
            &goal(),
            None,
            &status(5, "b", HEALTHY, None),
            Duration::from_secs(25),
        );
        assert_eq!(
            done.verdict,
            Verdict::Done(
                "b (region region-b) holds the primary of federation demo/shop, which is Healthy (25s)"
                    .into()
            )
        );
        let mut refused = status(5, "a", HEALTHY, None);
        refused.conditions = vec![allowed(false, 5)];
        let Verdict::Failed(e) = poll(&goal(), None, &refused, Duration::from_secs(2)).verdict
        else {
            panic!("refused");
        };
        assert_eq!(
            e.to_string(),
            "the federation controller refuses to move the primary of demo/shop to b: b is unreachable; a keeps the primary (Refused). spec.primary stays b, so the switchover starts by itself once this is resolved; to withdraw the request instead, run `kubectl pgfed federation switchover shop a -n demo`"
        );
        let Verdict::Failed(e) = poll(
            &goal(),
            None,
            &status(4, "a", HEALTHY, None),
            Duration::from_secs(600),
        )
        .verdict
        else {
            panic!("timed out");
        };
        assert_eq!(
            e.to_string(),
            "the switchover of demo/shop to b did not finish within 600s (the controller has not acted on generation 5 yet: is pgfed-federation running?); it goes on in the background: follow it with `kubectl pgfed federation status shop -n demo`"
        );
    }
}
