//! The timing rules of the fencing lease, pure: the caller passes every instant, read from its
//! own monotonic clock ([`std::time::Instant`]). Nothing here compares clocks of two machines;
//! each side measures only intervals on its own clock.
//!
//! # Why a takeover never meets a holder that still accepts writes
//!
//! Let `D` be the lease duration and `T` the observer's timeout, with `T >= D`.
//!
//! - The holder ([`HolderClock`]) notes the instant `s` at which it *starts* a renewal, and once
//!   that renewal succeeds it keeps accepting writes until `s + D`, no later.
//! - That renewal's write lands in the store at some `w >= s` (it was sent after `s`).
//! - The observer ([`Observation`]) notes the instant `o` at which it first read the content
//!   that write left, taken after its read returned, so `o >= w`. It considers the lease expired
//!   no earlier than `o + T`.
//! - A takeover is a write conditional on the version the observer read. It succeeds only if no
//!   renewal landed after that version: the holder's last successful renewal is the one observed
//!   (or an earlier one), so its start `s <= w <= o`.
//!
//! Hence the takeover happens at or after `o + T >= s + T >= s + D`: the holder stopped accepting
//! writes before anyone else could start. A renewal in flight during the takeover either landed
//! first (then the takeover's version no longer matches and it fails) or lands after (then its
//! own version no longer matches and it fails; the holder never counts it).
//!
//! The margin `T - D` absorbs the two machines' clocks running at slightly different rates and
//! the delay between deciding to fence and writes being refused; `T` should exceed `D` by a clear
//! margin, not merely equal it. An observer also never uses less than the duration the holder
//! wrote into the lease ([`Observation::expired`]), so a misconfigured timeout cannot break the
//! argument.

use crate::lease::Lease;
use std::time::{Duration, Instant};

/// The holder's side: whether it may still accept writes, from the renewals that succeeded.
#[derive(Clone, Debug)]
pub struct HolderClock {
    duration: Duration,
    last_success_start: Option<Instant>,
}

impl HolderClock {
    /// A holder whose lease lasts `duration` after each renewal's start. Until its first success
    /// it holds nothing and must fence.
    pub fn new(duration: Duration) -> HolderClock {
        HolderClock {
            duration,
            last_success_start: None,
        }
    }

    /// Records a successful write of the lease (create, renewal or takeover) that *started* at
    /// `started` — the instant taken before the request was sent, never the instant of the
    /// answer. A late answer to an older attempt never moves the record backwards.
    pub fn succeeded(&mut self, started: Instant) {
        self.last_success_start = Some(match self.last_success_start {
            Some(previous) => previous.max(started),
            None => started,
        });
    }

    /// The lease is someone else's now (a higher epoch or another holder was read): fence at
    /// once, whatever time is left.
    pub fn lost(&mut self) {
        self.last_success_start = None;
    }

    /// Whether the holder must stop accepting writes at `now`.
    pub fn must_fence(&self, now: Instant) -> bool {
        self.fence_at().is_none_or(|deadline| now >= deadline)
    }

    /// The instant from which the holder must refuse writes; `None` when it holds nothing.
    pub fn fence_at(&self) -> Option<Instant> {
        self.last_success_start.map(|start| start + self.duration)
    }

    /// How often to renew: three attempts fit in one duration, so one failed or slow attempt
    /// does not fence the holder.
    pub fn renew_interval(&self) -> Duration {
        self.duration / 3
    }

    /// When to start the next renewal: one interval after the last success started, or at once
    /// when there is none.
    pub fn next_renewal(&self, now: Instant) -> Instant {
        self.last_success_start
            .map_or(now, |start| start + self.renew_interval())
    }
}

/// The observer's side: the lease content it last saw and since when, on its own clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    holder: String,
    epoch: u64,
    renewals: u64,
    duration: Duration,
    since: Instant,
}

impl Observation {
    /// A first sight of `lease` at `now` (taken after the read returned). A freshly started
    /// observer therefore waits a whole timeout before it considers any lease expired.
    pub fn new(lease: &Lease, now: Instant) -> Observation {
        Observation {
            holder: lease.holder.clone(),
            epoch: lease.epoch,
            renewals: lease.renewals,
            duration: lease.duration(),
            since: now,
        }
    }

    /// Takes in a new read of `lease` at `now`; returns whether it changed since the last one.
    /// An unchanged lease keeps the instant it was first seen.
    pub fn observe(&mut self, lease: &Lease, now: Instant) -> bool {
        let changed = (self.holder.as_str(), self.epoch, self.renewals)
            != (lease.holder.as_str(), lease.epoch, lease.renewals);
        if changed {
            *self = Observation::new(lease, now);
        }
        changed
    }

    /// Whether the lease has been unchanged for at least `timeout` at `now`. The timeout used is
    /// never shorter than the duration the holder wrote, so a holder with a longer lease than
    /// this observer expects has fenced before it is declared gone.
    pub fn expired(&self, now: Instant, timeout: Duration) -> bool {
        self.unchanged_for(now) >= timeout.max(self.duration)
    }

