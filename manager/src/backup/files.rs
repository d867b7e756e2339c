//! Which files a base backup holds and how they become tar streams: the walk of the data directory
//! and tablespaces (leaving out what PostgreSQL leaves out), the split of data.tar into balanced
//! parallel streams, and the tar writer that compresses into chunks for the uploader. Blocking
//! code, run on blocking threads; no SQL and no object store here.

use super::stream::ChunkWriter;
use super::{BackupError, Interruption, io};
use crate::compression::Encoder;
use chrono::Utc;
use pgfed_api::barman::CompressionType;
use std::io::Read;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

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
    // A demotion under way belongs to the instance, not to a copy restored elsewhere.
    crate::instance::demote::DEMOTION_RECORD,
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

/// One entry of a directory walk.
#[derive(Clone, Debug)]
pub(super) enum Entry {
    Dir(String),
    File(String, u64),
}

/// Lists `root` recursively (relative paths), skipping excluded paths and symlinks.
pub(super) fn walk(root: &Path, filter: bool) -> Result<Vec<Entry>, BackupError> {
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
pub(super) struct TarJob {
    pub(super) key: String,
    pub(super) root: PathBuf,
    pub(super) dirs: Vec<String>,
    pub(super) files: Vec<String>,
    /// For data.tar: tells the coordinator every file is copied, then receives backup_label
    /// once pg_backup_stop returned.
    pub(super) label: Option<(
        tokio::sync::oneshot::Sender<()>,
        std::sync::mpsc::Receiver<String>,
    )>,
}

pub(super) fn write_tar(
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
            .map_err(|_| BackupError::Interrupted(Interruption::StopNotReturned))?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
            ("pgfed_demotion.json", true),
            ("pgfed_partial/000000010000000000000003.partial", true),
            ("log/postgres.json", true),
            ("log", false),
        ] {
            assert_eq!(excluded(p), ex, "{p}");
        }
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
