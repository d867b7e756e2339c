//! The in-progress WAL uploader of `instance run` (what and why: [`crate::wal::partial`]). Every
//! `partialWalUploadSeconds`, while this instance runs as the primary of a primary cluster that
//! archives to `backup.barmanObjectStore` (not in recovery, not fenced, not told another
//! instance is the target primary), it uploads the segment being written up to the flush LSN
//! when WAL was flushed since the last upload, then deletes the in-progress copies of segments
//! archived since the last cleanup. It only reads pg_wal and talks to the store: postgres and its
//! archiver never wait for it. A failure is logged once per streak and retried next round.

use super::converge::bounded;
use super::decide::Target;
use super::shared::Shared;
use crate::compression::{self, CompressionError};
use crate::config::{ConfigError, ManagerConfig};
use crate::objstore::{Archive, StoreError};
use crate::pg::{PgError, sql};
use crate::wal::partial::{self, Flushed, NotThisSegment, Upload, Uploaded};
use bytes::Bytes;
use object_store::{PutPayload, TagSet};
use pgfed_api::barman::{BarmanObjectStoreConfiguration, CompressionType};
use pgfed_api::lsn::Lsn;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// How often the task looks again while it has nothing to do.
const IDLE: Duration = Duration::from_secs(1);
/// How long the look at the primary may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole round may take (a store that accepts connections but never answers).
const ROUND_TIMEOUT: Duration = Duration::from_secs(60);

/// What the primary reports each round. `WHERE NOT pg_is_in_recovery()`: no row on a standby,
/// where the WAL functions fail. `pg_walfile_name` carries the timeline WAL is written on (right
/// after a promotion, the checkpoint's timeline can still be the old one).
const OBSERVE: &str = "SELECT pg_current_wal_flush_lsn()::text, \
     pg_walfile_name(pg_current_wal_flush_lsn()), \
     (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'), \
     (SELECT last_archived_wal FROM pg_stat_archiver) \
     WHERE NOT pg_is_in_recovery()";

/// How often this instance uploads its in-progress segment now; `None` when it does not: the
/// setting is off, postgres is down or fenced, another instance is the target primary, this is
/// a replica cluster, or there is no object store to archive to. Pure.
pub fn period(cfg: &ManagerConfig, running: bool, fenced: bool) -> Option<Duration> {
    let seconds = cfg.partial_wal_upload_seconds.filter(|s| *s > 0)?;
    let primary = running
        && !fenced
        && Target::of(cfg) != Target::Other
        && !cfg.is_replica_cluster()
        && cfg.backup_store().is_ok();
    primary.then(|| Duration::from_secs(seconds))
}

/// Why a round did not finish.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The configuration names no object store to upload to.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The primary could not be asked where its WAL stands.
    #[error(transparent)]
    Pg(#[from] PgError),
    /// The object store could not be opened or refused a request.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The primary answered something PostgreSQL never reports.
    #[error("the primary reported {what} {value:?}")]
    Unexpected {
        /// Which value.
        what: &'static str,
        /// What it was.
        value: String,
    },
    /// The segment could not be read from pg_wal.
    #[error("reading {path}: {source}")]
    Read {
        /// The segment file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file in pg_wal does not hold the segment's WAL (recycled while being read).
    #[error("{segment} in pg_wal: {reason}")]
    NotThisSegment {
        /// The segment.
        segment: String,
        /// What is wrong.
        reason: NotThisSegment,
    },
    /// Compressing the segment failed.
    #[error("compressing {segment}: {source}")]
    Compress {
        /// The segment.
        segment: String,
        /// Cause.
        source: CompressionError,
    },
    /// The round took too long and was abandoned.
    #[error("a round took longer than {0} s")]
    TimedOut(u64),
}

impl UploadError {
    /// A short, stable name of the cause, for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            UploadError::Config(e) => e.label(),
            UploadError::Pg(e) => e.label(),
            UploadError::Store(e) => e.label(),
            UploadError::Unexpected { .. } => "unexpected_answer",
            UploadError::Read { .. } => "read_wal",
            UploadError::NotThisSegment { .. } => "not_this_segment",
            UploadError::Compress { .. } => "compress",
            UploadError::TimedOut(_) => "timed_out",
        }
    }
}

/// What the primary reported: where WAL stands and the last file archived.
#[derive(Debug)]
struct Observed {
    flushed: Flushed,
    last_archived: Option<String>,
}

