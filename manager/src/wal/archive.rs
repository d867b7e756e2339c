//! archive_command: upload a WAL file (and, with maxParallel > 1, the next ready segments in
//! parallel) to `wals/` in the Barman Cloud layout. Re-archiving an identical file succeeds, a
//! different file under the same name is refused — with a create-only write, so two writers racing
//! on one name cannot overwrite each other — and failures leave everything in pg_wal for
//! PostgreSQL to retry.

use super::{WalError, ahead, io, partial, plan, ready};
use crate::compression;
use crate::config::ManagerConfig;
use crate::objstore::{Archive, CreateOutcome, server_identity};
use bytes::Bytes;
use futures::StreamExt;
use object_store::{PutPayload, TagSet};
use pgfed_api::barman::CompressionType;
use pgfed_api::barman::layout;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    ahead::marker_dir(&cfg.pgdata)
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

    let store_cfg = cfg.backup_store()?;
    let destination = server_identity(store_cfg, &cfg.cluster_name);
    let markers = marker_dir(cfg);
    if ahead::take(&markers, &name, &destination)
        .map_err(io(format!("reading the upload marker of {name}")))?
    {
        return Ok(ArchiveOutcome::UploadedEarlier);
    }

    let wal_cfg = store_cfg.wal.clone().unwrap_or_default();
    let max_parallel = usize::try_from(wal_cfg.max_parallel.unwrap_or(1))
        .unwrap_or(1)
        .max(1);
    let archive = Archive::open(store_cfg, &cfg.cluster_name, &cfg.secrets_dir)?;

    let wal_dir = wal_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    // Without a readable status directory the requested file goes up alone.
    let ready = ready::ready_wal_files(&wal_dir.join("archive_status")).unwrap_or_default();
    // A segment a replica replayed from the primary's in-progress copy (`archive_mode =
    // always` archives what recovery restored) is never archived as it is: the source's complete
    // segment goes up instead, once the source has it. Extra files of the batch that are such
    // copies wait for their own request.
    // Only `archive_mode = always` (a replica topology) archives restored files.
    let always = cfg.archive_mode() == "always";
    let padded = |n: &str| {
        always
            && layout::is_xlog_file(n)
            // The segment is read only when restore recorded a copy under its name: the
            // archive path of every other segment stays one read.
            && partial::served_dir(&cfg.pgdata).join(n).exists()
            && std::fs::read(wal_dir.join(n))
                .is_ok_and(|d| partial::is_served_copy(&cfg.pgdata, n, &d))
    };
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

    let mut batch = plan::archive_batch(&name, &ready, max_parallel);
    batch.retain(|n| *n == name || !padded(n));
    let mut complete_copy = None;
    if padded(&name) {
        let Some(data) = super::restore::fetch_complete(cfg, &name).await? else {
            if promoted(cfg) {
                let path = wal_dir.join(&name);
                return archive_as_partial(cfg, &archive, &name, &path, &wal_cfg, tags(&name))
                    .await;
            }
            return Err(WalError::AwaitingCompleteSegment(name));
        };
        let spool = cfg.spool_dir();
        std::fs::create_dir_all(&spool).map_err(io(format!("creating {}", spool.display())))?;
        // Not `<spool>/<name>`: restore serves that name as a prefetched segment.
        let path = spool.join(format!("complete-{name}"));
        std::fs::write(&path, &data).map_err(io(format!("writing {}", path.display())))?;
        tracing::info!(wal = %name, "replayed from an in-progress copy: archiving the source's complete segment");
        complete_copy = Some(path);
    }

    // One listing per Barman directory serves the existence checks of the whole batch.
    let dirs: BTreeSet<String> = batch.iter().map(|n| layout::wal_dir_key(n)).collect();
    let mut listings = BTreeMap::new();
    for dir in dirs {
        let names = archive.list_dir(&dir).await?;
        listings.insert(dir, names);
    }

    let results: Vec<(String, Result<Stored, WalError>)> =
        futures::stream::iter(batch.iter().cloned())
            .map(|n| {
                let path = match &complete_copy {
                    Some(copy) if n == name => copy.clone(),
                    _ => wal_dir.join(&n),
                };
                let listing = listings
                    .get(&layout::wal_dir_key(&n))
                    .cloned()
                    .unwrap_or_default();
                let archive = archive.clone();
                let tags = tags(&n);
                async move {
                    let r =
                        store_wal_file(&archive, &n, &path, &listing, wal_cfg.compression, tags)
                            .await;
                    (n, r)
                }
            })
            .buffer_unordered(max_parallel)
            .collect()
            .await;

    if let Some(copy) = &complete_copy {
        let _ = std::fs::remove_file(copy);
    }
    // Archived, complete: what restore recorded of in-progress copies served for it is done with.
    if results.iter().any(|(n, r)| *n == name && r.is_ok()) {
        partial::forget_served(&cfg.pgdata, &name);
    }
    let mut outcome = None;
    let mut extra = 0;
    for (n, r) in results {
        if n == name {
            outcome = Some(match r {
                Err(WalError::Conflict { .. }) if always && !promoted(cfg) => {
                    carried_by_the_archive(&archive, &name, &wal_dir.join(&name), r).await?
                }
                r => r,
            });
            continue;
        }
        match r {
            Ok(_) => {
                ahead::record(&markers, &n, &destination)
                    .map_err(io(format!("writing the upload marker of {n}")))?;
                extra += 1;
            }
            // The extra file is retried when PostgreSQL asks for it; only the requested one decides.
            Err(e) => {
                tracing::warn!(wal = %n, error = %e, "parallel archive of a ready segment failed")
            }
        }
    }
    match outcome {
        Some(Ok(Stored::Uploaded)) => Ok(ArchiveOutcome::Uploaded { extra }),
        Some(Ok(Stored::AlreadyArchived)) => Ok(ArchiveOutcome::AlreadyArchived),
        Some(Err(e)) => Err(e),
        None => Err(WalError::NotWal(name)),
    }
}

