//! A standby whose WAL went past the point where its primary's timeline forked off.
//!
//! Why this exists: when a primary is cut off together with a standby (same node, same
//! partition), the standby keeps receiving WAL the rest of the cluster never sees; after the
//! failover the new primary's timeline forks off *before* that standby's replay position, and
//! PostgreSQL refuses to follow it ("new timeline forked off current database system timeline
//! before current recovery point"). Its WAL receiver then asks for the old timeline forever and
//! the standby never catches up. Such a standby needs what a former primary gets: pg_rewind from
//! the new primary.
//!
//! How it is recognised, with nothing but local facts: the WAL receiver asks for timeline `T`; a
//! history file in `pg_wal` (fetched from the new primary, or restored from the archive) of a
//! later timeline says `T` ended at a switchpoint below the local replay position. The decision
//! is [`diverged`]; [`Watch`] requires it to hold without a break for a while before it is acted
//! on, so that the second around a legitimate timeline switch (the receiver asks for the next
//! timeline as soon as the old one's WAL ran out) never triggers a rewind. Whether the receiver
//! is streaming is not looked at: a stuck receiver restarts every second and streams for a few
//! milliseconds each time.

use crate::config::ManagerConfig;
use crate::instance::follow::Rewind;
use pgfed_api::lsn::Lsn;
use std::time::{Duration, Instant};

/// One look at a running standby.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    /// The timeline the WAL receiver streams or asks for (`pg_stat_wal_receiver.received_tli`);
    /// `None` when no WAL receiver runs.
    pub receiver_timeline: Option<u32>,
    /// The last replayed WAL location.
    pub replay_lsn: Option<Lsn>,
    /// The latest timeline history file in `pg_wal`: its timeline and its content.
    pub latest_history: Option<(u32, String)>,
}

/// Where `timeline` ended according to a timeline history file's content (lines
/// `<parent tli>\t<switchpoint>\t<reason>`); `None` when the history does not list it. Pure.
pub fn switchpoint(history: &str, timeline: u32) -> Option<Lsn> {
    history.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let tli: u32 = fields.next()?.parse().ok()?;
        let lsn: Lsn = fields.next()?.parse().ok()?;
        (tli == timeline).then_some(lsn)
    })
}

/// Whether the standby replayed WAL of its timeline beyond the point where a later timeline
/// forked off it, so it cannot follow that timeline without a rewind. Pure.
pub fn diverged(o: &Observation) -> bool {
    let (Some(tli), Some(replay), Some((latest, history))) =
        (o.receiver_timeline, o.replay_lsn, o.latest_history.as_ref())
    else {
        return false;
    };
    *latest > tli && switchpoint(history, tli).is_some_and(|end| replay > end)
}

/// How long divergence must be seen without a break before the standby is rewound: longer than
/// a WAL receiver takes to switch to a new timeline it can follow.
pub const CONFIRM_AFTER: Duration = Duration::from_secs(10);

/// How long divergence is not acted on again after pg_rewind found nothing to rewind (the
/// later timeline in `pg_wal` was one the primary does not follow): a rewind every
/// [`CONFIRM_AFTER`] would keep the standby restarting.
pub const QUIET_AFTER_NOTHING_TO_REWIND: Duration = Duration::from_secs(300);

/// Divergence seen over time.
#[derive(Debug, Default)]
pub struct Watch {
    since: Option<Instant>,
    quiet_until: Option<Instant>,
}

impl Watch {
    /// Records whether the standby is diverged now; true once it has been for [`CONFIRM_AFTER`]
    /// (never while quiet after a rewind that found nothing to do).
    pub fn confirmed(&mut self, diverged_now: bool, now: Instant) -> bool {
        if self.quiet_until.is_some_and(|q| now < q) {
            self.since = None;
            return false;
        }
        if !diverged_now {
            self.since = None;
            return false;
        }
        let since = *self.since.get_or_insert(now);
        now.duration_since(since) >= CONFIRM_AFTER
    }

    /// Forgets what was seen (after the rewind, or when the instance is no longer a standby).
    pub fn reset(&mut self) {
        self.since = None;
    }

    /// After the rewind a confirmed divergence led to: when pg_rewind found nothing to rewind,
    /// divergence is not acted on for [`QUIET_AFTER_NOTHING_TO_REWIND`].
    pub fn rewound(&mut self, rewound: Rewind, now: Instant) {
        self.since = None;
        if rewound != Rewind::Rewound {
            self.quiet_until = Some(now + QUIET_AFTER_NOTHING_TO_REWIND);
        }
    }
}

/// Looks at the local standby: its WAL receiver and replay position (one query) and the latest
/// history file in `pg_wal`. `None` when postgres does not answer.
pub async fn observe(cfg: &ManagerConfig) -> Option<Observation> {
    let client = crate::pg::sql::connect(cfg, "postgres").await.ok()?;
    let row = client
        .query_one(
            "SELECT (SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1)::int, \
             pg_last_wal_replay_lsn()::text",
            &[],
        )
        .await
        .ok()?;
    let receiver_timeline: Option<i32> = row.get(0);
    let replay: Option<String> = row.get(1);
    Some(Observation {
        receiver_timeline: receiver_timeline.and_then(|t| u32::try_from(t).ok()),
        replay_lsn: replay.and_then(|l| l.parse().ok()),
        latest_history: latest_history(&cfg.pgdata.join("pg_wal")),
    })
}

