//! Base backups the operator starts over the status API (`POST /pg/backup`): one at a time per
//! instance, run in the background, idempotent by the Backup object's name, and read back with
//! `GET /pg/backup/<name>`. The record lives in memory only: a backup is a session of postgres
//! held by this process, so when the manager restarts the backup is gone with it, and the new
//! session (another `sessionID`, and no record of the name) tells the operator so.
//!
//! Which request starts a backup is decided by [`admit`], pure and table-tested; the rest
//! records the progress [`crate::backup::take`] reports.

use crate::backup::take::{BackupReport, Milestone};
use chrono::{SecondsFormat, Utc};
use pgfed_api::instance::{BackupPhase, BackupProgress};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

/// How many ended backups are remembered for the operator to read back.
const KEPT: usize = 32;

/// What to do with `POST /pg/backup` for a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// This Backup was already started in this session: its record, nothing new starts.
    Existing(Box<BackupProgress>),
    /// Another backup runs: refused (one backup at a time per instance).
    Busy {
        /// The Backup that runs.
        running: String,
    },
    /// Start it.
    Start,
}

/// Decides on a request for Backup `name`, given the backups of this session and the one
/// running. Pure.
pub fn admit(
    known: &BTreeMap<String, BackupProgress>,
    running: Option<&str>,
    name: &str,
) -> Admission {
    if let Some(p) = known.get(name) {
        return Admission::Existing(Box::new(p.clone()));
    }
    match running {
        Some(r) => Admission::Busy {
            running: r.to_string(),
        },
        None => Admission::Start,
    }
}

