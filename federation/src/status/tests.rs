//! Table tests of `status`.

use super::*;
use crate::switchover::Plan;

fn fed() -> Federation {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "pgfed.io/v1", "kind": "Federation",
        "metadata": {"name": "shop", "namespace": "demo", "generation": 3},
        "spec": {"primary": "a", "members": [], "template": {"instances": 1}}
    }))
    .expect("federation")
}

fn observed(name: &str, standing: Standing, reachable: bool, phase: &str) -> Observed {
    Observed {
        view: MemberView {
            name: name.into(),
            reachable,
            standing,
            ..MemberView::default()
        },
        region: format!("region-{name}"),
        cluster: reachable.then(|| ClusterStatus {
            phase: Some(phase.into()),
            ..ClusterStatus::default()
        }),
        error: (!reachable).then(|| "connection refused".to_string()),
        ..Observed::default()
    }
}

fn at_position(mut o: Observed, lsn: &str, replayed: Option<&str>) -> Observed {
    if let Some(c) = o.cluster.as_mut() {
        c.wal_position = Some(pgfed_api::cluster::WalPosition {
            lsn: lsn.into(),
            timeline: Some(1),
            observed_at: "2027-01-01T00:01:00Z".into(),
            last_replay_time: replayed.map(str::to_string),
        });
    }
    o
}

#[test]
fn lag_per_member_the_worst_and_the_lagging_condition() {
    let healthy = pgfed_api::cluster::phase::HEALTHY;
    let plan = Plan {
        holder: "a".into(),
        ..Plan::default()
    };
    let now = DateTime::<Utc>::UNIX_EPOCH;
    let members = [
        at_position(
            observed("a", Standing::Primary, true, healthy),
            "0/6000000",
            None,
        ),
        at_position(
            observed("b", Standing::Replica, true, healthy),
            "0/5FFF000",
            Some("2027-01-01T00:00:57Z"),
        ),
        at_position(
            observed("c", Standing::Replica, true, healthy),
            "0/5000000",
            Some("2027-01-01T00:00:00Z"),
        ),
    ];
    let s = build(&fed(), &members, &plan, now);
    let lags: Vec<_> = s
        .members
        .iter()
        .map(|m| (m.lag_bytes, m.lag_seconds))
        .collect();
    assert_eq!(
        lags,
        [
            (None, None),
            (Some(4096), Some(3.0)),
            (Some(16_777_216), Some(60.0))
        ]
    );
    assert_eq!(
        (s.max_lag_bytes, s.max_lag_seconds),
        (Some(16_777_216), Some(60.0))
    );
    // 60 s is the default limit: c is at it, not past it.
    assert_eq!(cond(&s, condition::REPLICAS_IN_SYNC), ("True", "Replaying"));

    let mut strict = fed();
    strict.spec.replication = Some(pgfed_api::federation::FederationReplication {
        max_acceptable_lag: Some("30s".into()),
        ..Default::default()
    });
    let s = build(&strict, &members, &plan, now);
    assert_eq!(cond(&s, condition::REPLICAS_IN_SYNC), ("False", "Lagging"));
    assert_eq!(cond(&s, condition::READY).0, "False");
    let c = &s.members[2];
    assert!(
        c.conditions
            .iter()
            .any(|x| x.type_ == LAGGING && x.status == "True"),
        "{c:?}"
    );
    let b = &s.members[1];
    assert!(
        b.conditions
            .iter()
            .any(|x| x.type_ == LAGGING && x.status == "False"),
        "{b:?}"
    );
}

