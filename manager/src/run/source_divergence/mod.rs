//! A replica cluster's designated primary whose own history went past the point where its
//! source's timeline forked off: typically the primary region of a federation, cut off while a
//! replica region was promoted without a demotion token, which had written WAL (its shutdown
//! checkpoint at least) that never reached the store. Told to follow the new primary region, it
//! cannot replay its archive, and pg_rewind needs a live source server, which a region without a
//! network path to the other does not have (compare `run::diverged`, the in-cluster case).
//!
//! This module finds it and keeps postgres stopped: before each start the local checkpoint and
//! minimum recovery point (pg_controldata) are compared with the source's newest timeline history
//! in its object store ([`decide::verdict`]); while postgres runs or after it exits, its log is
//! watched for PostgreSQL's own refusals ([`decide::refusal`]), which also catch a primary that
//! stopped without a checkpoint. What was found goes into the status document
//! (`divergedFromSource`) with the source's newest usable base backup; the operator re-seeds the
//! cluster from it and keeps this instance's volumes. Nothing here deletes or changes data.

pub mod decide;

use crate::config::ManagerConfig;
use crate::instance::InstanceError;
use crate::objstore::Archive;
use crate::pg::controldata;
use decide::{LocalHistory, SourceHistory, Split, Verdict};
use pgfed_api::instance::SourceDivergence;
use std::io::{Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

/// How often a divergence found is looked at again (a base backup may have appeared in the
/// source, or the configuration changed), and how often a start is re-checked at most.
const RECHECK: Duration = Duration::from_secs(60);
/// How often a running designated primary is compared with its source: one that replayed
/// WAL of its own past the fork (a primary that stopped without a checkpoint, whose crash recovery
/// ran before the archive's) waits for WAL forever instead of refusing.
const RUNNING_CHECK: Duration = Duration::from_secs(30);
/// How long after a failed look (object store unreachable) the next one is tried.
const RETRY: Duration = Duration::from_secs(10);
/// Timelines probed past the local one at most: a bound on a corrupt or hostile archive.
const MAX_TIMELINES: u32 = 1024;

/// Whether `cfg` makes this instance a replica cluster's designated primary, which replays its
/// source's archive and so must be on the source's history.
pub fn applies(cfg: &ManagerConfig) -> bool {
    cfg.is_replica_cluster() && cfg.other_target_primary().is_none()
}

/// What the supervisor remembers between its steps.
#[derive(Debug, Default)]
pub struct Watch {
    found: Option<SourceDivergence>,
    next_check: Option<Instant>,
    /// When the running server is compared with the source next.
    next_running_check: Option<Instant>,
    /// Where in PostgreSQL's log the lines of the current postmaster begin.
    log_from: u64,
    /// PostgreSQL's refusal to follow the source named here, once seen: it stands until the
    /// configuration names another source (a look at pg_controldata alone cannot tell a primary
    /// that stopped without a checkpoint past the fork).
    refusal: Option<(String, String)>,
}

impl Watch {
    /// The divergence found, if any.
    pub fn found(&self) -> Option<&SourceDivergence> {
        self.found.as_ref()
    }

    /// Whether postgres must not start: this designated primary diverged from its source (looked
    /// at again every [`RECHECK`]). A look that fails lets it start: PostgreSQL itself refuses a
    /// diverged history, which [`Self::cannot_follow`] then finds.
    pub async fn blocks_start(&mut self, cfg: &ManagerConfig) -> bool {
        if !applies(cfg) {
            self.found = None;
            self.next_check = None;
            self.refusal = None;
            return false;
        }
        let source = source_name(cfg);
        if self.refusal.as_ref().is_some_and(|(s, _)| *s != source) {
            self.refusal = None;
            self.next_check = None;
        }
        let now = Instant::now();
        if self.next_check.is_some_and(|at| now < at) {
            return self.found.is_some();
        }
        let refusal = self.refusal.as_ref().map(|(_, message)| message.clone());
        match examine(cfg, refusal).await {
            Ok(found) => {
                self.record(found);
                self.next_check = Some(now + RECHECK);
            }
            Err(e) => {
                tracing::warn!(error = %e, label = e.label(), "cannot compare the local history with the source's");
                self.next_check = Some(now + RETRY);
            }
        }
        self.found.is_some()
    }

    /// Notes that a postmaster is starting now: only the log lines it writes count, and it was
    /// compared with the source just now.
    pub fn starting(&mut self, cfg: &ManagerConfig) {
        self.log_from = std::fs::metadata(log_path(cfg)).map_or(0, |m| m.len());
        self.next_running_check = Some(Instant::now() + RUNNING_CHECK);
    }

    /// Whether the server, since it last started, turned out unable to follow the source: it
    /// logged a refusal, or (`running`, every [`RUNNING_CHECK`]) its minimum recovery point lies
    /// past the fork. The divergence is recorded then; the caller stops postgres.
    pub async fn cannot_follow(&mut self, cfg: &ManagerConfig, running: bool) -> bool {
        if !applies(cfg) {
            return false;
        }
        let (lines, end) = read_from(&log_path(cfg), self.log_from);
        self.log_from = end;
        let Some(message) = decide::refusal(lines.lines()) else {
            return running && self.replayed_past_the_fork(cfg).await;
        };
        tracing::error!(%message, "postgres cannot follow the source's timeline");
        self.refusal = Some((source_name(cfg), message.clone()));
        match examine(cfg, Some(message.clone())).await {
            Ok(found) => self.record(found),
            Err(e) => {
                tracing::warn!(error = %e, label = e.label(), "cannot read where the histories split");
                self.record(Some(SourceDivergence {
                    source: source_name(cfg),
                    detail: message,
                    time: now_rfc3339(),
                    ..SourceDivergence::default()
                }));
            }
        }
        self.next_check = Some(Instant::now() + RECHECK);
        true
    }

    /// Compares the running server with the source, when it is time to.
    async fn replayed_past_the_fork(&mut self, cfg: &ManagerConfig) -> bool {
        let now = Instant::now();
        if self.next_running_check.is_some_and(|at| now < at) {
            return false;
        }
        self.next_running_check = Some(now + RUNNING_CHECK);
        match examine(cfg, None).await {
            Ok(Some(found)) => {
                tracing::error!(detail = %found.detail, "postgres replayed past the source's fork");
                self.record(Some(found));
                self.next_check = Some(now + RECHECK);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, label = e.label(), "cannot compare the running server with the source");
                false
            }
        }
    }

    /// Keeps what was found, with the time of its first finding while the split is the same.
    fn record(&mut self, found: Option<SourceDivergence>) {
        self.found = found.map(|mut new| {
            if let Some(old) = &self.found
                && old.local_lsn == new.local_lsn
                && old.fork_lsn == new.fork_lsn
            {
                new.time = old.time.clone();
            }
            new
        });
    }
}

