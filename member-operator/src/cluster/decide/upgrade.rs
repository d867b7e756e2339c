//! The in-place upgrade of the instance managers: when a new operator carries a different
//! manager (newer or older: only the digest counts), each running instance receives it and
//! re-executes it without restarting PostgreSQL — one instance at a time, standbys first, the
//! primary last, and only while every instance is ready, so a manager that misbehaves after its
//! upgrade stops the rollout where it is.
//!
//! An instance whose manager reports no digest predates in-place upgrades: it cannot take one,
//! and gets the new manager with a new pod (the rolling update) instead.

/// One instance as the upgrade sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerInstance {
    /// Serial.
    pub serial: u32,
    /// It is the primary.
    pub primary: bool,
    /// Its pod is Ready and its postgres runs.
    pub ready: bool,
    /// The digest its manager reports: None when it did not answer or does not know it yet,
    /// empty when it cannot be upgraded in place.
    pub digest: Option<String>,
}

/// What the upgrade does now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpgradeStep {
    /// Every answering manager runs the operator's, or cannot be upgraded in place.
    Done,
    /// Some manager is outdated, but an instance is not ready (or did not answer): wait.
    Wait {
        /// Outdated managers.
        outdated: usize,
    },
    /// Send the operator's manager to this instance.
    Upgrade {
        /// Serial.
        serial: u32,
        /// Outdated managers, this one included.
        outdated: usize,
    },
}

/// Whether the instance runs another manager than `want` and can be upgraded in place.
fn outdated(instance: &ManagerInstance, want: &str) -> bool {
    instance
        .digest
        .as_deref()
        .is_some_and(|d| !d.is_empty() && d != want)
}

/// The next step of the in-place upgrade to the manager whose digest is `want`. Pure.
pub fn next_step(instances: &[ManagerInstance], want: &str) -> UpgradeStep {
    let stale: Vec<&ManagerInstance> = instances.iter().filter(|i| outdated(i, want)).collect();
    if stale.is_empty() {
        return UpgradeStep::Done;
    }
    let count = stale.len();
    if instances.iter().any(|i| !i.ready || i.digest.is_none()) {
        return UpgradeStep::Wait { outdated: count };
    }
    // Standbys before the primary, lowest serial first: deterministic, and the primary's
    // manager changes last, after the new one has proven itself on the standbys.
    let next = stale
        .iter()
        .filter(|i| !i.primary)
        .map(|i| i.serial)
        .min()
        .or_else(|| stale.iter().find(|i| i.primary).map(|i| i.serial));
    match next {
        Some(serial) => UpgradeStep::Upgrade {
            serial,
            outdated: count,
        },
        None => UpgradeStep::Done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(serial: u32, primary: bool, ready: bool, digest: Option<&str>) -> ManagerInstance {
        ManagerInstance {
            serial,
            primary,
            ready,
            digest: digest.map(str::to_string),
        }
    }

    #[test]
    fn standbys_first_one_at_a_time_then_the_primary() {
        use UpgradeStep::*;
        let cases = [
            (
                "every manager is the operator's",
                vec![
                    i(1, true, true, Some("new")),
                    i(2, false, true, Some("new")),
                ],
                Done,
            ),
            (
                "lowest standby first",
                vec![
                    i(1, true, true, Some("old")),
                    i(2, false, true, Some("old")),
                    i(3, false, true, Some("old")),
                ],
                Upgrade {
                    serial: 2,
                    outdated: 3,
                },
            ),
            (
                "the primary last",
                vec![
                    i(1, true, true, Some("old")),
                    i(2, false, true, Some("new")),
                    i(3, false, true, Some("new")),
                ],
                Upgrade {
                    serial: 1,
                    outdated: 1,
                },
            ),
            (
                "an older operator's manager is a downgrade target like any other",
                vec![
                    i(1, true, true, Some("newer")),
                    i(2, false, true, Some("new")),
                ],
                Upgrade {
                    serial: 1,
                    outdated: 1,
                },
            ),
            (
                "an instance not ready holds everything",
                vec![
                    i(1, true, true, Some("old")),
                    i(2, false, false, Some("new")),
                    i(3, false, true, Some("old")),
                ],
                Wait { outdated: 2 },
            ),
            (
                "an instance that did not answer holds everything",
                vec![i(1, true, true, Some("old")), i(2, false, true, None)],
                Wait { outdated: 1 },
            ),
            (
                "a manager without in-place upgrades is left to the rolling update",
                vec![i(1, true, true, Some("")), i(2, false, true, Some("new"))],
                Done,
            ),
            ("no instance", vec![], Done),
        ];
        for (name, instances, want) in cases {
            assert_eq!(next_step(&instances, "new"), want, "{name}");
        }
    }
}
