//! Whether the data directory is finished, and the one way it gets made: `init`, `join` or
//! `restore` run between a bootstrap record that says "in progress" and one that says "complete",
//! the latter written last and fsync'd. PostgreSQL starts only on a complete data directory.
//!
//! The record is a small JSON file next to PGDATA (`<parent>/<pgdata name>.pgfed-bootstrap`), not
//! inside it, for two reasons: initdb, pg_basebackup and a restore all need an empty PGDATA, so
//! the "in progress" note cannot be written there before they run; and everything inside PGDATA is
//! copied by pg_basebackup and base backups, so a marker there would arrive in a half-copied
//! directory and vouch for it. The record therefore sits on the volume beside PGDATA, as in
//! CloudNativePG's layout (`/var/lib/postgresql/data/pgdata`); a PGDATA that is itself a mount
//! point is refused, since the record would not survive the pod.
//!
//! A retried bootstrap removes only what its own "in progress" record lists (PGDATA, and the
//! tablespace directories a restore claimed while they were empty); a complete directory is never
//! removed, and neither is a directory pgfed has no record of.

use super::{InstanceError, init, join, restore};
use crate::config::ManagerConfig;
use crate::pg::ctl;
use serde::{Deserialize, Serialize};
use std::io::Write;
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
}

impl Method {
    /// The method the configuration's `bootstrap` section asks for (`recovery`, then
    /// `pg_basebackup`, else `initdb`). Pure.
    pub fn wanted(cfg: &ManagerConfig) -> Method {
        match &cfg.bootstrap {
            Some(b) if b.recovery.is_some() => Method::Restore,
            Some(b) if b.pg_basebackup.is_some() => Method::Join,
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

/// Everything [`decide`] looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The record.
    pub record: RecordState,
    /// PGDATA.
    pub data: DataDir,
    /// The method the configuration asks for.
    pub wanted: Method,
}

/// What to do with the data directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// It is complete: start PostgreSQL.
    Ready,
    /// Nothing is there yet: bootstrap.
    Bootstrap,
    /// An earlier bootstrap did not finish: empty what it listed, then bootstrap again.
    CleanThenBootstrap(Vec<PathBuf>),
    /// A data directory made by an older manager, complete by the evidence: record it as complete.
    Adopt,
    /// Neither start nor touch it.
    Refuse(Refusal),
}

/// Why a data directory is neither started nor rebuilt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// PGDATA is a mount point.
    MountPoint,
    /// The record says complete but PGDATA holds no data directory.
    CompleteWithoutData,
    /// A data directory without a record that an older manager may have left unfinished.
    UnfinishedLegacy,
    /// PGDATA holds files that are not a data directory, and no record says pgfed wrote them.
    NotADataDirectory,
}

impl Refusal {
    fn explain(self) -> &'static str {
        match self {
            Refusal::MountPoint => {
                "PGDATA is a mount point; mount the volume one level up (PGDATA a subdirectory of \
                 it, as /var/lib/postgresql/data/pgdata) so the bootstrap record beside PGDATA is \
                 kept with the data"
            }
            Refusal::CompleteWithoutData => {
                "the bootstrap record says the data directory was complete, but PGDATA holds no \
                 PG_VERSION: the data was lost or moved. pgfed does not create a new database in \
                 its place; restore the volume, or remove the record to bootstrap from scratch"
            }
            Refusal::UnfinishedLegacy => {
                "PGDATA holds a data directory without a bootstrap record, and nothing shows it \
                 was finished (an older manager's init leaves pgfed_initialized; a copy that \
                 PostgreSQL never started on still has backup_label). pgfed removes only its own \
                 partial work and may not start an unfinished one: check it, then remove PGDATA \
                 to bootstrap again, or write the record {\"state\":\"adopted\"} beside it to keep \
                 it"
            }
            Refusal::NotADataDirectory => {
                "PGDATA holds files but no PG_VERSION, and no bootstrap record says pgfed wrote \
                 them; pgfed removes only its own partial work: empty the directory to bootstrap"
            }
        }
    }
}

