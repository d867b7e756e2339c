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
mod tests {
    use super::*;

    const SYSTEM: &str = "7412345678901234567";

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH
            + chrono::Duration::days(20_000)
            + chrono::Duration::seconds(seconds)
    }

    /// A reachable replica of the primary's system at `lsn`, having replayed a commit of `replayed`.
    fn replica(name: &str, lsn: u64, replayed: Option<i64>) -> MemberState {
        MemberState {
            name: name.into(),
            reachable: true,
            standing: Standing::Replica,
            system_id: Some(SYSTEM.into()),
            replay_lsn: Some(Lsn(lsn)),
            last_replay_at: replayed.map(at),
        }
    }

    fn primary() -> MemberState {
        MemberState {
            standing: Standing::Primary,
            reachable: false,
            ..replica("east", 1_000, Some(100))
        }
    }

    fn expired(holder: &str) -> LeaseView {
        LeaseView {
            holder: holder.into(),
            epoch: 4,
            expired: true,
            unchanged_for: Duration::from_secs(75),
            writes_until: None,
        }
    }

    /// The primary `east` was last seen at LSN 1000 at t=100; its lease expired at epoch 4.
    struct Case {
        mode: FailoverMode,
        lease: Option<LeaseView>,
        primary_system_id: Option<&'static str>,
        primary_position: Option<PrimaryPosition>,
        members: Vec<MemberState>,
        limit: DataLossLimit,
        switchover_in_progress: bool,
    }

    fn case(members: Vec<MemberState>) -> Case {
        Case {
            mode: FailoverMode::Automatic,
            lease: Some(expired("east")),
            primary_system_id: Some(SYSTEM),
            primary_position: Some(PrimaryPosition {
                lsn: Lsn(1_000),
                observed_at: at(100),
            }),
            members: std::iter::once(primary()).chain(members).collect(),
            limit: DataLossLimit::default(),
            switchover_in_progress: false,
        }
    }

    impl Case {
        fn decide(&self) -> Decision {
            decide(&Input {
                mode: self.mode,
                lease: self.lease.as_ref(),
                primary: "east",
                primary_system_id: self.primary_system_id,
                primary_position: self.primary_position,
                members: &self.members,
                limit: self.limit,
                switchover_in_progress: self.switchover_in_progress,
            })
        }
    }

    fn promote(member: &str, bytes: Option<u64>, seconds: Option<i64>) -> Decision {
        Decision::Promote {
            member: member.into(),
            epoch: 5,
            data_loss_bound_bytes: bytes,
            data_loss_bound_seconds: seconds,
        }
    }

    fn limit(bytes: Option<u64>, seconds: Option<i64>) -> DataLossLimit {
        DataLossLimit { bytes, seconds }
    }

    #[test]
    fn holds() {
        let two = || vec![replica("west", 900, Some(95))];
        let fresh = LeaseView {
            expired: false,
            unchanged_for: Duration::from_secs(12),
            ..expired("east")
        };
        // (case, input, expected)
        let cases: Vec<(&str, Case, Hold)> = vec![
            (
                "manual mode",
                Case {
                    mode: FailoverMode::Manual,
                    ..case(two())
                },
                Hold::Manual,
            ),
            (
                "a switchover is running",
                Case {
                    switchover_in_progress: true,
                    ..case(two())
                },
                Hold::SwitchoverInProgress,
            ),
            (
                "no lease",
                Case {
                    lease: None,
                    ..case(two())
                },
                Hold::NoLease,
            ),
            (
                "the lease is fresh",
                Case {
                    lease: Some(fresh),
                    ..case(two())
                },
                Hold::LeaseFresh {
                    unchanged_for: Duration::from_secs(12),
                },
            ),
            (
                "the lease is held by another member",
                Case {
                    lease: Some(expired("west")),
                    ..case(two())
                },
                Hold::HolderNotPrimary {
                    holder: "west".into(),
                    primary: "east".into(),
                },
            ),
        ];
        for (name, case, expected) in cases {
            assert_eq!(case.decide(), Decision::Hold(expected), "{name}");
        }
    }

    #[test]
    fn promotions() {
        let unreachable = MemberState {
            reachable: false,
            ..replica("far", 999, Some(100))
        };
        // (case, input, expected)
        let cases: Vec<(&str, Case, Decision)> = vec![
            (
                "the only replica, no limits",
                case(vec![replica("west", 900, Some(95))]),
                promote("west", Some(100), Some(5)),
            ),
            (
                "the most advanced replay LSN wins",
                case(vec![
                    replica("west", 900, Some(99)),
                    replica("north", 950, Some(90)),
                ]),
                promote("north", Some(50), Some(10)),
            ),
            (
                "same LSN: the newest replay time wins",
                case(vec![
                    replica("west", 900, Some(90)),
                    replica("north", 900, Some(95)),
                ]),
                promote("north", Some(100), Some(5)),
            ),
            (
                "same LSN, a replay time beats none",
                case(vec![
                    replica("west", 900, None),
                    replica("north", 900, Some(1)),
                ]),
                promote("north", Some(100), Some(99)),
            ),
            (
                "same LSN and time: the name settles it",
                case(vec![
                    replica("west", 900, Some(95)),
                    replica("north", 900, Some(95)),
                ]),
                promote("north", Some(100), Some(5)),
            ),
            (
                "an unreachable, more advanced replica is passed over",
                case(vec![unreachable, replica("west", 900, Some(95))]),
                promote("west", Some(100), Some(5)),
            ),
            (
                "the best within the limits, not the best overall",
                Case {
                    limit: limit(Some(100), Some(10)),
                    ..case(vec![
                        replica("west", 900, Some(95)),
                        replica("north", 950, Some(80)),
                    ])
                },
                promote("west", Some(100), Some(5)),
            ),
            (
                "within both limits exactly",
                Case {
                    limit: limit(Some(100), Some(5)),
                    ..case(vec![replica("west", 900, Some(95))])
                },
                promote("west", Some(100), Some(5)),
            ),
            (
                "the primary position unknown and no limits: bounds unknown",
                Case {
                    primary_position: None,
                    ..case(vec![replica("west", 900, Some(95))])
                },
                promote("west", None, None),
            ),
            (
                "the seconds run to the lease's end, not to when the primary was last seen",
                Case {
                    lease: Some(LeaseView {
                        writes_until: Some(at(110)),
                        ..expired("east")
                    }),
                    ..case(vec![replica("west", 900, Some(95))])
                },
                promote("west", Some(100), Some(15)),
            ),
            (
                "a replica seen ahead of a stale primary position: bounds are zero",
                case(vec![replica("west", 1_200, Some(130))]),
                promote("west", Some(0), Some(0)),
            ),
        ];
        for (name, case, expected) in cases {
            assert_eq!(case.decide(), expected, "{name}");
        }
    }

    #[test]
    fn seconds_bound_rounds_up() {
        let mut west = replica("west", 900, Some(95));
        west.last_replay_at = Some(at(95) - chrono::Duration::milliseconds(1));
        let c = Case {
            limit: limit(None, Some(5)),
            ..case(vec![west])
        };
        let Decision::Wait { excluded, .. } = c.decide() else {
            panic!("5.001 s behind must not pass a 5 s limit");
        };
        assert_eq!(
            excluded[0].why,
            Exclusion::SecondsOverLimit {
                behind: 6,
                limit: 5
            }
        );
    }

    #[test]
    fn waits_say_who_was_left_out_and_why() {
        let member = |name: &str, f: fn(&mut MemberState)| {
            let mut m = replica(name, 900, Some(95));
            f(&mut m);
            m
        };
        // Who is left out, and why.
        type Exclusions = Vec<(&'static str, Exclusion)>;
        // (case, input, expected exclusions by member)
        let cases: Vec<(&str, Case, Exclusions)> = vec![
            ("no other member", case(vec![]), vec![]),
            (
                "unreachable",
                case(vec![member("west", |m| m.reachable = false)]),
                vec![("west", Exclusion::Unreachable)],
            ),
            (
                "not a replica",
                case(vec![
                    member("west", |m| m.standing = Standing::Unknown),
                    member("north", |m| m.standing = Standing::Demoting),
                ]),
                vec![
                    ("west", Exclusion::NotAReplica(Standing::Unknown)),
                    ("north", Exclusion::NotAReplica(Standing::Demoting)),
                ],
            ),
            (
                "the primary's system identifier is unknown",
                Case {
                    primary_system_id: None,
                    ..case(vec![replica("west", 900, Some(95))])
                },
                vec![("west", Exclusion::PrimarySystemUnknown)],
            ),
            (
                "another system, or none known",
                case(vec![
                    member("west", |m| m.system_id = Some("1".into())),
                    member("north", |m| m.system_id = None),
                ]),
                vec![
                    (
                        "west",
                        Exclusion::OtherSystem {
                            found: Some("1".into()),
                        },
                    ),
                    ("north", Exclusion::OtherSystem { found: None }),
                ],
            ),
            (
                "replay position unknown",
                case(vec![member("west", |m| m.replay_lsn = None)]),
                vec![("west", Exclusion::ReplayUnknown)],
            ),
            (
                "over the byte limit",
                Case {
                    limit: limit(Some(99), None),
                    ..case(vec![replica("west", 900, Some(95))])
                },
                vec![(
                    "west",
                    Exclusion::BytesOverLimit {
                        behind: 100,
                        limit: 99,
                    },
                )],
            ),
            (
                "a byte limit and no primary position",
                Case {
                    primary_position: None,
                    limit: limit(Some(1 << 20), None),
                    ..case(vec![replica("west", 900, Some(95))])
                },
                vec![("west", Exclusion::BytesUnknown { limit: 1 << 20 })],
            ),
            (
                "over the seconds limit",
                Case {
                    limit: limit(None, Some(4)),
                    ..case(vec![replica("west", 900, Some(95))])
                },
                vec![(
                    "west",
                    Exclusion::SecondsOverLimit {
                        behind: 5,
                        limit: 4,
                    },
                )],
            ),
            (
                "a seconds limit and no replay time",
                Case {
                    limit: limit(None, Some(60)),
                    ..case(vec![replica("west", 900, None)])
                },
                vec![("west", Exclusion::SecondsUnknown { limit: 60 })],
            ),
            (
                "a seconds limit and no primary position",
                Case {
                    primary_position: None,
                    limit: limit(None, Some(60)),
                    ..case(vec![replica("west", 900, Some(95))])
                },
                vec![("west", Exclusion::SecondsUnknown { limit: 60 })],
            ),
            (
                "each member its own first reason, in input order",
                Case {
                    limit: limit(Some(50), None),
                    ..case(vec![
                        member("west", |m| m.reachable = false),
                        replica("north", 900, Some(95)),
                        member("south", |m| m.replay_lsn = None),
                    ])
                },
                vec![
                    ("west", Exclusion::Unreachable),
                    (
                        "north",
                        Exclusion::BytesOverLimit {
                            behind: 100,
                            limit: 50,
                        },
                    ),
                    ("south", Exclusion::ReplayUnknown),
                ],
            ),
        ];
        for (name, case, expected) in cases {
            let Decision::Wait { reason, excluded } = case.decide() else {
                panic!("{name}: expected Wait, got {:?}", case.decide());
            };
            let got: Vec<(&str, Exclusion)> = excluded
                .iter()
                .map(|e| (e.member.as_str(), e.why.clone()))
                .collect();
            assert_eq!(got, expected, "{name}");
            assert!(
                reason.starts_with(
                    "primary east lost its fencing lease (epoch 4, unchanged for 75s)"
                ),
                "{name}: {reason}"
            );
            for (member, why) in &expected {
                assert!(
                    reason.contains(&format!("{member}: {why}")),
                    "{name}: {reason}"
                );
            }
        }
    }

    #[test]
    fn wait_reason_reads_well() {
        let c = Case {
            limit: limit(Some(64), None),
            ..case(vec![replica("west", 900, Some(95))])
        };
        let Decision::Wait { reason, .. } = c.decide() else {
            panic!("expected Wait");
        };
        assert_eq!(
            reason,
            "primary east lost its fencing lease (epoch 4, unchanged for 75s); no member can be \
             promoted: west: 100 bytes behind the primary's last known position \
             (maximumDataLoss.bytes 64)"
        );
        let empty = case(vec![]).decide();
        assert_eq!(
            empty,
            Decision::Wait {
                reason: "primary east lost its fencing lease (epoch 4, unchanged for 75s); there \
                         is no other member to promote"
                    .into(),
                excluded: vec![],
            }
        );
    }
}
