//! A replica cluster's designated primary that diverged from its source (its manager reports
//! `divergedFromSource`: a former primary region that wrote WAL the failover never saw) is
//! replaced, never repaired in place: its claims are kept with their data — the commits the
//! failover lost — but taken out of the instance set (label [`LABEL_DIVERGED_AT`], no owner
//! reference, so neither a scale-down nor the Cluster's deletion removes them), its pod is
//! deleted, and the next serial becomes the target primary, which bootstraps from the source's
//! newest base backup as a replica cluster's first instance does. Without a base backup on the
//! source's history there is nothing to seed from: the cluster waits, and says so.
//!
//! Pure; `cluster::reseed` carries the replacement out.

use pgfed_api::instance::SourceDivergence;
use pgfed_api::names::instance_name;

/// Label on the claims of a replaced diverged instance: when it was replaced (`YYYYMMDDTHHMMSSZ`,
/// a label value). The operator never treats a labelled claim as an instance again, and never
/// deletes it: `kubectl delete pvc -l pgfed.io/diverged-at=<value>` does, once its data is
/// no longer wanted.
pub const LABEL_DIVERGED_AT: &str = "pgfed.io/diverged-at";
/// Annotation on those claims: which instance they held and where its history split.
pub const ANNOTATION_DIVERGED: &str = "pgfed.io/diverged";
/// The Cluster condition telling the story: `False`/`WaitingForBaseBackup` while a diverged
/// designated primary waits for a base backup to be seeded from, `True`/`ReseededDiverged` once
/// the last one was replaced (with the kept claims in its message).
pub const CONDITION: &str = "pgfed.io/reseedDiverged";
/// Reason of [`CONDITION`] while waiting for a base backup.
pub const WAITING: &str = "WaitingForBaseBackup";
/// Reason of [`CONDITION`] after a replacement, and of its Warning Event.
pub const RESEEDED: &str = "ReseededDiverged";

/// What the decision looks at.
#[derive(Clone, Debug)]
pub struct ReseedInput<'a> {
    /// The Cluster's name.
    pub cluster: &'a str,
    /// `spec.replica` makes it a replica cluster.
    pub replica_cluster: bool,
    /// `status.targetPrimary`: the designated primary.
    pub target: Option<&'a str>,
    /// What the designated primary's manager reports (`None`: it does not, or did not answer).
    pub divergence: Option<&'a SourceDivergence>,
    /// The designated primary's claims: name, and the value of [`LABEL_DIVERGED_AT`] when it
    /// carries it already (a replacement interrupted before the status was written).
    pub claims: &'a [(String, Option<String>)],
    /// The highest serial generated or observed: the replacement takes the next one.
    pub latest_serial: u32,
    /// The label value for now ([`label_value`]).
    pub now_label: &'a str,
}

/// The replacement of a diverged designated primary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replacement {
    /// The diverged instance.
    pub diverged: String,
    /// The new designated primary.
    pub replacement: String,
    /// Its claims, kept.
    pub kept_claims: Vec<String>,
    /// The value of [`LABEL_DIVERGED_AT`] on them.
    pub diverged_at: String,
    /// What happened, for the Event, the condition and the claims' annotation.
    pub message: String,
}

/// What to do about a diverged designated primary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReseedStep {
    /// Nothing diverged.
    Nothing,
    /// It diverged, but the source has no base backup to seed from: wait (the message says why).
    WaitForBaseBackup(String),
    /// Replace it.
    Replace(Replacement),
}

