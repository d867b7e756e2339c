//! Whether the federation fails over to another region, and to which member. Pure: plain values
//! in (the failover policy, what the controller observed of the fencing lease and of every
//! member), one [`Decision`] out. The controller does the reading and the writing.
//!
//! The rules, in order:
//! 1. Only with `failover.mode: Automatic`, never while a planned switchover runs, never without
//!    a fencing lease (without one nothing proves the old primary stopped writing), and only when
//!    the lease is the current primary's: otherwise [`Decision::Hold`].
//! 2. Only once the lease observation has expired — unchanged for the unreachable timeout, by
//!    which time the primary has fenced itself (see `pgfed_fencing::decide`).
//! 3. Candidates are reachable replica members of the same database system (system identifier)
//!    as the primary's last known one, with a known replay position.
//! 4. A candidate whose data-loss bound exceeds `maximumDataLoss` is excluded, and so is one whose
//!    bound cannot be computed while that limit is set.
//! 5. The most advanced replay LSN wins; then the newest replay timestamp; then the name.
//!
//! When the lease expired and nobody qualifies, the decision is [`Decision::Wait`] with every
//! member left out and why.
//!
//! The data-loss bounds are measured against the primary's *last known* position (LSN, and the
//! time it was observed): what the primary wrote after that observation is not in them.

use crate::switchover::Standing;
use chrono::{DateTime, Utc};
use pgfed_api::federation::FailoverMode;
use pgfed_api::lsn::Lsn;
use std::fmt;
use std::time::Duration;

/// What the controller observed of the fencing lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseView {
    /// The member holding it.
    pub holder: String,
    /// Its epoch.
    pub epoch: u64,
    /// Whether it has been unchanged for the unreachable timeout.
    pub expired: bool,
    /// How long it has been unchanged, on the controller's clock.
    pub unchanged_for: Duration,
    /// The latest time its holder can have accepted a write, on the holder's own clock: its last
    /// renewal plus the lease duration (it fences itself by then). Commit times in WAL are on the
    /// same clock, so the seconds lost are bounded without comparing clocks across regions.
    pub writes_until: Option<DateTime<Utc>>,
}

/// One member as the controller observed it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberState {
    /// Member name.
    pub name: String,
    /// Its API server answered.
    pub reachable: bool,
    /// Where it stands in the topology.
    pub standing: Standing,
    /// Its database system identifier.
    pub system_id: Option<String>,
    /// How far it has replayed WAL.
    pub replay_lsn: Option<Lsn>,
    /// Commit time of the last transaction it replayed.
    pub last_replay_at: Option<DateTime<Utc>>,
}

/// Where the primary was last seen writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrimaryPosition {
    /// Its WAL position.
    pub lsn: Lsn,
    /// When it was seen there.
    pub observed_at: DateTime<Utc>,
}

/// `maximumDataLoss`, parsed; `None` is no limit on that measure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataLossLimit {
    /// WAL bytes.
    pub bytes: Option<u64>,
    /// Seconds.
    pub seconds: Option<i64>,
}

/// Everything the decision looks at.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// `failover.mode`.
    pub mode: FailoverMode,
    /// The fencing lease; `None` when there is none.
    pub lease: Option<&'a LeaseView>,
    /// The member holding the primary now (`status.currentPrimary`).
    pub primary: &'a str,
    /// The primary's system identifier, as last known.
    pub primary_system_id: Option<&'a str>,
    /// The primary's last known position.
    pub primary_position: Option<PrimaryPosition>,
    /// Every member.
    pub members: &'a [MemberState],
    /// `maximumDataLoss`.
    pub limit: DataLossLimit,
    /// A planned switchover is in progress.
    pub switchover_in_progress: bool,
}

/// Why nothing is to be done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hold {
    /// `failover.mode` is `Manual`.
    Manual,
    /// A planned switchover is running; it owns the primary.
    SwitchoverInProgress,
    /// There is no fencing lease, so nothing proves the primary stopped writing.
    NoLease,
    /// The lease is held by a member other than the current primary.
    HolderNotPrimary {
        /// The lease's holder.
        holder: String,
        /// The current primary.
        primary: String,
    },
    /// The primary keeps renewing the lease, or has not been silent long enough.
    LeaseFresh {
        /// How long the lease has been unchanged.
        unchanged_for: Duration,
    },
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hold::Manual => f.write_str("failover mode is Manual"),
            Hold::SwitchoverInProgress => f.write_str("a planned switchover is in progress"),
            Hold::NoLease => f.write_str(
                "there is no fencing lease, so nothing proves the primary stopped accepting writes",
            ),
            Hold::HolderNotPrimary { holder, primary } => write!(
                f,
                "the fencing lease is held by {holder}, not by the current primary {primary}"
            ),
            Hold::LeaseFresh { unchanged_for } => write!(
                f,
                "the fencing lease is being renewed (unchanged for {}s)",
                unchanged_for.as_secs()
            ),
        }
    }
}