    /// How long the lease has been unchanged at `now`.
    pub fn unchanged_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.since)
    }

    /// The holder seen.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The epoch seen.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The local instant the current content was first seen.
    pub fn since(&self) -> Instant {
        self.since
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn holder_fences_one_duration_after_the_start_of_its_last_success() {
        let t0 = Instant::now();
        let at = |n: u64| t0 + secs(n);
        // (case, starts of successful writes in the order their answers came, lost after, now, must fence)
        let cases: [(&str, &[u64], bool, u64, bool); 8] = [
            ("never held", &[], false, 0, true),
            ("just acquired", &[0], false, 0, false),
            ("just before the deadline", &[0], false, 29, false),
            ("at the deadline", &[0], false, 30, true),
            ("renewed since", &[0, 10], false, 39, false),
            ("renewed since, deadline moved", &[0, 10], false, 40, true),
            (
                "a late answer never moves the deadline back",
                &[10, 0],
                false,
                39,
                false,
            ),
            ("lost: fences at once", &[0, 10], true, 11, true),
        ];
        for (case, starts, lost, now, expected) in cases {
            let mut clock = HolderClock::new(secs(30));
            for s in starts {
                clock.succeeded(at(*s));
            }
            if lost {
                clock.lost();
            }
            assert_eq!(clock.must_fence(at(now)), expected, "{case}");
        }
    }

    #[test]
    fn holder_renews_three_times_a_duration() {
        let t0 = Instant::now();
        let mut clock = HolderClock::new(secs(30));
        assert_eq!(clock.renew_interval(), secs(10));
        assert_eq!(clock.next_renewal(t0), t0, "nothing held: renew at once");
        assert_eq!(clock.fence_at(), None);
        clock.succeeded(t0);
        assert_eq!(clock.next_renewal(t0 + secs(1)), t0 + secs(10));
        assert_eq!(clock.fence_at(), Some(t0 + secs(30)));
    }

    fn lease(holder: &str, epoch: u64, renewals: u64, duration: u64) -> Lease {
        Lease {
            format_version: crate::FORMAT_VERSION,
            federation: "f".into(),
            holder: holder.into(),
            epoch,
            renewals,
            duration_seconds: duration,
            renewed_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn observer_expiry() {
        let t0 = Instant::now();
        let at = |n: u64| t0 + secs(n);
        let first = lease("east", 1, 5, 30);
        // Reads after the first one, at the instant given.
        type Reads = Vec<(u64, Lease)>;
        // (case, later reads, now, timeout, expired, unchanged for)
        let cases: Vec<(&str, Reads, u64, u64, bool, u64)> = vec![
            ("fresh", vec![], 59, 60, false, 59),
            ("unchanged for the timeout", vec![], 60, 60, true, 60),
            (
                "the same content read again keeps the first instant",
                vec![(50, first.clone())],
                60,
                60,
                true,
                60,
            ),
            (
                "renewed",
                vec![(50, lease("east", 1, 6, 30))],
                100,
                60,
                false,
                50,
            ),
            (
                "renewed, then unchanged for the timeout",
                vec![(50, lease("east", 1, 6, 30))],
                110,
                60,
                true,
                60,
            ),
            (
                "taken over: new epoch",
                vec![(50, lease("west", 2, 0, 30))],
                100,
                60,
                false,
                50,
            ),
            (
                "same renewals count at a new epoch is a change",
                vec![(50, lease("east", 2, 5, 30))],
                100,
                60,
                false,
                50,
            ),
            (
                "a timeout shorter than the holder's duration is raised to it",
                vec![],
                60,
                20,
                true,
                60,
            ),
            (
                "... and not expired before that duration",
                vec![],
                29,
                20,
                false,
                29,
            ),
            (
                "a read that seems to come before the first never goes negative",
                vec![],
                0,
                60,
                false,
                0,
            ),
        ];
        for (case, reads, now, timeout, expired, unchanged) in cases {
            let mut seen = Observation::new(&first, at(0));
            for (when, lease) in &reads {
                seen.observe(lease, at(*when));
            }
            assert_eq!(seen.expired(at(now), secs(timeout)), expired, "{case}");
            assert_eq!(seen.unchanged_for(at(now)), secs(unchanged), "{case}");
        }
    }

    #[test]
    fn observe_reports_changes() {
        let t0 = Instant::now();
        let mut seen = Observation::new(&lease("east", 1, 0, 30), t0);
        assert!(!seen.observe(&lease("east", 1, 0, 30), t0 + secs(1)));
        assert!(seen.observe(&lease("east", 1, 1, 30), t0 + secs(2)));
        assert!(seen.observe(&lease("west", 2, 0, 30), t0 + secs(3)));
        assert_eq!((seen.holder(), seen.epoch()), ("west", 2));
        assert_eq!(seen.since(), t0 + secs(3));
    }

    /// The proof in the module documentation, checked over a grid: whenever an observer with
    /// `T >= D` may take over (its read is still the current version), the holder has already
    /// had to fence.
    #[test]
    fn no_takeover_while_the_holder_accepts_writes() {
        let t0 = Instant::now();
        let at = |n: u64| t0 + secs(n);
        let d = 30;
        for t in [30, 31, 45, 60] {
            for s in 0..20 {
                // The renewal started at s lands up to 5 s later; the observer reads it up to 5 s
                // after that.
                for land in 0..5 {
                    for read in 0..5 {
                        let w = s + land;
                        let o = w + read;
                        let mut holder = HolderClock::new(secs(d));
                        holder.succeeded(at(s));
                        let seen = Observation::new(&lease("east", 1, 1, d), at(o));
                        for now in o..o + 2 * t {
                            if seen.expired(at(now), secs(t)) {
                                assert!(
                                    holder.must_fence(at(now)),
                                    "T={t} s={s} w={w} o={o} now={now}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
