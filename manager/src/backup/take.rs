//! Online base backup to object storage from a primary or a standby: pg_backup_start, the data
//! directory and tablespaces streamed as tar (split into `data.jobs` balanced streams, each
//! compressed and uploaded as a parallel multipart upload), pg_backup_stop waiting for the WAL to
//! be archived, backup_label into data.tar, then backup.info marked DONE.

use super::stream::{ChunkWriter, upload};
use super::{BackupError, io};
use crate::compression::Encoder;
use crate::config::ManagerConfig;
use crate::objstore::Archive;
use crate::pg::sql;
use chrono::{SecondsFormat, Utc};
use pgfed_api::barman::CompressionType;
use pgfed_api::barman::backup_info::{BackupInfo, Tablespace, py_repr, render_tablespaces};
use pgfed_api::barman::layout;
use pgfed_api::lsn::{Lsn, WalSegmentName};
use std::io::Read;
use std::path::{Path, PathBuf};
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
}

/// Paths PostgreSQL itself leaves out of base backups (contents of these directories, or files).
const EXCLUDED_DIR_CONTENTS: &[&str] = &[
    "pg_wal",
    "pg_dynshmem",
    "pg_notify",
    "pg_replslot",
    "pg_serial",
    "pg_snapshots",
    "pg_stat_tmp",
    "pg_subtrans",
    "pg_tblspc",
    "pgfed_wal_spool",
    "pgfed_archive_spool",
    "pgfed_partial",
    // The manager owns log_directory; an instance's logs are not part of its data.
    "log",
];
const EXCLUDED_FILES: &[&str] = &[
    "postmaster.pid",
    "postmaster.opts",
    "backup_label",
    "tablespace_map",
    "backup_manifest",
    "standby.signal",
    "recovery.signal",
];

/// Splits files (path, size) into `parts` groups of similar total size, largest files first, one
/// group per `data.jobs` stream. How pgfed splits `data.tar` is its own choice (barman-cloud-backup
/// splits by size instead); restores read whatever parts a backup has, so this is not Barman
/// layout and stays here rather than in `pgfed_api::barman`.
pub fn balance<T: Clone>(files: &[(T, u64)], parts: usize) -> Vec<Vec<T>> {
    let parts = parts.max(1);
    let mut order: Vec<&(T, u64)> = files.iter().collect();
    order.sort_by_key(|f| std::cmp::Reverse(f.1));
    let mut bins: Vec<(u64, Vec<T>)> = vec![(0, Vec::new()); parts];
    for (item, size) in order {
        if let Some(bin) = bins.iter_mut().min_by_key(|b| b.0) {
            bin.0 += size;
            bin.1.push(item.clone());
        }
    }
    bins.into_iter().map(|b| b.1).collect()
}

/// True when a data-directory-relative path is left out. Pure.
pub fn excluded(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    if EXCLUDED_FILES.contains(&rel)
        || name.starts_with("pg_internal.init")
        || name.starts_with("pgsql_tmp")
    {
        return true;
    }
    EXCLUDED_DIR_CONTENTS
        .iter()
        .any(|d| rel.starts_with(&format!("{d}/")))
}

#[derive(Clone, Debug)]
enum Entry {
    Dir(String),
    File(String, u64),
}

/// Lists `root` recursively (relative paths), skipping excluded paths and symlinks.
fn walk(root: &Path, filter: bool) -> Result<Vec<Entry>, BackupError> {
    let mut out = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let dir = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&rel)
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(BackupError::Io {
                    context: format!("listing {}", dir.display()),
                    source: e,
                });
            }
        };
        for entry in entries {
            let entry = entry.map_err(io(format!("listing {}", dir.display())))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if filter && excluded(&child) {
                continue;
            }
            // Files may vanish while we walk (temp files, dropped relations): skip them.
            let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
                continue;
            };
            if meta.is_dir() {
                out.push(Entry::Dir(child.clone()));
                stack.push(child);
            } else if meta.is_file() {
                out.push(Entry::File(child, meta.len()));
            } else if meta.file_type().is_symlink() && filter && child == "pg_wal" {
                out.push(Entry::Dir(child));
            }
        }
    }
    Ok(out)
}