/// Why a member cannot be promoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exclusion {
    /// Its API server does not answer.
    Unreachable,
    /// It does not run as a replica.
    NotAReplica(Standing),
    /// The primary's system identifier is not known, so no member can be shown to be a copy of it.
    PrimarySystemUnknown,
    /// Another database system (or its identifier is unknown).
    OtherSystem {
        /// Its identifier, if known.
        found: Option<String>,
    },
    /// Its replay position is not known.
    ReplayUnknown,
    /// Further behind the primary's last known LSN than the limit.
    BytesOverLimit {
        /// Bytes behind.
        behind: u64,
        /// `maximumDataLoss.bytes`.
        limit: u64,
    },
    /// A byte limit is set but the primary's last position is not known.
    BytesUnknown {
        /// `maximumDataLoss.bytes`.
        limit: u64,
    },
    /// Its last replayed commit is older than the limit, relative to when the primary was last seen.
    SecondsOverLimit {
        /// Seconds behind.
        behind: i64,
        /// `maximumDataLoss.seconds`.
        limit: i64,
    },
    /// A seconds limit is set but its last replay time or the primary's last position is unknown.
    SecondsUnknown {
        /// `maximumDataLoss.seconds`.
        limit: i64,
    },
}

impl fmt::Display for Exclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exclusion::Unreachable => f.write_str("unreachable"),
            Exclusion::NotAReplica(standing) => write!(f, "not a replica ({standing:?})"),
            Exclusion::PrimarySystemUnknown => {
                f.write_str("the primary's system identifier is unknown")
            }
            Exclusion::OtherSystem { found: Some(id) } => {
                write!(f, "another database system ({id})")
            }
            Exclusion::OtherSystem { found: None } => f.write_str("system identifier unknown"),
            Exclusion::ReplayUnknown => f.write_str("replay position unknown"),
            Exclusion::BytesOverLimit { behind, limit } => write!(
                f,
                "{behind} bytes behind the primary's last known position (maximumDataLoss.bytes {limit})"
            ),
            Exclusion::BytesUnknown { limit } => write!(
                f,
                "bytes behind unknown: the primary's last position is not known (maximumDataLoss.bytes {limit})"
            ),
            Exclusion::SecondsOverLimit { behind, limit } => write!(
                f,
                "{behind}s behind the primary's last known time (maximumDataLoss.seconds {limit})"
            ),
            Exclusion::SecondsUnknown { limit } => write!(
                f,
                "seconds behind unknown: no last replay time or primary time (maximumDataLoss.seconds {limit})"
            ),
        }
    }
}

/// A member left out of the failover, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Excluded {
    /// Member name.
    pub member: String,
    /// Why.
    pub why: Exclusion,
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing.
    Hold(Hold),
    /// The primary is gone (the lease expired) but no member can be promoted yet.
    Wait {
        /// For the Federation's condition and Event.
        reason: String,
        /// Every member left out, in input order.
        excluded: Vec<Excluded>,
    },
    /// Take the lease over for `member` at `epoch` and promote it.
    Promote {
        /// The member to promote.
        member: String,
        /// The lease epoch after the takeover (the observed one plus one).
        epoch: u64,
        /// WAL bytes it is behind the primary's last known position; `None` when unknown.
        data_loss_bound_bytes: Option<u64>,
        /// Seconds its last replayed commit is behind the time the primary was last seen,
        /// rounded up; `None` when unknown.
        data_loss_bound_seconds: Option<i64>,
    },
}

/// A member that qualifies, with its bounds.
struct Candidate<'a> {
    member: &'a MemberState,
    replay: Lsn,
    bytes: Option<u64>,
    seconds: Option<i64>,
}

