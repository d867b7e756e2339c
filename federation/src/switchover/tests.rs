//! Table tests of `switchover`.

use super::*;
use base64::Engine;

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(1_800_000_000)
}

fn token(system: &str, timeline: u32) -> String {
    let json = serde_json::json!({
        "databaseSystemIdentifier": system,
        "latestCheckpointTimelineID": timeline.to_string(),
        "latestCheckpointREDOLocation": "0/5000028",
        "redoWalFile": "000000010000000000000005",
        "timeOfLatestCheckpoint": "Tue Dec  1 10:00:00 2026",
        "operatorVersion": "0.1.0"
    });
    base64::engine::general_purpose::STANDARD.encode(json.to_string())
}

fn view(name: &str, standing: Standing) -> MemberView {
    MemberView {
        name: name.into(),
        reachable: true,
        standing,
        system_id: Some("7000".into()),
        timeline: Some(1),
        ..MemberView::default()
    }
}

fn input<'a>(
    wanted: &'a str,
    holder: Option<&'a str>,
    progress: Option<&'a SwitchoverProgress>,
    members: &'a [MemberView],
) -> Input<'a> {
    Input {
        wanted,
        generation: Some(4),
        holder,
        progress,
        members,
        deposed: None,
        step_timeout: Duration::minutes(10),
        now: now(),
    }
}

fn told(p: &Plan) -> Vec<(String, String, Option<String>)> {
    p.roles
        .iter()
        .map(|(m, r)| (m.clone(), r.primary.clone(), r.promotion_token.clone()))
        .collect()
}

fn t(m: &str, p: &str, tok: Option<&str>) -> (String, String, Option<String>) {
    (m.into(), p.into(), tok.map(str::to_string))
}

#[test]
fn steady_state_tells_everyone_the_holder() {
    let members = [
        view("a", Standing::Primary),
        view("b", Standing::Replica),
        view("c", Standing::Replica),
    ];
    let p = plan(&input("a", Some("a"), None, &members));
    assert_eq!(
        told(&p),
        [t("a", "a", None), t("b", "a", None), t("c", "a", None)]
    );
    assert_eq!(
        (p.holder.as_str(), p.progress, p.refused),
        ("a", None, None)
    );
    // first turn of a new federation: spec.primary holds it
    assert_eq!(plan(&input("b", None, None, &members)).holder, "b");
}

#[test]
fn members_told_another_primary_without_a_recorded_switchover_are_left_alone() {
    let said = |p: &str, tok: Option<&str>| {
        Some(Roles {
            primary: p.into(),
            promotion_token: tok.map(str::to_string),
        })
    };
    let members = [
        MemberView {
            told: said("b", None),
            ..view("a", Standing::Replica)
        },
        MemberView {
            told: said("b", Some("tok")),
            ..view("b", Standing::Promoting)
        },
        MemberView {
            told: None,
            ..view("c", Standing::Unknown)
        },
    ];
    let p = plan(&input("a", Some("a"), None, &members));
    assert!(
        p.refused
            .as_deref()
            .is_some_and(|r| r.contains("a is told b")),
        "{:?}",
        p.refused
    );
    assert_eq!(
        told(&p),
        [
            t("a", "b", None),
            t("b", "b", Some("tok")),
            t("c", "a", None)
        ]
    );
    // a leftover promotion token on the holder itself is not astray: it is dropped
    let members = [
        MemberView {
            told: said("b", None),
            ..view("a", Standing::Replica)
        },
        MemberView {
            told: said("b", Some("tok")),
            ..view("b", Standing::Primary)
        },
    ];
    let p = plan(&input("b", Some("b"), None, &members));
    assert_eq!(
        (p.refused.clone(), told(&p)),
        (None, vec![t("a", "b", None), t("b", "b", None)])
    );
}