/// One tar stream of the backup.
struct TarJob {
    key: String,
    root: PathBuf,
    dirs: Vec<String>,
    files: Vec<String>,
    /// For data.tar: tells the coordinator every file is copied, then receives backup_label
    /// once pg_backup_stop returned.
    label: Option<(
        tokio::sync::oneshot::Sender<()>,
        std::sync::mpsc::Receiver<String>,
    )>,
}

fn write_tar(
    job: TarJob,
    compression: Option<CompressionType>,
    tx: mpsc::Sender<bytes::Bytes>,
) -> Result<(u64, u64), BackupError> {
    let encoder = Encoder::new(compression, ChunkWriter::new(tx))?;
    let mut tar = tar::Builder::new(encoder);
    tar.mode(tar::HeaderMode::Complete);
    let mut read = 0u64;
    for d in &job.dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o700);
        h.set_size(0);
        h.set_mtime(0);
        tar.append_data(&mut h, d, std::io::empty())
            .map_err(io(format!("adding {d}")))?;
    }
    for f in &job.files {
        let path = job.root.join(f);
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        let Ok(meta) = file.metadata() else { continue };
        let size = meta.len();
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        h.set_size(size);
        // A file that shrinks while read is padded with zeros; WAL replay rewrites those pages.
        let reader = file.take(size).chain(std::io::repeat(0)).take(size);
        tar.append_data(&mut h, f, reader)
            .map_err(io(format!("adding {}", path.display())))?;
        read += size;
    }
    if let Some((files_done, rx)) = job.label {
        let _ = files_done.send(());
        let label = rx
            .recv()
            .map_err(|_| BackupError::Invalid("pg_backup_stop did not complete".into()))?;
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o600);
        h.set_size(label.len() as u64);
        h.set_mtime(Utc::now().timestamp().max(0) as u64);
        tar.append_data(&mut h, "backup_label", label.as_bytes())
            .map_err(io("adding backup_label"))?;
    }
    let encoder = tar.into_inner().map_err(io("finishing tar"))?;
    let writer = encoder.finish().map_err(io("finishing compression"))?;
    let stored = writer.close().map_err(io("sending the last chunk"))?;
    Ok((read, stored))
}

