//! Which rejoin reports of the instance managers become Warning Events: a former primary that
//! was re-cloned (`Recloned`) or whose pg_rewind was refused (`RewindFailed`), once per
//! occurrence. An occurrence is the report's time; the last one published per instance is kept
//! in the Cluster's status (`rejoinsReported`), so neither a new reconcile nor a new operator
//! leader publishes it again. A successful rewind is an ordinary event of a failover: no Warning.

use pgfed_api::instance::{InstanceStatus, RejoinKind};
use std::collections::{BTreeMap, BTreeSet};

/// The Events to publish and what the status keeps afterwards.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RejoinEvents {
    /// Warning Events: reason, message.
    pub warnings: Vec<(&'static str, String)>,
    /// The new `rejoinsReported`: the published report time per instance.
    pub published: BTreeMap<String, String>,
}

/// Compares what the managers report with what was published before. `instances` are the
/// instances that still exist (pods, or reporting managers): entries of the others are dropped,
/// entries of instances that did not answer this time are kept. Pure.
pub fn rejoin_events(
    previously: &BTreeMap<String, String>,
    reported: &BTreeMap<String, InstanceStatus>,
    instances: &BTreeSet<String>,
) -> RejoinEvents {
    let mut published: BTreeMap<String, String> = previously
        .iter()
        .filter(|(name, _)| instances.contains(*name))
        .map(|(n, t)| (n.clone(), t.clone()))
        .collect();
    let mut warnings = Vec::new();
    for (name, status) in reported {
        let Some(report) = &status.rejoin else {
            continue;
        };
        let warning = match report.kind {
            RejoinKind::Rewound => continue,
            RejoinKind::Recloned => (
                "Recloned",
                format!(
                    "instance {name} could not be rewound and was re-cloned from the primary \
                     (what it wrote after the failover is gone): {} (at {})",
                    report.reason, report.time
                ),
            ),
            RejoinKind::RewindRefused => (
                "RewindFailed",
                format!(
                    "instance {name} cannot rejoin the cluster and stays down; it is not \
                     re-cloned: {} (at {})",
                    report.reason, report.time
                ),
            ),
        };
        if published.get(name) == Some(&report.time) {
            continue;
        }
        warnings.push(warning);
        published.insert(name.clone(), report.time.clone());
    }
    RejoinEvents {
        warnings,
        published,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgfed_api::instance::RejoinReport;

    fn reporting(kind: RejoinKind, time: &str) -> InstanceStatus {
        InstanceStatus {
            rejoin: Some(RejoinReport {
                kind,
                reason: "could not find common ancestor".into(),
                time: time.into(),
            }),
            ..InstanceStatus::default()
        }
    }

    #[test]
    fn each_reclone_or_refusal_is_published_once() {
        let names = |v: &[&str]| -> BTreeSet<String> { v.iter().map(|s| s.to_string()).collect() };
        let map = |v: &[(&str, &str)]| -> BTreeMap<String, String> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let reports = |v: Vec<(&str, InstanceStatus)>| -> BTreeMap<String, InstanceStatus> {
            v.into_iter().map(|(n, s)| (n.to_string(), s)).collect()
        };
        use RejoinKind::*;
        let cases = [
            // Nothing reported, nothing published.
            (
                map(&[]),
                reports(vec![("pg-1", InstanceStatus::default())]),
                names(&["pg-1"]),
                vec![],
                map(&[]),
            ),
            // A first re-clone.
            (
                map(&[]),
                reports(vec![("pg-1", reporting(Recloned, "t1"))]),
                names(&["pg-1"]),
                vec!["Recloned"],
                map(&[("pg-1", "t1")]),
            ),
            // The same one at the next reconcile: not again.
            (
                map(&[("pg-1", "t1")]),
                reports(vec![("pg-1", reporting(Recloned, "t1"))]),
                names(&["pg-1"]),
                vec![],
                map(&[("pg-1", "t1")]),
            ),
            // A later occurrence.
            (
                map(&[("pg-1", "t1")]),
                reports(vec![("pg-1", reporting(RewindRefused, "t2"))]),
                names(&["pg-1"]),
                vec!["RewindFailed"],
                map(&[("pg-1", "t2")]),
            ),
            // A rewind is no Warning, and does not forget what was published.
            (
                map(&[("pg-1", "t1")]),
                reports(vec![("pg-1", reporting(Rewound, "t3"))]),
                names(&["pg-1"]),
                vec![],
                map(&[("pg-1", "t1")]),
            ),
            // An instance that did not answer keeps its entry; a removed one loses it.
            (
                map(&[("pg-1", "t1"), ("pg-9", "t0")]),
                reports(vec![("pg-2", reporting(Recloned, "t5"))]),
                names(&["pg-1", "pg-2"]),
                vec!["Recloned"],
                map(&[("pg-1", "t1"), ("pg-2", "t5")]),
            ),
        ];
        for (previously, reported, instances, want_reasons, want_published) in cases {
            let got = rejoin_events(&previously, &reported, &instances);
            let reasons: Vec<&str> = got.warnings.iter().map(|(r, _)| *r).collect();
            assert_eq!(reasons, want_reasons, "{previously:?} {reported:?}");
            assert_eq!(got.published, want_published, "{previously:?} {reported:?}");
        }
    }

    #[test]
    fn the_message_names_the_instance_and_the_reason() {
        let got = rejoin_events(
            &BTreeMap::new(),
            &BTreeMap::from([("pg-3".to_string(), reporting(RejoinKind::Recloned, "t1"))]),
            &BTreeSet::from(["pg-3".to_string()]),
        );
        let (_, note) = &got.warnings[0];
        assert!(note.contains("pg-3"), "{note}");
        assert!(note.contains("could not find common ancestor"), "{note}");
    }
}
