//! restore_command: fetch a WAL file from the object store (any Barman compression suffix; the
//! `.partial` a demoted primary uploaded when the full segment does not exist; for a replica
//! cluster's standby, the primary's in-progress copy of a segment not archived yet, see
//! [`super::partial`]) and, with maxParallel > 1, prefetch the following complete segments into a
//! spool so the next calls are local. Nothing in the bucket is ever modified or deleted here.

use super::{CorruptReason, WalError, io, partial, plan};
use crate::compression;
use crate::config::ManagerConfig;
use crate::objstore::Archive;
use futures::StreamExt;
use pgfed_api::barman::CompressionType;
use pgfed_api::barman::layout;
use pgfed_api::lsn::is_wal_segment_file;
use std::collections::BTreeMap;
use std::path::Path;

/// What restore_command found.
#[derive(Debug, PartialEq, Eq)]
pub enum RestoreOutcome {
    /// Written to the destination; `from_spool` when it had been prefetched.
    Restored {
        /// Served from the prefetch spool.
        from_spool: bool,
        /// Served from a `.partial` object.
        from_partial: bool,
        /// Served from the primary's in-progress copy (`pgfed-partial/`), zero-padded: PostgreSQL
        /// replays what it holds and asks for the segment again.
        in_progress: bool,
    },
    /// Not in the archive (normal at the end of WAL, or for future timelines' history files).
    NotFound,
}

/// Runs restore_command for `name` into `dest`. `from` names the external cluster to read from
/// (recovery bootstrap); otherwise [`ManagerConfig::restore_store`] decides.
pub async fn wal_restore(
    cfg: &ManagerConfig,
    from: Option<&str>,
    name: &str,
    dest: &Path,
) -> Result<RestoreOutcome, WalError> {
    let spool = cfg.spool_dir();
    let spooled = spool.join(name);
    if spooled.is_file() {
        move_file(&spooled, dest)?;
        return Ok(RestoreOutcome::Restored {
            from_spool: true,
            from_partial: false,
            in_progress: false,
        });
    }
    let (store_cfg, server) = cfg.restore_store(from)?;
    let archive = Archive::open(store_cfg, &server, &cfg.secrets_dir)?;
    let max_parallel = usize::try_from(
        store_cfg
            .wal
            .as_ref()
            .and_then(|w| w.max_parallel)
            .unwrap_or(1),
    )
    .unwrap_or(1)
    .max(1);

    let dir = layout::wal_dir_key(name);
    let mut listings = BTreeMap::new();
    listings.insert(dir.clone(), archive.list_dir(&dir).await?);
    let Some((object, c, from_partial)) = find(&listings[&dir], name) else {
        // Only when the archive has no copy: a complete segment always wins over a partial one.
        // A replica cluster follows its source's copies. A standby of a primary cluster follows
        // its own primary's: promoted after a local failover, it replays everything a replica
        // region may already have replayed from them before it forks its timeline, so the
        // replica region is not left ahead of the new primary.
        let followed = if cfg.is_replica_cluster() {
            cfg.replica.as_ref().map(|r| r.source.as_str())
        } else if from.is_none() {
            Some(server.as_str())
        } else {
            None
        };
        let standby = cfg.pgdata.join("standby.signal").exists();
        if partial::serves_in_progress(name, followed, &server, standby) {
            return restore_in_progress(&archive, &cfg.pgdata, name, dest).await;
        }
        return Ok(RestoreOutcome::NotFound);
    };
    let data = fetch(&archive, &dir, &object, c).await?;
    let is_segment = is_wal_segment_file(name);
    if is_segment && !plan::valid_segment_size(data.len() as u64) {
        return Err(WalError::Corrupt {
            object: format!("{dir}/{object}"),
            url: archive.url().to_string(),
            reason: CorruptReason::NotASegmentSize(data.len()),
        });
    }
    write_file(dest, &data)?;
    // The record of an in-progress copy served before stays: PostgreSQL moves this complete copy
    // into pg_wal only after this command returns, and its archiver may meanwhile be archiving
    // the in-progress copy still there, which must be recognised as one (never uploaded under
    // the complete name). Archiving forgets the record once the segment is archived.

    if is_segment && !from_partial && max_parallel > 1 {
        // Prefetch is an optimisation: its failures are logged, never returned.
        if let Err(e) = prefetch(
            &archive,
            &spool,
            name,
            data.len() as u64,
            max_parallel - 1,
            &mut listings,
        )
        .await
        {
            tracing::warn!(error = %e, "WAL prefetch failed");
        }
    }
    Ok(RestoreOutcome::Restored {
        from_spool: false,
        from_partial,
        in_progress: false,
    })
}