/// Takes a backup of the local instance into the cluster's object store.
pub async fn take_backup(
    cfg: &ManagerConfig,
    backup_id: Option<String>,
    archive_stall_timeout: Duration,
) -> Result<BackupReport, BackupError> {
    let store_cfg = cfg.backup_store()?;
    let data_cfg = store_cfg.data.clone().unwrap_or_default();
    let compression = data_cfg.compression;
    let jobs = usize::try_from(data_cfg.jobs.unwrap_or(2))
        .unwrap_or(2)
        .clamp(1, 64);
    let archive = Archive::open(store_cfg, &cfg.cluster_name, &cfg.secrets_dir)?;
    let backup_id = backup_id.unwrap_or_else(|| Utc::now().format("%Y%m%dT%H%M%S").to_string());
    if archive
        .get(&format!(
            "{}/backup.info",
            layout::backup_dir_key(&backup_id)
        ))
        .await?
        .is_some()
    {
        return Err(BackupError::Invalid(format!(
            "backup {backup_id} already exists in {}",
            archive.url()
        )));
    }

    let client = sql::connect(cfg, "postgres").await?;
    let q = |context: &'static str| {
        move |source| crate::pg::PgError::Sql {
            context: context.into(),
            source,
        }
    };
    let version: String = client
        .query_one("SHOW server_version_num", &[])
        .await
        .map_err(q("server_version_num"))?
        .get(0);
    let row = client
        .query_one("SELECT system_identifier::text, bytes_per_wal_segment::bigint FROM pg_control_system(), pg_control_init()", &[])
        .await
        .map_err(q("pg_control_system"))?;
    let systemid: String = row.get(0);
    let segment_size =
        u64::try_from(row.get::<_, i64>(1)).unwrap_or(pgfed_api::lsn::DEFAULT_WAL_SEGMENT_SIZE);
    let tablespaces: Vec<Tablespace> = client
        .query(
            "SELECT spcname::text, oid::bigint, pg_tablespace_location(oid) FROM pg_tablespace \
             WHERE spcname NOT IN ('pg_default', 'pg_global') ORDER BY oid",
            &[],
        )
        .await
        .map_err(q("pg_tablespace"))?
        .into_iter()
        .map(|r| Tablespace {
            name: r.get(0),
            oid: u32::try_from(r.get::<_, i64>(1)).unwrap_or(0),
            location: r.get(2),
        })
        .collect();

    let begin_time = Utc::now();
    let fast = data_cfg.immediate_checkpoint.unwrap_or(true);
    client
        .query_one(
            "SELECT pg_backup_start($1, $2)::text",
            &[&format!("pgfed {backup_id}"), &fast],
        )
        .await
        .map_err(q("pg_backup_start"))?;

    let result = copy_and_stop(
        cfg,
        &client,
        &archive,
        &backup_id,
        &tablespaces,
        compression,
        jobs,
        archive_stall_timeout,
    )
    .await;
    let (size, stored, label) = match result {
        Ok(r) => r,
        Err(e) => {
            // Leave no backup in progress behind; the session ending would also abort it.
            let _ = client.query("SELECT pg_backup_stop(false)", &[]).await;
            // What was uploaded stays (nothing is deleted because of a fault) and is marked
            // FAILED with the reason, as Barman does, so catalogs skip it and people see why.
            let mut info = BackupInfo::default();
            let pyts = |t: chrono::DateTime<Utc>| {
                t.to_rfc3339_opts(SecondsFormat::Micros, false)
                    .replace('T', " ")
            };
            for (k, v) in [
                ("backup_id", backup_id.clone()),
                ("begin_time", pyts(begin_time)),
                ("end_time", pyts(Utc::now())),
                // backup.info is one key=value per line.
                ("error", e.to_string().replace(['\n', '\r'], " ")),
                ("status", "FAILED".to_string()),
                ("systemid", systemid.clone()),
                ("version", version.clone()),
            ] {
                info.set(k, Some(v));
            }
            let key = format!("{}/backup.info", layout::backup_dir_key(&backup_id));
            if let Err(put) = archive.put(&key, info.render().into()).await {
                tracing::warn!(error = %put, "could not record the failed backup");
            }
            return Err(e);
        }
    };
    let end_time = Utc::now();

    let parsed = parse_label(&label.label)?;
    let end_lsn = label.end_lsn;
    let end_wal = WalSegmentName::containing(
        parsed.timeline,
        Lsn(end_lsn.0.saturating_sub(1)),
        segment_size,
    );
    let mut info = BackupInfo::default();
    let pyts = |t: chrono::DateTime<Utc>| {
        t.to_rfc3339_opts(SecondsFormat::Micros, false)
            .replace('T', " ")
    };
    info.set("backup_label", Some(py_repr(&label.label)));
    info.set(
        "begin_offset",
        Some((parsed.start_lsn.0 % segment_size).to_string()),
    );
    info.set("begin_time", Some(pyts(begin_time)));
    info.set("begin_wal", Some(parsed.start_wal.clone()));
    info.set("begin_xlog", Some(parsed.start_lsn.to_string()));
    info.set(
        "compression",
        compression.map(|c| match c {
            CompressionType::Gzip => "gzip".to_string(),
            CompressionType::Bzip2 => "bzip2".to_string(),
            other => format!("{other:?}").to_lowercase(),
        }),
    );
    info.set(
        "config_file",
        Some(cfg.pgdata.join("postgresql.conf").display().to_string()),
    );
    info.set("copy_stats", None);
    info.set("deduplicated_size", None);
    info.set(
        "end_offset",
        Some(((end_lsn.0.saturating_sub(1)) % segment_size + 1).to_string()),
    );
    info.set("end_time", Some(pyts(end_time)));
    info.set("end_wal", Some(end_wal.to_string()));
    info.set("end_xlog", Some(end_lsn.to_string()));
    info.set("error", None);
    info.set(
        "hba_file",
        Some(cfg.pgdata.join("pg_hba.conf").display().to_string()),
    );
    info.set(
        "ident_file",
        Some(cfg.pgdata.join("pg_ident.conf").display().to_string()),
    );
    info.set("included_files", None);
    info.set("mode", Some("concurrent".to_string()));
    info.set("pgdata", Some(cfg.pgdata.display().to_string()));
    info.set(
        "server_name",
        Some(
            store_cfg
                .server_name
                .clone()
                .unwrap_or_else(|| cfg.cluster_name.clone()),
        ),
    );
    info.set("size", Some(size.to_string()));
    info.set("status", Some("DONE".to_string()));
    info.set("systemid", Some(systemid));
    info.set("tablespaces", render_tablespaces(&tablespaces));
    info.set("timeline", Some(parsed.timeline.to_string()));
    info.set("version", Some(version));
    info.set("xlog_segment_size", Some(segment_size.to_string()));
    archive
        .put(
            &format!("{}/backup.info", layout::backup_dir_key(&backup_id)),
            info.render().into(),
        )
        .await?;
    Ok(BackupReport {
        backup_id,
        size,
        stored,
        begin_wal: parsed.start_wal,
        end_wal: end_wal.to_string(),
        begin_lsn: parsed.start_lsn.to_string(),
        end_lsn: end_lsn.to_string(),
    })
}

