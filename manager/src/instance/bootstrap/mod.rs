//! Whether the data directory is finished, and the one way it gets made: `init`, `join`,
//! `restore` or `clone` run between a bootstrap record that says "in progress" and one that says "complete",
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

pub mod error;
pub mod record;

pub use error::{BootstrapError, Refusal};
pub use record::{
    DataDir, Method, Record, RecordState, claim, is_complete, read_record, record_path,
};
use record::{inspect_data_dir, write_record};

use super::{InstanceError, clone, init, join, restore};
use crate::config::ManagerConfig;
use crate::pg::ctl;
use std::path::{Path, PathBuf};

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

/// Looks at the record and PGDATA.
pub fn observe(cfg: &ManagerConfig) -> Result<Observed, BootstrapError> {
    Ok(Observed {
        record: read_record(&cfg.pgdata)?,
        data: inspect_data_dir(&cfg.pgdata)?,
        wanted: Method::wanted(cfg),
    })
}

/// What a bootstrap produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bootstrapped {
    /// The backup a restore used.
    pub backup_id: Option<String>,
}

/// Makes the data directory with `method` (`instance init`, `join`, `restore`, or a clone of the
/// target primary): refused when it is
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
    if method == Method::Clone {
        // Refused before anything is recorded or written.
        clone::source_conninfo(cfg)?;
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
        Method::Clone => {
            let conninfo = clone::source_conninfo(cfg)?;
            let (c, file) = (cfg.clone(), config_file.to_path_buf());
            super::blocking("pg_basebackup", move || clone::clone(&c, &file, &conninfo)).await?;
            None
        }
    };
    // Last: only now may PostgreSQL start on it.
    write_record(&cfg.pgdata, &Record::Complete { method })?;
    tracing::info!(?method, pgdata = %cfg.pgdata.display(), "bootstrap complete");
    Ok(Bootstrapped { backup_id: made })
}

