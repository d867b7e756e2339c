//! Which instance to create, recreate or remove next, so that the Cluster converges on
//! `spec.instances` one step at a time, as CloudNativePG does:
//!
//! - an instance is a serial that still has its pod or its data PVC; serials only grow
//!   (`status.latestGeneratedNode`), so a name is never reused for different data;
//! - scale-down removes the highest-numbered standby first, never the current or the target
//!   primary; its PVCs go with it;
//! - an instance whose pod is gone but whose data PVC remains gets its pod back on that PVC (no new
//!   clone), the primary's first;
//! - scale-up adds one new serial at a time, only when every instance is ready, so a clone never
//!   competes with another for the primary's I/O and a failure stops the rollout where it is;
//! - during a node maintenance window with `reusePVC: false`, a standby whose pod is gone (evicted
//!   by a drain) does not come back on its volumes, which may be pinned to the drained node: the
//!   instance is removed with its PVCs, and a later step clones a new standby with a new serial.
//!   The primary always comes back on its own volumes.

use pgfed_api::cluster::NodeMaintenanceWindow;
use std::collections::BTreeSet;

/// One instance as observed: its serial and what exists of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedInstance {
    /// Serial (`<cluster>-<serial>`).
    pub serial: u32,
    /// Its pod exists (and is not being deleted).
    pub has_pod: bool,
    /// Its data PVC exists.
    pub has_data_pvc: bool,
    /// Its pod is Ready.
    pub ready: bool,
}

/// What the scale step should do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScaleStep {
    /// Nothing: the instances match the spec.
    Converged,
    /// Wait for an instance being created or recreated to become ready.
    WaitFor {
        /// The serial not ready yet.
        serial: u32,
    },
    /// Create the first instance of the cluster, which bootstraps it as primary.
    Bootstrap {
        /// Its serial (1 for a new cluster).
        serial: u32,
    },
    /// Create a new standby with a fresh clone.
    AddStandby {
        /// Its serial, one past `latestGeneratedNode`.
        serial: u32,
    },
    /// Recreate the pod of an instance on its existing PVCs.
    RecreatePod {
        /// The serial whose pod is missing.
        serial: u32,
    },
    /// Remove an instance: its pod, then its PVCs.
    Remove {
        /// The serial to remove.
        serial: u32,
        /// Why.
        reason: RemovalReason,
    },
    /// More instances than wanted, but every candidate is a primary: nothing can be removed.
    CannotScaleDown,
}

/// Why an instance is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovalReason {
    /// More instances than `spec.instances`.
    ScaleDown,
    /// Its pod is gone during a node maintenance window with `reusePVC: false`: a new standby
    /// replaces it instead of a pod on its old volumes.
    NodeMaintenance,
}

impl RemovalReason {
    /// What the operator does to `instance`, and why, for the Event.
    pub fn message(self, instance: &str) -> String {
        match self {
            Self::ScaleDown => {
                format!("scaling down: removing instance {instance} and its volumes")
            }
            Self::NodeMaintenance => format!(
                "removing instance {instance} and its volumes, a new standby will replace it: \
                 node maintenance window in progress with reusePVC: false"
            ),
        }
    }
}

/// `spec.nodeMaintenanceWindow` as the scale decision reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeMaintenance {
    /// `inProgress` (default false).
    pub in_progress: bool,
    /// `reusePVC` (default true).
    pub reuse_pvc: bool,
}

impl NodeMaintenance {
    /// No maintenance in progress.
    pub const NONE: NodeMaintenance = NodeMaintenance {
        in_progress: false,
        reuse_pvc: true,
    };

    /// The window of a Cluster's spec, with CloudNativePG's defaults for unset fields.
    pub fn of(window: Option<&NodeMaintenanceWindow>) -> Self {
        NodeMaintenance {
            in_progress: window.and_then(|w| w.in_progress).unwrap_or(false),
            reuse_pvc: window.and_then(|w| w.reuse_pvc).unwrap_or(true),
        }
    }

    /// Whether a standby whose pod is gone is replaced by a new clone rather than recreated on
    /// its volumes.
    fn replaces_lost_standbys(self) -> bool {
        self.in_progress && !self.reuse_pvc
    }
}