/// The store of one configuration, opened once and reused while the configuration stays.
struct OpenStore {
    config: BarmanObjectStoreConfiguration,
    server: String,
    archive: Archive,
}

/// The uploader's memory across rounds, for one term as primary. No connection to postgres is
/// kept between rounds: a smart shutdown waits for every client to leave.
#[derive(Default)]
struct Uploader {
    store: Option<OpenStore>,
    last: Option<Uploaded>,
    cleaned_for: Option<String>,
}

impl Uploader {
    /// One round: upload when WAL was flushed since the last upload, then clean up when
    /// archiving moved on. Returns the upload made, if any.
    async fn round(&mut self, cfg: &ManagerConfig) -> Result<Option<Upload>, UploadError> {
        let Some(observed) = observe(cfg).await? else {
            // In recovery: a standby ships nothing.
            return Ok(None);
        };
        let archive = self.archive(cfg)?;
        let store_cfg = cfg.backup_store()?;
        let compression = store_cfg.wal.as_ref().and_then(|w| w.compression);
        let due = partial::upload_due(
            &observed.flushed,
            self.last,
            observed.last_archived.as_deref(),
        );
        if let Some(upload) = due {
            let body = read_segment(&cfg.pgdata, upload, compression).await?;
            let key = partial::partial_key(&upload.segment.to_string(), compression);
            let mut tags = TagSet::default();
            for (k, v) in &store_cfg.tags {
                tags.push(k, v);
            }
            archive
                .put_tagged(&key, PutPayload::from_bytes(Bytes::from(body)), tags)
                .await?;
            self.last = Some(Uploaded {
                timeline: observed.flushed.timeline,
                lsn: observed.flushed.lsn,
            });
        }
        let cleanup = partial::cleanup_due(
            observed.last_archived.as_deref(),
            self.cleaned_for.as_deref(),
        );
        if let Some(archived) = cleanup {
            let listed = archive.list_dir(partial::PARTIAL_DIR).await?;
            for object in partial::deletions(&listed, archived) {
                archive
                    .delete(&format!("{}/{object}", partial::PARTIAL_DIR))
                    .await?;
                tracing::debug!(%object, "deleted the in-progress copy of an archived segment");
            }
            self.cleaned_for = Some(archived.to_string());
        }
        Ok(due)
    }

    /// The archive of this cluster's store, opened again when the configuration changed.
    fn archive(&mut self, cfg: &ManagerConfig) -> Result<Archive, UploadError> {
        let store_cfg = cfg.backup_store()?;
        if let Some(open) = &self.store
            && open.config == *store_cfg
            && open.server == cfg.cluster_name
        {
            return Ok(open.archive.clone());
        }
        let archive = Archive::open(store_cfg, &cfg.cluster_name, &cfg.secrets_dir)?;
        self.store = Some(OpenStore {
            config: store_cfg.clone(),
            server: cfg.cluster_name.clone(),
            archive: archive.clone(),
        });
        Ok(archive)
    }

    /// Forgets the opened store after a failure: the next round opens it afresh (credentials
    /// rotated). What was uploaded is kept.
    fn forget_store(&mut self) {
        self.store = None;
    }
}

/// Where the primary's WAL stands; `None` while it is in recovery.
async fn observe(cfg: &ManagerConfig) -> Result<Option<Observed>, UploadError> {
    let row = bounded("where WAL stands", QUERY_TIMEOUT, async {
        let client = sql::connect(cfg, "postgres").await?;
        client
            .query_opt(OBSERVE, &[])
            .await
            .map_err(|source| PgError::Sql {
                context: "where WAL stands".to_string(),
                source,
            })
    })
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let text = |i: usize| row.try_get::<_, Option<String>>(i).ok().flatten();
    parse_observed([text(0), text(1), text(2), text(3)]).map(Some)
}