/// Before `instance run` starts PostgreSQL: bootstraps with the configured method unless the data
/// directory is complete, and records an older manager's finished directory as complete.
pub async fn ensure(cfg: &ManagerConfig, config_file: &Path) -> Result<(), InstanceError> {
    let observed = observe(cfg)?;
    match decide(&observed) {
        Plan::Ready => Ok(()),
        Plan::Adopt => adopt(cfg).map_err(InstanceError::from),
        Plan::Refuse(why) => Err(refused(cfg, why).into()),
        Plan::Bootstrap | Plan::CleanThenBootstrap(_) => {
            bootstrap(cfg, config_file, resumed_method(&observed))
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

/// Records that a re-clone is about to replace the data directory: from now on PostgreSQL must
/// not start on it, and a manager that starts before [`finish_replacing`] empties `paths` and
/// clones again (see [`resumed_method`]).
pub(super) fn begin_replacing(
    cfg: &ManagerConfig,
    paths: Vec<PathBuf>,
) -> Result<(), BootstrapError> {
    write_record(
        &cfg.pgdata,
        &Record::InProgress {
            method: Method::Clone,
            paths,
        },
    )
}

/// Records the re-cloned data directory as complete.
pub(super) fn finish_replacing(cfg: &ManagerConfig) -> Result<(), BootstrapError> {
    write_record(
        &cfg.pgdata,
        &Record::Complete {
            method: Method::Clone,
        },
    )
}

/// Empties `paths` as a retried bootstrap does (for a re-clone in place).
pub(super) fn empty_dirs(cfg: &ManagerConfig, paths: &[PathBuf]) -> Result<(), InstanceError> {
    clean(cfg, paths)
}

/// The method that makes the data directory at start: an interrupted clone (a new instance's,
/// or a former primary's re-clone) is only ever finished as a clone, whatever the configuration
/// asks for now, so a data directory copied from the cluster is never replaced by a new database
/// (a clone that has no source any more fails and the instance stays down). Pure.
pub fn resumed_method(o: &Observed) -> Method {
    match &o.record {
        RecordState::Found(Record::InProgress {
            method: Method::Clone,
            ..
        }) => Method::Clone,
        _ => o.wanted,
    }
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
            // A clone is a copy like a join: empty → clone; half-copied → refused, never adopted.
            (absent.clone(), DataDir::Empty, Clone, Plan::Bootstrap),
            (absent.clone(), finished, Clone, Plan::Adopt),
            (
                absent.clone(),
                copied,
                Clone,
                Plan::Refuse(Refusal::UnfinishedLegacy),
            ),
            (
                RecordState::Found(Record::InProgress {
                    method: Clone,
                    paths: vec!["/d/pgdata".into()],
                }),
                copied,
                Clone,
                Plan::CleanThenBootstrap(vec!["/d/pgdata".into()]),
            ),
            (
                RecordState::Found(Record::Complete { method: Clone }),
                finished,
                Init,
                Plan::Ready,
            ),
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
    fn an_interrupted_clone_is_finished_as_a_clone() {
        let in_progress = |method| {
            RecordState::Found(Record::InProgress {
                method,
                paths: vec!["/d/pgdata".into()],
            })
        };
        use Method::*;
        for (record, wanted, want) in [
            // A former primary's re-clone, now named the target primary again: still a clone.
            (in_progress(Clone), Init, Clone),
            (in_progress(Clone), Restore, Clone),
            (in_progress(Clone), Clone, Clone),
            (in_progress(Init), Init, Init),
            (in_progress(Restore), Clone, Clone),
            (RecordState::Absent, Init, Init),
            (
                RecordState::Found(Record::Complete { method: Clone }),
                Init,
                Init,
            ),
        ] {
            let o = Observed {
                record: record.clone(),
                data: DataDir::Empty,
                wanted,
            };
            assert_eq!(resumed_method(&o), want, "{record:?} {wanted:?}");
        }
    }

    #[test]
    fn wanted_method_follows_the_target_primary_then_the_bootstrap_section() {
        for (bootstrap, want) in [
            ("", Method::Init),
            ("bootstrap: {initdb: {database: app}}", Method::Init),
            ("bootstrap: {pg_basebackup: {source: a}}", Method::Join),
            ("bootstrap: {recovery: {source: a}}", Method::Restore),
            // Only the target primary runs the cluster's bootstrap; the others clone from it.
            (
                "targetPrimary: c-1\nbootstrap: {initdb: {database: app}}",
                Method::Init,
            ),
            (
                "targetPrimary: c-1\nbootstrap: {recovery: {source: a}}",
                Method::Restore,
            ),
            (
                "targetPrimary: c-2\nbootstrap: {initdb: {database: app}}",
                Method::Clone,
            ),
            (
                "targetPrimary: c-2\nbootstrap: {recovery: {source: a}}",
                Method::Clone,
            ),
            ("targetPrimary: c-2\n", Method::Clone),
            // A replica cluster's designated primary restores from its source, whatever the
            // cluster first bootstrapped with; its other instances clone from it.
            (
                "replica: {primary: b, source: b}\nbootstrap: {initdb: {database: app}}",
                Method::Restore,
            ),
            ("replica: {primary: b, source: b}\n", Method::Restore),
            (
                "replica: {primary: b, source: b}\nbootstrap: {pg_basebackup: {source: b}}",
                Method::Join,
            ),
            (
                "targetPrimary: c-2\nreplica: {primary: b, source: b}\n",
                Method::Clone,
            ),
            // The primary cluster of a topology keeps its own bootstrap.
            (
                "replica: {primary: c, source: b}\nbootstrap: {initdb: {database: app}}",
                Method::Init,
            ),
        ] {
            let cfg = ManagerConfig::parse(&format!(
                "clusterName: c\ninstanceName: c-1\npgdata: /d\n{bootstrap}\n"
            ))
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