/// Decides what to do with the data directory. Pure.
///
/// Data directories from managers older than the record have none. They are never removed (one
/// may hold the only copy of the data) and started only on evidence that they were finished:
/// older managers wrote `pgfed_initialized` as init's last step; and an older join or restore
/// that PostgreSQL has started on no longer has its `backup_label` (PostgreSQL renames it when
/// recovery begins), whereas a half-copied one, which it never started on, still has it. An
/// initdb'd directory never has a backup label, so for `init` only `pgfed_initialized` counts.
/// Anything else is refused with what to do.
pub fn decide(o: &Observed) -> Plan {
    use DataDir as D;
    match (&o.record, o.data) {
        (_, D::MountPoint) => Plan::Refuse(Refusal::MountPoint),
        (
            RecordState::Found(Record::Complete { .. } | Record::Adopted),
            D::Files {
                pg_version: true, ..
            },
        ) => Plan::Ready,
        (RecordState::Found(Record::Complete { .. } | Record::Adopted), _) => {
            Plan::Refuse(Refusal::CompleteWithoutData)
        }
        (RecordState::Found(Record::InProgress { paths, .. }), _) => {
            Plan::CleanThenBootstrap(paths.clone())
        }
        (RecordState::Absent, D::Absent | D::Empty) => Plan::Bootstrap,
        (
            RecordState::Absent,
            D::Files {
                pg_version: true,
                legacy_init_marker: true,
                ..
            },
        ) => Plan::Adopt,
        (
            RecordState::Absent,
            D::Files {
                pg_version: true,
                pg_control: true,
                backup_label: false,
                ..
            },
        ) if o.wanted != Method::Init => Plan::Adopt,
        (
            RecordState::Absent,
            D::Files {
                pg_version: true, ..
            },
        ) => Plan::Refuse(Refusal::UnfinishedLegacy),
        (RecordState::Absent, D::Files { .. }) => Plan::Refuse(Refusal::NotADataDirectory),
    }
}

/// Why the data directory cannot be bootstrapped or started.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// PGDATA has no parent directory to keep the record in.
    #[error("PGDATA {0} has no parent directory for the bootstrap record")]
    NoParent(PathBuf),
    /// The record could not be read or written.
    #[error("bootstrap record {path}: {source}")]
    RecordIo {
        /// Record file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The record is not what pgfed writes; it is not guessed at.
    #[error("bootstrap record {path} is unreadable ({source}); fix or remove it")]
    RecordGarbled {
        /// Record file.
        path: PathBuf,
        /// Cause.
        source: serde_json::Error,
    },
    /// PGDATA could not be inspected.
    #[error("inspecting {path}: {source}")]
    Inspect {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Neither started nor rebuilt.
    #[error("{pgdata}: {}", why.explain())]
    Refused {
        /// PGDATA.
        pgdata: PathBuf,
        /// Why.
        why: Refusal,
    },
    /// An explicit init/join/restore on a complete data directory.
    #[error("{0} already holds a complete data directory; bootstrap only creates new ones")]
    AlreadyComplete(PathBuf),
    /// PostgreSQL may not start: the data directory is not complete.
    #[error(
        "{0} is not a complete data directory (no complete bootstrap record beside it); \
         PostgreSQL is not started on it: run `instance run`, `instance init`, `join` or `restore`"
    )]
    NotComplete(PathBuf),
    /// A directory a restore would write into (a tablespace) already holds files pgfed did not
    /// write.
    #[error("{0} is not empty; a restore writes only into empty or absent directories")]
    NotEmpty(PathBuf),
    /// The command needs a `bootstrap` section the configuration does not have.
    #[error("{0} is not configured")]
    NotConfigured(&'static str),
    /// `bootstrap.recovery.source` is unset.
    #[error(
        "bootstrap.recovery.source is not set: the instance manager restores only from an \
         external cluster's object store"
    )]
    NoRecoverySource,
    /// A source names no external cluster.
    #[error("external cluster {0:?} is not defined")]
    UnknownExternalCluster(String),
    /// `bootstrap.initdb.secret` holds another user's credentials.
    #[error("secret {secret} is for user {user:?}, but the database owner is {owner:?}")]
    SecretForAnotherUser {
        /// Secret name.
        secret: String,
        /// The secret's `username`.
        user: String,
        /// The database owner.
        owner: String,
    },
    /// No backup in the archive can start the recovery.
    #[error("cannot restore from {archive}: {source}")]
    NoBackup {
        /// The archive's URL.
        archive: String,
        /// Why.
        source: pgfed_api::barman::select::SelectError,
    },
    /// PostgreSQL exited before recovery reached its target.
    #[error("postgres stopped during recovery; last log lines: {log_tail}")]
    RecoveryStopped {
        /// The end of PostgreSQL's log.
        log_tail: String,
    },
    /// Removing an unfinished bootstrap's work failed.
    #[error("removing the unfinished bootstrap's files in {path}: {source}")]
    Clean {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl BootstrapError {
    /// A short, stable name for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            BootstrapError::NoParent(_) => "no_parent",
            BootstrapError::RecordIo { .. } => "record_io",
            BootstrapError::RecordGarbled { .. } => "record_garbled",
            BootstrapError::Inspect { .. } => "inspect",
            BootstrapError::Refused { why, .. } => match why {
                Refusal::MountPoint => "pgdata_mount_point",
                Refusal::CompleteWithoutData => "complete_without_data",
                Refusal::UnfinishedLegacy => "unfinished_legacy",
                Refusal::NotADataDirectory => "not_a_data_directory",
            },
            BootstrapError::AlreadyComplete(_) => "already_complete",
            BootstrapError::NotComplete(_) => "not_complete",
            BootstrapError::NotEmpty(_) => "not_empty",
            BootstrapError::NotConfigured(_) => "not_configured",
            BootstrapError::NoRecoverySource => "no_recovery_source",
            BootstrapError::UnknownExternalCluster(_) => "unknown_external_cluster",
            BootstrapError::SecretForAnotherUser { .. } => "secret_for_another_user",
            BootstrapError::NoBackup { .. } => "no_backup",
            BootstrapError::RecoveryStopped { .. } => "recovery_stopped",
            BootstrapError::Clean { .. } => "clean",
        }
    }
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
fn write_record(pgdata: &Path, record: &Record) -> Result<(), BootstrapError> {
    let path = record_path(pgdata)?;
    let io = |source| BootstrapError::RecordIo {
        path: path.clone(),
        source,
    };
    let parent = path
        .parent()
        .ok_or_else(|| BootstrapError::NoParent(pgdata.to_path_buf()))?;
    std::fs::create_dir_all(parent).map_err(io)?;
    let tmp = path.with_extension("pgfed-bootstrap.tmp");
    let text = serde_json::to_vec(record).map_err(|e| io(std::io::Error::other(e)))?;
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(&text).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    std::fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(io)
}

