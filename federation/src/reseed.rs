//! A replica member that went past the primary's history. A local failover in the primary region
//! can promote a standby that had received less WAL than a replica region already replayed from
//! the object store (CloudNativePG's issue 8701). The replica region's designated primary then
//! finds that the new timeline forked off behind its own position; its manager reports it and its
//! member operator re-seeds it from the primary's newest base backup on the new history, keeping
//! the old claims aside (`pgfed.io/reseedDiverged`).
//!
//! pg_rewind would need a live source server, and regions have no network path to each other, so
//! the repair is always a re-seed. What the federation adds: a base backup to seed from when the
//! primary has none on its new history, and the story in the member's status.
//!
//! Pure.

use crate::status::Observed;
use crate::switchover::Standing;
use pgfed_api::cluster::ClusterStatus;
use pgfed_operator::cluster::decide::reseed::{CONDITION, RESEEDED, WAITING};

/// The member condition telling whether a replica member went past the primary's history.
pub const DIVERGED: &str = "Diverged";

/// What a replica member's Cluster says of a divergence from its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Divergence {
    /// Diverged, waiting for a base backup on the source's history to be re-seeded from.
    WaitingForBaseBackup(String),
    /// Diverged and re-seeded (the message names the claims kept).
    Reseeded(String),
}

/// What the member's Cluster status says. Pure.
pub fn divergence(status: &ClusterStatus) -> Option<Divergence> {
    let c = status.conditions.iter().find(|c| c.type_ == CONDITION)?;
    match (c.status.as_str(), c.reason.as_str()) {
        ("False", WAITING) => Some(Divergence::WaitingForBaseBackup(c.message.clone())),
        ("True", RESEEDED) => Some(Divergence::Reseeded(c.message.clone())),
        _ => None,
    }
}

/// A base backup to ask the primary member for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReseedBackup {
    /// The Backup's name.
    pub name: String,
    /// The replica members waiting for it.
    pub waiting: Vec<String>,
}

/// The base backup to ask the primary member for: a replica member waits for one to be re-seeded
/// from. Named after the primary's timeline, so one is asked for per new history, and a restarted
/// controller asks for the same one. `None`: nobody waits, or the primary is not known to run.
/// Pure.
pub fn backup_to_ask(members: &[Observed], holder: &str) -> Option<ReseedBackup> {
    let primary = members
        .iter()
        .find(|m| m.view.name == holder && m.view.standing == Standing::Primary)?;
    let timeline = primary.view.timeline?;
    let waiting: Vec<String> = members
        .iter()
        .filter(|m| m.view.name != holder && m.view.standing == Standing::Replica)
        .filter(|m| {
            m.cluster
                .as_ref()
                .and_then(divergence)
                .is_some_and(|d| matches!(d, Divergence::WaitingForBaseBackup(_)))
        })
        .map(|m| m.view.name.clone())
        .collect();
    if waiting.is_empty() {
        return None;
    }
    Some(ReseedBackup {
        name: format!("{}-reseed-tl{timeline}", primary.place.name),
        waiting,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::switchover::MemberView;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn condition(status: &str, reason: &str) -> Condition {
        Condition {
            type_: CONDITION.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message: format!("{reason} message"),
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
            observed_generation: None,
        }
    }

    fn member(
        name: &str,
        standing: Standing,
        timeline: Option<i32>,
        cond: Option<Condition>,
    ) -> Observed {
        let mut o = Observed {
            view: MemberView {
                name: name.to_string(),
                standing,
                timeline,
                ..MemberView::default()
            },
            cluster: Some(ClusterStatus {
                conditions: cond.into_iter().collect(),
                ..ClusterStatus::default()
            }),
            ..Observed::default()
        };
        o.place.name = format!("shop-{name}");
        o
    }

    #[test]
    fn the_member_condition_is_read() {
        let status = |c: Option<Condition>| ClusterStatus {
            conditions: c.into_iter().collect(),
            ..ClusterStatus::default()
        };
        assert_eq!(divergence(&status(None)), None);
        assert_eq!(
            divergence(&status(Some(condition("False", WAITING)))),
            Some(Divergence::WaitingForBaseBackup(format!(
                "{WAITING} message"
            )))
        );
        assert_eq!(
            divergence(&status(Some(condition("True", RESEEDED)))),
            Some(Divergence::Reseeded(format!("{RESEEDED} message")))
        );
        assert_eq!(
            divergence(&status(Some(condition("Unknown", "Other")))),
            None
        );
    }

    #[test]
    fn a_backup_is_asked_of_the_running_primary_for_each_waiting_replica() {
        let waiting = || Some(condition("False", WAITING));
        let cases: Vec<(&str, Vec<Observed>, Option<ReseedBackup>)> = vec![
            (
                "nobody diverged",
                vec![
                    member("a", Standing::Primary, Some(2), None),
                    member("b", Standing::Replica, Some(1), None),
                ],
                None,
            ),
            (
                "b waits: one backup named after a's timeline",
                vec![
                    member("a", Standing::Primary, Some(2), None),
                    member("b", Standing::Replica, Some(1), waiting()),
                    member("c", Standing::Replica, Some(1), waiting()),
                ],
                Some(ReseedBackup {
                    name: "shop-a-reseed-tl2".to_string(),
                    waiting: vec!["b".to_string(), "c".to_string()],
                }),
            ),
            (
                "b was re-seeded already",
                vec![
                    member("a", Standing::Primary, Some(2), None),
                    member(
                        "b",
                        Standing::Replica,
                        Some(2),
                        Some(condition("True", RESEEDED)),
                    ),
                ],
                None,
            ),
            (
                "the holder does not run as a primary (a switchover): nothing to back up",
                vec![
                    member("a", Standing::Demoting, Some(2), None),
                    member("b", Standing::Replica, Some(1), waiting()),
                ],
                None,
            ),
            (
                "the holder's timeline is not known",
                vec![
                    member("a", Standing::Primary, None, None),
                    member("b", Standing::Replica, Some(1), waiting()),
                ],
                None,
            ),
        ];
        for (what, members, want) in cases {
            assert_eq!(backup_to_ask(&members, "a"), want, "{what}");
        }
    }
}
