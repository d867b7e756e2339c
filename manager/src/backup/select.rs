//! Which base backup a point-in-time recovery starts from, and how the data directory is split
//! across parallel tar streams. Pure.

use super::info::BackupInfo;
use crate::config::RecoveryTarget;
use chrono::{DateTime, NaiveDateTime, Utc};
use pgfed_api::lsn::Lsn;

/// A completed backup in the catalog.
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

/// Picks the backup to restore: `backupID` if given; otherwise the most recent completed backup
/// that ended before the target time or LSN (any completed one for other targets).
pub fn select_backup<'a>(
    catalog: &'a [CatalogEntry],
    target: Option<&RecoveryTarget>,
) -> Result<&'a CatalogEntry, String> {
    let done: Vec<&CatalogEntry> = catalog
        .iter()
        .filter(|e| e.info.status() == Some("DONE"))
        .collect();
    if let Some(id) = target.and_then(|t| t.backup_id.as_deref()) {
        return done
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| format!("backup {id} does not exist or is not complete"));
    }
    let time = target.and_then(|t| t.target_time.as_deref());
    let time = match time {
        Some(t) => {
            Some(parse_time(t).ok_or_else(|| format!("targetTime {t:?} is not a timestamp"))?)
        }
        None => None,
    };
    let lsn = match target.and_then(|t| t.target_lsn.as_deref()) {
        Some(l) => Some(l.parse::<Lsn>().map_err(|e| e.to_string())?),
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
    eligible
        .pop()
        .ok_or_else(|| "no completed backup precedes the recovery target".to_string())
}

/// Splits files (path, size) into `parts` groups of similar total size, largest files first.
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
        assert!(
            pick(RecoveryTarget {
                backup_id: Some("20261120T120000".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            pick(RecoveryTarget {
                target_time: Some("2026-11-20 09:00:00Z".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            pick(RecoveryTarget {
                target_time: Some("yesterday".into()),
                ..Default::default()
            })
            .is_err()
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
