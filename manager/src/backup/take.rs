//! Online base backup to object storage from a primary or a standby: pg_backup_start, the data
//! directory and tablespaces streamed as tar (split into `data.jobs` balanced streams, each
//! compressed and uploaded as a parallel multipart upload), pg_backup_stop waiting for the WAL to
//! be archived (on a standby, which does not archive, the wait for the last segment in the object
//! store comes after the copy: see [`super::end_wal`]), backup_label into data.tar, then
//! backup.info marked DONE. A caller may follow the steps through [`Milestone`]s.
//!
//! This module only orders the steps: [`super::files`] walks and tars, [`super::pg_backup`] speaks
//! SQL, [`super::archiver_watch`] bounds the wait for WAL archiving, and what backup.info says
//! is decided in [`pgfed_api::barman::backup_info`].

use super::archiver_watch::watch_archiver;
use super::end_wal::{must_wait_for_end_segment, wait_archived};
use super::files::{Entry, TarJob, balance, walk, write_tar};
use super::pg_backup::{self, Stopped};
use super::stream::upload;
use super::{BackupError, Interruption, task};
use crate::config::ManagerConfig;
use crate::objstore::{Archive, server_name};
use crate::pg::sql;
use chrono::{DateTime, SecondsFormat, Utc};
use pgfed_api::barman::CompressionType;
use pgfed_api::barman::backup_info::{
    BackupInfo, CompletedBackup, FailedBackup, Tablespace, backup_end_wal,
};
use pgfed_api::barman::backup_label::parse_backup_label;
use pgfed_api::barman::layout;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

/// What a finished backup reports.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupReport {
    /// Backup ID.
    pub backup_id: String,
    /// Bytes read from disk.
    pub size: u64,
    /// Bytes stored (after compression).
    pub stored: u64,
    /// First WAL segment needed.
    pub begin_wal: String,
    /// Last WAL segment needed.
    pub end_wal: String,
    /// Start LSN.
    pub begin_lsn: String,
    /// End LSN.
    pub end_lsn: String,
    /// Timeline the backup started on.
    pub timeline: u32,
    /// Taken on a standby.
    pub from_standby: bool,
    /// PostgreSQL major version.
    pub major_version: i32,
    /// When pg_backup_start was called (RFC 3339).
    pub begin_time: String,
    /// When the backup was complete (RFC 3339).
    pub end_time: String,
}

/// How a backup is taken.
#[derive(Clone, Debug)]
pub struct BackupOptions {
    /// Backup ID; default: the current UTC time, Barman's format.
    pub backup_id: Option<String>,
    /// How long WAL archiving may fail without progress while pg_backup_stop waits on it.
    pub archive_stall_timeout: Duration,
    /// On a standby: how long to wait for the primary to archive the backup's last segment.
    pub end_wal_timeout: Duration,
}

