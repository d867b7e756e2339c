//! `backup.retentionPolicy`: which base backups and WAL files of the object store may go. Pure:
//! the caller lists the store (`retention_run`), this decides, the caller deletes.
//!
//! The recovery window is `[now - policy, now]` (`30d`, `4w`, `12m`: days, weeks, calendar
//! months, CloudNativePG's format). The rules:
//! - Every completed backup that ended inside the window is kept, and so is the newest one that
//!   ended before it: recovering to the window's first instant starts from that one. The newest
//!   completed backup is therefore always kept, however old.
//! - Older completed backups go; failed backups that ended before the window go.
//! - A backup without a `backup.info` (being uploaded: pgfed writes it last), or whose status is
//!   neither DONE nor FAILED, is in progress and never touched. One whose objects all predate the
//!   window was abandoned (its uploader died) and goes like a failed one.
//! - A WAL segment stays while a kept backup may replay it: every kept backup B needs the
//!   segments at or after its begin WAL on its timeline and on later timelines. A segment no kept
//!   backup needs goes — including segments of older timelines past a fork, which no kept backup
//!   can reach. Timeline history files always stay (tiny, and recovery reads all of them).
//! - While a backup is in progress without a known begin WAL, no WAL goes: the WAL it will need
//!   cannot be told apart from the WAL nobody needs.
//! - With no completed backup at all, no WAL goes.
//! - Nothing at all is decided on a partial listing: the input is a [`CompleteListing`], which
//!   only a listing that read every page and every `backup.info` without error produces.

use chrono::{DateTime, Months, TimeDelta, Utc};
use pgfed_api::barman::layout;

/// A parsed `backup.retentionPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// `<n>d`.
    Days(u32),
    /// `<n>w`.
    Weeks(u32),
    /// `<n>m`: calendar months.
    Months(u32),
}

/// A retention policy that is not `^[1-9][0-9]*[dwm]$`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "backup.retentionPolicy {0:?}: expected a positive number followed by d, w or m (e.g. 30d)"
)]
pub struct PolicyError(String);

impl Policy {
    /// Parses `backup.retentionPolicy`.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        pgfed_api::validation::formats::check_retention_policy(text)
            .map_err(|_| PolicyError(text.to_string()))?;
        let (number, unit) = text.split_at(text.len() - 1);
        let n: u32 = number.parse().map_err(|_| PolicyError(text.to_string()))?;
        Ok(match unit {
            "d" => Self::Days(n),
            "w" => Self::Weeks(n),
            _ => Self::Months(n),
        })
    }

    /// The first instant of the recovery window ending at `now`.
    pub fn window_start(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let earliest = DateTime::<Utc>::MIN_UTC;
        match self {
            Self::Days(n) => now
                .checked_sub_signed(TimeDelta::days(i64::from(n)))
                .unwrap_or(earliest),
            Self::Weeks(n) => now
                .checked_sub_signed(TimeDelta::weeks(i64::from(n)))
                .unwrap_or(earliest),
            Self::Months(n) => now.checked_sub_months(Months::new(n)).unwrap_or(earliest),
        }
    }
}

/// What a backup's directory says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackupState {
    /// `status=DONE`.
    Done,
    /// `status=FAILED`.
    Failed,
    /// Another status (STARTED, WAITING_FOR_WALS…), or no backup.info yet.
    InProgress,
}

/// One backup directory under `base/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedBackup {
    /// Backup ID (the directory name).
    pub id: String,
    /// Its state.
    pub state: BackupState,
    /// First WAL segment it needs (`begin_wal`), when known.
    pub begin_wal: Option<String>,
    /// When it ended (`end_time`), when known.
    pub end_time: Option<DateTime<Utc>>,
    /// The newest modification time of its objects: how an abandoned upload is recognised.
    pub last_modified: Option<DateTime<Utc>>,
}

/// One object under `wals/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedWal {
    /// Its key relative to the server root (`wals/0000000100000000/000000010000000000000003.gz`).
    pub key: String,
}

/// A listing of a server's backups and WAL that is known to be whole. Built only by a lister
/// that read every page of both listings and every `backup.info` without error: a partial
/// listing cannot be turned into one, so it cannot cause a deletion.
#[derive(Clone, Debug)]
pub struct CompleteListing {
    backups: Vec<ListedBackup>,
    wal: Vec<ListedWal>,
}

impl CompleteListing {
    /// Vouches that `backups` and `wal` are everything the store holds. Only the lister (after
    /// an error-free listing) and tests call this.
    pub(crate) fn new(backups: Vec<ListedBackup>, wal: Vec<ListedWal>) -> Self {
        Self { backups, wal }
    }

    /// The backups listed.
    pub fn backups(&self) -> &[ListedBackup] {
        &self.backups
    }
}