struct StopResult {
    label: String,
    end_lsn: Lsn,
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
) -> Result<(u64, u64, StopResult), BackupError> {
    let entries = tokio::task::spawn_blocking({
        let root = cfg.pgdata.clone();
        move || walk(&root, true)
    })
    .await
    .map_err(|e| BackupError::Invalid(format!("walk task: {e}")))??;
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    for e in entries {
        match e {
            Entry::Dir(d) => dirs.push(d),
            Entry::File(f, s) => files.push((f, s)),
        }
    }
    dirs.sort();
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
        let entries = walk(&root, false)?;
        let (mut d, mut f) = (Vec::new(), Vec::new());
        for e in entries {
            match e {
                Entry::Dir(x) => d.push(x),
                Entry::File(x, _) => f.push(x),
            }
        }
        d.sort();
        tar_jobs.push(TarJob {
            key: layout::backup_tar_key(backup_id, Some(t.oid), 0, compression),
            root,
            dirs: d,
            files: f,
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
    let stop = async {
        let row = client
            .query_one("SELECT lsn::text, labelfile FROM pg_backup_stop(true)", &[])
            .await
            .map_err(|source| crate::pg::PgError::Sql {
                context: "pg_backup_stop".into(),
                source,
            })?;
        let lsn: String = row.get(0);
        let label: String = row.get(1);
        Ok::<_, BackupError>(StopResult {
            end_lsn: lsn
                .parse()
                .map_err(|e| BackupError::Invalid(format!("{e}")))?,
            label,
        })
    };
    let mut size = 0;
    let mut stored = 0;
    let mut data_producer = None;
    for (i, p) in producers.into_iter().enumerate() {
        if i == 0 {
            data_producer = Some(p);
            continue;
        }
        let (r, s) = p
            .await
            .map_err(|e| BackupError::Invalid(format!("tar task: {e}")))??;
        size += r;
        stored += s;
    }
    // pg_backup_stop only once every file of data.tar is copied too; it then waits for the label.
    files_done_rx.await.map_err(|_| {
        BackupError::Invalid("data.tar stream failed before copying every file".into())
    })?;
    // pg_backup_stop waits, without limit, for the backup's last WAL segment to be archived.
    // When archiving keeps failing (object store down, a conflicting segment) that would hang the
    // backup for ever: give up once it has failed and made no progress for the stall timeout.
    let stopped = tokio::select! {
        r = stop => r?,
        stalled = watch_archiver(cfg, archive_stall_timeout) => {
            let _ = client.cancel_token().cancel_query(tokio_postgres::NoTls).await;
            return Err(stalled);
        }
    };
    label_tx
        .send(stopped.label.clone())
        .map_err(|_| BackupError::Invalid("data.tar stream ended before backup_label".into()))?;
    if let Some(p) = data_producer {
        let (r, s) = p
            .await
            .map_err(|e| BackupError::Invalid(format!("tar task: {e}")))??;
        size += r;
        stored += s;
    }
    for u in uploads {
        u.await
            .map_err(|e| BackupError::Invalid(format!("upload task: {e}")))?
            .map_err(|e| archive.wrap(e))?;
    }
    Ok((size, stored, stopped))
}

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
async fn watch_archiver(cfg: &ManagerConfig, limit: Duration) -> BackupError {
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
            return BackupError::Invalid(format!(
                "backup abandoned: pg_backup_stop is waiting for WAL archiving, which has failed \
                 {} time(s) and archived nothing for {}s (last failure: {wal} at {when}); check the \
                 object store and the archive_command log. No WAL and no earlier backup was touched",
                now.failed - at_start.failed,
                progress_at.elapsed().as_secs()
            ));
        }
    }
}

