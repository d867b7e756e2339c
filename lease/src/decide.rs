//! The pure half of leader election: given the Lease a replica read (and when it first saw it
//! in that state), who should lead, and what the replica writes to claim, renew or release it.
//! No API calls and no clocks: the caller passes `now`.
//!
//! Expiry is judged on this replica's clock, not only on the holder's `renewTime`: a record
//! stays fresh for one lease duration after this replica first saw it unchanged, so a holder
//! whose clock lags cannot look expired while it still renews, and one whose clock runs ahead
//! (a `renewTime` in the future) stays fresh as long as it keeps renewing — and no longer.

use chrono::{DateTime, Duration, Utc};

/// The election fields of a `coordination.k8s.io/v1` Lease.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseRecord {
    /// Who holds the lease; `None` when nobody does (never held, or released).
    pub holder: Option<String>,
    /// When the holder took it.
    pub acquire_time: Option<DateTime<Utc>>,
    /// When the holder last renewed it, on the holder's clock.
    pub renew_time: Option<DateTime<Utc>>,
    /// How long the holder promises the lease stays valid after a renewal.
    pub duration: Option<Duration>,
    /// How many times the lease changed hands.
    pub transitions: i32,
}

/// A Lease as one replica observed it.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    /// The record read.
    pub record: &'a LeaseRecord,
    /// When this replica first read the record in this state (same resourceVersion), on its
    /// own clock.
    pub first_seen: DateTime<Utc>,
}

/// What a replica does after reading the Lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// There is no Lease: create it, held by this replica.
    Acquire,
    /// This replica holds the lease: renew it.
    Renew,
    /// Another replica holds a fresh lease: stay a follower and read again later.
    Follow {
        /// The leader.
        holder: String,
        /// When the lease expires on this replica's clock unless it changes before.
        expires: DateTime<Utc>,
    },
    /// The lease was released or expired: claim it at the version read.
    TakeOver,
}

/// Decides what replica `me` does with the Lease it read (`None`: no Lease object).
/// `default_duration` applies when the record does not say how long it lasts.
pub fn decide(
    observed: Option<Observed<'_>>,
    me: &str,
    now: DateTime<Utc>,
    default_duration: Duration,
) -> Decision {
    let Some(Observed { record, first_seen }) = observed else {
        return Decision::Acquire;
    };
    let holder = match record.holder.as_deref() {
        None | Some("") => return Decision::TakeOver,
        Some(holder) if holder == me => return Decision::Renew,
        Some(holder) => holder,
    };
    // A renewTime from the future says nothing trustworthy about when the holder renewed.
    let renewed = record
        .renew_time
        .filter(|t| *t <= now)
        .map_or(first_seen, |t| t.max(first_seen));
    let expires = renewed + record.duration.unwrap_or(default_duration);
    if now > expires {
        Decision::TakeOver
    } else {
        Decision::Follow {
            holder: holder.to_string(),
            expires,
        }
    }
}

/// The record `me` writes to take the lease (creating it when `previous` is `None`).
pub fn claimed(
    previous: Option<&LeaseRecord>,
    me: &str,
    now: DateTime<Utc>,
    duration: Duration,
) -> LeaseRecord {
    let transitions = match previous {
        None => 0,
        Some(p) if p.holder.as_deref() == Some(me) => p.transitions,
        Some(p) => p.transitions.saturating_add(1),
    };
    LeaseRecord {
        holder: Some(me.to_string()),
        acquire_time: Some(now),
        renew_time: Some(now),
        duration: Some(duration),
        transitions,
    }
}

/// The record the holder writes to renew the lease it holds.
pub fn renewed(current: &LeaseRecord, now: DateTime<Utc>, duration: Duration) -> LeaseRecord {
    LeaseRecord {
        renew_time: Some(now),
        duration: Some(duration),
        ..current.clone()
    }
}

/// The record the holder writes when it stops leading on purpose: no holder and a one-second
/// duration, so a follower takes over at its next read instead of waiting for expiry.
pub fn released(current: &LeaseRecord, now: DateTime<Utc>) -> LeaseRecord {
    LeaseRecord {
        holder: None,
        renew_time: Some(now),
        duration: Some(Duration::seconds(1)),
        ..current.clone()
    }
}