/// The backups of this manager session.
pub struct Backups {
    /// Identifies this session of the manager (new at every start and re-execution).
    pub session_id: String,
    state: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    by_name: BTreeMap<String, BackupProgress>,
    /// Names in the order they started, to forget the oldest ended ones.
    order: VecDeque<String>,
    running: Option<String>,
    /// The task taking the running backup.
    task: Option<tokio::task::AbortHandle>,
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Backups {
    /// The registry of a session that starts now.
    pub fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Self {
            session_id: format!("{:x}-{:x}", std::process::id(), nanos),
            state: Mutex::new(Registry::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A poisoned lock still holds whole records: every writer replaces complete values.
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Admits a request for Backup `name` and, when it is to start, records it as started on
    /// `instance` (so a repeated request finds it at once). `where_to` gives the destination
    /// path and server name of the object store, when one is configured.
    pub fn request(
        &self,
        name: &str,
        instance: &str,
        where_to: Option<(String, String)>,
    ) -> Admission {
        let mut r = self.lock();
        let admission = admit(&r.by_name, r.running.as_deref(), name);
        if admission == Admission::Start {
            let (destination_path, server_name) = where_to.unzip();
            r.by_name.insert(
                name.to_string(),
                BackupProgress {
                    name: name.to_string(),
                    instance: instance.to_string(),
                    session_id: self.session_id.clone(),
                    phase: BackupPhase::Started,
                    destination_path,
                    server_name,
                    started_at: Some(now()),
                    ..BackupProgress::default()
                },
            );
            r.running = Some(name.to_string());
            r.order.push_back(name.to_string());
            while r.order.len() > KEPT {
                if let Some(old) = r.order.pop_front() {
                    r.by_name.remove(&old);
                }
            }
        }
        admission
    }

    /// The record of Backup `name` in this session.
    pub fn get(&self, name: &str) -> Option<BackupProgress> {
        self.lock().by_name.get(name).cloned()
    }

    /// Records a step of Backup `name`.
    pub fn milestone(&self, name: &str, step: Milestone) {
        let mut r = self.lock();
        let Some(p) = r.by_name.get_mut(name) else {
            return;
        };
        match step {
            Milestone::Started {
                backup_id,
                begin_lsn,
                from_standby,
                major_version,
            } => {
                p.phase = BackupPhase::Running;
                p.backup_id = Some(backup_id);
                p.begin_lsn = Some(begin_lsn);
                p.from_standby = from_standby;
                p.major_version = Some(major_version);
            }
            Milestone::Finalizing => p.phase = BackupPhase::Finalizing,
            Milestone::AwaitingEndWal { end_wal, end_lsn } => {
                p.phase = BackupPhase::Finalizing;
                p.end_wal = Some(end_wal);
                p.end_lsn = Some(end_lsn);
            }
        }
    }

    /// Remembers the task taking Backup `name`, so a shutdown can abandon it.
    pub fn track(&self, name: &str, task: tokio::task::AbortHandle) {
        let mut r = self.lock();
        if r.running.as_deref() == Some(name) {
            r.task = Some(task);
        }
    }

    /// Abandons the running backup, if any, as the manager stops: a backup is never finished by
    /// another manager session (the operator sees it gone and fails it), and its open session
    /// would hold PostgreSQL's smart shutdown for the whole `smartShutdownTimeout`. Aborting
    /// the task closes its connection, which ends the backup in PostgreSQL.
    pub fn abandon(&self) {
        let (name, task) = {
            let mut r = self.lock();
            (r.running.clone(), r.task.take())
        };
        if let (Some(name), Some(task)) = (name, task) {
            task.abort();
            tracing::warn!(backup = %name, "instance manager stopping: the running base backup is abandoned");
            self.finish(&name, Err("the instance manager stopped".into()));
        }
    }

    /// Records how Backup `name` ended; the instance is free for the next one.
    pub fn finish(&self, name: &str, result: Result<BackupReport, String>) {
        let mut r = self.lock();
        if r.running.as_deref() == Some(name) {
            r.running = None;
            r.task = None;
        }
        let Some(p) = r.by_name.get_mut(name) else {
            return;
        };
        match result {
            Ok(report) => {
                p.phase = BackupPhase::Completed;
                p.backup_id = Some(report.backup_id);
                p.begin_wal = Some(report.begin_wal);
                p.end_wal = Some(report.end_wal);
                p.begin_lsn = Some(report.begin_lsn);
                p.end_lsn = Some(report.end_lsn);
                p.timeline_id = Some(report.timeline);
                p.from_standby = report.from_standby;
                p.major_version = Some(report.major_version);
                p.started_at = Some(report.begin_time);
                p.stopped_at = Some(report.end_time);
            }
            Err(error) => {
                p.phase = BackupPhase::Failed;
                p.error = Some(error);
                p.stopped_at = Some(now());
            }
        }
    }
}

impl Default for Backups {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(name: &str, phase: BackupPhase) -> BackupProgress {
        BackupProgress {
            name: name.into(),
            phase,
            ..BackupProgress::default()
        }
    }

    #[test]
    fn a_name_is_started_once_and_one_backup_runs_at_a_time() {
        let known = BTreeMap::from([
            ("done".to_string(), progress("done", BackupPhase::Completed)),
            ("going".to_string(), progress("going", BackupPhase::Running)),
        ]);
        let cases = [
            // The same Backup again, running or ended: its record, never a second backup.
            (
                Some("going"),
                "going",
                Admission::Existing(Box::new(known["going"].clone())),
            ),
            (
                Some("going"),
                "done",
                Admission::Existing(Box::new(known["done"].clone())),
            ),
            (
                None,
                "done",
                Admission::Existing(Box::new(known["done"].clone())),
            ),
            // Another Backup while one runs: refused, naming the one that runs.
            (
                Some("going"),
                "new",
                Admission::Busy {
                    running: "going".into(),
                },
            ),
            // Another Backup when none runs: started.
            (None, "new", Admission::Start),
        ];
        for (running, name, want) in cases {
            assert_eq!(admit(&known, running, name), want, "{running:?} {name}");
        }
    }

    #[test]
    fn the_record_follows_the_backup_and_frees_the_instance_at_the_end() {
        let b = Backups::new();
        let store = Some(("s3://bucket/path".to_string(), "pg".to_string()));
        assert_eq!(b.request("one", "pg-2", store.clone()), Admission::Start);
        assert!(matches!(
            b.request("two", "pg-2", store.clone()),
            Admission::Busy { running } if running == "one"
        ));
        b.milestone(
            "one",
            Milestone::Started {
                backup_id: "20261201T101010".into(),
                begin_lsn: "0/3000028".into(),
                from_standby: true,
                major_version: 15,
            },
        );
        let running = b.get("one").expect("recorded");
        assert_eq!(running.phase, BackupPhase::Running);
        assert_eq!(running.session_id, b.session_id);
        assert_eq!(running.server_name.as_deref(), Some("pg"));
        b.milestone("one", Milestone::Finalizing);
        assert_eq!(b.get("one").map(|p| p.phase), Some(BackupPhase::Finalizing));
        b.milestone(
            "one",
            Milestone::AwaitingEndWal {
                end_wal: "000000010000000000000005".into(),
                end_lsn: "0/5000100".into(),
            },
        );
        let waiting = b.get("one").expect("recorded");
        assert_eq!(waiting.phase, BackupPhase::Finalizing);
        assert_eq!(waiting.end_wal.as_deref(), Some("000000010000000000000005"));
        b.finish("one", Err("object store unreachable".into()));
        let failed = b.get("one").expect("kept");
        assert_eq!(failed.phase, BackupPhase::Failed);
        assert_eq!(failed.error.as_deref(), Some("object store unreachable"));
        assert!(failed.stopped_at.is_some());
        // Asked again: still the failed one, not a retry; another name may start now.
        assert!(
            matches!(b.request("one", "pg-2", store.clone()), Admission::Existing(p) if p.phase == BackupPhase::Failed)
        );
        assert_eq!(b.request("two", "pg-2", store), Admission::Start);
    }

    #[test]
    fn only_the_latest_records_are_kept() {
        let b = Backups::new();
        for i in 0..(KEPT + 3) {
            let name = format!("b{i}");
            assert_eq!(b.request(&name, "pg-1", None), Admission::Start);
            b.finish(&name, Err("x".into()));
        }
        assert!(b.get("b0").is_none());
        assert!(b.get(&format!("b{}", KEPT + 2)).is_some());
    }

    #[test]
    fn sessions_differ() {
        assert_ne!(Backups::new().session_id, Backups::new().session_id);
    }
}
