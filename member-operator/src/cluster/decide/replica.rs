//! Replica clusters and the distributed topology, from the operator's side. Pure.
//!
//! In a replica cluster the instance that holds the cluster's primary role is the *designated
//! primary*: it runs in recovery, replaying `replica.source`, and the other instances cascade
//! from it. The operator treats it as the cluster's primary (`status.currentPrimary`, the `-rw`
//! Service, failure detection), which [`designated_primary_acts`] does on the managers' reports.
//! When the cluster is switched to primary (`replica.primary` names it, with the former primary's
//! `promotionToken`), that instance stays the primary while it waits to replay exactly to the
//! token and promotes; when a primary cluster is switched to replica, its manager shuts it down
//! cleanly, archives its WAL and publishes a demotion token, which [`replica_status`] copies into
//! `status.demotionToken` for whoever promotes the other side (the federation controller, or a
//! person).

use pgfed_api::cluster::{ReplicaClusterConfiguration, condition, phase};
use pgfed_api::instance::InstanceStatus;
use std::collections::BTreeMap;

/// The cluster's place in a replica topology.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// No `spec.replica`: an ordinary cluster.
    Standalone,
    /// `spec.replica` makes it the primary cluster, and an instance runs as a primary.
    Primary,
    /// `spec.replica` makes it the primary cluster, but no instance runs as a primary yet: its
    /// designated primary waits to promote (at the promotion token when one is given).
    Promoting,
    /// A replica cluster.
    Replica,
}

/// Where the cluster stands, from `spec.replica` and the managers' reports. Pure.
pub fn standing(
    cluster_name: &str,
    replica: Option<&ReplicaClusterConfiguration>,
    reports: &BTreeMap<String, InstanceStatus>,
) -> Standing {
    let Some(replica) = replica else {
        return Standing::Standalone;
    };
    if replica.is_replica(cluster_name) {
        return Standing::Replica;
    }
    if reports.values().any(|s| s.is_primary && s.postgres_running) {
        Standing::Primary
    } else {
        Standing::Promoting
    }
}

/// Marks the target primary's report as the cluster's primary while it runs in recovery as a
/// replica cluster's designated primary or waits to promote: from then on every decision that
/// looks for "the primary" (current primary, `-rw`, failure detection, archiving) finds it. Its
/// WAL position is what it replayed. Nothing changes for a standalone or running primary cluster.
pub fn designated_primary_acts(
    reports: &mut BTreeMap<String, InstanceStatus>,
    standing: Standing,
    target: Option<&str>,
) {
    if !matches!(standing, Standing::Replica | Standing::Promoting) {
        return;
    }
    let Some(report) = target.and_then(|t| reports.get_mut(t)) else {
        return;
    };
    if report.postgres_running && !report.is_primary {
        report.is_primary = true;
        report.current_lsn = report
            .replay_lsn
            .clone()
            .or_else(|| report.received_lsn.clone());
    }
}

/// What the replica topology sets in the Cluster's status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// `status.demotionToken`.
    pub demotion_token: Option<String>,
    /// `status.lastPromotionToken`.
    pub last_promotion_token: Option<String>,
    /// Conditions to set: (type, ok, reason, message). Types not listed are removed.
    pub conditions: Vec<(&'static str, bool, &'static str, String)>,
    /// A phase that overrides the others, with its reason.
    pub phase: Option<(&'static str, String)>,
}

/// The condition types [`replica_status`] owns.
pub const CONDITIONS: [&str; 2] = [
    condition::REPLICA_CLUSTER_SWITCH,
    condition::REPLICA_CLUSTER_DESIGNATED_PRIMARY_TRANSITION,
];

