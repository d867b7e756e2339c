//! The primary's next step, turn by turn: keep it, fail over from it, or carry a requested
//! switchover through. Pure: it combines the election rules ([`super::election`]) with what the
//! status remembers (`targetPrimary`, `currentPrimary`, `currentPrimaryFailingSinceTimestamp`).
//!
//! `targetPrimary` is what the status says the primary should be; what the managers are told
//! (`pushed`) can lag behind it: a switchover to a standby that is behind is recorded at once,
//! but the old primary is told to step down only once the target caught up.

use super::election::{self, Failover, Health, Instance, LeaseView, Switchover};
use super::quorum::{QuorumRecord, promotion_allowed};
use chrono::{DateTime, Duration, Utc};
use pgfed_api::cluster::phase;

/// What the plan needs.
#[derive(Clone, Debug)]
pub struct PrimaryInput<'a> {
    /// `status.targetPrimary`.
    pub target: Option<&'a str>,
    /// `status.currentPrimary`.
    pub current: Option<&'a str>,
    /// `status.currentPrimaryFailingSinceTimestamp`.
    pub failing_since: Option<DateTime<Utc>>,
    /// `spec.failoverDelay`.
    pub failover_delay: Duration,
    /// Every instance.
    pub instances: &'a [Instance],
    /// The primary Lease.
    pub lease: &'a LeaseView,
    /// With `synchronous.failoverQuorum`: what the failed primary last enforced (a failover
    /// promotes only when the reachable candidates must include every synchronously
    /// acknowledged commit). `None`: no quorum check.
    pub quorum: Option<&'a QuorumRecord>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// What to do with the primary this turn.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrimaryPlan {
    /// The new `status.targetPrimary`.
    pub target: Option<String>,
    /// The target primary the managers are told.
    pub pushed: Option<String>,
    /// The new `status.currentPrimaryFailingSinceTimestamp`.
    pub failing_since: Option<DateTime<Utc>>,
    /// A phase that overrides the rollout's (failing over, switchover), with its reason.
    pub phase: Option<(&'static str, String)>,
    /// Events to publish: (reason, message), normal.
    pub events: Vec<(&'static str, String)>,
    /// Events to publish as warnings.
    pub warnings: Vec<(&'static str, String)>,
}

fn instance<'a>(instances: &'a [Instance], name: &str) -> Option<&'a Instance> {
    instances.iter().find(|i| i.name == name)
}

/// Decides the primary's next step. Pure.
pub fn plan(input: &PrimaryInput<'_>) -> PrimaryPlan {
    let keep = |t: &str| PrimaryPlan {
        target: Some(t.to_string()),
        pushed: Some(t.to_string()),
        ..PrimaryPlan::default()
    };
    let (target, current) = match (input.target, input.current) {
        (Some(t), Some(c)) => (t, c),
        (t, _) => {
            return PrimaryPlan {
                target: t.map(str::to_string),
                pushed: t.map(str::to_string),
                ..PrimaryPlan::default()
            };
        }
    };
    if target == current {
        return steady_or_failover(input, current);
    }
    if let Some(replan) = stalled_target(input, target, current) {
        return replan;
    }
    if input.failing_since.is_some() {
        return PrimaryPlan {
            failing_since: input.failing_since,
            phase: Some((
                phase::FAILING_OVER,
                format!("waiting for {target} to be promoted"),
            )),
            ..keep(target)
        };
    }
    // A switchover was asked for (status.targetPrimary changed by `kubectl pgfed promote`).
    let gone = Instance {
        name: current.to_string(),
        ..Instance::default()
    };
    let primary = instance(input.instances, current).unwrap_or(&gone);
    let stepped_down = !(primary.reachable && primary.postgres_running && primary.is_primary);
    if stepped_down {
        return PrimaryPlan {
            phase: Some((
                phase::SWITCHOVER,
                format!("{current} stepped down; waiting for {target} to be promoted"),
            )),
            ..keep(target)
        };
    }
    match election::switchover(primary, instance(input.instances, target), target) {
        Switchover::Proceed => PrimaryPlan {
            phase: Some((
                phase::SWITCHOVER,
                format!("{current} steps down; {target} is promoted next"),
            )),
            events: vec![(
                "SwitchingOver",
                format!("switchover from {current} to {target}: {current} steps down"),
            )],
            ..keep(target)
        },
        Switchover::Wait(why) => PrimaryPlan {
            target: Some(target.to_string()),
            pushed: Some(current.to_string()),
            phase: Some((phase::SWITCHOVER, why)),
            ..PrimaryPlan::default()
        },
        Switchover::Refuse(why) => PrimaryPlan {
            warnings: vec![(
                "SwitchoverRefused",
                format!("switchover to {target} refused: {why}; {current} stays the primary"),
            )],
            ..keep(current)
        },
    }
}

