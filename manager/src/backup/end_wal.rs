//! A backup taken on a standby ends only once its last WAL segment is in the object store. On a
//! standby `pg_backup_stop(true)` does not wait for archiving unless `archive_mode` is `always`:
//! the primary archives that segment, when it switches away from it (at once when the operator
//! asks it to, else at `archive_timeout`). Until the segment is there the backup could not be
//! restored, so `backup.info` is written DONE only after it. The question "is it there" is a pure
//! function over one directory listing; the wait only lists.

use super::BackupError;
use crate::objstore::Archive;
use pgfed_api::barman::layout::{parse_wal_object, wal_dir_key};
use std::time::Duration;

/// How often the object store is listed while waiting.
const POLL: Duration = Duration::from_secs(1);

/// Whether the base names `listed` (one `wals/<timeline+log>/` directory) hold WAL segment
/// `segment`, compressed or not. A `.partial` or a `.backup` file of the same segment does not
/// count: neither is the complete segment a restore replays. Pure.
pub fn holds_segment(listed: &[String], segment: &str) -> bool {
    listed
        .iter()
        .filter_map(|name| parse_wal_object(name))
        .any(|(stem, _)| stem == segment)
}

/// Whether a backup that started on a server in this state must wait for its end segment itself:
/// on a standby unless its own `archive_mode` is `always` and its archive command uploads (then
/// pg_backup_stop waited for the upload; a command that only acknowledges proves nothing). Pure.
pub fn must_wait_for_end_segment(
    in_recovery: bool,
    archive_mode: &str,
    archive_command: &str,
) -> bool {
    in_recovery
        && (archive_mode != "always" || crate::pg::conf::archive_command_skips(archive_command))
}

/// Waits until `segment` is in the object store, at most `limit`. A listing that fails is retried
/// (the object store may be down for a moment); the limit bounds the whole wait.
pub(super) async fn wait_archived(
    archive: &Archive,
    segment: &str,
    limit: Duration,
) -> Result<(), BackupError> {
    let started = tokio::time::Instant::now();
    let dir = wal_dir_key(segment);
    loop {
        let last_error = match archive.list_dir(&dir).await {
            Ok(listed) if holds_segment(&listed, segment) => return Ok(()),
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        };
        if started.elapsed() >= limit {
            return Err(BackupError::EndWalNotArchived {
                segment: segment.to_string(),
                waited_secs: started.elapsed().as_secs(),
                last_error,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_complete_segment_counts_compressed_or_not() {
        let seg = "000000010000000000000003";
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases = [
            (names(&["000000010000000000000003"]), true),
            (names(&["000000010000000000000003.gz"]), true),
            (names(&["000000010000000000000003.zst"]), true),
            (
                names(&["000000010000000000000002", "000000010000000000000004"]),
                false,
            ),
            (names(&["000000010000000000000003.partial"]), false),
            (names(&["000000010000000000000003.00000028.backup"]), false),
            (names(&["000000020000000000000003"]), false),
            (names(&[]), false),
        ];
        for (listed, want) in cases {
            assert_eq!(holds_segment(&listed, seg), want, "{listed:?}");
        }
    }

    #[test]
    fn only_a_standby_that_does_not_archive_itself_waits() {
        let uploads = "/controller/manager wal-archive --config /c.json %p";
        let skips = "/controller/manager wal-archive --skip --config /c.json %p";
        let cases = [
            (false, "on", uploads, false),
            (false, "always", uploads, false),
            (true, "on", uploads, true),
            (true, "always", uploads, false),
            (true, "always", skips, true),
            (true, "off", uploads, true),
        ];
        for (in_recovery, mode, command, want) in cases {
            assert_eq!(
                must_wait_for_end_segment(in_recovery, mode, command),
                want,
                "{in_recovery} {mode} {command}"
            );
        }
    }
}
