//! Table tests of `failover`.

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
            reason.starts_with("primary east lost its fencing lease (epoch 4, unchanged for 75s)"),
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