/// The complete segment `name` from the replica source's archive (never a partial or an
/// in-progress copy); `None` while the source has not archived it.
pub async fn fetch_complete(cfg: &ManagerConfig, name: &str) -> Result<Option<Vec<u8>>, WalError> {
    let (store_cfg, server) = cfg.restore_store(None)?;
    let archive = Archive::open(store_cfg, &server, &cfg.secrets_dir)?;
    complete_in(&archive, name).await
}

/// The complete segment `name` in `archive` (never its `.partial`), decompressed; `None` when
/// the archive has none.
pub(super) async fn complete_in(
    archive: &Archive,
    name: &str,
) -> Result<Option<Vec<u8>>, WalError> {
    let dir = layout::wal_dir_key(name);
    let listed = archive.list_dir(&dir).await?;
    let Some((object, c, false)) = find(&listed, name) else {
        return Ok(None);
    };
    let data = fetch(archive, &dir, &object, c).await?;
    if !plan::valid_segment_size(data.len() as u64) {
        return Err(WalError::Corrupt {
            object: format!("{dir}/{object}"),
            url: archive.url().to_string(),
            reason: CorruptReason::NotASegmentSize(data.len()),
        });
    }
    Ok(Some(data))
}

/// A non-segment file of the replica source's archive (a timeline history file), decompressed;
/// `None` when the source has not archived it.
pub async fn fetch_from_source(
    cfg: &ManagerConfig,
    name: &str,
) -> Result<Option<Vec<u8>>, WalError> {
    let (store_cfg, server) = cfg.restore_store(None)?;
    let archive = Archive::open(store_cfg, &server, &cfg.secrets_dir)?;
    let dir = layout::wal_dir_key(name);
    let listed = archive.list_dir(&dir).await?;
    match find(&listed, name) {
        Some((object, c, _)) => Ok(Some(fetch(&archive, &dir, &object, c).await?)),
        None => Ok(None),
    }
}

/// Serves segment `name` from the primary's in-progress copy, zero-padded to the segment size,
/// unless there is none or a newer timeline superseded it. Never prefetches and never writes to
/// the spool: a spooled file is served as a complete segment.
async fn restore_in_progress(
    archive: &Archive,
    pgdata: &Path,
    name: &str,
    dest: &Path,
) -> Result<RestoreOutcome, WalError> {
    let listed = archive.list_all(partial::PARTIAL_DIR).await?;
    let Some((object, c)) = partial::find_in_progress(&listed, name) else {
        return Ok(RestoreOutcome::NotFound);
    };
    let timeline = u32::from_str_radix(&name[..8], 16).unwrap_or(u32::MAX);
    if partial::superseded(timeline, &archive.list_dir("wals").await?) {
        tracing::info!(wal = %name, "a newer timeline exists: its in-progress copy is not served");
        return Ok(RestoreOutcome::NotFound);
    }
    let data = match fetch(archive, partial::PARTIAL_DIR, &object, c).await {
        // Deleted since the listing: its segment was archived meanwhile, and the next request
        // finds it there.
        Err(WalError::Corrupt {
            reason: CorruptReason::Vanished,
            ..
        }) => return Ok(RestoreOutcome::NotFound),
        other => other?,
    };
    let padded = partial::zero_padded(name, data).map_err(|reason| WalError::Corrupt {
        object: format!("{}/{object}", partial::PARTIAL_DIR),
        url: archive.url().to_string(),
        reason: CorruptReason::NotThisSegment(reason),
    })?;
    write_file(dest, &padded)?;
    // With `archive_mode = always` PostgreSQL archives what it restored: wal-archive must know
    // this file is a copy, never to be archived as the complete segment.
    partial::record_served(pgdata, name, &padded).map_err(super::io(format!(
        "recording the in-progress copy of {name}"
    )))?;
    Ok(RestoreOutcome::Restored {
        from_spool: false,
        from_partial: false,
        in_progress: true,
    })
}

