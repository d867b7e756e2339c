//! One pass of `backup.retentionPolicy` over this cluster's object store: list everything (all
//! or nothing), ask [`super::retention::plan`] what goes, delete the backups (`backup.info`
//! first, so a half-deleted backup is never mistaken for a usable one), then the WAL, and log one
//! JSON line per removal with its reason. Any error before the deletions deletes nothing; an
//! error during them stops the pass (WAL is never deleted after a backup deletion failed).

use super::retention::{
    BackupState, CompleteListing, ListedBackup, ListedWal, Policy, PolicyError, Removal, plan,
};
use crate::config::{ConfigError, ManagerConfig};
use crate::objstore::{Archive, StoreError};
use chrono::{DateTime, SecondsFormat, Utc};
use pgfed_api::barman::backup_info::{BackupInfo, InfoError};
use pgfed_api::barman::select::parse_time;
use pgfed_api::instance::RetentionReport;
use std::collections::BTreeMap;

/// Why a pass did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The configuration has no object store or no retention policy.
    #[error("{0} is not set: nothing to apply")]
    NotConfigured(&'static str),
    /// The policy does not parse.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Listing, reading or deleting failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A backup.info listed a moment before is gone: another pass or a person is deleting.
    #[error("backup {0}: backup.info vanished while listing, nothing deleted")]
    Vanished(String),
    /// A backup.info cannot be read: what that backup needs is unknown, so nothing goes.
    #[error("backup {id}: unreadable backup.info, nothing deleted: {source}")]
    Info {
        /// Backup ID.
        id: String,
        /// Cause.
        source: InfoError,
    },
}

impl RetentionError {
    /// A short, stable name of the cause, for metrics labels and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::NotConfigured(_) => "retention_not_configured",
            Self::Policy(_) => "retention_policy",
            Self::Config(e) => e.label(),
            Self::Store(e) => e.label(),
            Self::Vanished(_) => "listing_changed",
            Self::Info { .. } => "backup_info",
        }
    }
}

/// What a pass did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PassOutcome {
    /// What the policy removes (with `dry_run`, would remove).
    #[serde(flatten)]
    pub removal: Removal,
    /// Whether anything was actually deleted.
    pub dry_run: bool,
}