/// Decides the next scale step. `primaries` are the serials of the current and the target
/// primary (either may be unknown); `latest_generated` is the highest serial ever created.
pub fn next_step(
    desired: u32,
    latest_generated: u32,
    instances: &[ObservedInstance],
    primaries: &BTreeSet<u32>,
    maintenance: NodeMaintenance,
) -> ScaleStep {
    let members: Vec<&ObservedInstance> = instances
        .iter()
        .filter(|i| i.has_pod || i.has_data_pvc)
        .collect();
    let count = u32::try_from(members.len()).unwrap_or(u32::MAX);
    if count > desired {
        return members
            .iter()
            .map(|i| i.serial)
            .filter(|s| !primaries.contains(s))
            .max()
            .map_or(ScaleStep::CannotScaleDown, |serial| ScaleStep::Remove {
                serial,
                reason: RemovalReason::ScaleDown,
            });
    }
    // Pods lost while their data survives come back first, a primary before standbys; a standby
    // is replaced instead while a maintenance window does not reuse volumes.
    let mut dangling: Vec<u32> = members
        .iter()
        .filter(|i| !i.has_pod && i.has_data_pvc)
        .map(|i| i.serial)
        .collect();
    dangling.sort_by_key(|s| (!primaries.contains(s), *s));
    if let Some(&serial) = dangling.first() {
        if maintenance.replaces_lost_standbys() && !primaries.contains(&serial) {
            return ScaleStep::Remove {
                serial,
                reason: RemovalReason::NodeMaintenance,
            };
        }
        return ScaleStep::RecreatePod { serial };
    }
    if let Some(waiting) = members.iter().filter(|i| !i.ready).map(|i| i.serial).min() {
        return ScaleStep::WaitFor { serial: waiting };
    }
    if count < desired {
        let serial = latest_generated
            .max(members.iter().map(|i| i.serial).max().unwrap_or(0))
            .saturating_add(1);
        return if count == 0 {
            ScaleStep::Bootstrap { serial }
        } else {
            ScaleStep::AddStandby { serial }
        };
    }
    ScaleStep::Converged
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `P` pod + PVC ready, `p` pod + PVC not ready, `D` PVC without pod (dangling),
    /// `O` pod without PVC (its PVC was deleted), `.` nothing left.
    fn observed(layout: &str) -> Vec<ObservedInstance> {
        layout
            .chars()
            .zip(1u32..)
            .map(|(c, serial)| ObservedInstance {
                serial,
                has_pod: matches!(c, 'P' | 'p' | 'O'),
                has_data_pvc: matches!(c, 'P' | 'p' | 'D'),
                ready: matches!(c, 'P' | 'O'),
            })
            .collect()
    }

    #[test]
    fn next_scale_step() {
        use ScaleStep::*;
        let cases: &[(&str, u32, &str, &[u32], ScaleStep)] = &[
            (
                "a new cluster bootstraps serial 1",
                3,
                "",
                &[],
                Bootstrap { serial: 1 },
            ),
            (
                "a new cluster after deleted attempts never reuses a serial",
                3,
                "..",
                &[],
                Bootstrap { serial: 3 },
            ),
            (
                "standbys are added one at a time",
                3,
                "P",
                &[1],
                AddStandby { serial: 2 },
            ),
            (
                "a clone in progress is waited for",
                3,
                "Pp",
                &[1],
                WaitFor { serial: 2 },
            ),
            (
                "serials grow past removed ones",
                3,
                "P.P",
                &[1],
                AddStandby { serial: 4 },
            ),
            ("converged", 3, "PPP", &[1], Converged),
            (
                "scale down removes the highest standby",
                2,
                "PPPP",
                &[1],
                scale_down(4),
            ),
            (
                "scale down never removes the primary",
                2,
                "PPP",
                &[3],
                scale_down(2),
            ),
            ("nor the target primary", 1, "PPP", &[1, 3], scale_down(2)),
            ("only primaries left", 1, "PP", &[1, 2], CannotScaleDown),
            (
                "a dangling standby is removed by a scale down",
                2,
                "PPD",
                &[1],
                scale_down(3),
            ),
            (
                "a deleted standby pod comes back on its PVC",
                3,
                "PDP",
                &[1],
                RecreatePod { serial: 2 },
            ),
            (
                "the primary's pod comes back first",
                3,
                "DPD",
                &[3],
                RecreatePod { serial: 3 },
            ),
            (
                "recreation before scale-up",
                4,
                "PDP",
                &[1],
                RecreatePod { serial: 2 },
            ),
            (
                "a pod whose PVC was deleted still counts",
                3,
                "POP",
                &[1],
                Converged,
            ),
            (
                "a PVC-less pod counts as a member to remove",
                2,
                "POP",
                &[1],
                scale_down(3),
            ),
        ];
        for (what, desired, layout, primaries, expected) in cases {
            let instances = observed(layout);
            let latest = u32::try_from(layout.len()).unwrap_or(0);
            let primaries: BTreeSet<u32> = primaries.iter().copied().collect();
            assert_eq!(
                &next_step(
                    *desired,
                    latest,
                    &instances,
                    &primaries,
                    NodeMaintenance::NONE
                ),
                expected,
                "{what}"
            );
        }
    }

    fn scale_down(serial: u32) -> ScaleStep {
        ScaleStep::Remove {
            serial,
            reason: RemovalReason::ScaleDown,
        }
    }

    #[test]
    fn node_maintenance_without_reusing_volumes_replaces_lost_standbys() {
        use ScaleStep::*;
        let window = |in_progress, reuse_pvc| NodeMaintenance {
            in_progress,
            reuse_pvc,
        };
        let replaced = |serial| Remove {
            serial,
            reason: RemovalReason::NodeMaintenance,
        };
        // (what, maintenance, desired, layout, primaries, expected)
        type Case<'a> = (&'a str, NodeMaintenance, u32, &'a str, &'a [u32], ScaleStep);
        let cases: &[Case] = &[
            (
                "no maintenance: a lost standby comes back on its volumes",
                window(false, false),
                3,
                "PDP",
                &[1],
                RecreatePod { serial: 2 },
            ),
            (
                "maintenance reusing volumes: the same",
                window(true, true),
                3,
                "PDP",
                &[1],
                RecreatePod { serial: 2 },
            ),
            (
                "maintenance without reusing volumes: the lost standby is removed",
                window(true, false),
                3,
                "PDP",
                &[1],
                replaced(2),
            ),
            (
                "then a new standby with a new serial is cloned",
                window(true, false),
                3,
                "P.P",
                &[1],
                AddStandby { serial: 4 },
            ),
            (
                "the primary's pod always comes back on its volumes",
                window(true, false),
                3,
                "DPP",
                &[1],
                RecreatePod { serial: 1 },
            ),
            (
                "the primary first, then the standby is replaced",
                window(true, false),
                3,
                "DDP",
                &[1],
                RecreatePod { serial: 1 },
            ),
            (
                "a standby whose pod is there is left alone",
                window(true, false),
                3,
                "PPP",
                &[1],
                Converged,
            ),
            (
                "one not ready yet is waited for, not replaced",
                window(true, false),
                3,
                "PpP",
                &[1],
                WaitFor { serial: 2 },
            ),
            (
                "a scale down still removes the highest standby",
                window(true, false),
                2,
                "PPDP",
                &[1],
                scale_down(4),
            ),
        ];
        for (what, maintenance, desired, layout, primaries, expected) in cases {
            let instances = observed(layout);
            let latest = u32::try_from(layout.len()).unwrap_or(0);
            let primaries: BTreeSet<u32> = primaries.iter().copied().collect();
            assert_eq!(
                &next_step(*desired, latest, &instances, &primaries, *maintenance),
                expected,
                "{what}"
            );
        }
    }

    #[test]
    fn the_maintenance_window_defaults_to_reusing_volumes_and_the_message_says_why() {
        assert_eq!(NodeMaintenance::of(None), NodeMaintenance::NONE);
        let window = NodeMaintenanceWindow {
            in_progress: Some(true),
            reuse_pvc: None,
        };
        assert_eq!(
            NodeMaintenance::of(Some(&window)),
            NodeMaintenance {
                in_progress: true,
                reuse_pvc: true
            }
        );
        let message = RemovalReason::NodeMaintenance.message("pg-2");
        assert!(
            message.contains("pg-2")
                && message.contains("node maintenance window in progress with reusePVC: false"),
            "{message}"
        );
        assert_eq!(
            RemovalReason::ScaleDown.message("pg-3"),
            "scaling down: removing instance pg-3 and its volumes"
        );
    }
}
