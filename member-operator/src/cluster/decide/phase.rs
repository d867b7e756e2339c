//! Which phase a Cluster is in and its `Ready` condition, from what the reconciler observed and
//! the scale step it chose. Phase strings are CloudNativePG's, so dashboards and runbooks written
//! for it read ours unchanged.

use super::scale::ScaleStep;
use pgfed_api::cluster::phase;

/// The facts the phase depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhaseInput {
    /// The scale step chosen this reconcile.
    pub step: ScaleStep,
    /// Serial of the target primary, once chosen.
    pub target_primary: Option<u32>,
    /// Whether the target primary has ever been seen ready (`status.currentPrimary` is set).
    pub primary_elected: bool,
    /// Instances wanted.
    pub desired: u32,
    /// Instances whose pod is Ready.
    pub ready: u32,
    /// Instances whose pod is in the rollout to the current spec.
    pub outdated: u32,
}

/// A phase and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    /// One of `pgfed_api::cluster::phase`.
    pub phase: &'static str,
    /// Human reason.
    pub reason: String,
}

/// The phase of a Cluster whose spec is valid and whose objects could be built. Pure.
pub fn phase(input: &PhaseInput) -> Phase {
    let make = |phase: &'static str, reason: String| Phase { phase, reason };
    match input.step {
        ScaleStep::Bootstrap { serial } => {
            return make(
                phase::SETTING_UP_PRIMARY,
                format!("creating the first instance (serial {serial})"),
            );
        }
        ScaleStep::WaitFor { serial } if !input.primary_elected => {
            return make(
                phase::SETTING_UP_PRIMARY,
                format!("waiting for the first instance (serial {serial}) to be ready"),
            );
        }
        ScaleStep::AddStandby { serial } => {
            return make(
                phase::CREATING_REPLICA,
                format!("creating standby serial {serial}"),
            );
        }
        ScaleStep::WaitFor { serial } if Some(serial) != input.target_primary => {
            return make(
                phase::CREATING_REPLICA,
                format!("waiting for standby serial {serial} to be ready"),
            );
        }
        _ => {}
    }
    if input.outdated > 0 {
        return make(
            phase::UPGRADING,
            format!("{} instance(s) to update", input.outdated),
        );
    }
    if input.ready >= input.desired && matches!(input.step, ScaleStep::Converged) {
        return make(phase::HEALTHY, String::new());
    }
    make(
        phase::WAITING_FOR_INSTANCES,
        format!("{} of {} instances ready", input.ready, input.desired),
    )
}