/// A step of a backup under way, for a caller that reports progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Milestone {
    /// pg_backup_start returned: the data is being copied.
    Started {
        /// Backup ID.
        backup_id: String,
        /// Where the backup starts in WAL.
        begin_lsn: String,
        /// Taken on a standby.
        from_standby: bool,
        /// PostgreSQL major version.
        major_version: i32,
    },
    /// The copy is done; the backup waits for its last WAL segment to be archived.
    Finalizing,
    /// On a standby: the backup ended at `end_lsn` and waits for the primary to archive
    /// `end_wal` (which it does once it switches away from that segment).
    AwaitingEndWal {
        /// The segment waited for.
        end_wal: String,
        /// Where the backup ends.
        end_lsn: String,
    },
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Takes a backup of the local instance into the cluster's object store, telling `report` each
/// [`Milestone`] as it is reached.
pub async fn take_backup(
    cfg: &ManagerConfig,
    options: &BackupOptions,
    report: &(dyn Fn(Milestone) + Send + Sync),
) -> Result<BackupReport, BackupError> {
    let archive_stall_timeout = options.archive_stall_timeout;
    let store_cfg = cfg.backup_store()?;
    let data_cfg = store_cfg.data.clone().unwrap_or_default();
    let compression = data_cfg.compression;
    let jobs = usize::try_from(data_cfg.jobs.unwrap_or(2))
        .unwrap_or(2)
        .clamp(1, 64);
    let archive = Archive::open(store_cfg, &cfg.cluster_name, &cfg.secrets_dir)?;
    let backup_id = options
        .backup_id
        .clone()
        .unwrap_or_else(|| Utc::now().format("%Y%m%dT%H%M%S").to_string());
    let info_key = format!("{}/backup.info", layout::backup_dir_key(&backup_id));
    if archive.get(&info_key).await?.is_some() {
        return Err(BackupError::AlreadyExists {
            backup_id,
            url: archive.url().to_string(),
        });
    }

    let client = sql::connect(cfg, "postgres").await?;
    let facts = pg_backup::server_facts(&client).await?;
    let begin_time = Utc::now();
    let begin_lsn = pg_backup::start(
        &client,
        &backup_id,
        data_cfg.immediate_checkpoint.unwrap_or(true),
    )
    .await?;
    report(Milestone::Started {
        backup_id: backup_id.clone(),
        begin_lsn: begin_lsn.to_string(),
        from_standby: facts.in_recovery,
        major_version: facts.major_version(),
    });

    let copied = async {
        let (size, stored, stopped) = copy_and_stop(
            cfg,
            &client,
            &archive,
            &backup_id,
            &facts.tablespaces,
            compression,
            jobs,
            archive_stall_timeout,
            report,
        )
        .await?;
        if must_wait_for_end_segment(
            facts.in_recovery,
            &facts.archive_mode,
            &facts.archive_command,
        ) {
            let label = parse_backup_label(&stopped.label)?;
            let end_wal = backup_end_wal(label.timeline, stopped.end_lsn, facts.segment_size);
            report(Milestone::AwaitingEndWal {
                end_wal: end_wal.to_string(),
                end_lsn: stopped.end_lsn.to_string(),
            });
            wait_archived(&archive, &end_wal.to_string(), options.end_wal_timeout).await?;
        }
        Ok::<_, BackupError>((size, stored, stopped))
    }
    .await;
    let (size, stored, stopped) = match copied {
        Ok(r) => r,
        Err(e) => {
            pg_backup::abort(&client).await;
            // What was uploaded stays (nothing is deleted because of a fault) and is marked
            // FAILED with the reason.
            let info = BackupInfo::failed(&FailedBackup {
                backup_id: &backup_id,
                begin_time,
                end_time: Utc::now(),
                error: &e.to_string(),
                systemid: &facts.systemid,
                version: &facts.version,
            });
            if let Err(put) = archive.put(&info_key, info.render().into()).await {
                tracing::warn!(error = %put, "could not record the failed backup");
            }
            return Err(e);
        }
    };
    let end_time = Utc::now();

    let label = parse_backup_label(&stopped.label)?;
    let pgdata = cfg.pgdata.display().to_string();
    let info = BackupInfo::completed(&CompletedBackup {
        backup_id: &backup_id,
        server_name: server_name(store_cfg, &cfg.cluster_name),
        pgdata: &pgdata,
        version: &facts.version,
        systemid: &facts.systemid,
        segment_size: facts.segment_size,
        compression,
        tablespaces: &facts.tablespaces,
        begin_time,
        end_time,
        label_text: &stopped.label,
        label: &label,
        end_lsn: stopped.end_lsn,
        size,
    });
    archive.put(&info_key, info.render().into()).await?;
    Ok(BackupReport {
        end_wal: backup_end_wal(label.timeline, stopped.end_lsn, facts.segment_size).to_string(),
        backup_id,
        size,
        stored,
        begin_wal: label.start_wal,
        begin_lsn: label.start_lsn.to_string(),
        end_lsn: stopped.end_lsn.to_string(),
        timeline: label.timeline,
        from_standby: facts.in_recovery,
        major_version: facts.major_version(),
        begin_time: rfc3339(begin_time),
        end_time: rfc3339(Utc::now()),
    })
}