/// Reads what [`OBSERVE`] returned (flush LSN, WAL file name, `wal_segment_size` in bytes, last
/// archived file), refusing what PostgreSQL never reports. Pure.
fn parse_observed(values: [Option<String>; 4]) -> Result<Observed, UploadError> {
    let [flush, file, size, last_archived] = values;
    let unexpected = |what, value: &Option<String>| UploadError::Unexpected {
        what,
        value: value.clone().unwrap_or_default(),
    };
    let lsn: Lsn = flush
        .as_deref()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| unexpected("flush LSN", &flush))?;
    let timeline = file
        .as_deref()
        .filter(|f| pgfed_api::lsn::is_wal_segment_file(f))
        .and_then(|f| u32::from_str_radix(&f[..8], 16).ok())
        .ok_or_else(|| unexpected("WAL file name", &file))?;
    let segment_size = size
        .as_deref()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| crate::wal::plan::valid_segment_size(*s))
        .ok_or_else(|| unexpected("wal_segment_size", &size))?;
    Ok(Observed {
        flushed: Flushed {
            lsn,
            timeline,
            segment_size,
        },
        last_archived,
    })
}

/// Reads the first `upload.len` bytes of the segment from pg_wal, checks they are that segment's
/// and compresses them like archived WAL.
async fn read_segment(
    pgdata: &Path,
    upload: Upload,
    compression: Option<CompressionType>,
) -> Result<Vec<u8>, UploadError> {
    let name = upload.segment.to_string();
    let path = pgdata.join("pg_wal").join(&name);
    tokio::task::spawn_blocking(move || {
        let read_err = |source| UploadError::Read {
            path: path.clone(),
            source,
        };
        let len = usize::try_from(upload.len).map_err(|e| read_err(std::io::Error::other(e)))?;
        let mut data = vec![0u8; len];
        let mut file = std::fs::File::open(&path).map_err(read_err)?;
        std::io::Read::read_exact(&mut file, &mut data).map_err(read_err)?;
        partial::check_prefix(&name, &data).map_err(|reason| UploadError::NotThisSegment {
            segment: name.clone(),
            reason,
        })?;
        compression::compress(compression, &data).map_err(|source| UploadError::Compress {
            segment: name,
            source,
        })
    })
    .await
    .map_err(|e| UploadError::Read {
        path: pgdata.join("pg_wal"),
        source: std::io::Error::other(e),
    })?
}