/// The latest timeline history file in `pg_wal`, if any, with its content.
pub fn latest_history(pg_wal: &std::path::Path) -> Option<(u32, String)> {
    let latest = std::fs::read_dir(pg_wal)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let tli = name.strip_suffix(".history")?;
            (tli.len() == 8)
                .then(|| u32::from_str_radix(tli, 16).ok())
                .flatten()
        })
        .max()?;
    let content = std::fs::read_to_string(pg_wal.join(format!("{latest:08X}.history"))).ok()?;
    Some((latest, content))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTORY_3: &str = "1\t0/5031E40\tno recovery target specified\n\n2\t0/7000000\tno recovery target specified\n";

    fn lsn(s: &str) -> Option<Lsn> {
        s.parse().ok()
    }

    #[test]
    fn switchpoints_are_read_per_timeline() {
        assert_eq!(switchpoint(HISTORY_3, 1), lsn("0/5031E40"));
        assert_eq!(switchpoint(HISTORY_3, 2), lsn("0/7000000"));
        assert_eq!(switchpoint(HISTORY_3, 3), None);
        assert_eq!(switchpoint("garbage\n1 nonsense\n", 1), None);
    }

    #[test]
    fn divergence_needs_a_receiver_on_a_forked_timeline_replayed_past_the_fork() {
        let stuck = Observation {
            receiver_timeline: Some(1),
            replay_lsn: lsn("0/50356E0"),
            latest_history: Some((2, "1\t0/5031E40\tno recovery target specified\n".into())),
        };
        assert!(diverged(&stuck));
        let cases = [
            // Replayed only up to the fork: it can switch timelines.
            Observation {
                replay_lsn: lsn("0/5031E40"),
                ..stuck.clone()
            },
            // Already asking for the latest timeline.
            Observation {
                receiver_timeline: Some(2),
                ..stuck.clone()
            },
            // No receiver: nothing to compare with (the primary may be gone).
            Observation {
                receiver_timeline: None,
                ..stuck.clone()
            },
            // No later timeline known.
            Observation {
                latest_history: None,
                ..stuck.clone()
            },
            // Not replaying anything yet.
            Observation {
                replay_lsn: None,
                ..stuck.clone()
            },
        ];
        for o in cases {
            assert!(!diverged(&o), "{o:?}");
        }
        // Two timelines later, the receiver's timeline's own switchpoint counts.
        let later = Observation {
            receiver_timeline: Some(2),
            replay_lsn: lsn("0/7000100"),
            latest_history: Some((3, HISTORY_3.into())),
        };
        assert!(diverged(&later));
    }

    #[test]
    fn divergence_is_acted_on_only_once_it_lasted() {
        let t0 = Instant::now();
        let mut w = Watch::default();
        assert!(!w.confirmed(true, t0));
        assert!(!w.confirmed(true, t0 + Duration::from_secs(5)));
        assert!(w.confirmed(true, t0 + CONFIRM_AFTER));
        // A break starts the wait again.
        assert!(!w.confirmed(false, t0 + Duration::from_secs(11)));
        assert!(!w.confirmed(true, t0 + Duration::from_secs(12)));
        assert!(w.confirmed(true, t0 + Duration::from_secs(12) + CONFIRM_AFTER));
        w.reset();
        assert!(!w.confirmed(true, t0 + Duration::from_secs(40)));
        // A rewind that rewound: watched again at once.
        w.rewound(Rewind::Rewound, t0 + Duration::from_secs(60));
        assert!(!w.confirmed(true, t0 + Duration::from_secs(60)));
        assert!(w.confirmed(true, t0 + Duration::from_secs(60) + CONFIRM_AFTER));
        // Nothing to rewind: quiet for a while, then watched again.
        let t1 = t0 + Duration::from_secs(100);
        w.rewound(Rewind::NoneRequired, t1);
        assert!(!w.confirmed(true, t1 + CONFIRM_AFTER));
        assert!(!w.confirmed(true, t1 + QUIET_AFTER_NOTHING_TO_REWIND));
        assert!(w.confirmed(true, t1 + QUIET_AFTER_NOTHING_TO_REWIND + CONFIRM_AFTER));
    }

    #[test]
    fn the_latest_history_file_is_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(latest_history(dir.path()), None);
        for (name, body) in [
            ("00000002.history", "1\t0/1\tx\n"),
            ("0000000A.history", "9\t0/9\tx\n"),
            ("000000010000000000000001", "wal"),
            ("00000003.history.tmp", "no"),
        ] {
            std::fs::write(dir.path().join(name), body).expect("write");
        }
        assert_eq!(
            latest_history(dir.path()),
            Some((10, "9\t0/9\tx\n".to_string()))
        );
    }
}
