//! Restores a base backup from object storage into an empty data directory: every tar of the
//! backup (data parts and tablespaces) is downloaded, decompressed and unpacked in parallel, then
//! the tablespace links are created. Reads backups written by pgfed and by barman-cloud-backup.

use super::stream::ChunkReader;
use super::{BackupError, io};
use crate::objstore::Archive;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use pgfed_api::barman::backup_info::BackupInfo;
use pgfed_api::barman::layout;
use pgfed_api::barman::select::CatalogEntry;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// Every backup with a readable backup.info.
pub async fn catalog(archive: &Archive) -> Result<Vec<CatalogEntry>, BackupError> {
    let mut out = Vec::new();
    for id in archive.list_subdirs("base").await? {
        let key = format!("{}/backup.info", layout::backup_dir_key(&id));
        let Some(bytes) = archive.get(&key).await? else {
            continue;
        };
        match BackupInfo::parse(&String::from_utf8_lossy(&bytes)) {
            Ok(info) => out.push(CatalogEntry { id, info }),
            Err(e) => tracing::warn!(backup = %id, error = %e, "skipping unreadable backup.info"),
        }
    }
    Ok(out)
}

/// Restores backup `entry` into `pgdata`; `relocate` maps tablespace names to new locations.
pub async fn restore_backup(
    archive: &Archive,
    entry: &CatalogEntry,
    pgdata: &Path,
    relocate: &BTreeMap<String, PathBuf>,
    parallel: usize,
) -> Result<u64, BackupError> {
    if pgdata.exists()
        && std::fs::read_dir(pgdata)
            .map_err(io(format!("reading {}", pgdata.display())))?
            .next()
            .is_some()
    {
        return Err(BackupError::NotEmpty(pgdata.to_path_buf()));
    }
    std::fs::create_dir_all(pgdata).map_err(io(format!("creating {}", pgdata.display())))?;
    let tablespaces = entry.info.tablespaces()?;
    let mut targets: Vec<(String, PathBuf)> = Vec::new();
    let dir = layout::backup_dir_key(&entry.id);
    for object in archive.list_dir(&dir).await? {
        let (stem, _) = layout::split_compression(&object);
        let Some(base) = stem.strip_suffix(".tar") else {
            continue;
        };
        let base = base.split('_').next().unwrap_or(base);
        let target = if base == "data" {
            pgdata.to_path_buf()
        } else {
            let oid: u32 = base.parse().map_err(|_| BackupError::UnexpectedObject {
                object: object.clone(),
                dir: dir.clone(),
            })?;
            let t = tablespaces
                .iter()
                .find(|t| t.oid == oid)
                .ok_or_else(|| BackupError::UnknownTablespace(object.clone()))?;
            relocate
                .get(&t.name)
                .cloned()
                .unwrap_or_else(|| PathBuf::from(&t.location))
        };
        targets.push((object, target));
    }
    if !targets.iter().any(|(o, _)| o.starts_with("data")) {
        return Err(BackupError::NoDataTar(entry.id.clone()));
    }
    for t in &tablespaces {
        let location = relocate
            .get(&t.name)
            .cloned()
            .unwrap_or_else(|| PathBuf::from(&t.location));
        std::fs::create_dir_all(&location)
            .map_err(io(format!("creating {}", location.display())))?;
    }

    let results: Vec<Result<u64, BackupError>> = futures::stream::iter(targets)
        .map(|(object, target)| {
            let archive = archive.clone();
            let key = format!("{dir}/{object}");
            async move { unpack(&archive, &key, &object, target).await }
        })
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    let mut total = 0;
    for r in results {
        total += r?;
    }

    for t in &tablespaces {
        let location = relocate
            .get(&t.name)
            .cloned()
            .unwrap_or_else(|| PathBuf::from(&t.location));
        let link = pgdata.join("pg_tblspc").join(t.oid.to_string());
        std::fs::create_dir_all(pgdata.join("pg_tblspc")).map_err(io("creating pg_tblspc"))?;
        if !link.exists() {
            std::os::unix::fs::symlink(&location, &link)
                .map_err(io(format!("linking {}", link.display())))?;
        }
    }
    for d in ["pg_wal", "pg_wal/archive_status", "pg_tblspc"] {
        std::fs::create_dir_all(pgdata.join(d)).map_err(io(format!("creating {d}")))?;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(pgdata, std::fs::Permissions::from_mode(0o700))
        .map_err(io("setting data directory mode"))?;
    Ok(total)
}

/// Streams one tar object into `target`.
async fn unpack(
    archive: &Archive,
    key: &str,
    object: &str,
    target: PathBuf,
) -> Result<u64, BackupError> {
    let (_, compression) = layout::split_compression(object);
    let got = archive
        .store()
        .get(&archive.path(key))
        .await
        .map_err(|e| archive.wrap(e))?;
    let size = got.meta.size;
    let mut stream = got.into_stream();
    let (tx, rx) = mpsc::channel(8);
    let worker = tokio::task::spawn_blocking(move || -> Result<(), BackupError> {
        let reader = crate::compression::decoder(compression, ChunkReader::new(rx))?;
        let mut tar = tar::Archive::new(reader);
        tar.set_preserve_permissions(true);
        tar.set_preserve_mtime(true);
        tar.set_overwrite(true);
        tar.unpack(&target)
            .map_err(io(format!("unpacking into {}", target.display())))
    });
    while let Some(chunk) = stream.next().await {
        let item = chunk.map_err(std::io::Error::other);
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    worker.await.map_err(|source| BackupError::Task {
        task: "unpack",
        source,
    })??;
    Ok(size)
}