/// Looks at the record and PGDATA.
pub fn observe(cfg: &ManagerConfig) -> Result<Observed, BootstrapError> {
    Ok(Observed {
        record: read_record(&cfg.pgdata)?,
        data: inspect_data_dir(&cfg.pgdata)?,
        wanted: Method::wanted(cfg),
    })
}

fn inspect_data_dir(pgdata: &Path) -> Result<DataDir, BootstrapError> {
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

/// What a bootstrap produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bootstrapped {
    /// The backup a restore used.
    pub backup_id: Option<String>,
}

/// Makes the data directory with `method` (`instance init`, `join`, `restore`): refused when it is
/// complete already or is not pgfed's to rebuild; an unfinished earlier bootstrap's work is
/// removed first.
pub async fn bootstrap(
    cfg: &ManagerConfig,
    config_file: &Path,
    method: Method,
) -> Result<Bootstrapped, InstanceError> {
    let observed = observe(cfg)?;
    match decide(&observed) {
        Plan::Bootstrap => {}
        Plan::CleanThenBootstrap(paths) => clean(cfg, &paths)?,
        Plan::Ready | Plan::Adopt => {
            return Err(BootstrapError::AlreadyComplete(cfg.pgdata.clone()).into());
        }
        Plan::Refuse(why) => return Err(refused(cfg, why).into()),
    }
    write_record(
        &cfg.pgdata,
        &Record::InProgress {
            method,
            paths: vec![cfg.pgdata.clone()],
        },
    )?;
    let made = match method {
        Method::Init => init::init(cfg, config_file).await.map(|()| None)?,
        Method::Join => join::join(cfg, config_file).map(|()| None)?,
        Method::Restore => Some(restore::restore(cfg, config_file).await?),
    };
    // Last: only now may PostgreSQL start on it.
    write_record(&cfg.pgdata, &Record::Complete { method })?;
    tracing::info!(?method, pgdata = %cfg.pgdata.display(), "bootstrap complete");
    Ok(Bootstrapped { backup_id: made })
}

