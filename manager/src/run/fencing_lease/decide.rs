//! The pure rules of the primary region's side of the fencing lease: whether this instance
//! holds it now, what its next step is (write the lease, fence, lift its own fence, nothing),
//! and what a read of the lease means for a holder. The task in the parent module observes,
//! calls these and carries the step out.

use pgfed_fencing::Lease;

/// How the local server runs, as far as the lease is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// Accepts connections and is not in recovery.
    Primary,
    /// Accepts connections and is in recovery (a standby, a replica cluster's designated primary).
    Standby,
    /// Stopped, starting, or not answering.
    Down,
}

/// Whether this instance holds the lease now: the configuration makes it the primary of the
/// primary cluster (`configured`), and its server runs as a primary — or is down while it
/// already held the lease (`holding`: postgres fenced by the lease, restarting after a crash,
/// fenced by the operator), so the lease is renewed, or stays fenced, across the stop. A
/// standby never holds it, not even the target primary before it promotes. Pure.
pub fn holds(configured: bool, server: Server, holding: bool) -> bool {
    configured
        && match server {
            Server::Primary => true,
            Server::Standby => false,
            Server::Down => holding,
        }
}

/// What the last write of the lease came to, since this instance began holding it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No write tried yet.
    None,
    /// The lease was created or renewed.
    Renewed,
    /// The store failed or refused (the reason is logged); the lease is as it was or unknown.
    Failed,
    /// The lease names another holder or a newer epoch.
    Lost {
        /// Who holds it.
        holder: String,
        /// At which epoch.
        epoch: u64,
    },
}

/// Why this instance fenced itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fence {
    /// No renewal that started within the lease duration succeeded.
    Expired,
    /// The lease is someone else's: only a demotion brings this instance back, as a replica.
    Lost {
        /// Who holds it.
        holder: String,
        /// At which epoch.
        epoch: u64,
    },
}

/// The next step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing now.
    Nothing,
    /// Create the lease if there is none, else renew it (conditionally, always).
    Write,
    /// Stop accepting writes: keep postgres stopped, for this reason.
    Fence(Fence),
    /// Lift this instance's own fence.
    Unfence,
}

/// What the task observed, on its own clock.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// Whether this instance holds the lease now ([`holds`]).
    pub holds: bool,
    /// The fence this instance put on itself, if any.
    pub fence: Option<&'a Fence>,
    /// [`pgfed_fencing::HolderClock::must_fence`] now.
    pub must_fence: bool,
    /// The next write is due.
    pub write_due: bool,
    /// The last write's outcome.
    pub last: &'a Outcome,
}

/// The next step from what was observed. A holder that never wrote writes first (a primary that
/// just started or promoted is not fenced before its first attempt); one whose last write
/// failed fences once its clock runs out, and lifts that fence only after a renewal succeeds;
/// one that lost the lease fences at once and never writes again. An instance that no longer
/// holds it lifts its fence: the configuration made it a standby or a replica, which the
/// supervisor starts as such. Pure.
pub fn next_step(o: &Observed<'_>) -> Step {
    if !o.holds {
        return match o.fence {
            Some(_) => Step::Unfence,
            None => Step::Nothing,
        };
    }
    if let Outcome::Lost { holder, epoch } = o.last {
        let lost = Fence::Lost {
            holder: holder.clone(),
            epoch: *epoch,
        };
        return match o.fence {
            Some(f) if *f == lost => Step::Nothing,
            _ => Step::Fence(lost),
        };
    }
    match (o.fence, o.must_fence, o.last) {
        // A lost lease is never written again, whatever else was recorded.
        (Some(Fence::Lost { .. }), _, _) => Step::Nothing,
        (None, true, Outcome::Failed) => Step::Fence(Fence::Expired),
        (Some(_), false, Outcome::Renewed) => Step::Unfence,
        _ if o.write_due => Step::Write,
        _ => Step::Nothing,
    }
}

/// What a lease read from the store means for the holder `holder` of `federation`, which last
/// held it at `held_epoch` (`None`: not yet in this term).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reading {
    /// Ours: renew it.
    Ours,
    /// Someone else's (another holder, another epoch than the one held, another federation).
    Lost {
        /// Who holds it.
        holder: String,
        /// At which epoch.
        epoch: u64,
    },
}

