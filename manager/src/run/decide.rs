//! The supervisor's decisions, pure and table-tested: which role change the configuration asks
//! for, whether a standby may promote now, what a demotion recorded in PGDATA needs next, and
//! what to do with the postmaster. The side effects live in `converge` and `postmaster`.

use crate::config::ManagerConfig;
use crate::instance::demote::Demotion;
use pgfed_api::token::PromotionDecision;

/// A role change the configuration asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum RoleChange {
    /// Nothing to change.
    None,
    /// Promote this standby (only at the promotion token when one is given).
    Promote,
    /// Demote this primary into a standby of the replica source, with a demotion token.
    Demote,
    /// Another instance is the target primary: stop this primary; it restarts as a standby of the
    /// new one, rewound first (see [`crate::instance::follow::rewind_if_needed`]).
    StepDown,
}

/// Whom `targetPrimary` names, from this instance's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `targetPrimary` is unset: nothing to converge to.
    Unset,
    /// This instance.
    Me,
    /// Another instance of the cluster.
    Other,
}

impl Target {
    /// Whom `cfg.targetPrimary` names.
    pub fn of(cfg: &ManagerConfig) -> Target {
        match &cfg.target_primary {
            None => Target::Unset,
            Some(_) if cfg.other_target_primary().is_some() => Target::Other,
            Some(_) => Target::Me,
        }
    }
}

/// Decides a role change from whom `targetPrimary` names, whether this is a replica cluster and
/// whether postgres is in recovery (`None`: unknown, e.g. not accepting connections). Pure.
pub fn decide_role(target: Target, replica_cluster: bool, in_recovery: Option<bool>) -> RoleChange {
    match (target, replica_cluster, in_recovery) {
        (Target::Me, false, Some(true)) => RoleChange::Promote,
        (Target::Me, true, Some(false)) => RoleChange::Demote,
        (Target::Other, _, Some(false)) => RoleChange::StepDown,
        _ => RoleChange::None,
    }
}

/// Whether a standby asked to promote may do so now.
#[derive(Debug, PartialEq, Eq)]
pub enum PromotionGate {
    /// Promote.
    Promote,
    /// Not yet; the reason says what is awaited.
    Wait(String),
    /// Never at this token; the reason says why.
    Refuse(String),
}

/// Decides from the comparison with the promotion token (`None`: no token) and whether the WAL
/// receiver still streams. Without a token, a standby streaming from a former primary that is
/// shutting down waits for the stream to end, so the last WAL it sends is not lost; a failed
/// primary sends nothing, so a failover promotes at once. Pure.
pub fn promotion_gate(token: Option<PromotionDecision>, streaming: bool) -> PromotionGate {
    match (token, streaming) {
        (Some(PromotionDecision::Promote), _) => PromotionGate::Promote,
        (Some(PromotionDecision::Wait(reason)), _) => PromotionGate::Wait(reason),
        (Some(PromotionDecision::Refuse(reason)), _) => PromotionGate::Refuse(reason),
        (None, true) => PromotionGate::Wait(
            "the former primary is still streaming its last WAL to this standby".into(),
        ),
        (None, false) => PromotionGate::Promote,
    }
}

/// Whether the configuration still asks this instance to be demoted: a replica cluster whose
/// target primary is not another instance. Pure.
pub fn demotion_wanted(target: Target, replica_cluster: bool) -> bool {
    replica_cluster && target != Target::Other
}

/// What a demotion recorded in PGDATA needs next.
#[derive(Debug, PartialEq, Eq)]
pub enum DemotionAction {
    /// Nothing now: no demotion under way, its token is published, or postgres is starting up.
    Nothing,
    /// Take the next step (stop cleanly, or publish WAL and token); postgres stays down meanwhile.
    Advance,
    /// Postgres stopped without a shutdown checkpoint before the token was taken: the instance is
    /// still the primary, so it starts as one and the demotion starts over from there.
    StartAsPrimary,
    /// The configuration no longer asks for it: forget it.
    Cancel,
}

/// The local server, as a recorded demotion sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// No postmaster; `cleanly`: the data directory was shut down cleanly as a primary.
    Stopped {
        /// pg_controldata says "shut down".
        cleanly: bool,
    },
    /// A postmaster that does not answer queries yet (crash recovery after a restart).
    Starting,
    /// A postmaster that answers.
    Up,
}

/// Decides from the recorded step, whether the configuration still wants the demotion and the
/// local server. A primary that is still starting up is let finish first: stopping it during its
/// crash recovery would leave no shutdown checkpoint either. Pure.
pub fn demotion_action(
    recorded: Option<&Demotion>,
    wanted: bool,
    server: Server,
) -> DemotionAction {
    match (recorded, server) {
        (None | Some(Demotion::Published { .. }), _) => DemotionAction::Nothing,
        (Some(_), _) if !wanted => DemotionAction::Cancel,
        (Some(Demotion::Requested), Server::Stopped { cleanly: false }) => {
            DemotionAction::StartAsPrimary
        }
        (Some(Demotion::Requested), Server::Starting) => DemotionAction::Nothing,
        (Some(Demotion::Requested | Demotion::ShutDown { .. }), _) => DemotionAction::Advance,
    }
}

