//! Which automatic-failover turn this reconcile takes, before any switchover is planned: the
//! failover in progress goes on; one still taking the lease when `failover.mode` left Automatic
//! is abandoned with nothing changed; otherwise, with Automatic armed and no switchover running,
//! `failover::decide` may start one. Pure: the lease was read by the caller.

use crate::failover::{self, Decision, LeaseView};
use crate::regional::{self, LeaseAction, Turn};
use crate::status::Observed;
use crate::switchover::{MemberView, Plan};
use chrono::{DateTime, Utc};
use pgfed_api::federation::{FailoverMode, FederationStatus, failover_step};

/// What the turn is decided from.
pub struct TurnInput<'a> {
    /// The Federation's status as read.
    pub old: &'a FederationStatus,
    /// `failover.mode: Automatic` with a lease store (the lease was read this turn).
    pub automatic: bool,
    /// The lease as read, when it could be.
    pub lease: Option<&'a LeaseView>,
    /// Every member as seen this turn.
    pub views: &'a [MemberView],
    /// Every member's observation (positions, system ids).
    pub observed: &'a [Observed],
    /// The member holding the primary now.
    pub holder: &'a str,
    /// `failover.maximumDataLoss`.
    pub limit: failover::DataLossLimit,
    /// Now.
    pub now: DateTime<Utc>,
}

/// The failover turn, if one runs, and the decision taken when none was in progress (for the
/// `AutomaticFailover` condition).
pub fn failover_turn(input: &TurnInput<'_>) -> (Option<Turn>, Option<Decision>) {
    let old = input.old;
    match (&old.failover, input.automatic) {
        (Some(progress), false) if progress.step == failover_step::TAKING_LEASE => {
            let turn = Turn {
                plan: Plan {
                    roles: Default::default(),
                    holder: progress.from.clone(),
                    events: vec![(
                        true,
                        "FailoverAbandoned",
                        format!(
                            "automatic failover from {} to {} abandoned: failover.mode is no longer Automatic; nothing was changed",
                            progress.from, progress.to
                        ),
                    )],
                    ..Plan::default()
                },
                progress: None,
                record: None,
                lease: LeaseAction::Keep,
                set_spec_primary: None,
            };
            (Some(turn), None)
        }
        (Some(progress), _) => (
            Some(regional::advance(
                progress,
                input.lease,
                input.views,
                input.now,
            )),
            None,
        ),
        (None, true) if old.switchover.is_none() => {
            let members = regional::candidates(input.observed);
            let decision = failover::decide(&failover::Input {
                mode: FailoverMode::Automatic,
                lease: input.lease,
                primary: input.holder,
                primary_system_id: regional::primary_system_id(old, input.observed, input.holder),
                primary_position: regional::primary_position(old, input.holder),
                members: &members,
                limit: input.limit,
                switchover_in_progress: false,
            });
            let turn = match &decision {
                Decision::Promote {
                    member,
                    epoch,
                    data_loss_bound_bytes,
                    data_loss_bound_seconds,
                } => {
                    let progress = regional::start(
                        input.holder,
                        member,
                        *epoch,
                        *data_loss_bound_bytes,
                        *data_loss_bound_seconds,
                        input.now,
                    );
                    let mut turn =
                        regional::advance(&progress, input.lease, input.views, input.now);
                    turn.plan.events.insert(
                        0,
                        (
                            true,
                            "FailoverStarted",
                            format!(
                                "{} is lost (its fencing lease has not changed for {}s): promoting {member}",
                                input.holder,
                                input.lease.map(|l| l.unchanged_for.as_secs()).unwrap_or_default()
                            ),
                        ),
                    );
                    Some(turn)
                }
                _ => None,
            };
            (turn, Some(decision))
        }
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgfed_api::federation::{FailoverProgress, SwitchoverProgress};

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(1_800_000_000)
    }

    fn progress(step: &str) -> FailoverProgress {
        FailoverProgress {
            from: "a".into(),
            to: "b".into(),
            step: step.into(),
            epoch: 2,
            ..FailoverProgress::default()
        }
    }

    fn turn_of(old: &FederationStatus, automatic: bool) -> (Option<Turn>, Option<Decision>) {
        failover_turn(&TurnInput {
            old,
            automatic,
            lease: None,
            views: &[],
            observed: &[],
            holder: "a",
            limit: failover::DataLossLimit::default(),
            now: now(),
        })
    }

    #[test]
    fn a_failover_still_taking_the_lease_is_abandoned_once_the_mode_is_no_longer_automatic() {
        let old = FederationStatus {
            failover: Some(progress(failover_step::TAKING_LEASE)),
            ..FederationStatus::default()
        };
        let (turn, decision) = turn_of(&old, false);
        let turn = turn.expect("a turn");
        assert_eq!(turn.plan.holder, "a", "the lost primary keeps the primary");
        assert_eq!(turn.progress, None);
        assert_eq!(turn.lease, LeaseAction::Keep);
        assert_eq!(turn.set_spec_primary, None);
        assert_eq!(
            turn.plan.events.first().map(|e| e.1),
            Some("FailoverAbandoned")
        );
        assert_eq!(decision, None);
    }

    #[test]
    fn a_failover_past_the_lease_goes_on_whatever_the_mode() {
        let old = FederationStatus {
            failover: Some(progress(failover_step::PROMOTING)),
            ..FederationStatus::default()
        };
        for automatic in [false, true] {
            let (turn, decision) = turn_of(&old, automatic);
            let turn = turn.expect("a turn");
            assert!(
                turn.plan.events.iter().all(|e| e.1 != "FailoverAbandoned"),
                "{automatic}: {:?}",
                turn.plan.events
            );
            assert_eq!(decision, None);
        }
    }

    #[test]
    fn no_failover_starts_without_automatic_mode_or_during_a_switchover() {
        let idle = FederationStatus::default();
        assert_eq!(turn_of(&idle, false), (None, None));
        let switching = FederationStatus {
            switchover: Some(SwitchoverProgress::default()),
            ..FederationStatus::default()
        };
        assert_eq!(turn_of(&switching, true), (None, None));
    }

    #[test]
    fn with_automatic_mode_the_decision_is_taken_and_kept_for_the_condition() {
        let (turn, decision) = turn_of(&FederationStatus::default(), true);
        assert_eq!(turn, None, "no lease read: nothing to fail over from");
        assert!(
            matches!(
                decision,
                Some(Decision::Hold(_)) | Some(Decision::Wait { .. })
            ),
            "{decision:?}"
        );
    }
}
