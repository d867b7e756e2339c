//! What the Cluster status says about backups and WAL archiving, decided from the primary's
//! report and the Cluster's Backups: the `ContinuousArchiving` condition (archiving failed after
//! its last success, or `.ready` files pile up while nothing is archived), the Event when it
//! starts failing or recovers, and `firstRecoverabilityPoint` (the end of the oldest completed
//! Backup: the earliest moment a restore can reach). Pure.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use pgfed_api::backup::{Backup, backup_phase};
use pgfed_api::cluster::condition;
use pgfed_api::instance::InstanceStatus;

/// `.ready` files waiting while nothing was archived for [`STALLED_AFTER`]: archiving is stuck
/// even though no attempt was reported failed (an archive command that hangs).
pub const STALLED_BACKLOG: usize = 2;
/// How long nothing archived, with a backlog, counts as stuck.
pub const STALLED_AFTER: chrono::Duration = chrono::Duration::minutes(2);

/// What the `ContinuousArchiving` condition should say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Archiving {
    /// No object store: the condition is removed.
    NotConfigured,
    /// Nothing to judge by yet (no primary report, nothing archived nor failed): left as it is.
    Unknown,
    /// Archiving works.
    Working,
    /// Archiving fails; why.
    Failing(String),
}

fn time(t: Option<&str>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Judges archiving from the primary's report (`configured`: the Cluster has an object store).
pub fn judge(configured: bool, primary: Option<&InstanceStatus>, now: DateTime<Utc>) -> Archiving {
    if !configured {
        return Archiving::NotConfigured;
    }
    let Some(primary) = primary.filter(|p| p.is_primary && p.postgres_running) else {
        return Archiving::Unknown;
    };
    let a = &primary.archiver;
    let (archived_at, failed_at) = (
        time(a.last_archived_time.as_deref()),
        time(a.last_failed_time.as_deref()),
    );
    let last_success = match (&a.last_archived_wal, archived_at) {
        (Some(wal), Some(at)) => format!("last archived {wal} at {}", at.to_rfc3339()),
        _ => "nothing archived yet".to_string(),
    };
    let ready = primary.ready_wal_files;
    let failed_since_success = match (failed_at, archived_at) {
        (Some(f), Some(s)) => f > s,
        (Some(_), None) => true,
        // A manager that reports no times: failures with nothing ever archived.
        (None, None) => a.failed_count > 0 && a.archived_count == 0,
        (None, Some(_)) => false,
    };
    if failed_since_success {
        let wal = a.last_failed_wal.as_deref().unwrap_or("a WAL file");
        let when = failed_at
            .map(|t| format!(" at {}", t.to_rfc3339()))
            .unwrap_or_default();
        return Archiving::Failing(format!(
            "archiving {wal} failed{when}; {last_success}; {ready} WAL file(s) wait in pg_wal"
        ));
    }
    if ready >= STALLED_BACKLOG && archived_at.is_none_or(|s| now - s > STALLED_AFTER) {
        return Archiving::Failing(format!(
            "{ready} WAL files wait in pg_wal and nothing was archived for over {} minutes \
             ({last_success})",
            STALLED_AFTER.num_minutes()
        ));
    }
    if a.archived_count > 0 || archived_at.is_some() {
        Archiving::Working
    } else {
        Archiving::Unknown
    }
}

/// The condition for `verdict`, None when it is to be left or removed (see [`Archiving`]).
pub fn archiving_condition(
    verdict: &Archiving,
    generation: Option<i64>,
    now: DateTime<Utc>,
) -> Option<Condition> {
    let (ok, reason, message) = match verdict {
        Archiving::Working => (
            true,
            "ContinuousArchivingSuccess",
            "Continuous archiving is working".to_string(),
        ),
        Archiving::Failing(why) => (false, "ContinuousArchivingFailing", why.clone()),
        Archiving::NotConfigured | Archiving::Unknown => return None,
    };
    Some(crate::cluster::status::condition(
        condition::CONTINUOUS_ARCHIVING,
        ok,
        reason,
        message,
        generation,
        now,
    ))
}

/// The Event when `ContinuousArchiving` changes status between `old` and `new` conditions:
/// (warning, reason, note). None when it did not change (or appears for the first time as true).
pub fn archiving_event(
    old: &[Condition],
    new: &[Condition],
) -> Option<(bool, &'static str, String)> {
    let find = |c: &[Condition]| {
        c.iter()
            .find(|c| c.type_ == condition::CONTINUOUS_ARCHIVING)
            .cloned()
    };
    let (before, after) = (find(old), find(new)?);
    let was_failing = before.as_ref().is_some_and(|b| b.status == "False");
    match (was_failing, after.status == "False") {
        (false, true) => Some((
            true,
            "ContinuousArchivingFailing",
            format!("WAL archiving fails: {}", after.message),
        )),
        (true, false) => Some((
            false,
            "ContinuousArchivingRecovered",
            "WAL archiving works again".to_string(),
        )),
        _ => None,
    }
}

/// The end of the oldest completed Backup of Cluster `cluster` among `backups`: the earliest
/// point a restore from the object store can reach. None when no completed Backup is known.
pub fn first_recoverability_point(backups: &[Backup], cluster: &str) -> Option<String> {
    backups
        .iter()
        .filter(|b| b.spec.cluster.name == cluster)
        .filter_map(|b| b.status.as_ref())
        .filter(|s| s.phase.as_deref() == Some(backup_phase::COMPLETED))
        .filter_map(|s| s.stopped_at.clone())
        .filter_map(|t| time(Some(&t)).map(|parsed| (parsed, t)))
        .min_by_key(|(parsed, _)| *parsed)
        .map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgfed_api::backup::{BackupSpec, BackupStatus};
    use pgfed_api::instance::ArchiverState;

    fn at(s: &str) -> DateTime<Utc> {
        time(Some(s)).unwrap_or_default()
    }

    fn primary(archiver: ArchiverState, ready: usize) -> InstanceStatus {
        InstanceStatus {
            is_primary: true,
            postgres_running: true,
            archiver,
            ready_wal_files: ready,
            ..InstanceStatus::default()
        }
    }

    fn archiver(archived: Option<&str>, failed: Option<&str>) -> ArchiverState {
        ArchiverState {
            archived_count: i64::from(archived.is_some()),
            last_archived_wal: archived.map(|_| "000000010000000000000003".into()),
            failed_count: i64::from(failed.is_some()),
            last_failed_wal: failed.map(|_| "000000010000000000000004".into()),
            last_archived_time: archived.map(str::to_string),
            last_failed_time: failed.map(str::to_string),
        }
    }

    #[test]
    fn archiving_is_judged_from_the_primarys_archiver() {
        let now = at("2026-12-01T10:10:00Z");
        let standby = InstanceStatus {
            postgres_running: true,
            ..InstanceStatus::default()
        };
        let failing = |m: &str| Archiving::Failing(m.to_string());
        let cases = [
            (
                "no object store",
                false,
                Some(primary(archiver(None, None), 0)),
                Archiving::NotConfigured,
            ),
            ("no primary report", true, None, Archiving::Unknown),
            ("only a standby", true, Some(standby), Archiving::Unknown),
            (
                "nothing yet",
                true,
                Some(primary(archiver(None, None), 0)),
                Archiving::Unknown,
            ),
            (
                "working",
                true,
                Some(primary(archiver(Some("2026-12-01T10:09:00Z"), None), 0)),
                Archiving::Working,
            ),
            (
                "recovered: success after the failure",
                true,
                Some(primary(
                    archiver(Some("2026-12-01T10:09:00Z"), Some("2026-12-01T10:08:00Z")),
                    0,
                )),
                Archiving::Working,
            ),
            (
                "failed after the last success",
                true,
                Some(primary(
                    archiver(Some("2026-12-01T10:08:00Z"), Some("2026-12-01T10:09:00Z")),
                    3,
                )),
                failing(
                    "archiving 000000010000000000000004 failed at 2026-12-01T10:09:00+00:00; last archived 000000010000000000000003 at 2026-12-01T10:08:00+00:00; 3 WAL file(s) wait in pg_wal",
                ),
            ),
            (
                "failed, never archived",
                true,
                Some(primary(archiver(None, Some("2026-12-01T10:09:00Z")), 1)),
                failing(
                    "archiving 000000010000000000000004 failed at 2026-12-01T10:09:00+00:00; nothing archived yet; 1 WAL file(s) wait in pg_wal",
                ),
            ),
            (
                "a backlog while nothing is archived for long",
                true,
                Some(primary(archiver(Some("2026-12-01T10:00:00Z"), None), 5)),
                failing(
                    "5 WAL files wait in pg_wal and nothing was archived for over 2 minutes (last archived 000000010000000000000003 at 2026-12-01T10:00:00+00:00)",
                ),
            ),
            (
                "a backlog being worked through",
                true,
                Some(primary(archiver(Some("2026-12-01T10:09:50Z"), None), 5)),
                Archiving::Working,
            ),
            (
                "one file waiting after a long idle time is normal",
                true,
                Some(primary(archiver(Some("2026-12-01T09:00:00Z"), None), 1)),
                Archiving::Working,
            ),
        ];
        for (what, configured, report, want) in cases {
            assert_eq!(judge(configured, report.as_ref(), now), want, "{what}");
        }
    }

    #[test]
    fn events_mark_the_start_and_the_end_of_a_failure() {
        let now = at("2026-12-01T10:10:00Z");
        let working = archiving_condition(&Archiving::Working, None, now)
            .into_iter()
            .collect::<Vec<_>>();
        let failing = archiving_condition(&Archiving::Failing("store down".into()), None, now)
            .into_iter()
            .collect::<Vec<_>>();
        assert_eq!(failing[0].status, "False");
        assert_eq!(failing[0].reason, "ContinuousArchivingFailing");
        assert_eq!(working[0].reason, "ContinuousArchivingSuccess");
        let none: Vec<Condition> = Vec::new();
        assert_eq!(archiving_event(&none, &working), None);
        assert_eq!(archiving_event(&working, &working), None);
        assert_eq!(archiving_event(&failing, &failing), None);
        assert_eq!(
            archiving_event(&working, &failing),
            Some((
                true,
                "ContinuousArchivingFailing",
                "WAL archiving fails: store down".into()
            ))
        );
        assert_eq!(archiving_event(&none, &failing).map(|e| e.0), Some(true));
        assert_eq!(
            archiving_event(&failing, &working),
            Some((
                false,
                "ContinuousArchivingRecovered",
                "WAL archiving works again".into()
            ))
        );
        assert_eq!(archiving_condition(&Archiving::Unknown, None, now), None);
    }

    #[test]
    fn the_first_recoverability_point_is_the_end_of_the_oldest_completed_backup() {
        let backup = |cluster: &str, phase: &str, stopped: Option<&str>| Backup {
            spec: BackupSpec {
                cluster: pgfed_api::common::LocalObjectReference {
                    name: cluster.into(),
                },
                ..BackupSpec::default()
            },
            status: Some(BackupStatus {
                phase: Some(phase.into()),
                stopped_at: stopped.map(str::to_string),
                ..BackupStatus::default()
            }),
            ..Backup::new("b", BackupSpec::default())
        };
        let backups = [
            backup("pg", "completed", Some("2026-12-01T10:00:00Z")),
            backup("pg", "completed", Some("2026-11-30T10:00:00Z")),
            backup("pg", "failed", Some("2026-11-01T10:00:00Z")),
            backup("other", "completed", Some("2026-10-01T10:00:00Z")),
            backup("pg", "running", None),
        ];
        assert_eq!(
            first_recoverability_point(&backups, "pg").as_deref(),
            Some("2026-11-30T10:00:00Z")
        );
        assert_eq!(first_recoverability_point(&backups[2..3], "pg"), None);
    }
}