/// The identity a replica elects with: its pod name (or host name), plus a random suffix so a
/// restarted container with the same pod name is never mistaken for the previous holder.
pub fn identity(pod_name: Option<&str>, hostname: Option<&str>, suffix: u64) -> String {
    let base = [pod_name, hostname]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|name| !name.is_empty())
        .unwrap_or("pgfed-operator");
    format!("{base}-{:08x}", suffix & 0xffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000) + Duration::seconds(seconds)
    }

    fn held_by(holder: Option<&str>, renew: Option<i64>, duration: Option<i64>) -> LeaseRecord {
        LeaseRecord {
            holder: holder.map(str::to_string),
            acquire_time: Some(at(0)),
            renew_time: renew.map(at),
            duration: duration.map(Duration::seconds),
            transitions: 3,
        }
    }

    #[test]
    fn decisions() {
        let fifteen = Duration::seconds(15);
        let follow = |expires: i64| Decision::Follow {
            holder: "other".into(),
            expires: at(expires),
        };
        // (case, record, first seen, now, expected)
        let cases: Vec<(&str, Option<LeaseRecord>, i64, i64, Decision)> = vec![
            ("no lease", None, 0, 100, Decision::Acquire),
            (
                "my own lease",
                Some(held_by(Some("me"), Some(90), Some(15))),
                90,
                100,
                Decision::Renew,
            ),
            (
                "my own lease, even when expired",
                Some(held_by(Some("me"), Some(10), Some(15))),
                10,
                100,
                Decision::Renew,
            ),
            (
                "someone else's fresh lease",
                Some(held_by(Some("other"), Some(95), Some(15))),
                96,
                100,
                follow(111),
            ),
            (
                "someone else's lease, renewed after I saw it last (holder clock ahead)",
                Some(held_by(Some("other"), Some(98), Some(15))),
                96,
                100,
                follow(113),
            ),
            (
                "expired: unchanged for longer than its duration",
                Some(held_by(Some("other"), Some(50), Some(15))),
                60,
                100,
                Decision::TakeOver,
            ),
            (
                "an old renewTime just seen is fresh: the holder's clock may lag",
                Some(held_by(Some("other"), Some(50), Some(15))),
                99,
                100,
                follow(114),
            ),
            (
                "expiry at exactly the duration is still fresh",
                Some(held_by(Some("other"), Some(85), Some(15))),
                85,
                100,
                follow(100),
            ),
            (
                "the holder's own duration wins over ours",
                Some(held_by(Some("other"), Some(85), Some(60))),
                85,
                100,
                follow(145),
            ),
            (
                "no duration in the record: ours",
                Some(held_by(Some("other"), Some(85), None)),
                85,
                100,
                follow(100),
            ),
            (
                "missing renewTime, just seen: fresh for one duration",
                Some(held_by(Some("other"), None, Some(15))),
                95,
                100,
                follow(110),
            ),
            (
                "missing renewTime, unchanged for longer than the duration",
                Some(held_by(Some("other"), None, Some(15))),
                80,
                100,
                Decision::TakeOver,
            ),
            (
                "clock skew: a renewTime in the future is fresh while it keeps changing",
                Some(held_by(Some("other"), Some(130), Some(15))),
                99,
                100,
                follow(114),
            ),
            (
                "clock skew: a renewTime in the future that stopped changing expires",
                Some(held_by(Some("other"), Some(130), Some(15))),
                70,
                100,
                Decision::TakeOver,
            ),
            (
                "released (no holder)",
                Some(held_by(None, Some(99), Some(1))),
                99,
                100,
                Decision::TakeOver,
            ),
            (
                "released (empty holder)",
                Some(held_by(Some(""), Some(99), Some(1))),
                99,
                100,
                Decision::TakeOver,
            ),
        ];
        for (case, record, first_seen, now, expected) in cases {
            let observed = record.as_ref().map(|record| Observed {
                record,
                first_seen: at(first_seen),
            });
            assert_eq!(decide(observed, "me", at(now), fifteen), expected, "{case}");
        }
    }

    #[test]
    fn claiming_counts_transitions_between_holders_only() {
        let fifteen = Duration::seconds(15);
        let created = claimed(None, "me", at(5), fifteen);
        assert_eq!(
            created,
            LeaseRecord {
                holder: Some("me".into()),
                acquire_time: Some(at(5)),
                renew_time: Some(at(5)),
                duration: Some(fifteen),
                transitions: 0,
            }
        );
        let from_other = claimed(
            Some(&held_by(Some("other"), Some(1), Some(15))),
            "me",
            at(9),
            fifteen,
        );
        assert_eq!(from_other.transitions, 4);
        assert_eq!(from_other.holder.as_deref(), Some("me"));
        assert_eq!(from_other.acquire_time, Some(at(9)));
        let released_by_other =
            claimed(Some(&held_by(None, Some(1), Some(1))), "me", at(9), fifteen);
        assert_eq!(released_by_other.transitions, 4);
        let mine_again = claimed(
            Some(&held_by(Some("me"), Some(1), Some(15))),
            "me",
            at(9),
            fifteen,
        );
        assert_eq!(mine_again.transitions, 3);
    }

    #[test]
    fn renewing_moves_only_the_renew_time() {
        let current = held_by(Some("me"), Some(10), Some(15));
        let next = renewed(&current, at(15), Duration::seconds(15));
        assert_eq!(
            next,
            LeaseRecord {
                renew_time: Some(at(15)),
                ..current
            }
        );
    }

    #[test]
    fn a_released_lease_is_taken_over_at_once() {
        let current = held_by(Some("me"), Some(10), Some(15));
        let gone = released(&current, at(11));
        assert_eq!(gone.holder, None);
        assert_eq!(gone.duration, Some(Duration::seconds(1)));
        assert_eq!(gone.transitions, current.transitions);
        let observed = Observed {
            record: &gone,
            first_seen: at(11),
        };
        assert_eq!(
            decide(Some(observed), "other", at(11), Duration::seconds(15)),
            Decision::TakeOver
        );
    }

    #[test]
    fn identities() {
        // (pod name, hostname, expected)
        let cases = [
            (
                Some("pgfed-operator-7c9-abcde"),
                Some("host"),
                "pgfed-operator-7c9-abcde-0000beef",
            ),
            (None, Some("host"), "host-0000beef"),
            (Some(" "), Some("host\n"), "host-0000beef"),
            (None, None, "pgfed-operator-0000beef"),
        ];
        for (pod, host, expected) in cases {
            assert_eq!(identity(pod, host, 0x1234_0000_beef), expected);
        }
    }
}