/// Splits a walk into directories (sorted, so parents come first) and files with their sizes.
fn split_entries(entries: Vec<Entry>) -> (Vec<String>, Vec<(String, u64)>) {
    let (mut dirs, mut files) = (Vec::new(), Vec::new());
    for e in entries {
        match e {
            Entry::Dir(d) => dirs.push(d),
            Entry::File(f, s) => files.push((f, s)),
        }
    }
    dirs.sort();
    (dirs, files)
}

#[allow(clippy::too_many_arguments)]
async fn copy_and_stop(
    cfg: &ManagerConfig,
    client: &tokio_postgres::Client,
    archive: &Archive,
    backup_id: &str,
    tablespaces: &[Tablespace],
    compression: Option<CompressionType>,
    jobs: usize,
    archive_stall_timeout: Duration,
    report: &(dyn Fn(Milestone) + Send + Sync),
) -> Result<(u64, u64, Stopped), BackupError> {
    let entries = tokio::task::spawn_blocking({
        let root = cfg.pgdata.clone();
        move || walk(&root, true)
    })
    .await
    .map_err(task("walk"))??;
    let (mut dirs, files) = split_entries(entries);
    let (label_tx, label_rx) = std::sync::mpsc::channel();
    let mut tar_jobs = Vec::new();
    for (i, part) in balance(&files, jobs).into_iter().enumerate() {
        tar_jobs.push(TarJob {
            key: layout::backup_tar_key(backup_id, None, i, compression),
            root: cfg.pgdata.clone(),
            dirs: if i == 0 {
                std::mem::take(&mut dirs)
            } else {
                Vec::new()
            },
            files: part,
            label: None,
        });
    }
    let (files_done_tx, files_done_rx) = tokio::sync::oneshot::channel();
    if let Some(first) = tar_jobs.first_mut() {
        first.label = Some((files_done_tx, label_rx));
    }
    for t in tablespaces {
        let root = PathBuf::from(&t.location);
        let (dirs, files) = split_entries(walk(&root, false)?);
        tar_jobs.push(TarJob {
            key: layout::backup_tar_key(backup_id, Some(t.oid), 0, compression),
            root,
            dirs,
            files: files.into_iter().map(|(f, _)| f).collect(),
            label: None,
        });
    }

    let mut producers = Vec::new();
    let mut uploads = Vec::new();
    for job in tar_jobs {
        let (tx, rx) = mpsc::channel(4);
        let path = archive.path(&job.key);
        uploads.push(tokio::spawn(upload(archive.store().clone(), path, rx, 4)));
        producers.push(tokio::task::spawn_blocking(move || {
            write_tar(job, compression, tx)
        }));
    }

    // Everything but backup_label is on its way; the producers of the other streams run on.
    let mut size = 0;
    let mut stored = 0;
    let mut data_producer = None;
    for (i, p) in producers.into_iter().enumerate() {
        if i == 0 {
            data_producer = Some(p);
            continue;
        }
        let (r, s) = p.await.map_err(task("tar"))??;
        size += r;
        stored += s;
    }
    // pg_backup_stop only once every file of data.tar is copied too; it then waits for the label.
    files_done_rx
        .await
        .map_err(|_| BackupError::Interrupted(Interruption::DataTarEndedEarly))?;
    report(Milestone::Finalizing);
    // pg_backup_stop waits, without limit, for the backup's last WAL segment to be archived.
    // When archiving keeps failing (object store down, a conflicting segment) that would hang the
    // backup for ever: give up once it has failed and made no progress for the stall timeout.
    let stopped = tokio::select! {
        r = pg_backup::stop(client) => r?,
        stalled = watch_archiver(cfg, archive_stall_timeout) => {
            let _ = client.cancel_token().cancel_query(tokio_postgres::NoTls).await;
            return Err(stalled);
        }
    };
    label_tx
        .send(stopped.label.clone())
        .map_err(|_| BackupError::Interrupted(Interruption::LabelNotDelivered))?;
    if let Some(p) = data_producer {
        let (r, s) = p.await.map_err(task("tar"))??;
        size += r;
        stored += s;
    }
    for u in uploads {
        u.await
            .map_err(task("upload"))?
            .map_err(|e| archive.wrap(e))?;
    }
    Ok((size, stored, stopped))
}