fn log_path(cfg: &ManagerConfig) -> std::path::PathBuf {
    cfg.pgdata.join("log/postgres.json")
}

/// The text of `path` from `from` on (all of it when the file shrank, as after a re-seed) and
/// where it ends.
fn read_from(path: &std::path::Path, from: u64) -> (String, u64) {
    let Ok(mut file) = std::fs::File::open(path) else {
        return (String::new(), 0);
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let start = if from > len { 0 } else { from };
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return (String::new(), start);
    }
    let end = start + bytes.len() as u64;
    (String::from_utf8_lossy(&bytes).into_owned(), end)
}

fn source_name(cfg: &ManagerConfig) -> String {
    cfg.replica
        .as_ref()
        .map(|r| r.source.clone())
        .unwrap_or_default()
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Compares the local data directory with the source's history: `None` when it can follow,
/// else where they split and the source's base backup a new instance can start from.
/// `refusal`: PostgreSQL's words when it refused (then it diverged, whatever the comparison says).
pub async fn examine(
    cfg: &ManagerConfig,
    refusal: Option<String>,
) -> Result<Option<SourceDivergence>, InstanceError> {
    let cd = controldata::read(&cfg.pg_bindir, &cfg.pgdata)?;
    let local = LocalHistory {
        timeline: cd.timeline()?,
        checkpoint: cd.checkpoint_location()?,
        min_recovery: cd.min_recovery_point()?,
    };
    let source = source_history(cfg, local.timeline).await?;
    let (split, detail) = match (decide::verdict(&local, &source), refusal) {
        (Verdict::Follows, None) => return Ok(None),
        (Verdict::Diverged(split), None) => {
            let detail = describe(&split, &source);
            (split, detail)
        }
        (Verdict::Diverged(split), Some(message)) => (split, message),
        (Verdict::Follows, Some(message)) => {
            (decide::refused_split(&local, &source, &message), message)
        }
    };
    let (store, server) = cfg.restore_store(None)?;
    let archive = Archive::open(store, &server, &cfg.secrets_dir)
        .map_err(crate::backup::BackupError::from)?;
    let catalog = crate::backup::fetch::catalog(&archive).await?;
    let seed = decide::seed_backup(&catalog, &source).map(|e| e.id.clone());
    Ok(Some(SourceDivergence {
        source: server,
        local_timeline: split.local_timeline,
        local_lsn: split.local_lsn.to_string(),
        source_timeline: source.timeline,
        fork_timeline: split.fork_timeline,
        fork_lsn: split.fork_lsn.map(|l| l.to_string()),
        seed_backup: seed,
        detail,
        time: now_rfc3339(),
    }))
}

/// The split in words. Pure.
fn describe(split: &Split, source: &SourceHistory) -> String {
    match split.fork_lsn {
        Some(fork) => format!(
            "the local history reached {} on timeline {}, past {} where the source's timeline {} \
             forked off timeline {}",
            split.local_lsn, split.local_timeline, fork, source.timeline, split.fork_timeline
        ),
        None => format!(
            "the local timeline {} (reached {}) is not in the history of the source's timeline {}",
            split.local_timeline, split.local_lsn, source.timeline
        ),
    }
}

/// The source's newest timeline and its history, found as PostgreSQL finds it (the history files
/// of the timelines after the local one, one by one); when there is none newer, the newest the
/// source has at or below the local timeline.
pub async fn source_history(
    cfg: &ManagerConfig,
    local: u32,
) -> Result<SourceHistory, InstanceError> {
    let fetch = |tli: u32| async move {
        let name = format!("{tli:08X}.history");
        crate::wal::restore::fetch_from_source(cfg, &name)
            .await
            .map(|found| found.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    };
    let mut newest = None;
    for tli in local.saturating_add(1)..local.saturating_add(MAX_TIMELINES) {
        match fetch(tli).await? {
            Some(history) => {
                newest = Some(SourceHistory {
                    timeline: tli,
                    history,
                })
            }
            None => break,
        }
    }
    if let Some(newest) = newest {
        return Ok(newest);
    }
    for tli in (2..=local).rev() {
        if let Some(history) = fetch(tli).await? {
            return Ok(SourceHistory {
                timeline: tli,
                history,
            });
        }
    }
    Ok(SourceHistory {
        timeline: 1,
        history: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_is_described_with_both_positions() {
        let source = SourceHistory {
            timeline: 2,
            history: "1\t0/5000100\tx\n".into(),
        };
        let split = Split {
            local_timeline: 1,
            local_lsn: "0/6000028".parse().expect("lsn"),
            fork_timeline: 1,
            fork_lsn: "0/5000100".parse().ok(),
        };
        let text = describe(&split, &source);
        assert!(
            text.contains("0/6000028") && text.contains("0/5000100"),
            "{text}"
        );
        let text = describe(
            &Split {
                fork_lsn: None,
                ..split
            },
            &source,
        );
        assert!(text.contains("not in the history"), "{text}");
    }

    #[test]
    fn the_log_is_read_from_where_the_postmaster_started() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("postgres.json");
        std::fs::write(&path, "old line\n").expect("write");
        let (text, end) = read_from(&path, 0);
        assert_eq!((text.as_str(), end), ("old line\n", 9));
        std::fs::write(&path, "old line\nnew line\n").expect("write");
        assert_eq!(read_from(&path, end), ("new line\n".to_string(), 18));
        // A shorter file is a new one: read from its start.
        std::fs::write(&path, "x\n").expect("write");
        assert_eq!(read_from(&path, 18), ("x\n".to_string(), 2));
        assert_eq!(read_from(&dir.path().join("none"), 5), (String::new(), 0));
    }
}