fn steady_or_failover(input: &PrimaryInput<'_>, primary_name: &str) -> PrimaryPlan {
    let gone = Instance {
        name: primary_name.to_string(),
        ..Instance::default()
    };
    let primary = instance(input.instances, primary_name).unwrap_or(&gone);
    let keep = PrimaryPlan {
        target: Some(primary_name.to_string()),
        pushed: Some(primary_name.to_string()),
        ..PrimaryPlan::default()
    };
    let why = match election::primary_health(primary, input.lease, input.now) {
        Health::Alive => return keep,
        Health::Failed(why) => why,
    };
    let since = input.failing_since.unwrap_or(input.now);
    let mut events = Vec::new();
    if input.failing_since.is_none() {
        events.push((
            "PrimaryFailing",
            format!("primary {primary_name} is failing: {why}"),
        ));
    }
    let failing = |reason: String, events| PrimaryPlan {
        failing_since: Some(since),
        phase: Some((phase::FAILING_OVER, reason)),
        events,
        ..keep.clone()
    };
    let promote_at = since + input.failover_delay;
    if input.now < promote_at {
        let left = (promote_at - input.now).num_seconds();
        return failing(
            format!("{why}; failing over in {left} s (failoverDelay)"),
            events,
        );
    }
    match elect_replacement(input, primary_name) {
        Err(wait) => failing(format!("{why}; {wait}"), events),
        Ok((instance, reason)) => {
            events.push((
                "FailingOver",
                format!("promoting {instance}, {reason}: {why}"),
            ));
            let phase = format!("{why}; promoting {instance}, {reason}");
            promotion(instance, since, phase, events)
        }
    }
}

/// Whom to promote in place of `failed` — (instance, why it was chosen) — or why not yet: a
/// candidate still receives WAL from `failed`, or the failover quorum forbids it.
fn elect_replacement(input: &PrimaryInput<'_>, failed: &str) -> Result<(String, String), String> {
    match election::elect(failed, input.instances) {
        Failover::Wait(wait) => Err(wait),
        Failover::Promote { instance, reason } => match quorum_refusal(input) {
            Some(refusal) => Err(format!(
                "not promoting {instance}: {refusal} (failoverQuorum)"
            )),
            None => Ok((instance, reason)),
        },
    }
}