/// Lists the whole server area: every backup directory with its `backup.info`, every WAL
/// object. Any failure is an error; there is no partial result.
pub async fn list(archive: &Archive) -> Result<CompleteListing, RetentionError> {
    let mut by_backup: BTreeMap<String, (bool, Option<DateTime<Utc>>)> = BTreeMap::new();
    for (key, modified) in archive.list_all("base").await? {
        let mut parts = key.splitn(3, '/');
        let (Some("base"), Some(id), Some(rest)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let entry = by_backup.entry(id.to_string()).or_insert((false, None));
        entry.0 |= rest == "backup.info";
        entry.1 = entry.1.max(Some(modified));
    }
    let mut backups = Vec::new();
    for (id, (has_info, last_modified)) in by_backup {
        let info = if has_info {
            let key = format!(
                "{}/backup.info",
                pgfed_api::barman::layout::backup_dir_key(&id)
            );
            match archive.get(&key).await? {
                Some(bytes) => Some(BackupInfo::parse(&String::from_utf8_lossy(&bytes)).map_err(
                    |source| RetentionError::Info {
                        id: id.clone(),
                        source,
                    },
                )?),
                // Deleted between the listing and the read: another pass is at work; stop.
                None => return Err(RetentionError::Vanished(id)),
            }
        } else {
            None
        };
        backups.push(listed(id, info.as_ref(), last_modified));
    }
    let wal = archive
        .list_all("wals")
        .await?
        .into_iter()
        .map(|(key, _)| ListedWal { key })
        .collect();
    Ok(CompleteListing::new(backups, wal))
}

fn listed(
    id: String,
    info: Option<&BackupInfo>,
    last_modified: Option<DateTime<Utc>>,
) -> ListedBackup {
    let state = match info.and_then(BackupInfo::status) {
        Some("DONE") => BackupState::Done,
        Some("FAILED") => BackupState::Failed,
        _ => BackupState::InProgress,
    };
    ListedBackup {
        id,
        state,
        begin_wal: info.and_then(|i| i.get("begin_wal")).map(str::to_string),
        end_time: info.and_then(|i| i.get("end_time")).and_then(parse_time),
        last_modified,
    }
}

/// Runs one pass for `cfg` at `now`. With `dry_run`, lists and decides but deletes nothing.
pub async fn run_pass(
    cfg: &ManagerConfig,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<PassOutcome, RetentionError> {
    let backup = cfg
        .backup
        .as_ref()
        .ok_or(RetentionError::NotConfigured("backup"))?;
    let text = backup
        .retention_policy
        .as_deref()
        .ok_or(RetentionError::NotConfigured("backup.retentionPolicy"))?;
    let policy = Policy::parse(text)?;
    let store = backup
        .barman_object_store
        .as_ref()
        .ok_or(RetentionError::NotConfigured("backup.barmanObjectStore"))?;
    let archive = Archive::open(store, &cfg.cluster_name, &cfg.secrets_dir)?;
    apply(&archive, policy, text, now, dry_run).await
}

/// Lists `archive`, decides with `policy` at `now`, deletes unless `dry_run`.
pub async fn apply(
    archive: &Archive,
    policy: Policy,
    policy_text: &str,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<PassOutcome, RetentionError> {
    let listing = list(archive).await?;
    let removal = plan(&listing, now, policy);
    tracing::info!(
        policy = policy_text,
        window_start = %policy.window_start(now).to_rfc3339_opts(SecondsFormat::Secs, true),
        kept = ?removal.kept,
        backups = removal.backups.len(),
        wal = removal.wal.len(),
        wal_held_because = removal.wal_held_because.as_deref(),
        dry_run,
        "retention plan"
    );
    if dry_run {
        return Ok(PassOutcome { removal, dry_run });
    }
    for b in &removal.backups {
        delete_backup(archive, &b.id).await?;
        tracing::info!(backup = %b.id, reason = ?b.reason, policy = policy_text, "retention removed a base backup");
    }
    delete_wal(archive, &removal.wal).await?;
    if let (Some(first), Some(last)) = (removal.wal.first(), removal.wal.last()) {
        tracing::info!(
            count = removal.wal.len(),
            first = %first,
            last = %last,
            policy = policy_text,
            kept_backups = ?removal.kept,
            "retention removed the WAL no kept backup needs"
        );
    }
    Ok(PassOutcome { removal, dry_run })
}

/// How many WAL deletions are in flight at once: a month of WAL is thousands of objects, and
/// one request at a time would take minutes.
const WAL_DELETES_IN_FLIGHT: usize = 16;

/// Deletes WAL objects, several at a time; the first failure stops the pass.
async fn delete_wal(archive: &Archive, keys: &[String]) -> Result<(), RetentionError> {
    use futures::StreamExt;
    let mut deletions = futures::stream::iter(keys.iter().cloned())
        .map(|key| {
            // Owned: a future borrowing the keys would not be Send for every lifetime, which
            // the supervisor's spawned task needs.
            let archive = archive.clone();
            async move {
                let result = archive.delete(&key).await;
                if result.is_ok() {
                    tracing::debug!(wal = %key, "retention removed a WAL file");
                }
                result
            }
        })
        .buffer_unordered(WAL_DELETES_IN_FLIGHT);
    while let Some(result) = deletions.next().await {
        result?;
    }
    Ok(())
}

/// Deletes a backup directory, `backup.info` first.
async fn delete_backup(archive: &Archive, id: &str) -> Result<(), RetentionError> {
    let dir = pgfed_api::barman::layout::backup_dir_key(id);
    let info = format!("{dir}/backup.info");
    archive.delete(&info).await?;
    for (key, _) in archive.list_all(&dir).await? {
        archive.delete(&key).await?;
    }
    Ok(())
}

/// The report of a pass for the status document.
pub fn report(
    policy: &str,
    now: DateTime<Utc>,
    result: &Result<PassOutcome, RetentionError>,
) -> RetentionReport {
    let (removed_backups, removed_wal, error) = match result {
        Ok(o) if !o.dry_run => (
            u32::try_from(o.removal.backups.len()).unwrap_or(u32::MAX),
            u32::try_from(o.removal.wal.len()).unwrap_or(u32::MAX),
            None,
        ),
        Ok(_) => (0, 0, None),
        Err(e) => (0, 0, Some(e.to_string())),
    };
    RetentionReport {
        time: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        policy: policy.to_string(),
        removed_backups,
        removed_wal,
        error,
    }
}