/// The fields of a backup_label the manager needs.
#[derive(Debug, PartialEq, Eq)]
pub struct Label {
    /// START WAL LOCATION.
    pub start_lsn: Lsn,
    /// The segment file named next to it.
    pub start_wal: String,
    /// START TIMELINE.
    pub timeline: u32,
}

/// Parses a backup_label. Pure.
pub fn parse_label(text: &str) -> Result<Label, BackupError> {
    let bad =
        |what: &str| BackupError::Invalid(format!("backup_label has no valid {what}: {text:?}"));
    let mut start = None;
    let mut timeline = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("START WAL LOCATION: ") {
            // "0/2000028 (file 000000010000000000000002)"
            let (lsn, file) = rest
                .split_once(" (file ")
                .ok_or_else(|| bad("START WAL LOCATION"))?;
            let lsn: Lsn = lsn.parse().map_err(|_| bad("START WAL LOCATION"))?;
            start = Some((lsn, file.trim_end_matches(')').to_string()));
        } else if let Some(rest) = line.strip_prefix("START TIMELINE: ") {
            timeline = rest.trim().parse().ok();
        }
    }
    let (start_lsn, start_wal) = start.ok_or_else(|| bad("START WAL LOCATION"))?;
    Ok(Label {
        start_lsn,
        start_wal,
        timeline: timeline.ok_or_else(|| bad("START TIMELINE"))?,
    })
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

    #[test]
    fn exclusions() {
        for (p, ex) in [
            ("postmaster.pid", true),
            ("pg_wal/000000010000000000000001", true),
            ("pg_wal", false),
            ("pg_tblspc/16385", true),
            ("base/1/1259", false),
            ("base/1/pg_internal.init", true),
            ("base/pgsql_tmp/pgsql_tmp1.0", true),
            ("global/pg_control", false),
            ("pgfed_wal_spool/000000010000000000000003", true),
            ("postgresql.conf", false),
            ("standby.signal", true),
            ("log/postgres.json", true),
            ("log", false),
        ] {
            assert_eq!(excluded(p), ex, "{p}");
        }
    }

    #[test]
    fn labels() {
        let label = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nCHECKPOINT LOCATION: 0/2000060\n\
                     BACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: 2026-11-20 22:00:00 UTC\nLABEL: x\nSTART TIMELINE: 1\n";
        let l = parse_label(label).expect("label");
        assert_eq!(l.start_lsn.to_string(), "0/2000028");
        assert_eq!(l.start_wal, "000000010000000000000002");
        assert_eq!(l.timeline, 1);
        assert!(parse_label("garbage").is_err());
    }

    #[test]
    fn balancing() {
        let files = [("a", 100), ("b", 60), ("c", 50), ("d", 10)];
        let bins = balance(&files, 2);
        assert_eq!(bins.len(), 2);
        assert_eq!(bins[0], vec!["a", "d"]);
        assert_eq!(bins[1], vec!["b", "c"]);
        assert_eq!(balance(&files, 0).len(), 1);
    }
}