/// Reads `lease` for `holder`: any epoch of its own is adopted at first sight (a restarted
/// manager does not know which epoch it held), the epoch it held afterwards. Pure.
pub fn read_lease(
    lease: &Lease,
    federation: &str,
    holder: &str,
    held_epoch: Option<u64>,
) -> Reading {
    let epoch = held_epoch.unwrap_or(lease.epoch);
    if lease.is_held_by(federation, holder, epoch) {
        Reading::Ours
    } else {
        Reading::Lost {
            holder: lease.holder.clone(),
            epoch: lease.epoch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_holds_the_lease() {
        // (configured, server, holding before, holds now)
        let cases = [
            (false, Server::Primary, true, false),
            (true, Server::Primary, false, true),
            (true, Server::Standby, true, false),
            (true, Server::Down, true, true),
            (true, Server::Down, false, false),
            (false, Server::Down, true, false),
        ];
        for (configured, server, holding, want) in cases {
            assert_eq!(
                holds(configured, server, holding),
                want,
                "{configured} {server:?} {holding}"
            );
        }
    }

    #[test]
    fn next_steps() {
        let lost = |h: &str, e| Outcome::Lost {
            holder: h.into(),
            epoch: e,
        };
        let lost_fence = |h: &str, e| Fence::Lost {
            holder: h.into(),
            epoch: e,
        };
        let expired = Fence::Expired;
        let west2 = lost_fence("west", 2);
        // (case, holds, fence, must fence, write due, last outcome, step)
        type Case<'a> = (&'a str, bool, Option<&'a Fence>, bool, bool, Outcome, Step);
        let cases: Vec<Case<'_>> = vec![
            (
                "not the holder",
                false,
                None,
                true,
                true,
                Outcome::None,
                Step::Nothing,
            ),
            (
                "demoted while fenced: lift",
                false,
                Some(&west2),
                true,
                false,
                lost("west", 2),
                Step::Unfence,
            ),
            (
                "demoted after an expiry: lift",
                false,
                Some(&expired),
                true,
                true,
                Outcome::Failed,
                Step::Unfence,
            ),
            (
                "a new holder writes before anything",
                true,
                None,
                true,
                true,
                Outcome::None,
                Step::Write,
            ),
            (
                "renewed, not due",
                true,
                None,
                false,
                false,
                Outcome::Renewed,
                Step::Nothing,
            ),
            (
                "renewed, due",
                true,
                None,
                false,
                true,
                Outcome::Renewed,
                Step::Write,
            ),
            (
                "one failure inside the duration: retry",
                true,
                None,
                false,
                true,
                Outcome::Failed,
                Step::Write,
            ),
            (
                "failed until the clock ran out: fence",
                true,
                None,
                true,
                true,
                Outcome::Failed,
                Step::Fence(Fence::Expired),
            ),
            (
                "a stale renewal after a stop: write first",
                true,
                None,
                true,
                true,
                Outcome::Renewed,
                Step::Write,
            ),
            (
                "fenced, still failing: retry",
                true,
                Some(&expired),
                true,
                true,
                Outcome::Failed,
                Step::Write,
            ),
            (
                "fenced, still failing, not due",
                true,
                Some(&expired),
                true,
                false,
                Outcome::Failed,
                Step::Nothing,
            ),
            (
                "fenced, renewed: lift",
                true,
                Some(&expired),
                false,
                false,
                Outcome::Renewed,
                Step::Unfence,
            ),
            (
                "lost: fence at once",
                true,
                None,
                false,
                true,
                lost("west", 2),
                Step::Fence(west2.clone()),
            ),
            (
                "lost while fenced for expiry: say who holds it",
                true,
                Some(&expired),
                true,
                true,
                lost("west", 2),
                Step::Fence(west2.clone()),
            ),
            (
                "lost and fenced: stay, never write",
                true,
                Some(&west2),
                true,
                true,
                lost("west", 2),
                Step::Nothing,
            ),
        ];
        for (case, holds, fence, must_fence, write_due, last, want) in cases {
            let o = Observed {
                holds,
                fence,
                must_fence,
                write_due,
                last: &last,
            };
            assert_eq!(next_step(&o), want, "{case}");
        }
    }

    #[test]
    fn reading_the_lease() {
        let lease = |federation: &str, holder: &str, epoch| Lease {
            format_version: pgfed_fencing::FORMAT_VERSION,
            federation: federation.into(),
            holder: holder.into(),
            epoch,
            renewals: 3,
            duration_seconds: 30,
            renewed_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        };
        let lost = |h: &str, e| Reading::Lost {
            holder: h.into(),
            epoch: e,
        };
        // (case, lease, held epoch, reading)
        let cases = [
            (
                "ours, first sight: any epoch",
                lease("f", "east", 4),
                None,
                Reading::Ours,
            ),
            (
                "ours at the epoch held",
                lease("f", "east", 4),
                Some(4),
                Reading::Ours,
            ),
            (
                "ours by name, a newer epoch",
                lease("f", "east", 5),
                Some(4),
                lost("east", 5),
            ),
            (
                "another holder",
                lease("f", "west", 5),
                None,
                lost("west", 5),
            ),
            (
                "another federation's",
                lease("g", "east", 4),
                None,
                lost("east", 4),
            ),
        ];
        for (case, l, held, want) in cases {
            assert_eq!(read_lease(&l, "f", "east", held), want, "{case}");
        }
    }
}