/// Whether a standby told to skip archiving (`wal-archive --skip`: the target primary archives
/// the same WAL) may really leave `path` to it. The skipping configuration is only replaced once
/// the operator has seen a promotion, and PostgreSQL's archiver does not wait for that: what a
/// promotion creates — the new timeline's history file, the old timeline's last segment as
/// `.partial` — would otherwise be acknowledged and never uploaded, and a replica region would
/// wait for the new timeline forever. Those are uploaded whatever the instance's role: their
/// content is the same from every instance that has them, and an identical copy already
/// archived is success. Segments stay with the target primary.
pub fn left_to_the_target_primary(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    skip_holds(&name)
}

/// [`left_to_the_target_primary`] on the file's name. Pure.
fn skip_holds(name: &str) -> bool {
    !name.ends_with(".history") && !name.ends_with(".partial")
}

/// A standby of a replica cluster whose file `name` conflicts with the archived copy: when the
/// file is an in-progress copy of that archived segment ([`partial::carried_by`]), the segment
/// is archived and `conflict` becomes success. Restore's record of the copies it served cannot
/// decide this alone: a copy served while the archiver was finishing the segment is recorded
/// after the archiver forgot the segment's records, and PostgreSQL then asks to archive it —
/// refusing it would stop archiving for good.
async fn carried_by_the_archive(
    archive: &Archive,
    name: &str,
    path: &Path,
    conflict: Result<Stored, WalError>,
) -> Result<Result<Stored, WalError>, WalError> {
    if !layout::is_xlog_file(name) {
        return Ok(conflict);
    }
    let Some(archived) = super::restore::complete_in(archive, name).await? else {
        return Ok(conflict);
    };
    let local = tokio::fs::read(path)
        .await
        .map_err(io(format!("reading {}", path.display())))?;
    if partial::carried_by(&local, &archived) {
        tracing::info!(wal = %name, "an in-progress copy of a segment archived whole since: nothing left to archive");
        return Ok(Ok(Stored::AlreadyArchived));
    }
    Ok(conflict)
}

/// Whether this instance left recovery: no `standby.signal` or `recovery.signal` in its data
/// directory. The segments its source was writing when it was promoted may never be completed
/// (the source was lost).
fn promoted(cfg: &ManagerConfig) -> bool {
    !cfg.pgdata.join("standby.signal").exists() && !cfg.pgdata.join("recovery.signal").exists()
}

/// Archives the in-progress copy of `name` a promoted instance replayed as `<name>.partial`,
/// as PostgreSQL itself archives the last segment of the timeline it leaves: its valid part ends
/// where this instance forked its own timeline, whose first segment carries that part again.
/// The complete segment name stays free for the source's own copy, never claimed by a prefix.
async fn archive_as_partial(
    cfg: &ManagerConfig,
    archive: &Archive,
    name: &str,
    path: &Path,
    wal_cfg: &pgfed_api::barman::WalBackupConfiguration,
    tags: TagSet,
) -> Result<ArchiveOutcome, WalError> {
    let partial_name = format!("{name}.partial");
    let listing = archive
        .list_dir(&layout::wal_dir_key(&partial_name))
        .await?;
    let stored = store_wal_file(
        archive,
        &partial_name,
        path,
        &listing,
        wal_cfg.compression,
        tags,
    )
    .await?;
    partial::forget_served(&cfg.pgdata, name);
    tracing::warn!(wal = %name, partial = %partial_name, "promoted before the source completed a segment this instance replayed from its in-progress copy: archived as .partial");
    Ok(match stored {
        Stored::Uploaded => ArchiveOutcome::Uploaded { extra: 0 },
        Stored::AlreadyArchived => ArchiveOutcome::AlreadyArchived,
    })
}