/// The status fields of the topology, from where the cluster stands, `spec.replica`, the target
/// primary and its raw report (`None`: it did not answer) and the stored tokens. A token the
/// target does not report while it does not answer is kept; a primary cluster publishes no
/// demotion token, so a stale one can never be taken for a new one. Pure.
pub fn replica_status(
    standing: Standing,
    replica: Option<&ReplicaClusterConfiguration>,
    target: Option<(&str, Option<&InstanceStatus>)>,
    stored_demotion_token: Option<&str>,
    stored_promotion_token: Option<&str>,
) -> ReplicaStatus {
    let mut out = ReplicaStatus {
        last_promotion_token: stored_promotion_token.map(str::to_string),
        ..ReplicaStatus::default()
    };
    let source = replica.map(|r| r.source.as_str()).unwrap_or_default();
    let name = target.map(|(n, _)| n).unwrap_or("the target primary");
    let report = target.and_then(|(_, r)| r);
    match standing {
        Standing::Standalone => {}
        Standing::Replica => {
            let demoting = report.is_some_and(|r| r.demotion_under_way);
            out.demotion_token = match report {
                Some(r) => r.demotion_token.clone(),
                None => stored_demotion_token.map(str::to_string),
            };
            let (ok, reason, message) = if demoting {
                (
                    false,
                    "Demoting",
                    format!(
                        "{name} shuts down cleanly, archives its WAL and publishes its demotion token"
                    ),
                )
            } else {
                (
                    true,
                    "ReplicaCluster",
                    format!("{name} is the designated primary, replaying {source}"),
                )
            };
            out.conditions.push((
                condition::REPLICA_CLUSTER_DESIGNATED_PRIMARY_TRANSITION,
                !demoting,
                if demoting {
                    "DemotionInProgress"
                } else {
                    "DesignatedPrimaryReplaying"
                },
                if out.demotion_token.is_some() && !demoting {
                    format!("{message}; demotion token published")
                } else {
                    message.clone()
                },
            ));
            out.conditions
                .push((condition::REPLICA_CLUSTER_SWITCH, ok, reason, message));
        }
        Standing::Promoting => {
            let waiting = match replica.and_then(|r| r.promotion_token.as_deref()) {
                Some(_) => {
                    format!("{name} promotes once it has replayed exactly to the promotion token")
                }
                None => format!("{name} promotes"),
            };
            out.conditions.push((
                condition::REPLICA_CLUSTER_SWITCH,
                false,
                "Promoting",
                waiting.clone(),
            ));
            if report.is_some_and(|r| r.postgres_running) {
                out.phase = Some((phase::PROMOTING_TO_PRIMARY_CLUSTER, waiting));
            }
        }
        Standing::Primary => {
            if let Some(token) = replica.and_then(|r| r.promotion_token.as_deref()) {
                out.last_promotion_token = Some(token.to_string());
            }
            out.conditions.push((
                condition::REPLICA_CLUSTER_SWITCH,
                true,
                "PrimaryCluster",
                format!("{name} runs as the primary of the topology"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(primary: bool, running: bool) -> InstanceStatus {
        InstanceStatus {
            is_primary: primary,
            postgres_running: running,
            replay_lsn: (!primary).then(|| "0/5000060".to_string()),
            ..InstanceStatus::default()
        }
    }

    fn topology(primary: &str) -> ReplicaClusterConfiguration {
        ReplicaClusterConfiguration {
            primary: Some(primary.into()),
            source: "b".into(),
            ..ReplicaClusterConfiguration::default()
        }
    }

    fn reports(list: &[(&str, InstanceStatus)]) -> BTreeMap<String, InstanceStatus> {
        list.iter()
            .map(|(n, s)| (n.to_string(), s.clone()))
            .collect()
    }

    #[test]
    fn standings() {
        let primary_up = reports(&[("a-1", report(true, true)), ("a-2", report(false, true))]);
        let in_recovery = reports(&[("a-1", report(false, true)), ("a-2", report(false, true))]);
        let cases = [
            (None, &primary_up, Standing::Standalone),
            (None, &in_recovery, Standing::Standalone),
            (Some(topology("a")), &primary_up, Standing::Primary),
            (Some(topology("a")), &in_recovery, Standing::Promoting),
            (Some(topology("b")), &in_recovery, Standing::Replica),
            // a primary cluster being demoted is a replica from the moment the spec says so
            (Some(topology("b")), &primary_up, Standing::Replica),
            (
                Some(ReplicaClusterConfiguration {
                    enabled: Some(true),
                    source: "b".into(),
                    ..ReplicaClusterConfiguration::default()
                }),
                &in_recovery,
                Standing::Replica,
            ),
        ];
        for (replica, reported, want) in cases {
            assert_eq!(
                standing("a", replica.as_ref(), reported),
                want,
                "{replica:?}"
            );
        }
    }

    #[test]
    fn only_the_target_in_recovery_of_a_replica_or_promoting_cluster_acts_as_primary() {
        let base = reports(&[("a-1", report(false, true)), ("a-2", report(false, true))]);
        let down = reports(&[("a-1", report(false, false)), ("a-2", report(false, true))]);
        let cases = [
            (&base, Standing::Replica, Some("a-1"), Some("a-1")),
            (&base, Standing::Promoting, Some("a-1"), Some("a-1")),
            (&base, Standing::Standalone, Some("a-1"), None),
            (&base, Standing::Primary, Some("a-1"), None),
            (&base, Standing::Replica, None, None),
            // not running: nobody acts, so a failed designated primary is seen failed
            (&down, Standing::Replica, Some("a-1"), None),
        ];
        for (reported, standing, target, want) in cases {
            let mut r = reported.clone();
            designated_primary_acts(&mut r, standing, target);
            let acting: Vec<&String> = r
                .iter()
                .filter(|(_, s)| s.is_primary)
                .map(|(n, _)| n)
                .collect();
            assert_eq!(
                acting.first().map(|n| n.as_str()),
                want,
                "{standing:?} {target:?}"
            );
            if let Some(w) = want {
                assert_eq!(r[w].current_lsn.as_deref(), Some("0/5000060"));
            }
        }
    }

    #[test]
    fn tokens_conditions_and_phase_follow_the_standing() {
        let demoting = InstanceStatus {
            demotion_under_way: true,
            ..report(false, false)
        };
        let demoted = InstanceStatus {
            demotion_token: Some("T2".into()),
            ..report(false, true)
        };
        let replica = topology("b");
        let promoting = ReplicaClusterConfiguration {
            promotion_token: Some("P".into()),
            ..topology("a")
        };
        let switch = |s: &ReplicaStatus| {
            s.conditions
                .iter()
                .find(|c| c.0 == condition::REPLICA_CLUSTER_SWITCH)
                .map(|c| (c.1, c.2))
        };
        // demotion under way: no token yet, switch false
        let s = replica_status(
            Standing::Replica,
            Some(&replica),
            Some(("a-1", Some(&demoting))),
            None,
            None,
        );
        assert_eq!(
            (s.demotion_token.as_deref(), switch(&s)),
            (None, Some((false, "Demoting")))
        );
        // published: copied; a stale stored one is replaced by what the instance says
        let s = replica_status(
            Standing::Replica,
            Some(&replica),
            Some(("a-1", Some(&demoted))),
            Some("T1"),
            None,
        );
        assert_eq!(
            (s.demotion_token.as_deref(), switch(&s)),
            (Some("T2"), Some((true, "ReplicaCluster")))
        );
        // the target does not answer: the stored token stays
        let s = replica_status(
            Standing::Replica,
            Some(&replica),
            Some(("a-1", None)),
            Some("T2"),
            None,
        );
        assert_eq!(s.demotion_token.as_deref(), Some("T2"));
        // promoting: phase while the designated primary runs, no demotion token
        let s = replica_status(
            Standing::Promoting,
            Some(&promoting),
            Some(("a-1", Some(&report(false, true)))),
            Some("T2"),
            None,
        );
        assert_eq!(s.demotion_token, None);
        assert_eq!(
            s.phase.map(|p| p.0),
            Some(phase::PROMOTING_TO_PRIMARY_CLUSTER)
        );
        assert_eq!(
            switch(&replica_status(
                Standing::Promoting,
                Some(&promoting),
                None,
                None,
                None
            )),
            Some((false, "Promoting"))
        );
        // promoted: the token is remembered, the demotion token is gone
        let s = replica_status(
            Standing::Primary,
            Some(&promoting),
            Some(("a-1", Some(&report(true, true)))),
            Some("T2"),
            Some("OLD"),
        );
        assert_eq!(
            (
                s.demotion_token.as_deref(),
                s.last_promotion_token.as_deref(),
                s.phase.as_ref()
            ),
            (None, Some("P"), None)
        );
        assert_eq!(switch(&s), Some((true, "PrimaryCluster")));
        // standalone: nothing, the stored promotion token kept
        let s = replica_status(Standing::Standalone, None, None, Some("T"), Some("P"));
        assert_eq!(
            s,
            ReplicaStatus {
                last_promotion_token: Some("P".into()),
                ..ReplicaStatus::default()
            }
        );
    }
}