/// Before `instance run` starts PostgreSQL: bootstraps with the configured method unless the data
/// directory is complete, and records an older manager's finished directory as complete.
pub async fn ensure(cfg: &ManagerConfig, config_file: &Path) -> Result<(), InstanceError> {
    match decide(&observe(cfg)?) {
        Plan::Ready => Ok(()),
        Plan::Adopt => adopt(cfg).map_err(InstanceError::from),
        Plan::Refuse(why) => Err(refused(cfg, why).into()),
        Plan::Bootstrap | Plan::CleanThenBootstrap(_) => {
            bootstrap(cfg, config_file, Method::wanted(cfg))
                .await
                .map(|_| ())
        }
    }
}

/// Refuses unless PostgreSQL may start on the data directory (an older manager's finished one is
/// recorded as complete first). Every path that starts PostgreSQL outside a bootstrap calls this.
pub fn require_complete(cfg: &ManagerConfig) -> Result<(), BootstrapError> {
    match decide(&observe(cfg)?) {
        Plan::Ready => Ok(()),
        Plan::Adopt => adopt(cfg),
        Plan::Refuse(why) => Err(refused(cfg, why)),
        Plan::Bootstrap | Plan::CleanThenBootstrap(_) => {
            Err(BootstrapError::NotComplete(cfg.pgdata.clone()))
        }
    }
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

fn adopt(cfg: &ManagerConfig) -> Result<(), BootstrapError> {
    tracing::warn!(
        pgdata = %cfg.pgdata.display(),
        "data directory from an older manager, finished by the evidence: recording it as complete"
    );
    write_record(&cfg.pgdata, &Record::Adopted)
}

fn refused(cfg: &ManagerConfig, why: Refusal) -> BootstrapError {
    BootstrapError::Refused {
        pgdata: cfg.pgdata.clone(),
        why,
    }
}

/// Removes an unfinished bootstrap's work: stops a postmaster it left running (the manager was
/// killed while PostgreSQL ran for post-init SQL or recovery), then empties each listed directory,
/// keeping the directories themselves. Symbolic links are removed, never followed.
fn clean(cfg: &ManagerConfig, paths: &[PathBuf]) -> Result<(), InstanceError> {
    tracing::warn!(
        ?paths,
        "removing an unfinished bootstrap's files before retrying it"
    );
    if cfg.pgdata.join("postmaster.pid").exists() && ctl::is_running(cfg) {
        ctl::stop(cfg, ctl::StopMode::Immediate, 60)?;
    }
    for dir in paths {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(BootstrapError::Clean {
                    path: dir.clone(),
                    source,
                }
                .into());
            }
        };
        for entry in entries {
            let removed = entry.and_then(|e| {
                let path = e.path();
                if e.file_type()?.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                }
            });
            removed.map_err(|source| BootstrapError::Clean {
                path: dir.clone(),
                source,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pg_version: bool, pg_control: bool, backup_label: bool, legacy: bool) -> DataDir {
        DataDir::Files {
            pg_version,
            pg_control,
            backup_label,
            legacy_init_marker: legacy,
        }
    }

    #[test]
    fn decisions() {
        let complete = RecordState::Found(Record::Complete {
            method: Method::Init,
        });
        let partial = RecordState::Found(Record::InProgress {
            method: Method::Restore,
            paths: vec!["/d/pgdata".into(), "/d/tbs".into()],
        });
        let clean_partial = Plan::CleanThenBootstrap(vec!["/d/pgdata".into(), "/d/tbs".into()]);
        let absent = RecordState::Absent;
        let finished = files(true, true, false, false);
        let copied = files(true, true, true, false);
        use Method::*;
        let cases = [
            // A complete record: start, whatever else is there; never rebuilt.
            (complete.clone(), finished, Init, Plan::Ready),
            (complete.clone(), copied, Join, Plan::Ready),
            (
                RecordState::Found(Record::Adopted),
                finished,
                Init,
                Plan::Ready,
            ),
            (
                complete.clone(),
                DataDir::Empty,
                Init,
                Plan::Refuse(Refusal::CompleteWithoutData),
            ),
            (
                complete.clone(),
                DataDir::Absent,
                Restore,
                Plan::Refuse(Refusal::CompleteWithoutData),
            ),
            (
                complete.clone(),
                files(false, false, false, false),
                Init,
                Plan::Refuse(Refusal::CompleteWithoutData),
            ),
            // Our own unfinished work: cleaned, whatever it holds (even a copied legacy marker).
            (partial.clone(), copied, Restore, clean_partial.clone()),
            (
                partial.clone(),
                files(true, true, false, true),
                Init,
                clean_partial.clone(),
            ),
            (partial.clone(), DataDir::Empty, Init, clean_partial.clone()),
            // Nothing yet.
            (absent.clone(), DataDir::Absent, Init, Plan::Bootstrap),
            (absent.clone(), DataDir::Empty, Join, Plan::Bootstrap),
            // Older managers' directories: never removed, started only on evidence.
            (
                absent.clone(),
                files(true, true, false, true),
                Init,
                Plan::Adopt,
            ),
            (
                absent.clone(),
                finished,
                Init,
                Plan::Refuse(Refusal::UnfinishedLegacy),
            ),
            (absent.clone(), finished, Join, Plan::Adopt),
            (absent.clone(), finished, Restore, Plan::Adopt),
            (
                absent.clone(),
                copied,
                Join,
                Plan::Refuse(Refusal::UnfinishedLegacy),
            ),
            (
                absent.clone(),
                files(true, false, false, false),
                Restore,
                Plan::Refuse(Refusal::UnfinishedLegacy),
            ),
            (
                absent.clone(),
                files(false, false, false, false),
                Init,
                Plan::Refuse(Refusal::NotADataDirectory),
            ),
            // A mount point: the record would not live on the same volume.
            (
                complete.clone(),
                DataDir::MountPoint,
                Init,
                Plan::Refuse(Refusal::MountPoint),
            ),
            (
                absent.clone(),
                DataDir::MountPoint,
                Init,
                Plan::Refuse(Refusal::MountPoint),
            ),
        ];
        for (record, data, wanted, want) in cases {
            let o = Observed {
                record: record.clone(),
                data,
                wanted,
            };
            assert_eq!(decide(&o), want, "{o:?}");
        }
    }

    #[test]
    fn wanted_method_follows_the_bootstrap_section() {
        for (bootstrap, want) in [
            ("", Method::Init),
            ("bootstrap: {initdb: {database: app}}", Method::Init),
            ("bootstrap: {pg_basebackup: {source: a}}", Method::Join),
            ("bootstrap: {recovery: {source: a}}", Method::Restore),
        ] {
            let cfg = ManagerConfig::parse(&format!("clusterName: c\npgdata: /d\n{bootstrap}\n"))
                .expect("config");
            assert_eq!(Method::wanted(&cfg), want, "{bootstrap}");
        }
    }

    #[test]
    fn record_sits_beside_pgdata_and_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pgdata = dir.path().join("pgdata");
        assert_eq!(
            record_path(&pgdata).expect("path"),
            dir.path().join("pgdata.pgfed-bootstrap")
        );
        assert_eq!(read_record(&pgdata).expect("read"), RecordState::Absent);
        let partial = Record::InProgress {
            method: Method::Join,
            paths: vec![pgdata.clone()],
        };
        write_record(&pgdata, &partial).expect("write");
        assert_eq!(
            read_record(&pgdata).expect("read"),
            RecordState::Found(partial)
        );
        assert!(!is_complete(&pgdata));
        write_record(
            &pgdata,
            &Record::Complete {
                method: Method::Join,
            },
        )
        .expect("write");
        assert!(is_complete(&pgdata));
        let text = std::fs::read_to_string(record_path(&pgdata).expect("path")).expect("text");
        assert_eq!(text, r#"{"state":"complete","method":"join"}"#);
        std::fs::write(record_path(&pgdata).expect("path"), "garbage").expect("write");
        assert!(matches!(
            read_record(&pgdata),
            Err(BootstrapError::RecordGarbled { .. })
        ));
    }

    #[test]
    fn data_directory_inspection() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pgdata = dir.path().join("pgdata");
        assert_eq!(inspect_data_dir(&pgdata).expect("inspect"), DataDir::Absent);
        std::fs::create_dir(&pgdata).expect("mkdir");
        assert_eq!(inspect_data_dir(&pgdata).expect("inspect"), DataDir::Empty);
        std::fs::write(pgdata.join("PG_VERSION"), "15\n").expect("write");
        std::fs::write(pgdata.join("backup_label"), "").expect("write");
        assert_eq!(
            inspect_data_dir(&pgdata).expect("inspect"),
            files(true, false, true, false)
        );
    }
}