#[test]
fn the_region_an_automatic_failover_left_is_re_pointed_when_it_returns() {
    let said = |p: &str| {
        Some(Roles {
            primary: p.into(),
            promotion_token: None,
        })
    };
    // a was lost, b was promoted; a's Cluster still names itself the primary.
    let members = [
        MemberView {
            told: said("a"),
            ..view("a", Standing::Primary)
        },
        MemberView {
            told: said("b"),
            ..view("b", Standing::Primary)
        },
    ];
    let mut i = input("b", Some("b"), None, &members);
    i.deposed = Some("a");
    let p = plan(&i);
    assert_eq!(
        (p.refused.clone(), told(&p)),
        (None, vec![t("a", "b", None), t("b", "b", None)])
    );
    // Without the record, the same state is left alone for a person to look at.
    i.deposed = None;
    assert!(plan(&i).refused.is_some());
}

#[test]
fn a_switchover_is_refused_while_the_target_cannot_take_the_primary() {
    let mut unreachable = view("b", Standing::Replica);
    unreachable.reachable = false;
    let mut foreign = view("b", Standing::Replica);
    foreign.system_id = Some("9999".into());
    let mut behind = view("b", Standing::Replica);
    behind.too_far_behind = Some("340 s behind the primary".into());
    let cases = [
        (unreachable, "unreachable"),
        (foreign, "another database system"),
        (
            behind,
            "340 s behind the primary; a keeps the primary until it catches up",
        ),
        (view("b", Standing::Unknown), "does not run as a replica"),
    ];
    for (b, why) in cases {
        let members = [view("a", Standing::Primary), b];
        let p = plan(&input("b", Some("a"), None, &members));
        assert!(
            p.refused.as_deref().is_some_and(|r| r.contains(why)),
            "{:?}",
            p.refused
        );
        assert_eq!((p.holder.as_str(), p.progress.clone()), ("a", None));
        assert_eq!(told(&p), [t("a", "a", None), t("b", "a", None)]);
    }
}

#[test]
fn a_switchover_goes_demote_promote_follow_and_resumes_from_its_progress() {
    let tok = token("7000", 1);
    // 1. started: a is told b is primary, b and c still follow a
    let members = [
        view("a", Standing::Primary),
        view("b", Standing::Replica),
        view("c", Standing::Replica),
    ];
    let p = plan(&input("b", Some("a"), None, &members));
    let progress = p.progress.clone().expect("progress");
    assert_eq!(
        (progress.step.as_str(), progress.generation),
        (step::DEMOTING, Some(4))
    );
    assert_eq!(
        told(&p),
        [t("a", "b", None), t("b", "a", None), t("c", "a", None)]
    );
    assert_eq!(p.events[0].1, "SwitchoverStarted");
    // still demoting (a resumed controller gets the same answer)
    let demoting = [
        view("a", Standing::Demoting),
        view("b", Standing::Replica),
        view("c", Standing::Replica),
    ];
    let p = plan(&input("b", Some("a"), Some(&progress), &demoting));
    assert_eq!(
        p.progress.as_ref().map(|p| p.step.as_str()),
        Some(step::DEMOTING)
    );
    assert_eq!(
        told(&p),
        [t("a", "b", None), t("b", "a", None), t("c", "a", None)]
    );
    // 2. token published: b is told to promote with it
    let mut demoted = demoting.clone();
    demoted[0] = MemberView {
        demotion_token: Some(tok.clone()),
        ..view("a", Standing::Replica)
    };
    let p = plan(&input("b", Some("a"), Some(&progress), &demoted));
    let promoting = p.progress.clone().expect("progress");
    assert_eq!(
        (promoting.step.as_str(), promoting.demotion_token.as_deref()),
        (step::PROMOTING, Some(tok.as_str()))
    );
    assert_eq!(
        told(&p),
        [
            t("a", "b", None),
            t("b", "b", Some(&tok)),
            t("c", "a", None)
        ]
    );
    assert_eq!(p.holder, "a");
    // 3. b promoted at the token: everyone follows b, the token is dropped; a is not seen as
    // a replica yet (its operator has not reported), so the switchover waits for it
    let mut promoted = demoted.clone();
    promoted[0].standing = Standing::Unknown;
    promoted[1] = MemberView {
        last_promotion_token: Some(tok.clone()),
        ..view("b", Standing::Primary)
    };
    let p = plan(&input("b", Some("a"), Some(&promoting), &promoted));
    let following = p.progress.clone().expect("progress");
    assert_eq!(following.step, step::FOLLOWING);
    assert_eq!(
        told(&p),
        [t("a", "b", None), t("b", "b", None), t("c", "b", None)]
    );
    assert_eq!(p.holder, "b");
    // 4. a replica of b: done
    promoted[0].standing = Standing::Replica;
    let p = plan(&input("b", Some("b"), Some(&following), &promoted));
    assert_eq!((p.progress.clone(), p.holder.as_str()), (None, "b"));
    assert!(p.events.iter().any(|e| e.1 == "SwitchoverCompleted"));
    assert_eq!(
        told(&p),
        [t("a", "b", None), t("b", "b", None), t("c", "b", None)]
    );
    // promoted and already followed in the same turn: done at once
    let p = plan(&input("b", Some("a"), Some(&promoting), &promoted));
    assert_eq!((p.progress, p.holder.as_str()), (None, "b"));
    // a promotion token seen before (another switchover's) does not count as promoted
    let mut stale = promoted.clone();
    stale[1].last_promotion_token = Some(token("7000", 0));
    let p = plan(&input("b", Some("a"), Some(&promoting), &stale));
    assert_eq!(
        p.progress.map(|p| p.step),
        Some(step::PROMOTING.to_string())
    );
}

