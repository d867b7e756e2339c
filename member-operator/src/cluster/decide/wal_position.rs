//! `status.walPosition`: where a topology member's WAL stands, for the lag of replica clusters.
//! Pure.
//!
//! A federation has no network path between regions, so the only place a replica region's lag
//! can be read from is the two Clusters' statuses. Writing the position on every change would
//! rewrite a busy cluster's status every few seconds; [`REFRESH`] bounds that.

use super::replica::Standing;
use chrono::{DateTime, SecondsFormat, Utc};
use pgfed_api::cluster::WalPosition;
use pgfed_api::instance::InstanceStatus;

/// How often a moving position is rewritten at most.
pub const REFRESH: chrono::Duration = chrono::Duration::seconds(10);

/// The position to store, from where the cluster stands, the raw report of its primary (or
/// designated primary; `None`: it did not answer) and the stored one. A standalone cluster keeps
/// none; an instance that did not answer or reports no LSN keeps the stored one; a position that
/// did not move keeps its time (nothing to write); one that moved is written once the stored one
/// is [`REFRESH`] old.
pub fn wal_position(
    standing: Standing,
    report: Option<&InstanceStatus>,
    stored: Option<&WalPosition>,
    now: DateTime<Utc>,
) -> Option<WalPosition> {
    if standing == Standing::Standalone {
        return None;
    }
    let Some(report) = report.filter(|r| r.postgres_running) else {
        return stored.cloned();
    };
    let lsn = if report.is_primary {
        report.current_lsn.clone()
    } else {
        report
            .replay_lsn
            .clone()
            .or_else(|| report.received_lsn.clone())
    };
    let Some(lsn) = lsn else {
        return stored.cloned();
    };
    let fresh = WalPosition {
        lsn,
        timeline: report.timeline_id,
        observed_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        last_replay_time: (!report.is_primary)
            .then(|| report.last_replay_time.clone())
            .flatten(),
    };
    match stored {
        None => Some(fresh),
        Some(old) if old.lsn == fresh.lsn && old.timeline == fresh.timeline => Some(old.clone()),
        Some(old) => {
            let recent = DateTime::parse_from_rfc3339(&old.observed_at)
                .is_ok_and(|t| now - t.with_timezone(&Utc) < REFRESH);
            Some(if recent { old.clone() } else { fresh })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    fn stored(lsn: &str, s: i64) -> WalPosition {
        WalPosition {
            lsn: lsn.into(),
            timeline: Some(1),
            observed_at: at(s).to_rfc3339_opts(SecondsFormat::Secs, true),
            last_replay_time: None,
        }
    }

    fn primary(lsn: &str) -> InstanceStatus {
        InstanceStatus {
            postgres_running: true,
            is_primary: true,
            timeline_id: Some(1),
            current_lsn: Some(lsn.into()),
            ..InstanceStatus::default()
        }
    }

    fn replaying(lsn: &str, time: &str) -> InstanceStatus {
        InstanceStatus {
            postgres_running: true,
            timeline_id: Some(1),
            replay_lsn: Some(lsn.into()),
            received_lsn: Some("0/9000000".into()),
            last_replay_time: Some(time.into()),
            ..InstanceStatus::default()
        }
    }

    /// (name, standing, report, stored, now, wanted)
    type Case = (
        &'static str,
        Standing,
        Option<InstanceStatus>,
        Option<WalPosition>,
        i64,
        Option<WalPosition>,
    );

    #[test]
    fn standing_report_and_age_decide_what_is_stored() {
        let down = InstanceStatus::default();
        let cases: Vec<Case> = vec![
            (
                "standalone: none, even with a report",
                Standing::Standalone,
                Some(primary("0/3000000")),
                Some(stored("0/1", 0)),
                60,
                None,
            ),
            (
                "first sight of a primary",
                Standing::Primary,
                Some(primary("0/3000000")),
                None,
                60,
                Some(stored("0/3000000", 60)),
            ),
            (
                "unmoved: the stored time stays",
                Standing::Primary,
                Some(primary("0/3000000")),
                Some(stored("0/3000000", 0)),
                60,
                Some(stored("0/3000000", 0)),
            ),
            (
                "moved within the refresh: not rewritten",
                Standing::Primary,
                Some(primary("0/4000000")),
                Some(stored("0/3000000", 55)),
                60,
                Some(stored("0/3000000", 55)),
            ),
            (
                "moved after the refresh: rewritten",
                Standing::Primary,
                Some(primary("0/4000000")),
                Some(stored("0/3000000", 50)),
                60,
                Some(stored("0/4000000", 60)),
            ),
            (
                "no answer: the stored one",
                Standing::Primary,
                None,
                Some(stored("0/3000000", 0)),
                60,
                Some(stored("0/3000000", 0)),
            ),
            (
                "postgres down: the stored one",
                Standing::Replica,
                Some(down),
                Some(stored("0/3000000", 0)),
                60,
                Some(stored("0/3000000", 0)),
            ),
        ];
        for (name, standing, report, old, now, want) in cases {
            assert_eq!(
                wal_position(standing, report.as_ref(), old.as_ref(), at(now)),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn a_replica_cluster_stores_what_it_replayed_and_when_that_was_committed() {
        let report = replaying("0/5000060", "2027-01-15T08:00:00.000000Z");
        let got = wal_position(Standing::Replica, Some(&report), None, at(0));
        assert_eq!(
            got,
            Some(WalPosition {
                last_replay_time: Some("2027-01-15T08:00:00.000000Z".into()),
                ..stored("0/5000060", 0)
            })
        );
        // A designated primary that has received but not replayed anything yet: what it received.
        let fresh = InstanceStatus {
            replay_lsn: None,
            ..report
        };
        let got = wal_position(Standing::Promoting, Some(&fresh), None, at(0));
        assert_eq!(got.map(|p| p.lsn), Some("0/9000000".to_string()));
    }
}
