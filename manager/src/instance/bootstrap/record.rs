//! The bootstrap record kept beside PGDATA (`<parent>/<pgdata name>.pgfed-bootstrap`): which
//! method is making the data directory and which paths it may clean up, or that it is complete.
//! Written "in progress" before a bootstrap touches anything and "complete" as its last step
//! (temporary file, fsync, rename, fsync of the directory). Its own module so that init, join and
//! restore use it without importing the bootstrap orchestrator.

use super::error::BootstrapError;
use crate::config::ManagerConfig;
use serde::{Deserialize, Serialize};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// How a data directory is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Method {
    /// `instance init`: initdb, roles, the application database, post-init SQL.
    Init,
    /// `instance join`: pg_basebackup from a running primary.
    Join,
    /// `instance restore`: a base backup from an object store, recovered to its target.
    Restore,
    /// A new instance of a running cluster: pg_basebackup from the instance `targetPrimary`
    /// names, through `primaryConnection`.
    Clone,
}

impl Method {
    /// The method the configuration asks for: a clone of the target primary when `targetPrimary`
    /// names another instance (only the target primary runs the cluster's `bootstrap`), else the
    /// `bootstrap` section's (`recovery`, then `pg_basebackup`), else a restore from the source
    /// in a replica cluster, else `initdb`. Pure.
    pub fn wanted(cfg: &ManagerConfig) -> Method {
        if cfg.other_target_primary().is_some() {
            return Method::Clone;
        }
        match &cfg.bootstrap {
            Some(b) if b.recovery.is_some() => Method::Restore,
            Some(b) if b.pg_basebackup.is_some() => Method::Join,
            // A replica cluster's designated primary comes from its source's object store
            // whatever the cluster first bootstrapped with: initdb would make another database
            // system (a former primary region re-seeded after a failover has `initdb` here).
            _ if cfg.is_replica_cluster() => Method::Restore,
            _ => Method::Init,
        }
    }
}

/// The bootstrap record's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum Record {
    /// A bootstrap began and has not finished: everything under `paths` is its own work, and a
    /// retry empties them before starting again.
    #[serde(rename_all = "camelCase")]
    InProgress {
        /// How.
        method: Method,
        /// Directories it writes into (PGDATA first).
        paths: Vec<PathBuf>,
    },
    /// The data directory is finished; PostgreSQL may start on it. Nothing removes it.
    #[serde(rename_all = "camelCase")]
    Complete {
        /// How it was made.
        method: Method,
    },
    /// Made by a manager older than the bootstrap record and found finished (see [`decide`]):
    /// complete, like [`Record::Complete`].
    Adopted,
}

/// What is found of the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordState {
    /// No record.
    Absent,
    /// A record.
    Found(Record),
}

/// What PGDATA holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataDir {
    /// It does not exist.
    Absent,
    /// An empty directory.
    Empty,
    /// A mount point of its own (the record beside it would not be on the same volume).
    MountPoint,
    /// Files.
    Files {
        /// `PG_VERSION` exists.
        pg_version: bool,
        /// `global/pg_control` exists.
        pg_control: bool,
        /// `backup_label` exists: a copy (pg_basebackup, a restore) PostgreSQL has not started on.
        backup_label: bool,
        /// `pgfed_initialized` exists: what older managers wrote as the last step of `init`.
        legacy_init_marker: bool,
    },
}

/// Where the record of `pgdata` lives: `<parent>/<pgdata name>.pgfed-bootstrap`.
pub fn record_path(pgdata: &Path) -> Result<PathBuf, BootstrapError> {
    let name = pgdata
        .file_name()
        .ok_or_else(|| BootstrapError::NoParent(pgdata.to_path_buf()))?;
    let mut file = name.to_os_string();
    file.push(".pgfed-bootstrap");
    Ok(pgdata.with_file_name(file))
}

/// Reads the record of `pgdata`.
pub fn read_record(pgdata: &Path) -> Result<RecordState, BootstrapError> {
    let path = record_path(pgdata)?;
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(RecordState::Found)
            .map_err(|source| BootstrapError::RecordGarbled { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RecordState::Absent),
        Err(source) => Err(BootstrapError::RecordIo { path, source }),
    }
}

/// True when `pgdata` has a complete record (tests and callers that only ask).
pub fn is_complete(pgdata: &Path) -> bool {
    matches!(
        read_record(pgdata),
        Ok(RecordState::Found(
            Record::Complete { .. } | Record::Adopted
        ))
    )
}

/// Replaces the record atomically and durably: a temporary file, fsync'd, renamed over the
/// record, and the directory fsync'd, so a crash leaves the old record or the new one.
pub(super) fn write_record(pgdata: &Path, record: &Record) -> Result<(), BootstrapError> {
    let path = record_path(pgdata)?;
    let io = |source| BootstrapError::RecordIo {
        path: path.clone(),
        source,
    };
    let parent = path
        .parent()
        .ok_or_else(|| BootstrapError::NoParent(pgdata.to_path_buf()))?;
    std::fs::create_dir_all(parent).map_err(io)?;
    let text = serde_json::to_vec(record).map_err(|e| io(std::io::Error::other(e)))?;
    crate::durable::replace(&path, &text).map_err(io)
}

pub(super) fn inspect_data_dir(pgdata: &Path) -> Result<DataDir, BootstrapError> {
    let inspect = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BootstrapError::Inspect { path, source }
    };
    let meta = match std::fs::metadata(pgdata) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DataDir::Absent),
        Err(e) => return Err(inspect(pgdata)(e)),
    };
    if meta.is_dir() {
        if let Some(parent) = pgdata.parent().filter(|p| !p.as_os_str().is_empty()) {
            let up = std::fs::metadata(parent).map_err(inspect(parent))?;
            if up.dev() != meta.dev() {
                return Ok(DataDir::MountPoint);
            }
        }
        let mut entries = std::fs::read_dir(pgdata).map_err(inspect(pgdata))?;
        if entries.next().is_none() {
            return Ok(DataDir::Empty);
        }
    }
    Ok(DataDir::Files {
        pg_version: pgdata.join("PG_VERSION").is_file(),
        pg_control: pgdata.join("global/pg_control").is_file(),
        backup_label: pgdata.join("backup_label").exists(),
        legacy_init_marker: pgdata.join("pgfed_initialized").exists(),
    })
}

/// Adds directories a bootstrap is about to write into (a restore's tablespaces) to its "in
/// progress" record, so a retry removes them too; each must be empty or absent, so that
/// everything in it afterwards is this bootstrap's own.
pub fn claim(cfg: &ManagerConfig, method: Method, extra: &[PathBuf]) -> Result<(), BootstrapError> {
    let mut paths = vec![cfg.pgdata.clone()];
    for path in extra {
        if matches!(inspect_data_dir(path)?, DataDir::Files { .. }) {
            return Err(BootstrapError::NotEmpty(path.clone()));
        }
        paths.push(path.clone());
    }
    write_record(&cfg.pgdata, &Record::InProgress { method, paths })
}