/// A time as a label value (`20260212T101500Z`). Pure.
pub fn label_value(now: chrono::DateTime<chrono::Utc>) -> String {
    now.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Where the histories split, in words. Pure.
fn split(d: &SourceDivergence) -> String {
    let fork = d.fork_lsn.as_deref().map_or_else(
        || format!("the source's timeline {} never had it", d.source_timeline),
        |lsn| {
            format!(
                "the source's timeline {} forked off timeline {} at {lsn}",
                d.source_timeline, d.fork_timeline
            )
        },
    );
    format!(
        "its history reached {} on timeline {}; {fork}",
        d.local_lsn, d.local_timeline
    )
}

/// Decides. Pure.
pub fn decide(input: &ReseedInput<'_>) -> ReseedStep {
    let Some(target) = input.target.filter(|_| input.replica_cluster) else {
        return ReseedStep::Nothing;
    };
    let labelled = input.claims.iter().find_map(|(_, at)| at.clone());
    let resumed = labelled.is_some();
    let seed = input.divergence.and_then(|d| d.seed_backup.as_deref());
    let (why, seed) = match (input.divergence, seed, resumed) {
        (None, _, false) => return ReseedStep::Nothing,
        (Some(d), None, false) => {
            return ReseedStep::WaitForBaseBackup(format!(
                "instance {target} diverged from the source {}: {}; it stays stopped and is \
                 replaced once the source has a base backup on its current history to seed a new \
                 instance from (take one there)",
                d.source,
                split(d)
            ));
        }
        (Some(d), _, _) => (
            format!("diverged from the source {}: {}", d.source, split(d)),
            seed.map_or_else(String::new, |s| {
                format!(", from the source's base backup {s}")
            }),
        ),
        (None, _, true) => (
            "diverged from its source (its claims were already set aside)".to_string(),
            String::new(),
        ),
    };
    let replacement = instance_name(input.cluster, input.latest_serial.saturating_add(1));
    let kept_claims: Vec<String> = input.claims.iter().map(|(n, _)| n.clone()).collect();
    // Resumed: keep the value the claims were labelled with.
    let diverged_at = labelled.unwrap_or_else(|| input.now_label.to_string());
    let message = format!(
        "instance {target} {why}. It is replaced by {replacement}, seeded anew{seed}. Its \
         claims {} keep its data (the transactions the failover lost) out of the cluster, \
         labelled {LABEL_DIVERGED_AT}={diverged_at}; nothing deletes them: `kubectl delete pvc \
         -l {LABEL_DIVERGED_AT}={diverged_at}` once their data is no longer wanted",
        kept_claims.join(", ")
    );
    ReseedStep::Replace(Replacement {
        diverged: target.to_string(),
        replacement,
        kept_claims,
        diverged_at,
        message,
    })
}

/// What to do with [`CONDITION`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConditionChange {
    /// Leave it as it is (the story of the last replacement stays told).
    Keep,
    /// Set it: status, reason, message.
    Set(bool, &'static str, String),
    /// Remove it: the wait it told of is over without a replacement (the configuration changed).
    Remove,
}

/// The condition and the Warning Event (reason, message) of `step`, given the reason the
/// condition has now: a wait is published once, when it starts. Pure.
pub fn report(
    step: &ReseedStep,
    current_reason: Option<&str>,
) -> (ConditionChange, Option<(&'static str, String)>) {
    match step {
        ReseedStep::Nothing if current_reason == Some(WAITING) => (ConditionChange::Remove, None),
        ReseedStep::Nothing => (ConditionChange::Keep, None),
        ReseedStep::WaitForBaseBackup(message) => {
            let event = (current_reason != Some(WAITING)).then(|| (WAITING, message.clone()));
            (ConditionChange::Set(false, WAITING, message.clone()), event)
        }
        ReseedStep::Replace(r) => (
            ConditionChange::Set(true, RESEEDED, r.message.clone()),
            Some((RESEEDED, r.message.clone())),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn divergence(seed: Option<&str>) -> SourceDivergence {
        SourceDivergence {
            source: "region-b".into(),
            local_timeline: 1,
            local_lsn: "0/6000028".into(),
            source_timeline: 2,
            fork_timeline: 1,
            fork_lsn: Some("0/5000100".into()),
            seed_backup: seed.map(str::to_string),
            detail: "past the fork".into(),
            time: "2026-02-12T10:15:00Z".into(),
        }
    }

    fn claims(marked: bool) -> Vec<(String, Option<String>)> {
        let at = marked.then(|| "20260101T000000Z".to_string());
        vec![("pg-1".into(), at.clone()), ("pg-1-wal".into(), at)]
    }

    fn input<'a>(
        replica: bool,
        target: Option<&'a str>,
        divergence: Option<&'a SourceDivergence>,
        claims: &'a [(String, Option<String>)],
    ) -> ReseedInput<'a> {
        ReseedInput {
            cluster: "pg",
            replica_cluster: replica,
            target,
            divergence,
            claims,
            latest_serial: 3,
            now_label: "20260212T101500Z",
        }
    }

    #[test]
    fn decisions() {
        let seeded = divergence(Some("20260212T100000"));
        let unseeded = divergence(None);
        let (fresh, marked) = (claims(false), claims(true));
        let kind = |s: &ReseedStep| match s {
            ReseedStep::Nothing => "nothing",
            ReseedStep::WaitForBaseBackup(_) => "wait",
            ReseedStep::Replace(_) => "replace",
        };
        let cases = [
            (
                "no divergence reported",
                input(true, Some("pg-1"), None, &fresh),
                "nothing",
            ),
            (
                "diverged, with a seed",
                input(true, Some("pg-1"), Some(&seeded), &fresh),
                "replace",
            ),
            (
                "diverged, no seed",
                input(true, Some("pg-1"), Some(&unseeded), &fresh),
                "wait",
            ),
            (
                "claims set aside by an interrupted replacement, the manager silent",
                input(true, Some("pg-1"), None, &marked),
                "replace",
            ),
            (
                "an interrupted replacement goes on even if the seed vanished meanwhile",
                input(true, Some("pg-1"), Some(&unseeded), &marked),
                "replace",
            ),
            (
                "a primary cluster is never re-seeded",
                input(false, Some("pg-1"), Some(&seeded), &fresh),
                "nothing",
            ),
            (
                "no designated primary",
                input(true, None, Some(&seeded), &fresh),
                "nothing",
            ),
        ];
        for (what, i, want) in cases {
            assert_eq!(kind(&decide(&i)), want, "{what}");
        }
    }

    #[test]
    fn the_replacement_takes_the_next_serial_keeps_the_claims_and_says_where_histories_split() {
        let d = divergence(Some("20260212T100000"));
        let claims = claims(false);
        let ReseedStep::Replace(r) = decide(&input(true, Some("pg-1"), Some(&d), &claims)) else {
            panic!("not replaced");
        };
        assert_eq!(r.diverged, "pg-1");
        assert_eq!(r.replacement, "pg-4");
        assert_eq!(
            r.kept_claims,
            vec!["pg-1".to_string(), "pg-1-wal".to_string()]
        );
        assert_eq!(r.diverged_at, "20260212T101500Z");
        // Resumed: the claims keep the time they were set aside at.
        let marked = super::tests::claims(true);
        let ReseedStep::Replace(again) = decide(&input(true, Some("pg-1"), None, &marked)) else {
            panic!("not resumed");
        };
        assert_eq!(again.diverged_at, "20260101T000000Z");
        for part in [
            "pg-1-wal",
            "0/6000028",
            "0/5000100",
            "timeline 1",
            "timeline 2",
            "20260212T100000",
            "kubectl delete pvc -l pgfed.io/diverged-at=20260212T101500Z",
        ] {
            assert!(r.message.contains(part), "{part} not in {}", r.message);
        }
    }

    #[test]
    fn a_wait_is_published_once_and_cleared_when_over() {
        let wait = ReseedStep::WaitForBaseBackup("no backup".into());
        let (change, event) = report(&wait, None);
        assert_eq!(
            change,
            ConditionChange::Set(false, WAITING, "no backup".into())
        );
        assert_eq!(event.map(|e| e.0), Some(WAITING));
        let (_, again) = report(&wait, Some(WAITING));
        assert_eq!(again, None);
        assert_eq!(
            report(&ReseedStep::Nothing, Some(WAITING)).0,
            ConditionChange::Remove
        );
        // The story of the last replacement stays.
        assert_eq!(
            report(&ReseedStep::Nothing, Some(RESEEDED)).0,
            ConditionChange::Keep
        );
        let d = divergence(Some("b"));
        let claims = claims(false);
        let replace = decide(&input(true, Some("pg-1"), Some(&d), &claims));
        let (change, event) = report(&replace, Some(WAITING));
        assert!(matches!(change, ConditionChange::Set(true, RESEEDED, _)));
        assert_eq!(event.map(|e| e.0), Some(RESEEDED));
    }

    #[test]
    fn label_values_are_valid_label_values() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-02-12T10:15:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        assert_eq!(label_value(t), "20260212T101500Z");
    }
}
