//! The fields of PostgreSQL's `backup_label` (returned by `pg_backup_stop`) that a Barman
//! `backup.info` records: where the backup starts in WAL and on which timeline. Pure.

use crate::lsn::Lsn;

/// The fields of a backup_label a backup.info needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupLabel {
    /// START WAL LOCATION.
    pub start_lsn: Lsn,
    /// The segment file named next to it.
    pub start_wal: String,
    /// START TIMELINE.
    pub timeline: u32,
}

/// A backup_label line the backup cannot be recorded without is missing or unreadable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("backup_label has no valid {field}")]
pub struct LabelError {
    /// The line's key, as PostgreSQL writes it.
    pub field: &'static str,
}

const START_WAL_LOCATION: &str = "START WAL LOCATION";
const START_TIMELINE: &str = "START TIMELINE";

/// Parses a backup_label.
pub fn parse_backup_label(text: &str) -> Result<BackupLabel, LabelError> {
    let bad = |field| LabelError { field };
    let mut start = None;
    let mut timeline = None;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(": ") else {
            continue;
        };
        match key {
            // "0/2000028 (file 000000010000000000000002)"
            START_WAL_LOCATION => {
                let (lsn, file) = rest.split_once(" (file ").ok_or(bad(START_WAL_LOCATION))?;
                let lsn: Lsn = lsn.parse().map_err(|_| bad(START_WAL_LOCATION))?;
                start = Some((lsn, file.trim_end_matches(')').to_string()));
            }
            START_TIMELINE => timeline = rest.trim().parse().ok(),
            _ => {}
        }
    }
    let (start_lsn, start_wal) = start.ok_or(bad(START_WAL_LOCATION))?;
    Ok(BackupLabel {
        start_lsn,
        start_wal,
        timeline: timeline.ok_or(bad(START_TIMELINE))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let good = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nCHECKPOINT LOCATION: 0/2000060\n\
                    BACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: 2026-11-20 22:00:00 UTC\nLABEL: x\nSTART TIMELINE: 1\n";
        // (text, Ok((start LSN, start WAL, timeline)) or Err(missing field))
        type Want = Result<(&'static str, &'static str, u32), &'static str>;
        let cases: [(&str, Want); 6] = [
            (good, Ok(("0/2000028", "000000010000000000000002", 1))),
            (
                "START WAL LOCATION: 1/A0 (file 000000030000000100000000)\nSTART TIMELINE: 3\n",
                Ok(("1/A0", "000000030000000100000000", 3)),
            ),
            ("garbage", Err(START_WAL_LOCATION)),
            (
                "START WAL LOCATION: 0/2000028\nSTART TIMELINE: 1\n",
                Err(START_WAL_LOCATION),
            ),
            (
                "START WAL LOCATION: zz (file 000000010000000000000002)\nSTART TIMELINE: 1\n",
                Err(START_WAL_LOCATION),
            ),
            (
                "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nSTART TIMELINE: one\n",
                Err(START_TIMELINE),
            ),
        ];
        for (text, want) in cases {
            let got = parse_backup_label(text)
                .map(|l| (l.start_lsn.to_string(), l.start_wal, l.timeline));
            let want = want
                .map(|(lsn, wal, tl)| (lsn.to_string(), wal.to_string(), tl))
                .map_err(|field| LabelError { field });
            assert_eq!(got, want, "{text:?}");
        }
    }
}
