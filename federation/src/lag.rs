//! How far a replica member is behind the primary, from the WAL positions both member operators
//! recorded in their Clusters' status (`status.walPosition`). Pure.
//!
//! There is no network path between regions to ask PostgreSQL directly; the positions are at most
//! ten seconds old (the member operators' refresh) plus the controller's poll.

use chrono::{DateTime, Utc};
use pgfed_api::cluster::WalPosition;
use pgfed_api::lsn::Lsn;
use std::time::Duration;

/// Lag of one replica member.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Lag {
    /// WAL bytes the primary wrote that the member has not replayed.
    pub bytes: Option<i64>,
    /// 0 when it replayed everything the primary wrote; otherwise how old its last replayed
    /// commit was when its position was recorded.
    pub seconds: Option<f64>,
}

fn time(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The lag of `replica` behind `primary`; unknown parts are `None` (a position not recorded yet,
/// an LSN or time that does not parse).
pub fn lag(primary: Option<&WalPosition>, replica: Option<&WalPosition>) -> Lag {
    let (Some(primary), Some(replica)) = (primary, replica) else {
        return Lag::default();
    };
    let (Ok(written), Ok(replayed)) = (primary.lsn.parse::<Lsn>(), replica.lsn.parse::<Lsn>())
    else {
        return Lag::default();
    };
    let behind = written.0.saturating_sub(replayed.0);
    let seconds = if behind == 0 {
        Some(0.0)
    } else {
        match (
            time(&replica.observed_at),
            replica.last_replay_time.as_deref().and_then(time),
        ) {
            (Some(seen), Some(replayed_commit)) => {
                Some(((seen - replayed_commit).num_milliseconds().max(0) as f64) / 1000.0)
            }
            _ => None,
        }
    };
    Lag {
        bytes: Some(i64::try_from(behind).unwrap_or(i64::MAX)),
        seconds,
    }
}

/// Whether a lag is past what the Federation accepts: only a known lag in seconds counts.
pub fn too_far_behind(lag: &Lag, acceptable: Duration) -> bool {
    lag.seconds.is_some_and(|s| s > acceptable.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(lsn: &str, seen: &str, replayed: Option<&str>) -> WalPosition {
        WalPosition {
            lsn: lsn.into(),
            timeline: Some(1),
            observed_at: seen.into(),
            last_replay_time: replayed.map(str::to_string),
        }
    }

    #[test]
    fn lag_from_two_positions() {
        let primary = position("0/5000000", "2027-01-01T00:00:10Z", None);
        let cases = [
            (
                "caught up",
                position(
                    "0/5000000",
                    "2027-01-01T00:00:08Z",
                    Some("2026-12-31T00:00:00Z"),
                ),
                Some(0),
                Some(0.0),
            ),
            (
                "ahead of an older primary sample",
                position("0/5000100", "2027-01-01T00:00:12Z", None),
                Some(0),
                Some(0.0),
            ),
            (
                "behind, last commit 3.5 s old when seen",
                position(
                    "0/4FFF000",
                    "2027-01-01T00:00:08Z",
                    Some("2027-01-01T00:00:04.500000Z"),
                ),
                Some(4096),
                Some(3.5),
            ),
            (
                "behind, no commit replayed yet",
                position("0/4000000", "2027-01-01T00:00:08Z", None),
                Some(16_777_216),
                None,
            ),
            (
                "a clock ahead never gives a negative lag",
                position(
                    "0/4FFF000",
                    "2027-01-01T00:00:08Z",
                    Some("2027-01-01T00:00:09Z"),
                ),
                Some(4096),
                Some(0.0),
            ),
            (
                "not an LSN",
                position("tomorrow", "2027-01-01T00:00:08Z", None),
                None,
                None,
            ),
        ];
        for (name, replica, bytes, seconds) in cases {
            let got = lag(Some(&primary), Some(&replica));
            assert_eq!((got.bytes, got.seconds), (bytes, seconds), "{name}");
        }
        assert_eq!(lag(None, Some(&primary)), Lag::default());
    }

    #[test]
    fn only_a_known_lag_past_the_limit_counts() {
        let limit = Duration::from_secs(60);
        let lag = |seconds| Lag {
            bytes: Some(1),
            seconds,
        };
        assert!(!too_far_behind(&lag(None), limit));
        assert!(!too_far_behind(&lag(Some(60.0)), limit));
        assert!(too_far_behind(&lag(Some(60.5)), limit));
    }
}
