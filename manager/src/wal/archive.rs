//! archive_command: upload a WAL file (and, with maxParallel > 1, the next ready segments in
//! parallel) to `wals/` in the Barman Cloud layout. Re-archiving an identical file succeeds, a
//! different file under the same name is refused, and failures leave everything in pg_wal for
//! PostgreSQL to retry.

use super::{WalError, io, plan, ready};
use crate::compression;
use crate::config::ManagerConfig;
use crate::objstore::Archive;
use bytes::Bytes;
use futures::StreamExt;
use object_store::{ObjectStore, PutOptions, PutPayload, TagSet};
use pgfed_api::barman::CompressionType;
use pgfed_api::barman::layout;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What happened to the requested file.
#[derive(Debug, PartialEq, Eq)]
pub enum ArchiveOutcome {
    /// Uploaded now; `extra` more ready segments went up alongside it.
    Uploaded {
        /// Extra segments uploaded in the same call.
        extra: usize,
    },
    /// An identical copy was already in the archive.
    AlreadyArchived,
    /// An earlier parallel call uploaded it; only its local marker was consumed.
    UploadedEarlier,
}

/// Directory of markers for segments uploaded ahead of PostgreSQL's request.
pub fn marker_dir(cfg: &ManagerConfig) -> PathBuf {
    cfg.pgdata.join("pgfed_archive_spool")
}

/// Runs archive_command for `wal_path` (relative to PGDATA or absolute).
pub async fn wal_archive(cfg: &ManagerConfig, wal_path: &Path) -> Result<ArchiveOutcome, WalError> {
    let name = wal_path
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| layout::is_xlog_file(n) || layout::is_history_file(n))
        .ok_or_else(|| WalError::NotWal(wal_path.display().to_string()))?
        .to_string();
    let wal_path = if wal_path.is_absolute() {
        wal_path.to_path_buf()
    } else {
        cfg.pgdata.join(wal_path)
    };

    let markers = marker_dir(cfg);
    let marker = markers.join(&name);
    if marker.exists() {
        std::fs::remove_file(&marker).map_err(io(format!("removing {}", marker.display())))?;
        return Ok(ArchiveOutcome::UploadedEarlier);
    }

    let store_cfg = cfg.backup_store()?;
    let wal_cfg = store_cfg.wal.clone().unwrap_or_default();
    let max_parallel = usize::try_from(wal_cfg.max_parallel.unwrap_or(1))
        .unwrap_or(1)
        .max(1);
    let archive = Archive::open(store_cfg, &cfg.cluster_name, &cfg.secrets_dir)?;

    let wal_dir = wal_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    // Without a readable status directory the requested file goes up alone.
    let ready = ready::ready_wal_files(&wal_dir.join("archive_status")).unwrap_or_default();
    let batch = plan::archive_batch(&name, &ready, max_parallel);

    let tags = |n: &str| {
        let source = if layout::is_history_file(n) && !store_cfg.history_tags.is_empty() {
            &store_cfg.history_tags
        } else {
            &store_cfg.tags
        };
        let mut set = TagSet::default();
        for (k, v) in source {
            set.push(k, v);
        }
        set
    };

    // One listing per Barman directory serves the existence checks of the whole batch.
    let dirs: BTreeSet<String> = batch.iter().map(|n| layout::wal_dir_key(n)).collect();
    let mut listings = BTreeMap::new();
    for dir in dirs {
        let names = archive.list_dir(&dir).await?;
        listings.insert(dir, names);
    }

    let results: Vec<(String, Result<bool, WalError>)> =
        futures::stream::iter(batch.iter().cloned())
            .map(|n| {
                let path = wal_dir.join(&n);
                let listing = listings
                    .get(&layout::wal_dir_key(&n))
                    .cloned()
                    .unwrap_or_default();
                let archive = archive.clone();
                let tags = tags(&n);
                async move {
                    let r =
                        upload_one(&archive, &n, &path, &listing, wal_cfg.compression, tags).await;
                    (n, r)
                }
            })
            .buffer_unordered(max_parallel)
            .collect()
            .await;

    let mut outcome = None;
    let mut extra = 0;
    for (n, r) in results {
        if n == name {
            outcome = Some(r);
            continue;
        }
        match r {
            Ok(_) => {
                std::fs::create_dir_all(&markers)
                    .map_err(io(format!("creating {}", markers.display())))?;
                std::fs::write(markers.join(&n), b"")
                    .map_err(io(format!("writing marker for {n}")))?;
                extra += 1;
            }
            // The extra file is retried when PostgreSQL asks for it; only the requested one decides.
            Err(e) => {
                tracing::warn!(wal = %n, error = %e, "parallel archive of a ready segment failed")
            }
        }
    }
    match outcome {
        Some(Ok(true)) => Ok(ArchiveOutcome::Uploaded { extra }),
        Some(Ok(false)) => Ok(ArchiveOutcome::AlreadyArchived),
        Some(Err(e)) => Err(e),
        None => Err(WalError::NotWal(name)),
    }
}

/// Uploads one file; `Ok(false)` when an identical copy already exists.
async fn upload_one(
    archive: &Archive,
    name: &str,
    path: &Path,
    listing: &[String],
    compression: Option<CompressionType>,
    tags: TagSet,
) -> Result<bool, WalError> {
    let read = || async {
        tokio::fs::read(path)
            .await
            .map_err(io(format!("reading {}", path.display())))
    };
    let existing: Vec<(&String, Option<CompressionType>)> = listing
        .iter()
        .filter_map(|o| {
            layout::parse_wal_object(o)
                .filter(|(stem, _)| *stem == name)
                .map(|(_, c)| (o, c))
        })
        .collect();
    for (object, c) in &existing {
        let key = format!("{}/{object}", layout::wal_dir_key(name));
        let Some(stored) = archive.get(&key).await? else {
            continue;
        };
        let data = read().await?;
        let stored = tokio::task::spawn_blocking({
            let c = *c;
            move || compression::decompress(c, &stored)
        })
        .await
        .map_err(|e| WalError::Io {
            context: "decompress task".into(),
            source: std::io::Error::other(e),
        })?;
        match stored {
            Ok(stored) if stored == data => return Ok(false),
            _ => {
                return Err(WalError::Conflict {
                    name: name.to_string(),
                    existing: object.to_string(),
                    url: archive.url().to_string(),
                });
            }
        }
    }
    // Uncompressed segments go up from the buffer they were read into, compressed ones are
    // compressed while being read: no extra 16 MiB copy either way, which is a measurable share
    // of the archiver's CPU.
    let payload = match compression {
        None => read().await?,
        Some(c) => {
            let path = path.to_path_buf();
            tokio::task::spawn_blocking(move || compression::compress_file(c, &path))
                .await
                .map_err(|e| WalError::Io {
                    context: "compress task".into(),
                    source: std::io::Error::other(e),
                })?
                .map_err(|source| WalError::Compression {
                    name: name.to_string(),
                    source,
                })?
        }
    };
    let key = layout::wal_key(name, compression);
    let opts = PutOptions {
        tags,
        ..PutOptions::default()
    };
    archive
        .store()
        .put_opts(
            &archive.path(&key),
            PutPayload::from_bytes(Bytes::from(payload)),
            opts,
        )
        .await
        .map_err(|e| archive.wrap(e))?;
    Ok(true)
}