/// Runs for the life of the manager.
pub async fn run(shared: Arc<Shared>) {
    let mut uploader = Uploader::default();
    let mut failing = false;
    let mut next = Instant::now();
    loop {
        tokio::time::sleep_until(next).await;
        let cfg = shared.config.read().await.clone();
        let running = shared.postgres_running.load(Ordering::SeqCst);
        let fenced = shared.fenced.load(Ordering::SeqCst);
        let Some(every) = period(&cfg, running, fenced) else {
            // A later term as primary (another timeline, another store) starts afresh.
            uploader = Uploader::default();
            failing = false;
            next = Instant::now() + IDLE;
            continue;
        };
        next = Instant::now() + every;
        let result = tokio::time::timeout(ROUND_TIMEOUT, uploader.round(&cfg))
            .await
            .unwrap_or(Err(UploadError::TimedOut(ROUND_TIMEOUT.as_secs())));
        match result {
            Ok(upload) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("in-progress WAL uploads resumed");
                }
                if let Some(u) = upload {
                    tracing::debug!(segment = %u.segment, bytes = u.len, "in-progress WAL segment uploaded");
                }
            }
            Err(e) => {
                uploader.forget_store();
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(
                        error = %e,
                        label = e.label(),
                        "the in-progress WAL segment is not uploaded; retrying every round"
                    );
                } else {
                    tracing::debug!(error = %e, label = e.label(), "in-progress WAL upload failed again");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: serde_json::Value) -> ManagerConfig {
        let mut base = serde_json::json!({
            "clusterName": "region-a", "instanceName": "region-a-1", "pgdata": "/d",
            "partialWalUploadSeconds": 2,
            "backup": {"barmanObjectStore": {"destinationPath": "s3://b/"}},
        });
        if let (Some(b), Some(e)) = (base.as_object_mut(), json.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(base).expect("config")
    }

    #[test]
    fn only_a_running_primary_of_a_primary_cluster_with_a_store_uploads() {
        let two = Some(Duration::from_secs(2));
        let replica = serde_json::json!({"primary": "region-b", "source": "region-b"});
        let cases = [
            ("on", cfg(serde_json::json!({})), true, false, two),
            (
                "the target primary",
                cfg(serde_json::json!({"targetPrimary": "region-a-1"})),
                true,
                false,
                two,
            ),
            (
                "postgres down",
                cfg(serde_json::json!({})),
                false,
                false,
                None,
            ),
            ("fenced", cfg(serde_json::json!({})), true, true, None),
            (
                "another target primary",
                cfg(serde_json::json!({"targetPrimary": "region-a-2"})),
                true,
                false,
                None,
            ),
            (
                "a replica cluster",
                cfg(serde_json::json!({"replica": replica})),
                true,
                false,
                None,
            ),
            (
                "no object store",
                cfg(serde_json::json!({"backup": null})),
                true,
                false,
                None,
            ),
            (
                "off",
                cfg(serde_json::json!({"partialWalUploadSeconds": 0})),
                true,
                false,
                None,
            ),
            (
                "unset",
                cfg(serde_json::json!({"partialWalUploadSeconds": null})),
                true,
                false,
                None,
            ),
        ];
        for (what, c, running, fenced, want) in cases {
            assert_eq!(period(&c, running, fenced), want, "{what}");
        }
    }

    #[test]
    fn what_the_primary_reports_is_read_or_refused() {
        let some = |v: &[&str]| -> [Option<String>; 4] {
            let mut out: [Option<String>; 4] = Default::default();
            for (o, v) in out.iter_mut().zip(v) {
                *o = (!v.is_empty()).then(|| v.to_string());
            }
            out
        };
        let ok = parse_observed(some(&[
            "0/3000100",
            "000000020000000000000003",
            "16777216",
            "000000020000000000000002",
        ]))
        .expect("valid");
        assert_eq!(
            ok.flushed,
            Flushed {
                lsn: Lsn(0x300_0100),
                timeline: 2,
                segment_size: 16 << 20
            }
        );
        assert_eq!(
            ok.last_archived.as_deref(),
            Some("000000020000000000000002")
        );
        // Nothing archived yet is normal.
        let fresh = parse_observed(some(&[
            "0/3000100",
            "000000010000000000000003",
            "16777216",
            "",
        ]))
        .expect("valid");
        assert_eq!(fresh.last_archived, None);
        let cases = [
            (
                "no flush LSN",
                some(&["", "000000010000000000000003", "16777216", ""]),
            ),
            (
                "bad flush LSN",
                some(&["3000100", "000000010000000000000003", "16777216", ""]),
            ),
            (
                "bad file name",
                some(&["0/3000100", "00000001.history", "16777216", ""]),
            ),
            (
                "8 kB units",
                some(&["0/3000100", "000000010000000000000003", "2048", ""]),
            ),
            (
                "no segment size",
                some(&["0/3000100", "000000010000000000000003", "", ""]),
            ),
        ];
        for (what, values) in cases {
            let err = parse_observed(values).expect_err(what);
            assert_eq!(err.label(), "unexpected_answer", "{what}");
        }
    }

    #[tokio::test]
    async fn the_segment_is_read_up_to_the_flush_checked_and_compressed() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("pg_wal")).expect("mkdir");
        let name = "000000010000000000000003";
        let segment = pgfed_api::lsn::WalSegmentName::parse(name, 16 << 20).expect("name");
        // The file holds more than is flushed: only the flushed bytes go up.
        let on_disk = crate::wal::partial::tests::segment_bytes(segment, 5 * 8192);
        std::fs::write(dir.path().join("pg_wal").join(name), &on_disk).expect("write");
        let upload = Upload {
            segment,
            len: 2 * 8192 + 300,
        };
        let body = read_segment(dir.path(), upload, Some(CompressionType::Zstd))
            .await
            .expect("read");
        let plain = compression::decompress(Some(CompressionType::Zstd), &body).expect("zstd");
        assert_eq!(plain, on_disk[..2 * 8192 + 300]);

        // A file recycled under another segment's name is refused, never uploaded.
        let other = pgfed_api::lsn::WalSegmentName::parse("000000010000000000000009", 16 << 20)
            .expect("name");
        std::fs::write(
            dir.path().join("pg_wal").join(name),
            crate::wal::partial::tests::segment_bytes(other, 5 * 8192),
        )
        .expect("write");
        let err = read_segment(dir.path(), upload, None)
            .await
            .expect_err("recycled");
        assert_eq!(err.label(), "not_this_segment", "{err}");
        // A flush past the end of the file is a read error.
        let err = read_segment(
            dir.path(),
            Upload {
                segment,
                len: 6 * 8192,
            },
            None,
        )
        .await
        .expect_err("short file");
        assert_eq!(err.label(), "read_wal", "{err}");
    }
}
