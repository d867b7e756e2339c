//! Watches PostgreSQL's archiver while pg_backup_stop waits for the backup's last WAL segment:
//! that wait has no limit of its own, so a backup whose WAL cannot be archived would hang for
//! ever. The decision when to give up is pure and table-tested; the watcher only samples
//! pg_stat_archiver.

use super::BackupError;
use crate::config::ManagerConfig;
use crate::pg::sql;
use std::time::Duration;

/// Counters of pg_stat_archiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchiverCounts {
    /// WAL files archived so far.
    pub archived: i64,
    /// Failed archive attempts so far.
    pub failed: i64,
}

/// Whether WAL archiving has stalled while pg_backup_stop waits on it: it failed since the wait
/// began, archived nothing since, and that has lasted `limit`. Slow archiving that progresses
/// never counts. Pure.
pub fn archiving_stalled(
    at_start: ArchiverCounts,
    now: ArchiverCounts,
    stalled_for: Duration,
    limit: Duration,
) -> bool {
    now.failed > at_start.failed && now.archived == at_start.archived && stalled_for >= limit
}

/// Returns, with the reason, once archiving has stalled (see [`archiving_stalled`]); pends for
/// ever otherwise, including when the archiver cannot be observed.
pub(super) async fn watch_archiver(cfg: &ManagerConfig, limit: Duration) -> BackupError {
    const QUERY: &str = "SELECT archived_count, failed_count, coalesce(last_failed_wal, ''), \
                         coalesce(last_failed_time::text, '') FROM pg_stat_archiver";
    let pending = || std::future::pending::<BackupError>();
    let Ok(watcher) = sql::connect(cfg, "postgres").await else {
        return pending().await;
    };
    let sample = |row: &tokio_postgres::Row| ArchiverCounts {
        archived: row.get(0),
        failed: row.get(1),
    };
    let Ok(first) = watcher.query_one(QUERY, &[]).await else {
        return pending().await;
    };
    // The baseline moves with every archived file: only failures since the last progress count.
    let (mut baseline, mut progress_at) = (sample(&first), tokio::time::Instant::now());
    let at_start = baseline;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let Ok(row) = watcher.query_one(QUERY, &[]).await else {
            continue;
        };
        let now = sample(&row);
        if now.archived != baseline.archived {
            baseline = now;
            progress_at = tokio::time::Instant::now();
            continue;
        }
        if archiving_stalled(baseline, now, progress_at.elapsed(), limit) {
            let (wal, when): (String, String) = (row.get(2), row.get(3));
            return BackupError::ArchivingStalled {
                failures: now.failed - at_start.failed,
                stalled_secs: progress_at.elapsed().as_secs(),
                last_failed_wal: wal,
                last_failed_at: when,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archiving_stalls_only_when_failing_without_progress_for_the_limit() {
        let c = |archived, failed| ArchiverCounts { archived, failed };
        let limit = Duration::from_secs(300);
        let long = Duration::from_secs(301);
        let short = Duration::from_secs(10);
        let cases = [
            // Failing, nothing archived, long enough: stalled.
            (c(5, 1), c(5, 4), long, true),
            // Not long enough yet.
            (c(5, 1), c(5, 4), short, false),
            // Slow but not failing.
            (c(5, 1), c(5, 1), long, false),
            // Failing but progressing (the caller moves the baseline on progress).
            (c(5, 1), c(6, 4), long, false),
        ];
        for (start, now, waited, want) in cases {
            assert_eq!(
                archiving_stalled(start, now, waited, limit),
                want,
                "{start:?} {now:?} {waited:?}"
            );
        }
    }
}