/// The object serving `name`: an exact (possibly compressed) match, else its `.partial`.
fn find(listing: &[String], name: &str) -> Option<(String, Option<CompressionType>, bool)> {
    let partial = format!("{name}.partial");
    let mut fallback = None;
    for object in listing {
        if let Some((stem, c)) = layout::parse_wal_object(object) {
            if stem == name {
                return Some((object.clone(), c, false));
            }
            if is_wal_segment_file(name) && stem == partial {
                fallback = Some((object.clone(), c, true));
            }
        }
    }
    fallback
}

async fn fetch(
    archive: &Archive,
    dir: &str,
    object: &str,
    c: Option<CompressionType>,
) -> Result<Vec<u8>, WalError> {
    let key = format!("{dir}/{object}");
    let raw = archive.get(&key).await?.ok_or_else(|| WalError::Corrupt {
        object: key.clone(),
        url: archive.url().to_string(),
        reason: CorruptReason::Vanished,
    })?;
    tokio::task::spawn_blocking(move || compression::decompress(c, &raw))
        .await
        .map_err(|e| WalError::Io {
            context: "decompress task".into(),
            source: std::io::Error::other(e),
        })?
        .map_err(|source| WalError::Corrupt {
            object: key,
            url: archive.url().to_string(),
            reason: CorruptReason::Undecodable(source),
        })
}

async fn prefetch(
    archive: &Archive,
    spool: &Path,
    name: &str,
    segment_size: u64,
    count: usize,
    listings: &mut BTreeMap<String, Vec<String>>,
) -> Result<(), WalError> {
    let wanted = plan::prefetch_names(name, segment_size, count);
    let mut jobs = Vec::new();
    for next in &wanted {
        let dir = layout::wal_dir_key(next);
        if !listings.contains_key(&dir) {
            let l = archive.list_dir(&dir).await?;
            listings.insert(dir.clone(), l);
        }
        match listings.get(&dir).and_then(|l| find(l, next)) {
            Some((object, c, false)) => jobs.push((next.clone(), dir, object, c)),
            // Stop at the first gap: later segments would not be replayed before it arrives.
            _ => break,
        }
    }
    if jobs.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(spool).map_err(io(format!("creating {}", spool.display())))?;
    let results: Vec<Result<(), WalError>> = futures::stream::iter(jobs)
        .map(|(next, dir, object, c)| async move {
            let data = fetch(archive, &dir, &object, c).await?;
            if data.len() as u64 != segment_size {
                return Err(WalError::Corrupt {
                    object: format!("{dir}/{object}"),
                    url: archive.url().to_string(),
                    reason: CorruptReason::SizeMismatch {
                        len: data.len(),
                        expected: segment_size,
                    },
                });
            }
            let tmp = spool.join(format!("{next}.tmp"));
            write_file(&tmp, &data)?;
            std::fs::rename(&tmp, spool.join(&next))
                .map_err(io(format!("renaming {}", tmp.display())))
        })
        .buffer_unordered(count)
        .collect()
        .await;
    results.into_iter().collect()
}

fn write_file(dest: &Path, data: &[u8]) -> Result<(), WalError> {
    std::fs::write(dest, data).map_err(io(format!("writing {}", dest.display())))
}

/// Moves a spooled file into place; copies when the spool is on another filesystem.
fn move_file(from: &Path, to: &Path) -> Result<(), WalError> {
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to).map_err(io(format!(
        "copying {} to {}",
        from.display(),
        to.display()
    )))?;
    std::fs::remove_file(from).map_err(io(format!("removing {}", from.display())))
}

/// Empties the prefetch spool; called whenever the instance changes role or timeline so a stale
/// prefetched segment can never be served.
pub fn clear_spool(cfg: &ManagerConfig) -> std::io::Result<()> {
    match std::fs::remove_dir_all(cfg.spool_dir()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exact_compressed_then_partial() {
        let listing: Vec<String> = [
            "000000010000000000000003.gz",
            "000000010000000000000004.partial",
            "000000010000000000000002.00000028.backup",
            "garbage",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            find(&listing, "000000010000000000000003"),
            Some((
                "000000010000000000000003.gz".into(),
                Some(CompressionType::Gzip),
                false
            ))
        );
        assert_eq!(
            find(&listing, "000000010000000000000004"),
            Some(("000000010000000000000004.partial".into(), None, true))
        );
        assert_eq!(find(&listing, "000000010000000000000005"), None);
        assert_eq!(find(&listing, "000000010000000000000002"), None);
    }
}
