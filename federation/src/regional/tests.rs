//! Table tests of `regional`.

use super::*;
use std::time::Duration;

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(1_800_000_000)
}

fn member(name: &str, standing: Standing) -> MemberView {
    MemberView {
        name: name.into(),
        reachable: standing != Standing::Unknown,
        standing,
        ..MemberView::default()
    }
}

fn lease(holder: &str, epoch: u64, expired: bool) -> LeaseView {
    LeaseView {
        holder: holder.into(),
        epoch,
        expired,
        unchanged_for: Duration::from_secs(if expired { 90 } else { 5 }),
        writes_until: None,
    }
}

fn members(b: Standing) -> Vec<MemberView> {
    vec![member("a", Standing::Unknown), member("b", b)]
}

fn started() -> FailoverProgress {
    start("a", "b", 5, Some(4096), Some(3), now())
}

fn told(turn: &Turn) -> Vec<(String, String)> {
    turn.plan
        .roles
        .iter()
        .map(|(m, r)| (m.clone(), r.primary.clone()))
        .collect()
}

#[test]
fn the_decision_is_recorded_with_its_bound_before_anything_is_written() {
    let p = started();
    assert_eq!(p.step, failover_step::TAKING_LEASE);
    assert_eq!((p.from.as_str(), p.to.as_str(), p.epoch), ("a", "b", 5));
    assert_eq!(p.data_loss_bound_bytes, Some(4096));
    assert_eq!(p.data_loss_bound_seconds, Some(3));
    assert_eq!(p.started_at.as_deref(), Some("2027-01-15T08:00:00Z"));
}

#[test]
fn an_expired_lease_of_the_lost_primary_is_taken_over_and_nobody_is_told_yet() {
    let turn = advance(
        &started(),
        Some(&lease("a", 4, true)),
        &members(Standing::Replica),
        now(),
    );
    assert_eq!(turn.lease, LeaseAction::TakeOver { to: "b".into() });
    assert_eq!(turn.plan.holder, "a");
    assert_eq!(
        told(&turn),
        [("a".into(), "a".into()), ("b".into(), "a".into())]
    );
    assert_eq!(turn.progress.map(|p| p.step), Some("TakingLease".into()));
}

#[test]
fn a_lease_renewed_meanwhile_abandons_the_failover() {
    let turn = advance(
        &started(),
        Some(&lease("a", 4, false)),
        &members(Standing::Replica),
        now(),
    );
    assert_eq!(turn.progress, None);
    assert_eq!(turn.lease, LeaseAction::Keep);
    assert_eq!(turn.plan.holder, "a");
    assert_eq!(turn.plan.events[0].1, "FailoverAbandoned");
    assert!(turn.plan.events[0].2.contains("renewed"));
}

#[test]
fn a_lease_at_another_holder_or_epoch_abandons_the_failover() {
    for other in [
        lease("c", 5, true),
        lease("a", 6, true),
        lease("b", 7, true),
    ] {
        let turn = advance(&started(), Some(&other), &members(Standing::Replica), now());
        assert_eq!(turn.progress, None, "{other:?}");
        assert_eq!(turn.plan.holder, "a");
        assert_eq!(turn.plan.events[0].1, "FailoverAbandoned");
    }
}

#[test]
fn an_unreadable_lease_waits() {
    let turn = advance(&started(), None, &members(Standing::Replica), now());
    let p = turn.progress.expect("still in progress");
    assert_eq!(p.step, failover_step::TAKING_LEASE);
    assert!(
        p.message
            .unwrap_or_default()
            .contains("read the fencing lease")
    );
    assert_eq!(turn.lease, LeaseAction::Keep);
    assert!(turn.plan.events.is_empty());
}

#[test]
fn a_lease_already_taken_promotes_the_target_and_points_everyone_at_it() {
    let turn = advance(
        &started(),
        Some(&lease("b", 5, false)),
        &members(Standing::Replica),
        now(),
    );
    let p = turn.progress.clone().expect("in progress");
    assert_eq!(p.step, failover_step::PROMOTING);
    assert_eq!(turn.plan.holder, "b");
    assert_eq!(
        told(&turn),
        [("a".into(), "b".into()), ("b".into(), "b".into())]
    );
    // Promotion without a token: there was no clean demotion.
    assert!(
        turn.plan
            .roles
            .values()
            .all(|r| r.promotion_token.is_none())
    );
    assert_eq!(turn.plan.events[0].1, "FailoverPromoting");
    // The next turn, still waiting: no second Event.
    let again = advance(
        &p,
        Some(&lease("b", 5, false)),
        &members(Standing::Promoting),
        now(),
    );
    assert!(again.plan.events.is_empty());
    assert_eq!(again.set_spec_primary, None);
}

