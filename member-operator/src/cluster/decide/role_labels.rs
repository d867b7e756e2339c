//! Which pod carries the primary role label, the one `-rw` selects on.
//!
//! The label goes to the target primary the managers were told about, as soon as no other
//! answering instance still runs as a primary. It does not wait for the target to report that it
//! promoted: a failover's promotion and the Service's move to the new pod (an EndpointSlice
//! update, then every node's kube-proxy) then overlap instead of following each other, which
//! takes one operator turn and one propagation off the outage. A client that reaches the target
//! in the moment before it promotes is refused as by a read-only standby — it cannot write there,
//! so nothing it was told is committed can be lost.
//!
//! `-rw` still never selects two writable instances: while the target has not promoted, an
//! instance other than it that answers as a running primary (a primary stepping down in a
//! switchover) keeps the label off every pod until it has stopped; once the target runs as the
//! primary, it keeps the label whatever a stale former primary says. Labels are taken off before
//! one is put on.

use pgfed_api::instance::InstanceStatus;
use std::collections::BTreeMap;

/// The instance whose pod should carry the primary label, if any. Pure.
///
/// `target` is the target primary pushed to the managers this turn; `reported` is what the
/// managers that answered this turn said.
pub fn labelled_primary(
    target: Option<&str>,
    reported: &BTreeMap<String, InstanceStatus>,
) -> Option<String> {
    let target = target?;
    let runs_as_primary = |s: &InstanceStatus| s.is_primary && s.postgres_running;
    let promoted = reported.get(target).is_some_and(runs_as_primary);
    let another_primary = reported
        .iter()
        .any(|(name, s)| name != target && runs_as_primary(s));
    (promoted || !another_primary).then(|| target.to_string())
}

/// A change of one pod's role label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelChange {
    /// The pod.
    pub pod: String,
    /// Whether it becomes the primary (else a replica).
    pub primary: bool,
}

/// The label changes for pods whose current role label is `current` (by pod name, `Some(true)`
/// for primary, `None` for no label yet), so that only `primary` carries the primary label.
/// Demotions come first: `-rw` may select nobody for a moment, never two pods. Pure.
pub fn changes(
    current: &BTreeMap<String, Option<bool>>,
    primary: Option<&str>,
) -> Vec<LabelChange> {
    let want = |pod: &str| Some(pod) == primary;
    let (mut demote, mut promote): (Vec<LabelChange>, Vec<LabelChange>) = current
        .iter()
        .filter(|(pod, labelled)| **labelled != Some(want(pod)))
        .map(|(pod, _)| LabelChange {
            pod: pod.clone(),
            primary: want(pod),
        })
        .partition(|c| !c.primary);
    demote.append(&mut promote);
    demote
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(name: &str, primary: bool, running: bool) -> (String, InstanceStatus) {
        (
            name.to_string(),
            InstanceStatus {
                instance_name: name.to_string(),
                is_primary: primary,
                postgres_running: running,
                ..InstanceStatus::default()
            },
        )
    }

    /// What, the target, what the managers reported, who gets the label.
    type Case = (
        &'static str,
        Option<&'static str>,
        Vec<(String, InstanceStatus)>,
        Option<&'static str>,
    );

    #[test]
    fn who_carries_the_primary_label() {
        let cases: Vec<Case> = vec![
            (
                "no target yet",
                None,
                vec![status("pg-1", true, true)],
                None,
            ),
            (
                "steady: the target is the running primary",
                Some("pg-1"),
                vec![status("pg-1", true, true), status("pg-2", false, true)],
                Some("pg-1"),
            ),
            (
                "failover: the old primary does not answer, the target has not promoted yet",
                Some("pg-2"),
                vec![status("pg-2", false, true), status("pg-3", false, true)],
                Some("pg-2"),
            ),
            (
                "switchover: the old primary still runs as primary",
                Some("pg-2"),
                vec![status("pg-1", true, true), status("pg-2", false, true)],
                None,
            ),
            (
                "switchover: the old primary has shut down",
                Some("pg-2"),
                vec![status("pg-1", true, false), status("pg-2", false, true)],
                Some("pg-2"),
            ),
            (
                "a former primary back from isolation still runs as primary; the target promoted",
                Some("pg-2"),
                vec![status("pg-1", true, true), status("pg-2", true, true)],
                Some("pg-2"),
            ),
            (
                "the target itself does not answer this turn",
                Some("pg-1"),
                vec![status("pg-2", false, true)],
                Some("pg-1"),
            ),
            ("nobody answers", Some("pg-1"), vec![], Some("pg-1")),
        ];
        for (what, target, reported, want) in cases {
            let reported: BTreeMap<_, _> = reported.into_iter().collect();
            assert_eq!(
                labelled_primary(target, &reported).as_deref(),
                want,
                "{what}"
            );
        }
    }

    #[test]
    fn demotions_come_before_the_promotion_and_unchanged_pods_are_left_alone() {
        let current = BTreeMap::from([
            ("pg-1".to_string(), Some(true)),
            ("pg-2".to_string(), Some(false)),
            ("pg-3".to_string(), None),
        ]);
        // pg-1 → replica first, then pg-2 → primary; pg-3 gets its first (replica) label.
        assert_eq!(
            changes(&current, Some("pg-2")),
            vec![
                LabelChange {
                    pod: "pg-1".into(),
                    primary: false
                },
                LabelChange {
                    pod: "pg-3".into(),
                    primary: false
                },
                LabelChange {
                    pod: "pg-2".into(),
                    primary: true
                },
            ]
        );
        // nobody primary: only the demotion.
        assert_eq!(
            changes(&current, None),
            vec![
                LabelChange {
                    pod: "pg-1".into(),
                    primary: false
                },
                LabelChange {
                    pod: "pg-3".into(),
                    primary: false
                },
            ]
        );
        // already right: nothing.
        let settled = BTreeMap::from([
            ("pg-1".to_string(), Some(true)),
            ("pg-2".to_string(), Some(false)),
        ]);
        assert!(changes(&settled, Some("pg-1")).is_empty());
    }
}