/// Decides whether to fail over, and to whom.
pub fn decide(input: &Input<'_>) -> Decision {
    if input.mode != FailoverMode::Automatic {
        return Decision::Hold(Hold::Manual);
    }
    if input.switchover_in_progress {
        return Decision::Hold(Hold::SwitchoverInProgress);
    }
    let Some(lease) = input.lease else {
        return Decision::Hold(Hold::NoLease);
    };
    if lease.holder != input.primary {
        return Decision::Hold(Hold::HolderNotPrimary {
            holder: lease.holder.clone(),
            primary: input.primary.to_string(),
        });
    }
    if !lease.expired {
        return Decision::Hold(Hold::LeaseFresh {
            unchanged_for: lease.unchanged_for,
        });
    }

    let mut candidates = Vec::new();
    let mut excluded = Vec::new();
    for member in input.members.iter().filter(|m| m.name != input.primary) {
        match qualify(input, member) {
            Ok(candidate) => candidates.push(candidate),
            Err(why) => excluded.push(Excluded {
                member: member.name.clone(),
                why,
            }),
        }
    }
    // Most advanced first; a replay time beats none; the name settles the rest.
    candidates.sort_by(|a, b| {
        b.replay
            .cmp(&a.replay)
            .then_with(|| b.member.last_replay_at.cmp(&a.member.last_replay_at))
            .then_with(|| a.member.name.cmp(&b.member.name))
    });
    match candidates.first() {
        Some(best) => Decision::Promote {
            member: best.member.name.clone(),
            epoch: lease.epoch.saturating_add(1),
            data_loss_bound_bytes: best.bytes,
            data_loss_bound_seconds: best.seconds,
        },
        None => Decision::Wait {
            reason: waiting_reason(input.primary, lease, &excluded),
            excluded,
        },
    }
}

/// `member` as a candidate with its bounds, or why it is not one.
fn qualify<'a>(input: &Input<'_>, member: &'a MemberState) -> Result<Candidate<'a>, Exclusion> {
    if !member.reachable {
        return Err(Exclusion::Unreachable);
    }
    if member.standing != Standing::Replica {
        return Err(Exclusion::NotAReplica(member.standing));
    }
    let Some(primary_system) = input.primary_system_id else {
        return Err(Exclusion::PrimarySystemUnknown);
    };
    if member.system_id.as_deref() != Some(primary_system) {
        return Err(Exclusion::OtherSystem {
            found: member.system_id.clone(),
        });
    }
    let replay = member.replay_lsn.ok_or(Exclusion::ReplayUnknown)?;
    let bytes = input
        .primary_position
        .map(|p| p.lsn.0.saturating_sub(replay.0));
    // The primary wrote until it fenced itself, not only until it was last seen.
    let primary_until = input
        .lease
        .and_then(|l| l.writes_until)
        .or(input.primary_position.map(|p| p.observed_at));
    let seconds = match (primary_until, member.last_replay_at) {
        (Some(until), Some(replayed)) => Some(seconds_behind(until, replayed)),
        _ => None,
    };
    match (input.limit.bytes, bytes) {
        (Some(limit), None) => return Err(Exclusion::BytesUnknown { limit }),
        (Some(limit), Some(behind)) if behind > limit => {
            return Err(Exclusion::BytesOverLimit { behind, limit });
        }
        _ => {}
    }
    match (input.limit.seconds, seconds) {
        (Some(limit), None) => return Err(Exclusion::SecondsUnknown { limit }),
        (Some(limit), Some(behind)) if behind > limit => {
            return Err(Exclusion::SecondsOverLimit { behind, limit });
        }
        _ => {}
    }
    Ok(Candidate {
        member,
        replay,
        bytes,
        seconds,
    })
}

/// Whole seconds from `replayed` to `primary_seen`, rounded up (a bound must not understate),
/// and never negative (a replica can be seen ahead of a stale primary position).
fn seconds_behind(primary_seen: DateTime<Utc>, replayed: DateTime<Utc>) -> i64 {
    let millis = (primary_seen - replayed).num_milliseconds().max(0);
    millis.div_euclid(1000) + i64::from(millis.rem_euclid(1000) != 0)
}

fn waiting_reason(primary: &str, lease: &LeaseView, excluded: &[Excluded]) -> String {
    let gone = format!(
        "primary {primary} lost its fencing lease (epoch {}, unchanged for {}s)",
        lease.epoch,
        lease.unchanged_for.as_secs()
    );
    if excluded.is_empty() {
        return format!("{gone}; there is no other member to promote");
    }
    let who = excluded
        .iter()
        .map(|e| format!("{}: {}", e.member, e.why))
        .collect::<Vec<_>>()
        .join("; ");
    format!("{gone}; no member can be promoted: {who}")
}

#[cfg(test)]
mod tests;
