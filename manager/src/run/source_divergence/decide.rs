//! Whether a replica cluster's designated primary can follow its source, from local facts and
//! the source's timeline history. Pure; the reading is in the parent module.
//!
//! The rules are PostgreSQL's own (what `recovery_target_timeline = latest` accepts at start): the
//! latest checkpoint must lie on the requested timeline's history strictly before the point where
//! its own timeline was left (`tliOfPointInHistory`), and the minimum recovery point at or before
//! it. A former primary that wrote WAL after the failover forked the source's new timeline off
//! breaks the first rule: its shutdown checkpoint lies past the fork. What it wrote is not lost by
//! this verdict: the operator keeps its volumes and seeds a new instance from the source.

use crate::run::diverged::switchpoint;
use pgfed_api::barman::select::CatalogEntry;
use pgfed_api::lsn::Lsn;

/// How far the local data directory's history reached, from pg_controldata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalHistory {
    /// The latest checkpoint's timeline.
    pub timeline: u32,
    /// Where the latest checkpoint record is.
    pub checkpoint: Lsn,
    /// The minimum recovery point and its timeline, when set.
    pub min_recovery: Option<(u32, Lsn)>,
}

impl LocalHistory {
    /// The furthest local position on the checkpoint's timeline: the minimum recovery point when
    /// it is later on that timeline, else the checkpoint.
    pub fn reached(&self) -> Lsn {
        match self.min_recovery {
            Some((tli, lsn)) if tli == self.timeline && lsn > self.checkpoint => lsn,
            _ => self.checkpoint,
        }
    }
}

/// The source's newest timeline and the content of its history file (empty for timeline 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceHistory {
    /// The newest timeline in the source's archive.
    pub timeline: u32,
    /// `<timeline>.history`: `<parent tli>\t<switchpoint>\t<reason>` lines.
    pub history: String,
}

/// Where two histories parted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// The local timeline.
    pub local_timeline: u32,
    /// How far the local history reached on it.
    pub local_lsn: Lsn,
    /// The timeline both share up to the split.
    pub fork_timeline: u32,
    /// Where the source's history left that timeline; `None` when it never had it.
    pub fork_lsn: Option<Lsn>,
}

/// Whether the local instance can follow the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Its history is a prefix of the source's: replay goes on from where it is.
    Follows,
    /// Its history went past the source's fork, or is one the source never had.
    Diverged(Split),
}

/// Where point `lsn` of timeline `tli` stands on `source`'s history: `Ok` when on it, else the
/// switchpoint where the source left `tli` (`None`: the source's history lacks `tli`).
/// `inclusive`: a point exactly at the switchpoint counts as on it (a minimum recovery point or a
/// backup's end is the end of a record; a checkpoint is the start of one).
fn position(
    source: &SourceHistory,
    tli: u32,
    lsn: Lsn,
    inclusive: bool,
) -> Result<(), Option<Lsn>> {
    if tli == source.timeline {
        return Ok(());
    }
    if tli > source.timeline {
        return Err(None);
    }
    match switchpoint(&source.history, tli) {
        Some(end) if lsn < end || (inclusive && lsn == end) => Ok(()),
        Some(end) => Err(Some(end)),
        None => Err(None),
    }
}

/// Decides whether `local` can follow `source`. Pure.
pub fn verdict(local: &LocalHistory, source: &SourceHistory) -> Verdict {
    let checkpoint = position(source, local.timeline, local.checkpoint, false);
    let min_recovery = local
        .min_recovery
        .map_or(Ok(()), |(tli, lsn)| position(source, tli, lsn, true));
    match checkpoint.and(min_recovery) {
        Ok(()) => Verdict::Follows,
        Err(fork_lsn) => Verdict::Diverged(split(local, source, fork_lsn)),
    }
}

/// The split to report when the local instance cannot follow `source` for a reason found
/// elsewhere (PostgreSQL refused, its words in `refusal`): where the source left the local
/// timeline, if it did. A running server's refusal names the point its replay reached ("before
/// current recovery point X"), past the checkpoint pg_controldata shows: that is how far the
/// local history went. Pure.
pub fn refused_split(local: &LocalHistory, source: &SourceHistory, refusal: &str) -> Split {
    let fork_lsn = position(source, local.timeline, local.checkpoint, false)
        .err()
        .flatten();
    let mut split = split(
        local,
        source,
        fork_lsn.or_else(|| switchpoint(&source.history, local.timeline)),
    );
    if let Some(replayed) = recovery_point(refusal).filter(|r| *r > split.local_lsn) {
        split.local_lsn = replayed;
    }
    split
}