#[test]
fn a_replica_member_past_the_primarys_history_is_reported_until_reseeded() {
    use pgfed_operator::cluster::decide::reseed::{CONDITION, RESEEDED, WAITING};
    let healthy = pgfed_api::cluster::phase::HEALTHY;
    let plan = Plan {
        holder: "a".into(),
        ..Plan::default()
    };
    let now = DateTime::<Utc>::UNIX_EPOCH;
    let with_reseed = |status: &str, reason: &str| {
        let mut b = observed("b", Standing::Replica, true, healthy);
        if let Some(c) = b.cluster.as_mut() {
            c.conditions.push(cluster_status::condition(
                CONDITION,
                status == "True",
                reason,
                format!("{reason}: shop-1 went past timeline 2's fork"),
                Some(1),
                now,
            ));
        }
        b
    };
    let member_diverged = |s: &FederationStatus| {
        s.members[1]
            .conditions
            .iter()
            .find(|c| c.type_ == crate::reseed::DIVERGED)
            .map(|c| (c.status.clone(), c.reason.clone()))
    };
    let primary = || observed("a", Standing::Primary, true, healthy);

    let s = build(
        &fed(),
        &[primary(), with_reseed("False", WAITING)],
        &plan,
        now,
    );
    assert_eq!(cond(&s, condition::REPLICAS_IN_SYNC), ("False", "Diverged"));
    assert_eq!(member_diverged(&s), Some(("True".into(), WAITING.into())));

    let mut again = fed();
    again.status = Some(s);
    let s = build(
        &again,
        &[primary(), with_reseed("True", RESEEDED)],
        &plan,
        now,
    );
    assert_eq!(cond(&s, condition::REPLICAS_IN_SYNC), ("True", "Replaying"));
    assert_eq!(member_diverged(&s), Some(("False".into(), RESEEDED.into())));

    // While the re-seeded instance is set up the federation is degraded, not being created.
    for (status, reason) in [("False", WAITING), ("True", RESEEDED)] {
        let mut reseeding = with_reseed(status, reason);
        if let Some(c) = reseeding.cluster.as_mut() {
            c.phase = Some(pgfed_api::cluster::phase::SETTING_UP_PRIMARY.into());
        }
        let s = build(&fed(), &[primary(), reseeding], &plan, now);
        assert_eq!(
            s.phase.as_deref(),
            Some(federation_phase::DEGRADED),
            "{reason}"
        );
    }

    let s = build(
        &fed(),
        &[primary(), observed("b", Standing::Replica, true, healthy)],
        &plan,
        now,
    );
    assert_eq!(member_diverged(&s), None);
}

fn cond<'a>(s: &'a FederationStatus, t: &str) -> (&'a str, &'a str) {
    s.conditions
        .iter()
        .find(|c| c.type_ == t)
        .map(|c| (c.status.as_str(), c.reason.as_str()))
        .unwrap_or_default()
}

#[test]
fn phases_and_conditions() {
    let healthy = pgfed_api::cluster::phase::HEALTHY;
    let plan = Plan {
        holder: "a".into(),
        ..Plan::default()
    };
    let now = DateTime::<Utc>::UNIX_EPOCH;
    let s = build(
        &fed(),
        &[
            observed("a", Standing::Primary, true, healthy),
            observed("b", Standing::Replica, true, healthy),
        ],
        &plan,
        now,
    );
    assert_eq!(s.phase.as_deref(), Some(federation_phase::HEALTHY));
    assert_eq!(cond(&s, condition::READY), ("True", "FederationReady"));
    assert_eq!(
        cond(&s, condition::PRIMARY_CONSISTENT),
        ("True", "OnePrimary")
    );
    assert_eq!(
        (s.current_primary_region.as_deref(), s.observed_generation),
        (Some("region-a"), Some(3))
    );
    assert_eq!(s.members[1].role.as_deref(), Some("replica"));

    let s = build(
        &fed(),
        &[
            observed("a", Standing::Primary, true, healthy),
            observed("b", Standing::Unknown, false, ""),
        ],
        &plan,
        now,
    );
    assert_eq!(s.phase.as_deref(), Some(federation_phase::DEGRADED));
    assert_eq!(
        cond(&s, condition::MEMBERS_REACHABLE),
        ("False", "Unreachable")
    );
    assert_eq!(s.members[1].message.as_deref(), Some("connection refused"));

    let two = build(
        &fed(),
        &[
            observed("a", Standing::Primary, true, healthy),
            observed("b", Standing::Primary, true, healthy),
        ],
        &plan,
        now,
    );
    assert_eq!(
        cond(&two, condition::PRIMARY_CONSISTENT),
        ("False", "SeveralPrimaries")
    );

    let creating = build(
        &fed(),
        &[
            observed("a", Standing::Primary, true, healthy),
            observed("b", Standing::Unknown, true, "Setting up primary"),
        ],
        &plan,
        now,
    );
    assert_eq!(creating.phase.as_deref(), Some(federation_phase::CREATING));
    let bootstrapping = build(
        &fed(),
        &[
            observed("a", Standing::Primary, true, healthy),
            observed("b", Standing::Replica, true, "Setting up primary"),
        ],
        &plan,
        now,
    );
    assert_eq!(
        bootstrapping.phase.as_deref(),
        Some(federation_phase::CREATING)
    );

    let refused = Plan {
        refused: Some("b is unreachable".into()),
        ..plan.clone()
    };
    let s = build(
        &fed(),
        &[observed("a", Standing::Primary, true, healthy)],
        &refused,
        now,
    );
    assert_eq!(
        cond(&s, condition::SWITCHOVER_ALLOWED),
        ("False", "Refused")
    );
}
