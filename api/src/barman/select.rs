//! Which base backup a point-in-time recovery starts from: the catalog's completed backups,
//! filtered by `recoveryTarget` (`backupID`, or ended before `targetTime` / `targetLSN`).
//!
//! Pure over a catalog the caller listed: the manager picks the backup it restores, and the
//! operators can tell ahead of the restore whether a target is reachable with the same rule.

use super::backup_info::BackupInfo;
use crate::cluster::RecoveryTarget;
use crate::lsn::{InvalidLsn, Lsn};
use chrono::{DateTime, NaiveDateTime, Utc};

/// A backup in the catalog: its ID and backup.info, whatever its status (selection keeps DONE ones).
#[derive(Clone, Debug)]
pub struct CatalogEntry {
    /// Backup ID (directory name under `base/`).
    pub id: String,
    /// Its backup.info.
    pub info: BackupInfo,
}

/// Parses the timestamps Barman writes and the ones users put in `targetTime`.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%d %H:%M:%S%#z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

/// Why no backup can start a recovery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// `backupID` names no completed backup.
    #[error("backup {0} does not exist or is not complete")]
    BackupNotFound(String),
    /// `targetTime` is not a timestamp.
    #[error("targetTime {0:?} is not a timestamp")]
    InvalidTargetTime(String),
    /// `targetLSN` is not an LSN.
    #[error(transparent)]
    InvalidTargetLsn(#[from] InvalidLsn),
    /// Every completed backup ended after the target (or there is none).
    #[error("no completed backup precedes the recovery target")]
    NoBackupBeforeTarget,
}

/// Picks the backup to restore: `backupID` if given; otherwise the most recent completed backup
/// that ended before the target time or LSN (any completed one for other targets).
pub fn select_backup<'a>(
    catalog: &'a [CatalogEntry],
    target: Option<&RecoveryTarget>,
) -> Result<&'a CatalogEntry, SelectError> {
    let done: Vec<&CatalogEntry> = catalog
        .iter()
        .filter(|e| e.info.status() == Some("DONE"))
        .collect();
    if let Some(id) = target.and_then(|t| t.backup_id.as_deref()) {
        return done
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| SelectError::BackupNotFound(id.to_string()));
    }
    let time = target.and_then(|t| t.target_time.as_deref());
    let time = match time {
        Some(t) => {
            Some(parse_time(t).ok_or_else(|| SelectError::InvalidTargetTime(t.to_string()))?)
        }
        None => None,
    };
    let lsn = match target.and_then(|t| t.target_lsn.as_deref()) {
        Some(l) => Some(l.parse::<Lsn>()?),
        None => None,
    };
    let mut eligible: Vec<&CatalogEntry> = done
        .into_iter()
        .filter(|e| match time {
            Some(t) => e
                .info
                .get("end_time")
                .and_then(parse_time)
                .is_some_and(|end| end <= t),
            None => true,
        })
        .filter(|e| match lsn {
            Some(l) => e
                .info
                .get("end_xlog")
                .and_then(|x| x.parse::<Lsn>().ok())
                .is_some_and(|end| end <= l),
            None => true,
        })
        .collect();
    eligible.sort_by(|a, b| a.id.cmp(&b.id));
    eligible.pop().ok_or(SelectError::NoBackupBeforeTarget)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, status: &str, end_time: &str, end_xlog: &str) -> CatalogEntry {
        let text = format!("status={status}\nend_time={end_time}\nend_xlog={end_xlog}\n");
        CatalogEntry {
            id: id.into(),
            info: BackupInfo::parse(&text).expect("info"),
        }
    }

    fn catalog() -> Vec<CatalogEntry> {
        vec![
            entry(
                "20261120T100000",
                "DONE",
                "2026-11-20 10:00:05+00:00",
                "0/3000100",
            ),
            entry(
                "20261120T110000",
                "DONE",
                "2026-11-20 11:00:05.123456+00:00",
                "0/5000100",
            ),
            entry(
                "20261120T120000",
                "FAILED",
                "2026-11-20 12:00:05+00:00",
                "0/7000100",
            ),
        ]
    }

    #[test]
    fn selection() {
        let c = catalog();
        let pick = |t: RecoveryTarget| select_backup(&c, Some(&t)).map(|e| e.id.clone());
        assert_eq!(
            pick(RecoveryTarget::default()),
            Ok("20261120T110000".into())
        );
        assert_eq!(
            pick(RecoveryTarget {
                target_time: Some("2026-11-20 10:30:00+00".into()),
                ..Default::default()
            }),
            Ok("20261120T100000".into())
        );
        assert_eq!(
            pick(RecoveryTarget {
                target_lsn: Some("0/6000000".into()),
                ..Default::default()
            }),
            Ok("20261120T110000".into())
        );
        assert_eq!(
            pick(RecoveryTarget {
                backup_id: Some("20261120T100000".into()),
                ..Default::default()
            }),
            Ok("20261120T100000".into())
        );
        assert_eq!(
            pick(RecoveryTarget {
                backup_id: Some("20261120T120000".into()),
                ..Default::default()
            }),
            Err(SelectError::BackupNotFound("20261120T120000".into()))
        );
        assert_eq!(
            pick(RecoveryTarget {
                target_time: Some("2026-11-20 09:00:00Z".into()),
                ..Default::default()
            }),
            Err(SelectError::NoBackupBeforeTarget)
        );
        assert_eq!(
            pick(RecoveryTarget {
                target_time: Some("yesterday".into()),
                ..Default::default()
            }),
            Err(SelectError::InvalidTargetTime("yesterday".into()))
        );
        assert_eq!(
            pick(RecoveryTarget {
                target_lsn: Some("0/XYZ".into()),
                ..Default::default()
            }),
            Err(SelectError::InvalidTargetLsn(InvalidLsn("0/XYZ".into())))
        );
    }

    #[test]
    fn times() {
        for s in [
            "2026-11-20T10:00:00Z",
            "2026-11-20 10:00:00+00",
            "2026-11-20 10:00:00.5+00:00",
            "2026-11-20 10:00:00",
        ] {
            assert!(parse_time(s).is_some(), "{s}");
        }
    }
}