/// The recovery point a refusal of PostgreSQL names, if it names one. Pure.
fn recovery_point(refusal: &str) -> Option<Lsn> {
    let (_, after) = refusal.split_once("current recovery point ")?;
    let word = after
        .split(|c: char| c.is_whitespace() || c == '"')
        .next()?;
    word.trim_end_matches(['.', ',']).parse().ok()
}

fn split(local: &LocalHistory, source: &SourceHistory, fork_lsn: Option<Lsn>) -> Split {
    Split {
        local_timeline: local.timeline,
        local_lsn: local.reached(),
        fork_timeline: local.timeline.min(source.timeline),
        fork_lsn,
    }
}

/// What PostgreSQL logs when the local history cannot be carried onto the requested timeline:
/// at start (FATAL, the server exits) or while replaying (it stays up and replays nothing more).
const REFUSALS: [&str; 3] = [
    "is not a child of this server's history",
    "does not contain minimum recovery point",
    "before current recovery point",
];

/// The first PostgreSQL message among `lines` saying the local history cannot follow the
/// requested timeline. Lines are jsonlog records or plain text; the message is returned as
/// logged. Pure.
pub fn refusal<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<String> {
    lines.into_iter().find_map(|line| {
        let message = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| line.to_string());
        REFUSALS
            .iter()
            .any(|r| message.contains(r))
            .then_some(message)
    })
}