/// What the supervisor should do with the postmaster.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do.
    Nothing,
    /// Start postgres.
    Start,
    /// Stop postgres and keep it stopped.
    Stop,
    /// Reread configuration files.
    Reload,
    /// Stop and start again.
    Restart,
}

/// Decides the next action. Pure.
pub fn decide(fenced: bool, running: bool, config_changed: bool, pending_restart: bool) -> Action {
    match (fenced, running) {
        (true, true) => Action::Stop,
        (true, false) => Action::Nothing,
        (false, false) => Action::Start,
        (false, true) if pending_restart => Action::Restart,
        (false, true) if config_changed => Action::Reload,
        (false, true) => Action::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_decisions() {
        use Target::{Me, Other, Unset};
        let cases = [
            ((Me, false, Some(true)), RoleChange::Promote),
            ((Me, false, Some(false)), RoleChange::None),
            ((Me, true, Some(false)), RoleChange::Demote),
            ((Me, true, Some(true)), RoleChange::None),
            ((Me, false, None), RoleChange::None),
            // Another instance is the target: a primary steps down, in any kind of cluster.
            ((Other, false, Some(false)), RoleChange::StepDown),
            ((Other, true, Some(false)), RoleChange::StepDown),
            ((Other, false, Some(true)), RoleChange::None),
            ((Other, false, None), RoleChange::None),
            // Nobody is named: nothing is ours to decide.
            ((Unset, false, Some(true)), RoleChange::None),
            ((Unset, false, Some(false)), RoleChange::None),
            ((Unset, true, Some(false)), RoleChange::None),
        ];
        for ((target, replica, recovery), want) in cases {
            assert_eq!(
                decide_role(target, replica, recovery),
                want,
                "{target:?} {replica} {recovery:?}"
            );
        }
    }

    #[test]
    fn promotion_gates() {
        use PromotionDecision as D;
        let cases = [
            (Some(D::Promote), true, PromotionGate::Promote),
            (Some(D::Promote), false, PromotionGate::Promote),
            (
                Some(D::Wait("behind".into())),
                false,
                PromotionGate::Wait("behind".into()),
            ),
            (
                Some(D::Refuse("past".into())),
                true,
                PromotionGate::Refuse("past".into()),
            ),
            (None, false, PromotionGate::Promote),
        ];
        for (token, streaming, want) in cases {
            assert_eq!(promotion_gate(token.clone(), streaming), want, "{token:?}");
        }
        assert!(matches!(
            promotion_gate(None, true),
            PromotionGate::Wait(reason) if reason.contains("streaming")
        ));
    }

    #[test]
    fn demotion_wanted_only_while_this_is_a_replica_cluster_not_following_another_instance() {
        use Target::{Me, Other, Unset};
        for (target, replica, want) in [
            (Me, true, true),
            (Unset, true, true),
            (Other, true, false),
            (Me, false, false),
            (Unset, false, false),
        ] {
            assert_eq!(
                demotion_wanted(target, replica),
                want,
                "{target:?} {replica}"
            );
        }
    }

    #[test]
    fn demotion_actions() {
        use DemotionAction::{Advance, Cancel, Nothing, StartAsPrimary};
        let requested = Demotion::Requested;
        let shut_down = Demotion::ShutDown { token: "t".into() };
        let published = Demotion::Published { token: "t".into() };
        let (clean, crashed) = (
            Server::Stopped { cleanly: true },
            Server::Stopped { cleanly: false },
        );
        let cases = [
            // (recorded, wanted, server) → action
            ((None, true, Server::Up), Nothing),
            ((Some(&published), true, clean), Nothing),
            ((Some(&published), false, Server::Up), Nothing),
            // Requested: stop it when it runs, take the token when it stopped cleanly...
            ((Some(&requested), true, Server::Up), Advance),
            ((Some(&requested), true, clean), Advance),
            // ...start it as the primary it still is when it did not, and let it finish starting.
            ((Some(&requested), true, crashed), StartAsPrimary),
            ((Some(&requested), true, Server::Starting), Nothing),
            // Shut down at the token: keep publishing, never start meanwhile.
            ((Some(&shut_down), true, clean), Advance),
            ((Some(&shut_down), true, crashed), Advance),
            // No longer asked for.
            ((Some(&requested), false, Server::Up), Cancel),
            ((Some(&shut_down), false, clean), Cancel),
        ];
        for ((recorded, wanted, server), want) in cases {
            assert_eq!(
                demotion_action(recorded, wanted, server),
                want,
                "{recorded:?} wanted={wanted} {server:?}"
            );
        }
    }

    #[test]
    fn decisions() {
        let cases = [
            ((false, false, false, false), Action::Start),
            ((false, true, false, false), Action::Nothing),
            ((false, true, true, false), Action::Reload),
            ((false, true, true, true), Action::Restart),
            ((false, true, false, true), Action::Restart),
            ((true, true, false, false), Action::Stop),
            ((true, false, true, true), Action::Nothing),
        ];
        for ((fenced, running, changed, pending), want) in cases {
            assert_eq!(
                decide(fenced, running, changed, pending),
                want,
                "{fenced} {running} {changed} {pending}"
            );
        }
    }
}