#[test]
fn a_promoted_target_completes_the_failover_with_its_record_and_spec_primary() {
    let mut p = started();
    p.step = failover_step::PROMOTING.into();
    // The lease is not needed any more: the new primary renews it.
    let turn = advance(&p, None, &members(Standing::Primary), now());
    assert_eq!(turn.progress, None);
    assert_eq!(turn.set_spec_primary.as_deref(), Some("b"));
    assert_eq!(turn.plan.holder, "b");
    let record = turn.record.expect("record");
    assert_eq!((record.from.as_str(), record.to.as_str()), ("a", "b"));
    assert_eq!(record.epoch, Some(5));
    assert_eq!(record.data_loss_bound_bytes, Some(4096));
    assert_eq!(record.data_loss_bound_seconds, Some(3));
    assert_eq!(turn.plan.events[0].1, "FailoverCompleted");
}

#[test]
fn the_lease_is_handed_only_from_a_member_that_cannot_write() {
    let ms = vec![
        member("a", Standing::Replica),
        member("b", Standing::Primary),
        member("c", Standing::Unknown),
    ];
    // Held by the primary: nothing to do.
    assert!(!handover(&lease("b", 3, false), "b", &ms));
    // Held by a demoted member (a switchover's former primary): handed over.
    assert!(handover(&lease("a", 3, false), "b", &ms));
    // Held by an unreachable member that still renews: never.
    assert!(!handover(&lease("c", 3, false), "b", &ms));
    // ... unless it stopped renewing for the timeout.
    assert!(handover(&lease("c", 3, true), "b", &ms));
}

#[test]
fn the_primary_gets_the_lease_configuration_once_the_lease_is_its_own() {
    assert!(armed(None, true, "a", false));
    assert!(armed(Some(&lease("a", 1, false)), false, "a", false));
    assert!(!armed(Some(&lease("b", 1, false)), false, "a", false));
    assert!(!armed(None, false, "a", false));
    assert!(armed(Some(&lease("b", 1, false)), false, "a", true));
}

fn after_failover(base_backup: Option<&str>) -> FederationStatus {
    FederationStatus {
        current_primary: Some("b".into()),
        last_failover: Some(FailoverRecord {
            from: "a".into(),
            to: "b".into(),
            at: "2027-01-15T08:00:00Z".into(),
            epoch: Some(3),
            base_backup: base_backup.map(str::to_string),
            ..FailoverRecord::default()
        }),
        ..FederationStatus::default()
    }
}

#[test]
fn a_backup_is_asked_of_the_promoted_member_once_it_is_healthy_and_only_once() {
    let st = after_failover(None);
    assert_eq!(
        failover_backup(&st, "shop-b", true).as_deref(),
        Some("shop-b-failover-3")
    );
    assert_eq!(
        failover_backup(&st, "shop-b", false),
        None,
        "not healthy yet"
    );
    assert_eq!(
        failover_backup(&after_failover(Some("shop-b-failover-3")), "shop-b", true),
        None,
        "already asked"
    );
}

#[test]
fn no_backup_is_asked_while_a_failover_runs_or_after_the_primary_moved_on() {
    let mut running = after_failover(None);
    running.failover = Some(FailoverProgress::default());
    assert_eq!(failover_backup(&running, "shop-b", true), None);
    let mut moved = after_failover(None);
    moved.current_primary = Some("c".into());
    assert_eq!(failover_backup(&moved, "shop-c", true), None);
    assert_eq!(
        failover_backup(&FederationStatus::default(), "shop-b", true),
        None,
        "no failover happened"
    );
    let mut no_epoch = after_failover(None);
    if let Some(r) = no_epoch.last_failover.as_mut() {
        r.epoch = None;
    }
    assert_eq!(
        failover_backup(&no_epoch, "shop-b", true).as_deref(),
        Some("shop-b-failover-20270115080000")
    );
}

#[test]
fn the_armed_condition_does_not_change_while_the_lease_is_renewed() {
    let l = lease("a", 4, false);
    let at = |secs: u64| {
        condition(
            Ok(Some(&l)),
            Some(&Decision::Hold(Hold::LeaseFresh {
                unchanged_for: Duration::from_secs(secs),
            })),
            None,
        )
    };
    assert_eq!(at(0), at(4), "the status would be rewritten on every turn");
    assert!(at(0).0);
    assert_eq!(at(0).1, "Armed");
}