/// The source's newest completed base backup whose end lies on the source's history, so an
/// instance restored from it can replay on to the source's latest timeline; `None` when there is
/// none. Pure.
pub fn seed_backup<'a>(
    catalog: &'a [CatalogEntry],
    source: &SourceHistory,
) -> Option<&'a CatalogEntry> {
    catalog
        .iter()
        .filter(|e| e.info.status() == Some("DONE"))
        .filter(|e| {
            let tli = e.info.get("timeline").and_then(|t| t.parse::<u32>().ok());
            let end = e.info.get("end_xlog").and_then(|l| l.parse::<Lsn>().ok());
            tli.zip(end)
                .is_some_and(|(tli, end)| position(source, tli, end, true).is_ok())
        })
        .max_by(|a, b| a.id.cmp(&b.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgfed_api::barman::backup_info::BackupInfo;

    fn lsn(s: &str) -> Lsn {
        s.parse().expect("lsn")
    }

    /// Timeline 2 forked off timeline 1 at 0/5000100.
    fn source_tli2() -> SourceHistory {
        SourceHistory {
            timeline: 2,
            history: "1\t0/5000100\tno recovery target specified\n".into(),
        }
    }

    fn local(tli: u32, checkpoint: &str, min_recovery: Option<(u32, &str)>) -> LocalHistory {
        LocalHistory {
            timeline: tli,
            checkpoint: lsn(checkpoint),
            min_recovery: min_recovery.map(|(t, l)| (t, lsn(l))),
        }
    }

    #[test]
    fn verdicts() {
        let diverged = |local_lsn: &str, fork_timeline, fork: Option<&str>| {
            Verdict::Diverged(Split {
                local_timeline: 1,
                local_lsn: lsn(local_lsn),
                fork_timeline,
                fork_lsn: fork.map(lsn),
            })
        };
        let three = SourceHistory {
            timeline: 3,
            history: "1\t0/5000100\tx\n2\t0/7000000\tx\n".into(),
        };
        let cases = [
            (
                "a primary shut down after writing past the fork",
                local(1, "0/6000028", None),
                source_tli2(),
                diverged("0/6000028", 1, Some("0/5000100")),
            ),
            (
                "its shutdown checkpoint replayed by the source before it promoted",
                local(1, "0/50000A0", None),
                source_tli2(),
                Verdict::Follows,
            ),
            (
                "a checkpoint exactly at the fork starts the new timeline's part: diverged",
                local(1, "0/5000100", None),
                source_tli2(),
                diverged("0/5000100", 1, Some("0/5000100")),
            ),
            (
                "a standby that replayed past the fork",
                local(1, "0/4000060", Some((1, "0/5800000"))),
                source_tli2(),
                diverged("0/5800000", 1, Some("0/5000100")),
            ),
            (
                "a standby that replayed exactly to the fork",
                local(1, "0/4000060", Some((1, "0/5000100"))),
                source_tli2(),
                Verdict::Follows,
            ),
            (
                "already on the source's timeline",
                local(2, "0/9000028", None),
                source_tli2(),
                Verdict::Follows,
            ),
            (
                "two timelines later, before the first fork",
                local(1, "0/4000000", None),
                three.clone(),
                Verdict::Follows,
            ),
            (
                "two timelines later, past the second fork",
                local(2, "0/7100000", None),
                three,
                Verdict::Diverged(Split {
                    local_timeline: 2,
                    local_lsn: lsn("0/7100000"),
                    fork_timeline: 2,
                    fork_lsn: Some(lsn("0/7000000")),
                }),
            ),
            (
                "a local timeline the source never had",
                local(3, "0/7100000", None),
                source_tli2(),
                Verdict::Diverged(Split {
                    local_timeline: 3,
                    local_lsn: lsn("0/7100000"),
                    fork_timeline: 2,
                    fork_lsn: None,
                }),
            ),
            (
                "the source never switched timelines",
                local(1, "0/9000000", None),
                SourceHistory {
                    timeline: 1,
                    history: String::new(),
                },
                Verdict::Follows,
            ),
        ];
        for (what, local, source, want) in cases {
            assert_eq!(verdict(&local, &source), want, "{what}");
        }
    }

    #[test]
    fn a_refusal_reports_the_fork_of_the_local_timeline() {
        let split = refused_split(
            &local(1, "0/4000060", None),
            &source_tli2(),
            "requested timeline 2 is not a child of this server's history",
        );
        assert_eq!(split.fork_lsn, Some(lsn("0/5000100")));
        assert_eq!(split.local_lsn, lsn("0/4000060"));
        // A running standby names where its replay reached: further than its checkpoint.
        let split = refused_split(
            &local(1, "0/4000060", None),
            &source_tli2(),
            "new timeline 2 forked off current database system timeline 1 before current recovery point 0/5036348",
        );
        assert_eq!(split.fork_lsn, Some(lsn("0/5000100")));
        assert_eq!(split.local_lsn, lsn("0/5036348"));
        assert_eq!(
            recovery_point("before current recovery point 0/5036348."),
            Some(lsn("0/5036348"))
        );
        assert_eq!(recovery_point("no point here"), None);
    }

    #[test]
    fn postgres_refusals_are_recognised_in_jsonlog_and_text() {
        let fatal = r#"{"timestamp":"2026-01-01","error_severity":"FATAL","message":"requested timeline 2 is not a child of this server's history"}"#;
        assert_eq!(
            refusal([r#"{"message":"starting"}"#, fatal]),
            Some("requested timeline 2 is not a child of this server's history".into())
        );
        assert!(
            refusal(["LOG:  new timeline 2 forked off current database system timeline 1 before current recovery point 0/5800000"])
                .is_some()
        );
        assert!(
            refusal([r#"{"message":"requested timeline 2 does not contain minimum recovery point 0/5800000 on timeline 1"}"#])
                .is_some()
        );
        assert_eq!(
            refusal([
                r#"{"message":"database system is ready to accept read-only connections"}"#,
                "not json"
            ]),
            None
        );
    }

    fn backup(id: &str, status: &str, tli: u32, end: &str) -> CatalogEntry {
        CatalogEntry {
            id: id.into(),
            info: BackupInfo::parse(&format!(
                "status={status}\ntimeline={tli}\nend_xlog={end}\n"
            ))
            .expect("info"),
        }
    }

    #[test]
    fn the_seed_is_the_newest_completed_backup_on_the_source_history() {
        let source = source_tli2();
        let seed = |catalog: &[CatalogEntry]| seed_backup(catalog, &source).map(|e| e.id.clone());
        // Before the fork on timeline 1, or on timeline 2: usable; the newest wins.
        let catalog = [
            backup("20260101T000000", "DONE", 1, "0/3000100"),
            backup("20260102T000000", "DONE", 2, "0/6000100"),
            backup("20260103T000000", "FAILED", 2, "0/7000100"),
        ];
        assert_eq!(seed(&catalog), Some("20260102T000000".into()));
        // A timeline-1 backup that ends past the fork is another history.
        assert_eq!(
            seed(&[backup("20260104T000000", "DONE", 1, "0/5800000")]),
            None
        );
        assert_eq!(
            seed(&[backup("20260104T000000", "DONE", 1, "0/5000100")]),
            Some("20260104T000000".into())
        );
        assert_eq!(seed(&[]), None);
    }
}