/// Why a backup goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RemovalReason {
    /// Completed, but a newer completed backup already covers the window.
    OutsideWindow,
    /// Failed, and ended before the window.
    FailedOutsideWindow,
    /// No backup.info and nothing uploaded since before the window.
    Abandoned,
}

/// A backup to delete.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BackupRemoval {
    /// Backup ID.
    pub id: String,
    /// Why.
    pub reason: RemovalReason,
}

/// What retention removes, and what bounds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    /// Backups to delete (whole directories).
    pub backups: Vec<BackupRemoval>,
    /// WAL object keys to delete.
    pub wal: Vec<String>,
    /// Completed backups kept.
    pub kept: Vec<String>,
    /// Why no WAL goes this time, when that is the case.
    pub wal_held_because: Option<String>,
}

/// A segment's (timeline, position) from its file name (also `.partial` and `.backup` names);
/// `None` for history files and anything else.
fn segment_of(name: &str) -> Option<(u32, &str)> {
    if !layout::is_xlog_file(name) {
        return None;
    }
    let timeline = u32::from_str_radix(name.get(..8)?, 16).ok()?;
    Some((timeline, name.get(8..24)?))
}

/// Decides what goes. See the module documentation for the rules.
pub fn plan(listing: &CompleteListing, now: DateTime<Utc>, policy: Policy) -> Removal {
    let window = policy.window_start(now);
    let mut done: Vec<&ListedBackup> = listing
        .backups
        .iter()
        .filter(|b| b.state == BackupState::Done)
        .collect();
    // A completed backup without an end time or begin WAL cannot be placed: keep it and hold
    // all WAL (see below), rather than guess.
    done.sort_by_key(|b| (b.end_time, b.id.clone()));
    let newest_before_window = done
        .iter()
        .rev()
        .find(|b| b.end_time.is_some_and(|t| t < window))
        .map(|b| b.id.clone());
    let mut removal = Removal::default();
    let mut kept: Vec<&ListedBackup> = Vec::new();
    for b in &done {
        let keep = match b.end_time {
            None => true,
            Some(t) => t >= window || newest_before_window.as_deref() == Some(b.id.as_str()),
        };
        if keep {
            kept.push(b);
            removal.kept.push(b.id.clone());
        } else {
            removal.backups.push(BackupRemoval {
                id: b.id.clone(),
                reason: RemovalReason::OutsideWindow,
            });
        }
    }
    let mut running_without_begin = false;
    let mut holders: Vec<(u32, String)> = Vec::new();
    for b in &listing.backups {
        match b.state {
            BackupState::Done => {}
            BackupState::Failed => {
                if b.end_time.or(b.last_modified).is_some_and(|t| t < window) {
                    removal.backups.push(BackupRemoval {
                        id: b.id.clone(),
                        reason: RemovalReason::FailedOutsideWindow,
                    });
                }
            }
            BackupState::InProgress => {
                let abandoned =
                    b.begin_wal.is_none() && b.last_modified.is_some_and(|t| t < window);
                if abandoned {
                    removal.backups.push(BackupRemoval {
                        id: b.id.clone(),
                        reason: RemovalReason::Abandoned,
                    });
                    continue;
                }
                match b.begin_wal.as_deref().and_then(segment_of) {
                    Some((tl, pos)) => holders.push((tl, pos.to_string())),
                    None => running_without_begin = true,
                }
            }
        }
    }
    removal.backups.sort_by(|a, b| a.id.cmp(&b.id));
    for b in &kept {
        match (b.begin_wal.as_deref().and_then(segment_of), b.end_time) {
            (Some((tl, pos)), Some(_)) => holders.push((tl, pos.to_string())),
            _ => {
                removal.wal_held_because.get_or_insert_with(|| {
                    format!(
                        "completed backup {} has no readable begin_wal or end_time",
                        b.id
                    )
                });
            }
        }
    }
    if running_without_begin {
        removal.wal_held_because =
            Some("a backup is in progress and its begin WAL is not known yet".to_string());
    }
    if kept.is_empty() {
        removal.wal_held_because = Some("no completed backup".to_string());
    }
    if removal.wal_held_because.is_some() {
        return removal;
    }
    for object in &listing.wal {
        let base = object.key.rsplit('/').next().unwrap_or(&object.key);
        let Some((stem, _)) = layout::parse_wal_object(base) else {
            continue;
        };
        let Some((tl, pos)) = segment_of(stem) else {
            continue; // history files stay
        };
        let needed = holders
            .iter()
            .any(|(htl, hpos)| tl >= *htl && pos >= hpos.as_str());
        if !needed {
            removal.wal.push(object.key.clone());
        }
    }
    removal.wal.sort();
    removal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-11-{d:02}T12:00:00Z"))
            .expect("time")
            .with_timezone(&Utc)
    }

    fn done(id: &str, ended: u32, begin: &str) -> ListedBackup {
        ListedBackup {
            id: id.to_string(),
            state: BackupState::Done,
            begin_wal: Some(begin.to_string()),
            end_time: Some(day(ended)),
            last_modified: Some(day(ended)),
        }
    }

    fn failed(id: &str, ended: u32) -> ListedBackup {
        ListedBackup {
            state: BackupState::Failed,
            begin_wal: None,
            ..done(id, ended, "")
        }
    }

    fn running(id: &str, modified: u32, begin: Option<&str>) -> ListedBackup {
        ListedBackup {
            id: id.to_string(),
            state: BackupState::InProgress,
            begin_wal: begin.map(str::to_string),
            end_time: None,
            last_modified: Some(day(modified)),
        }
    }

    fn wal(names: &[&str]) -> Vec<ListedWal> {
        names
            .iter()
            .map(|n| ListedWal {
                key: match layout::wal_hash_dir(n) {
                    Some(dir) => format!("wals/{dir}/{n}.gz"),
                    None => format!("wals/{n}"),
                },
            })
            .collect()
    }

    fn seg(tl: u32, n: u32) -> String {
        format!("{tl:08X}00000000{n:08X}")
    }

    fn ids(r: &Removal) -> Vec<(&str, RemovalReason)> {
        r.backups
            .iter()
            .map(|b| (b.id.as_str(), b.reason))
            .collect()
    }

    fn wal_names(r: &Removal) -> Vec<String> {
        r.wal
            .iter()
            .map(|k| {
                k.rsplit('/')
                    .next()
                    .unwrap_or(k)
                    .trim_end_matches(".gz")
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn policies_parse_as_cloudnativepg_writes_them() {
        assert_eq!(Policy::parse("30d"), Ok(Policy::Days(30)));
        assert_eq!(Policy::parse("4w"), Ok(Policy::Weeks(4)));
        assert_eq!(Policy::parse("12m"), Ok(Policy::Months(12)));
        for bad in ["0d", "30", "d", "30y", "-1d", "030d", "3.5d", ""] {
            assert!(Policy::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Policy::Weeks(1).window_start(day(30)), day(23));
        assert_eq!(
            Policy::Months(1).window_start(day(30)),
            DateTime::parse_from_rfc3339("2026-10-30T12:00:00Z")
                .expect("time")
                .with_timezone(&Utc)
        );
    }

    #[test]
    fn keeps_the_window_and_the_newest_backup_before_it() {
        // Window: 7 days before the 30th = from the 23rd.
        let listing = CompleteListing::new(
            vec![
                done("b01", 1, &seg(1, 0x10)),
                done("b10", 10, &seg(1, 0x20)),
                done("b20", 20, &seg(1, 0x30)),
                done("b25", 25, &seg(1, 0x40)),
            ],
            wal(&[
                &seg(1, 0x0F),
                &seg(1, 0x10),
                &seg(1, 0x2F),
                &seg(1, 0x30),
                &seg(1, 0x31),
                &seg(1, 0x45),
                "00000001.history",
            ]),
        );
        let r = plan(&listing, day(30), Policy::Days(7));
        assert_eq!(
            ids(&r),
            [
                ("b01", RemovalReason::OutsideWindow),
                ("b10", RemovalReason::OutsideWindow)
            ]
        );
        assert_eq!(r.kept, ["b20", "b25"]);
        assert_eq!(wal_names(&r), [seg(1, 0x0F), seg(1, 0x10), seg(1, 0x2F)]);
        assert_eq!(r.wal_held_because, None);
    }

    #[test]
    fn the_newest_completed_backup_stays_however_old() {
        let listing = CompleteListing::new(
            vec![
                done("old", 1, &seg(1, 0x10)),
                done("newest", 2, &seg(1, 0x20)),
            ],
            wal(&[&seg(1, 0x11), &seg(1, 0x20), &seg(1, 0x99)]),
        );
        let r = plan(&listing, day(30), Policy::Days(1));
        assert_eq!(ids(&r), [("old", RemovalReason::OutsideWindow)]);
        assert_eq!(r.kept, ["newest"]);
        assert_eq!(wal_names(&r), [seg(1, 0x11)]);
    }

    #[test]
    fn failed_backups_go_once_outside_the_window_running_ones_never() {
        let listing = CompleteListing::new(
            vec![
                failed("f-old", 5),
                failed("f-new", 29),
                done("d", 28, &seg(1, 0x50)),
                running("r-now", 30, None),
                running("r-dead", 2, None),
                running("r-known", 3, Some(&seg(1, 0x40))),
            ],
            wal(&[&seg(1, 0x3F), &seg(1, 0x40)]),
        );
        let r = plan(&listing, day(30), Policy::Days(7));
        assert_eq!(
            ids(&r),
            [
                ("f-old", RemovalReason::FailedOutsideWindow),
                ("r-dead", RemovalReason::Abandoned)
            ]
        );
        // r-now has no begin WAL yet: it may need any segment from now on, so none goes.
        assert!(r.wal.is_empty());
        assert!(r.wal_held_because.is_some());
        // Without r-now, r-known (old but with a begin WAL, so not abandoned) holds from 0x40.
        let listing = CompleteListing::new(
            vec![
                done("d", 28, &seg(1, 0x50)),
                running("r-known", 3, Some(&seg(1, 0x40))),
            ],
            wal(&[&seg(1, 0x3F), &seg(1, 0x40), &seg(1, 0x41)]),
        );
        let r = plan(&listing, day(30), Policy::Days(7));
        assert!(r.backups.is_empty());
        assert_eq!(wal_names(&r), [seg(1, 0x3F)]);
    }

    #[test]
    fn timelines_older_than_a_kept_backup_go_past_the_fork_newer_ones_stay() {
        // The kept backup began on timeline 2 at 0x30; timeline 1 continued to 0x35 before the
        // promotion; a later branch (timeline 3) exists too.
        let listing = CompleteListing::new(
            vec![
                done("old", 1, &seg(1, 0x10)),
                done("kept", 20, &seg(2, 0x30)),
            ],
            wal(&[
                &seg(1, 0x2F),
                &seg(1, 0x30),
                &seg(1, 0x35),
                &seg(2, 0x2F),
                &seg(2, 0x30),
                &seg(3, 0x40),
                &format!("{}.partial", seg(1, 0x36)),
                "00000002.history",
                "00000003.history",
            ]),
        );
        let r = plan(&listing, day(30), Policy::Days(7));
        assert_eq!(ids(&r), [("old", RemovalReason::OutsideWindow)]);
        assert_eq!(
            wal_names(&r),
            [
                seg(1, 0x2F),
                seg(1, 0x30),
                seg(1, 0x35),
                format!("{}.partial", seg(1, 0x36)),
                seg(2, 0x2F)
            ]
        );
    }

    #[test]
    fn a_backup_on_a_rewound_branch_keeps_its_own_wal() {
        // "a" began on timeline 1 at 0x50; "b", newer, on timeline 2 that forked at 0x20.
        let listing = CompleteListing::new(
            vec![done("a", 10, &seg(1, 0x50)), done("b", 25, &seg(2, 0x21))],
            wal(&[&seg(1, 0x20), &seg(1, 0x50), &seg(2, 0x21), &seg(2, 0x22)]),
        );
        let r = plan(&listing, day(30), Policy::Days(7));
        assert_eq!(r.kept, ["a", "b"]);
        assert_eq!(wal_names(&r), [seg(1, 0x20)]);
    }

    #[test]
    fn nothing_is_deleted_without_a_completed_backup_to_anchor_the_wal() {
        let listing =
            CompleteListing::new(vec![failed("f", 1)], wal(&[&seg(1, 0x01), &seg(1, 0x02)]));
        let r = plan(&listing, day(30), Policy::Days(7));
        assert_eq!(ids(&r), [("f", RemovalReason::FailedOutsideWindow)]);
        assert!(r.wal.is_empty());
        assert_eq!(r.wal_held_because.as_deref(), Some("no completed backup"));
        let empty = CompleteListing::new(Vec::new(), Vec::new());
        assert_eq!(plan(&empty, day(30), Policy::Days(7)).backups, []);
    }

    #[test]
    fn a_completed_backup_that_cannot_be_placed_holds_everything() {
        let mut odd = done("odd", 1, &seg(1, 0x10));
        odd.end_time = None;
        let listing = CompleteListing::new(
            vec![odd, done("d", 28, &seg(1, 0x50))],
            wal(&[&seg(1, 0x01)]),
        );
        let r = plan(&listing, day(30), Policy::Days(7));
        assert!(r.backups.is_empty());
        assert_eq!(r.kept, ["odd", "d"]);
        assert!(r.wal.is_empty());
    }

    #[test]
    fn a_backup_ending_exactly_at_the_window_start_is_in_the_window() {
        let listing = CompleteListing::new(
            vec![
                done("before", 22, &seg(1, 0x10)),
                done("edge", 23, &seg(1, 0x20)),
                done("older", 21, &seg(1, 0x08)),
            ],
            Vec::new(),
        );
        let r = plan(&listing, day(30), Policy::Days(7));
        assert_eq!(ids(&r), [("older", RemovalReason::OutsideWindow)]);
        assert_eq!(r.kept, ["before", "edge"]);
    }
}