/// The plan that promotes `instance`, failing since `since`, with `reason` for the phase.
fn promotion(
    instance: String,
    since: DateTime<Utc>,
    reason: String,
    events: Vec<(&'static str, String)>,
) -> PrimaryPlan {
    PrimaryPlan {
        target: Some(instance.clone()),
        pushed: Some(instance),
        failing_since: Some(since),
        phase: Some((phase::FAILING_OVER, reason)),
        events,
        warnings: Vec::new(),
    }
}

/// How long a target primary that cannot be promoted (its pod gone, its manager or postgres down,
/// fenced) is waited for once the old primary no longer serves, before another is elected: a
/// switchover's target that crashed after the old primary stepped down, or a failover's choice
/// that died before promoting, would otherwise be waited for forever.
pub const STALLED_TARGET_GRACE: Duration = Duration::seconds(30);

/// The plan when the target cannot be promoted and the old primary no longer serves: wait out
/// [`STALLED_TARGET_GRACE`] (counted from `failing_since`), then elect another instance, the old
/// primary included. None while the old primary serves, the target can be promoted or is the
/// primary already, or it holds a fresh Lease (it may be promoting where the operator cannot
/// see it; another could not take the Lease anyway).
fn stalled_target(input: &PrimaryInput<'_>, target: &str, current: &str) -> Option<PrimaryPlan> {
    let old_serves = instance(input.instances, current)
        .is_some_and(|p| p.reachable && p.postgres_running && p.is_primary);
    let promotable = instance(input.instances, target)
        .is_some_and(|t| election::eligible(t) || (t.reachable && t.is_primary));
    if old_serves || promotable || input.lease.fresh_for(target, input.now) {
        return None;
    }
    let since = input.failing_since.unwrap_or(input.now);
    let why = format!(
        "{target} was to be promoted but cannot be (its pod, manager or postgres is down, or it is fenced)"
    );
    let waiting = |reason: String| PrimaryPlan {
        target: Some(target.to_string()),
        pushed: Some(target.to_string()),
        failing_since: Some(since),
        phase: Some((phase::FAILING_OVER, reason)),
        ..PrimaryPlan::default()
    };
    let elect_at = since + STALLED_TARGET_GRACE;
    if input.now < elect_at {
        let left = (elect_at - input.now).num_seconds();
        return Some(waiting(format!("{why}; electing another in {left} s")));
    }
    Some(match elect_replacement(input, target) {
        Err(wait) => waiting(format!("{why}; {wait}")),
        Ok((instance, reason)) => {
            let events = vec![(
                "FailingOver",
                format!("promoting {instance} instead of {target}, {reason}: {why}"),
            )];
            let phase = format!("{why}; promoting {instance}, {reason}");
            promotion(instance, since, phase, events)
        }
    })
}

/// Why the failover quorum forbids promoting now (None: it allows it, or is not asked for).
fn quorum_refusal(input: &PrimaryInput<'_>) -> Option<String> {
    let record = input.quorum?;
    let reachable = input
        .instances
        .iter()
        .filter(|i| election::eligible(i))
        .map(|i| i.name.clone())
        .collect();
    promotion_allowed(record, &reachable)
        .err()
        .map(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgfed_api::lsn::Lsn;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(1_800_000_000 + s)
    }

    fn running(name: &str, primary: bool, lsn: u64) -> Instance {
        Instance {
            name: name.into(),
            pod_alive: true,
            pod_ready: true,
            reachable: true,
            postgres_running: true,
            is_primary: primary,
            streaming: !primary,
            received_lsn: Some(Lsn(lsn)),
            replay_lsn: Some(Lsn(lsn)),
            ..Instance::default()
        }
    }

    fn lease(holder: &str, renewed: i64) -> LeaseView {
        LeaseView {
            holder: Some(holder.into()),
            renew_time: Some(at(renewed)),
            duration: Some(Duration::seconds(15)),
            ever_held: true,
        }
    }

    fn input<'a>(
        target: &'a str,
        current: &'a str,
        failing_since: Option<DateTime<Utc>>,
        instances: &'a [Instance],
        lease: &'a LeaseView,
        now: i64,
    ) -> PrimaryInput<'a> {
        PrimaryInput {
            target: Some(target),
            current: Some(current),
            failing_since,
            failover_delay: Duration::zero(),
            instances,
            lease,
            quorum: None,
            now: at(now),
        }
    }

    #[test]
    fn a_healthy_primary_is_kept() {
        let instances = [running("pg-1", true, 100), running("pg-2", false, 100)];
        let l = lease("pg-1", 0);
        let p = plan(&input("pg-1", "pg-1", None, &instances, &l, 1));
        assert_eq!(p.target.as_deref(), Some("pg-1"));
        assert_eq!(p.pushed.as_deref(), Some("pg-1"));
        assert_eq!((p.phase, p.failing_since), (None, None));
    }

    #[test]
    fn a_lost_primary_is_replaced_by_the_most_advanced_standby_after_the_delay() {
        let mut dead = running("pg-1", true, 100);
        (dead.reachable, dead.postgres_running) = (false, false);
        let mut s2 = running("pg-2", false, 90);
        let mut s3 = running("pg-3", false, 95);
        (s2.streaming, s3.streaming) = (false, false);
        let instances = [dead, s2, s3];
        let l = lease("pg-1", 0);
        // Lease still fresh: nothing happens.
        assert_eq!(
            plan(&input("pg-1", "pg-1", None, &instances, &l, 5)).phase,
            None
        );
        // Lapsed: promote pg-3 now (failoverDelay 0).
        let p = plan(&input("pg-1", "pg-1", None, &instances, &l, 16));
        assert_eq!(p.target.as_deref(), Some("pg-3"));
        assert_eq!(p.pushed.as_deref(), Some("pg-3"));
        assert_eq!(p.failing_since, Some(at(16)));
        assert_eq!(p.events[0].0, "PrimaryFailing");
        assert_eq!(p.events[1].0, "FailingOver");
        // With a failoverDelay the failure is only recorded until it elapses.
        let mut delayed = input("pg-1", "pg-1", None, &instances, &l, 16);
        delayed.failover_delay = Duration::seconds(30);
        let p = plan(&delayed);
        assert_eq!(p.target.as_deref(), Some("pg-1"));
        assert!(p.phase.expect("phase").1.contains("failing over in 30 s"));
        delayed.failing_since = Some(at(16));
        delayed.now = at(46);
        assert_eq!(plan(&delayed).target.as_deref(), Some("pg-3"));
        // Until pg-3 reports as the primary, the failover goes on.
        let p = plan(&input("pg-3", "pg-1", Some(at(16)), &instances, &l, 17));
        assert_eq!(p.phase.expect("phase").0, phase::FAILING_OVER);
        assert_eq!(p.pushed.as_deref(), Some("pg-3"));
    }

    #[test]
    fn the_failover_quorum_refuses_a_promotion_that_could_lose_commits() {
        let mut dead = running("pg-1", true, 100);
        (dead.reachable, dead.postgres_running, dead.pod_alive) = (false, false, false);
        let mut s2 = running("pg-2", false, 90);
        s2.streaming = false;
        let mut s3 = running("pg-3", false, 95);
        (s3.streaming, s3.reachable) = (false, false);
        let instances = [dead, s2, s3];
        let l = lease("pg-1", 0);
        // FIRST/ANY 1 of (pg-2, pg-3): pg-3 may hold a commit pg-2 lacks, and pg-3 is unreachable.
        let record = QuorumRecord {
            method: pgfed_api::cluster::SynchronousMethod::Any,
            standby_number: 1,
            standby_names: vec!["pg-2".into(), "pg-3".into()],
            primary: "pg-1".into(),
        };
        let mut i = input("pg-1", "pg-1", None, &instances, &l, 16);
        i.quorum = Some(&record);
        let p = plan(&i);
        assert_eq!(p.target.as_deref(), Some("pg-1"), "not promoted");
        assert!(p.phase.expect("phase").1.contains("failoverQuorum"));
        // Both standbys needed an acknowledgement (ANY 2): pg-2 alone has every commit.
        let all = QuorumRecord {
            standby_number: 2,
            ..record.clone()
        };
        i.quorum = Some(&all);
        assert_eq!(plan(&i).target.as_deref(), Some("pg-2"));
    }

    #[test]
    fn a_target_that_cannot_be_promoted_is_replaced_after_the_grace() {
        // pg-1 stepped down for a switchover to pg-2, whose container then died.
        let mut old = running("pg-1", false, 500);
        old.streaming = false;
        let mut target = running("pg-2", false, 400);
        (target.reachable, target.postgres_running, target.streaming) = (false, false, false);
        let instances = [old, target, running("pg-3", false, 300)];
        let mut s3 = instances[2].clone();
        s3.streaming = false;
        let instances = [instances[0].clone(), instances[1].clone(), s3];
        let released = LeaseView {
            holder: None,
            ..lease("pg-1", 0)
        };
        let p = plan(&input("pg-2", "pg-1", None, &instances, &released, 10));
        assert_eq!(p.target.as_deref(), Some("pg-2"), "waited for first");
        assert_eq!(p.failing_since, Some(at(10)));
        assert!(
            p.phase
                .expect("phase")
                .1
                .contains("electing another in 30 s")
        );
        let p = plan(&input(
            "pg-2",
            "pg-1",
            Some(at(10)),
            &instances,
            &released,
            41,
        ));
        assert_eq!(p.target.as_deref(), Some("pg-1"), "the most advanced");
        assert_eq!(p.events[0].0, "FailingOver");
        // A target that holds a fresh Lease may be promoting: no one else is elected.
        let held = lease("pg-2", 35);
        let p = plan(&input("pg-2", "pg-1", Some(at(10)), &instances, &held, 41));
        assert_eq!(p.target.as_deref(), Some("pg-2"));
        // A target that can be promoted is simply waited for.
        let promotable = [
            instances[0].clone(),
            running("pg-2", false, 400),
            instances[2].clone(),
        ];
        let p = plan(&input(
            "pg-2",
            "pg-1",
            Some(at(10)),
            &promotable,
            &released,
            41,
        ));
        assert_eq!(p.target.as_deref(), Some("pg-2"));
        assert!(p.events.is_empty());
    }

    #[test]
    fn a_switchover_waits_for_a_lagging_target_and_refuses_a_fenced_one() {
        let mut behind = running("pg-2", false, 0);
        behind.received_lsn = Some(Lsn(100 << 20));
        let instances = [running("pg-1", true, 100 << 20), behind];
        let l = lease("pg-1", 0);
        let p = plan(&input("pg-2", "pg-1", None, &instances, &l, 1));
        assert_eq!(p.target.as_deref(), Some("pg-2"));
        assert_eq!(
            p.pushed.as_deref(),
            Some("pg-1"),
            "the old primary is not told yet"
        );
        assert_eq!(p.phase.expect("phase").0, phase::SWITCHOVER);

        let caught_up = [running("pg-1", true, 500), running("pg-2", false, 500)];
        let p = plan(&input("pg-2", "pg-1", None, &caught_up, &l, 1));
        assert_eq!(p.pushed.as_deref(), Some("pg-2"));
        assert_eq!(p.events[0].0, "SwitchingOver");

        let mut fenced = running("pg-2", false, 500);
        fenced.fenced = true;
        let refused = [running("pg-1", true, 500), fenced];
        let p = plan(&input("pg-2", "pg-1", None, &refused, &l, 1));
        assert_eq!(p.target.as_deref(), Some("pg-1"), "the request is undone");
        assert_eq!(p.warnings[0].0, "SwitchoverRefused");

        // Once the old primary stepped down, the target is pushed whatever its lag.
        let mut down = running("pg-1", true, 500);
        down.is_primary = false;
        let after = [down, running("pg-2", false, 10)];
        assert_eq!(
            plan(&input("pg-2", "pg-1", None, &after, &l, 1))
                .pushed
                .as_deref(),
            Some("pg-2")
        );
    }
}