/// Whether a WAL file had to be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// Written now.
    Uploaded,
    /// An identical copy was already in the archive; nothing was written.
    AlreadyArchived,
}

/// How many times a create that found an object which then vanished is tried again (a
/// concurrent writer's upload that was still in flight and then failed).
const CREATE_ATTEMPTS: usize = 3;

/// Stores WAL file `name` (read from `path`) in `archive`, never replacing an object.
///
/// `listed` holds the objects of the file's `wals/` directory as listed before the call; it may
/// be stale, since another writer can add the same name after the listing. Any listed object of
/// this name (with any compression suffix) is compared first, which also catches a copy stored
/// with another compression. The write itself is create-only where the provider supports it: of
/// two writers racing on the same object exactly one creates it, and the other compares its file
/// with what won: identical is success (an idempotent re-archive), different is
/// [`WalError::Conflict`] and nothing is written. Only a provider without create-only writes
/// falls back to the listing's check alone.
pub async fn store_wal_file(
    archive: &Archive,
    name: &str,
    path: &Path,
    listed: &[String],
    compression: Option<CompressionType>,
    tags: TagSet,
) -> Result<Stored, WalError> {
    for (object, c) in listed.iter().filter_map(|o| {
        layout::parse_wal_object(o)
            .filter(|(stem, _)| *stem == name)
            .map(|(_, c)| (o, c))
    }) {
        let key = format!("{}/{object}", layout::wal_dir_key(name));
        match same_content(archive, &key, c, path).await? {
            Some(true) => return Ok(Stored::AlreadyArchived),
            Some(false) => return Err(conflict(archive, name, object)),
            // Listed, then removed: nothing to compare with.
            None => continue,
        }
    }
    let payload = PutPayload::from_bytes(Bytes::from(encode(name, path, compression).await?));
    let key = layout::wal_key(name, compression);
    for _ in 0..CREATE_ATTEMPTS {
        match archive.put_new(&key, payload.clone(), tags.clone()).await? {
            CreateOutcome::Created => return Ok(Stored::Uploaded),
            CreateOutcome::Unsupported => {
                tracing::debug!(wal = %name, "the object store has no create-only write; relying on the listing");
                archive.put_tagged(&key, payload, tags).await?;
                return Ok(Stored::Uploaded);
            }
            CreateOutcome::AlreadyExists => {
                match same_content(archive, &key, compression, path).await? {
                    Some(true) => return Ok(Stored::AlreadyArchived),
                    Some(false) => {
                        let object = key.rsplit('/').next().unwrap_or(&key);
                        return Err(conflict(archive, name, object));
                    }
                    None => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        }
    }
    Err(WalError::Raced {
        object: key,
        url: archive.url().to_string(),
    })
}

fn conflict(archive: &Archive, name: &str, object: &str) -> WalError {
    WalError::Conflict {
        name: name.to_string(),
        existing: object.to_string(),
        url: archive.url().to_string(),
    }
}

/// Whether object `key` (stored with compression `c`) holds exactly the bytes of the file at
/// `path`; `None` when the object does not exist. An object that does not decompress differs.
async fn same_content(
    archive: &Archive,
    key: &str,
    c: Option<CompressionType>,
    path: &Path,
) -> Result<Option<bool>, WalError> {
    let Some(stored) = archive.get(key).await? else {
        return Ok(None);
    };
    let data = tokio::fs::read(path)
        .await
        .map_err(io(format!("reading {}", path.display())))?;
    let stored = tokio::task::spawn_blocking(move || compression::decompress(c, &stored))
        .await
        .map_err(|e| WalError::Io {
            context: "decompress task".into(),
            source: std::io::Error::other(e),
        })?;
    Ok(Some(stored.is_ok_and(|stored| stored == data)))
}

/// The bytes to upload. Uncompressed segments go up from the buffer they were read into,
/// compressed ones are compressed while being read: no extra 16 MiB copy either way, which is a
/// measurable share of the archiver's CPU.
async fn encode(
    name: &str,
    path: &Path,
    compression: Option<CompressionType>,
) -> Result<Vec<u8>, WalError> {
    match compression {
        None => tokio::fs::read(path)
            .await
            .map_err(io(format!("reading {}", path.display()))),
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
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::skip_holds;

    #[test]
    fn a_standby_leaves_only_segments_to_the_target_primary() {
        let cases = [
            ("000000010000000000000005", true),
            ("00000002.history", false),
            ("000000010000000000000005.partial", false),
        ];
        for (name, skipped) in cases {
            assert_eq!(skip_holds(name), skipped, "{name}");
        }
    }
}
