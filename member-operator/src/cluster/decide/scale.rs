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
//!   competes with another for the primary's I/O and a failure stops the rollout where it is.

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
    },
    /// More instances than wanted, but every candidate is a primary: nothing can be removed.
    CannotScaleDown,
}

/// Decides the next scale step. `primaries` are the serials of the current and the target
/// primary (either may be unknown); `latest_generated` is the highest serial ever created.
pub fn next_step(
    desired: u32,
    latest_generated: u32,
    instances: &[ObservedInstance],
    primaries: &BTreeSet<u32>,
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
            });
    }
    // Pods lost while their data survives come back first, a primary before standbys.
    let mut dangling: Vec<u32> = members
        .iter()
        .filter(|i| !i.has_pod && i.has_data_pvc)
        .map(|i| i.serial)
        .collect();
    dangling.sort_by_key(|s| (!primaries.contains(s), *s));
    if let Some(&serial) = dangling.first() {
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
                Remove { serial: 4 },
            ),
            (
                "scale down never removes the primary",
                2,
                "PPP",
                &[3],
                Remove { serial: 2 },
            ),
            (
                "nor the target primary",
                1,
                "PPP",
                &[1, 3],
                Remove { serial: 2 },
            ),
            ("only primaries left", 1, "PP", &[1, 2], CannotScaleDown),
            (
                "a dangling standby is removed by a scale down",
                2,
                "PPD",
                &[1],
                Remove { serial: 3 },
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
                Remove { serial: 3 },
            ),
        ];
        for (what, desired, layout, primaries, expected) in cases {
            let instances = observed(layout);
            let latest = u32::try_from(layout.len()).unwrap_or(0);
            let primaries: BTreeSet<u32> = primaries.iter().copied().collect();
            assert_eq!(
                &next_step(*desired, latest, &instances, &primaries),
                expected,
                "{what}"
            );
        }
    }
}