/// What can take the phase over from the instances' own, in this order of precedence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// A failover or switchover under way (its target not reporting as the primary yet).
    pub primary_change: Option<(&'static str, String)>,
    /// The primary runs an outdated pod and `primaryUpdateStrategy` is supervised.
    pub waiting_for_user: bool,
    /// The primary restarts in place for a parameter PostgreSQL applies only at start.
    pub restarting_primary: bool,
    /// The replica topology's own phase (a promotion or demotion under way).
    pub topology: Option<(&'static str, String)>,
    /// The in-place upgrade of the managers under way: said only of an otherwise healthy
    /// cluster.
    pub manager_upgrade: Option<String>,
}

/// The phase once what is under way is accounted for: the first override that holds wins. Pure.
pub fn overridden(base: Phase, o: Overrides) -> Phase {
    let make = |phase: &'static str, reason: String| Phase { phase, reason };
    if let Some((p, why)) = o.primary_change {
        make(p, why)
    } else if o.waiting_for_user {
        make(
            phase::WAITING_FOR_USER,
            "the primary runs an outdated pod and primaryUpdateStrategy is supervised".into(),
        )
    } else if o.restarting_primary {
        make(
            phase::PRIMARY_RESTARTING,
            "a changed parameter needs a restart of the primary".into(),
        )
    } else if let Some((p, why)) = o.topology {
        make(p, why)
    } else if let Some(why) = o.manager_upgrade
        && base.phase == phase::HEALTHY
    {
        make(phase::ONLINE_UPGRADING, why)
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_under_way_takes_the_phase_over_in_order() {
        let healthy = Phase {
            phase: phase::HEALTHY,
            reason: "healthy".into(),
        };
        let creating = Phase {
            phase: phase::CREATING_REPLICA,
            reason: "creating".into(),
        };
        let failover = Some((phase::FAILING_OVER, "the primary is gone".to_string()));
        let topology = Some((phase::PROMOTING_TO_PRIMARY_CLUSTER, "promoting".to_string()));
        let upgrade = Some("upgrading".to_string());
        let cases = [
            (healthy.clone(), Overrides::default(), phase::HEALTHY),
            (
                healthy.clone(),
                Overrides {
                    primary_change: failover.clone(),
                    waiting_for_user: true,
                    restarting_primary: true,
                    topology: topology.clone(),
                    manager_upgrade: upgrade.clone(),
                },
                phase::FAILING_OVER,
            ),
            (
                healthy.clone(),
                Overrides {
                    waiting_for_user: true,
                    restarting_primary: true,
                    ..Overrides::default()
                },
                phase::WAITING_FOR_USER,
            ),
            (
                healthy.clone(),
                Overrides {
                    restarting_primary: true,
                    topology: topology.clone(),
                    ..Overrides::default()
                },
                phase::PRIMARY_RESTARTING,
            ),
            (
                healthy.clone(),
                Overrides {
                    topology: topology.clone(),
                    manager_upgrade: upgrade.clone(),
                    ..Overrides::default()
                },
                phase::PROMOTING_TO_PRIMARY_CLUSTER,
            ),
            (
                healthy.clone(),
                Overrides {
                    manager_upgrade: upgrade.clone(),
                    ..Overrides::default()
                },
                phase::ONLINE_UPGRADING,
            ),
            // An upgrade waits behind anything else the cluster is doing.
            (
                creating.clone(),
                Overrides {
                    manager_upgrade: upgrade.clone(),
                    ..Overrides::default()
                },
                phase::CREATING_REPLICA,
            ),
        ];
        for (base, o, want) in cases {
            assert_eq!(overridden(base, o.clone()).phase, want, "{o:?}");
        }
    }

    fn input(step: ScaleStep, elected: bool, ready: u32, desired: u32) -> PhaseInput {
        PhaseInput {
            step,
            target_primary: Some(1),
            primary_elected: elected,
            desired,
            ready,
            outdated: 0,
        }
    }

    #[test]
    fn phases_follow_the_lifecycle() {
        use ScaleStep::*;
        let cases = [
            (
                input(Bootstrap { serial: 1 }, false, 0, 3),
                phase::SETTING_UP_PRIMARY,
            ),
            (
                input(WaitFor { serial: 1 }, false, 0, 3),
                phase::SETTING_UP_PRIMARY,
            ),
            (
                input(AddStandby { serial: 2 }, true, 1, 3),
                phase::CREATING_REPLICA,
            ),
            (
                input(WaitFor { serial: 2 }, true, 1, 3),
                phase::CREATING_REPLICA,
            ),
            (input(Converged, true, 3, 3), phase::HEALTHY),
            (input(Converged, true, 2, 3), phase::WAITING_FOR_INSTANCES),
            // the primary's pod recreated on its PVC: not a new replica
            (
                input(WaitFor { serial: 1 }, true, 2, 3),
                phase::WAITING_FOR_INSTANCES,
            ),
            (
                input(RecreatePod { serial: 2 }, true, 2, 3),
                phase::WAITING_FOR_INSTANCES,
            ),
            (
                input(
                    Remove {
                        serial: 3,
                        reason: crate::cluster::decide::scale::RemovalReason::ScaleDown,
                    },
                    true,
                    3,
                    2,
                ),
                phase::WAITING_FOR_INSTANCES,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(phase(&input).phase, want, "{input:?}");
        }
    }

    #[test]
    fn a_rollout_shows_as_upgrading() {
        let mut i = input(ScaleStep::Converged, true, 3, 3);
        i.outdated = 2;
        let p = phase(&i);
        assert_eq!(p.phase, phase::UPGRADING);
        assert!(p.reason.contains('2'), "{}", p.reason);
    }
}