#[test]
fn a_token_of_another_system_or_a_passed_timeline_is_refused_and_waits() {
    let mut b = view("b", Standing::Replica);
    let progress = SwitchoverProgress {
        from: "a".into(),
        to: "b".into(),
        step: step::DEMOTING.into(),
        step_started_at: Some(at(now())),
        ..SwitchoverProgress::default()
    };
    for (tok, why) in [
        (token("1234", 1), "of system 1234"),
        ("garbage".to_string(), "base64"),
    ] {
        let members = [
            MemberView {
                demotion_token: Some(tok),
                ..view("a", Standing::Replica)
            },
            b.clone(),
        ];
        let p = plan(&input("b", Some("a"), Some(&progress), &members));
        let got = p.progress.expect("progress");
        assert_eq!(got.step, step::DEMOTING);
        assert!(
            got.message.as_deref().is_some_and(|m| m.contains(why)),
            "{:?}",
            got.message
        );
    }
    b.timeline = Some(3);
    assert!(check_token(&token("7000", 2), &b).is_err_and(|e| e.contains("past the token")));
    assert!(check_token(&token("7000", 3), &b).is_ok());
}

#[test]
fn a_step_stuck_past_the_timeout_is_reported_once() {
    let progress = SwitchoverProgress {
        from: "a".into(),
        to: "b".into(),
        step: step::DEMOTING.into(),
        step_started_at: Some(at(now() - Duration::minutes(11))),
        ..SwitchoverProgress::default()
    };
    let members = [view("a", Standing::Demoting), view("b", Standing::Replica)];
    let p = plan(&input("b", Some("a"), Some(&progress), &members));
    assert!(p.events.iter().any(|e| e.0 && e.1 == "SwitchoverStuck"));
    let stuck = p.progress.expect("progress");
    assert!(
        stuck
            .message
            .as_deref()
            .is_some_and(|m| m.contains("stuck for 660s")),
        "{:?}",
        stuck.message
    );
    let again = plan(&input("b", Some("a"), Some(&stuck), &members));
    assert!(again.events.is_empty(), "{:?}", again.events);
}
