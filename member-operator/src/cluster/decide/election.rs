//! Whom the cluster's primary should be: whether the current primary has failed, which standby
//! a failover promotes, and whether a requested switchover may go ahead. Pure, over what the
//! operator observed (pods, the managers' reports, the primary Lease) and the clock it is given.
//!
//! A primary is failed when its pod is gone or being deleted, or when it stopped renewing the
//! primary Lease — not when the node controller gets round to marking its pod unready (40 s and
//! more): a stopped node, a cut network, a dead manager or a postgres that does not come back all
//! stop the renewals. While the Lease is fresh the primary is alive, whatever the operator's own
//! view of it (the operator may be the one cut off). The manager of the promoted standby takes
//! the Lease before promoting, so the new primary accepts writes only once the old one can no
//! longer (it stops itself when it cannot renew; see the manager's `run::lease`).

use chrono::{DateTime, Duration, Utc};
use pgfed_api::lsn::Lsn;

/// An instance as the election sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Instance {
    /// Instance (pod) name.
    pub name: String,
    /// Its pod exists and is not being deleted.
    pub pod_alive: bool,
    /// Its pod is Ready.
    pub pod_ready: bool,
    /// When its pod was created: a pod created moments ago (the cluster resumes from
    /// hibernation, or the pod was recreated) has not had the time to start postgres yet.
    pub pod_created: Option<DateTime<Utc>>,
    /// Its manager answered this turn.
    pub reachable: bool,
    /// Its manager runs postgres.
    pub postgres_running: bool,
    /// Postgres is a primary (not in recovery).
    pub is_primary: bool,
    /// Fenced.
    pub fenced: bool,
    /// Its manager demotes it (a primary cluster switched to replica): postgres stops cleanly
    /// and starts again as a standby of the other side, on purpose.
    pub demoting: bool,
    /// Its WAL receiver streams from a primary.
    pub streaming: bool,
    /// WAL received (a standby) or written (a primary).
    pub received_lsn: Option<Lsn>,
    /// WAL replayed (a standby).
    pub replay_lsn: Option<Lsn>,
}

/// The primary Lease as the operator read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseView {
    /// Who holds it.
    pub holder: Option<String>,
    /// When it was last renewed (holder's clock).
    pub renew_time: Option<DateTime<Utc>>,
    /// How long it lasts after a renewal.
    pub duration: Option<Duration>,
    /// Whether anyone ever held it: a Lease no manager ever took (managers older than the
    /// Lease) says nothing about the primary's health.
    pub ever_held: bool,
}

impl LeaseView {
    /// Whether `instance` holds the Lease and renewed it less than its duration ago.
    pub fn fresh_for(&self, instance: &str, now: DateTime<Utc>) -> bool {
        self.holder.as_deref() == Some(instance)
            && self
                .renew_time
                .zip(self.duration)
                .is_some_and(|(renewed, duration)| now <= renewed + duration)
    }
}

/// How long a freshly created primary pod that has not taken the Lease yet may take to start
/// postgres before its missing Lease renewals count as a failure. A cluster that resumes from hibernation, or whose every pod was
/// recreated, starts all its instances at once: without this grace, the first standby to start
/// would be promoted over the primary that holds the newest WAL. A pod that cannot start
/// (unschedulable, its node gone) fails over once the grace is spent.
pub const STARTUP_GRACE: Duration = Duration::seconds(60);

/// The current primary's health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Alive (or not known to be failed).
    Alive,
    /// Failed, for the reason given.
    Failed(String),
}

/// Whether `primary` has failed. Pure.
pub fn primary_health(primary: &Instance, lease: &LeaseView, now: DateTime<Utc>) -> Health {
    let name = &primary.name;
    // Fenced on purpose: its postgres is down and its Lease released, and nobody takes over.
    if primary.fenced {
        return Health::Alive;
    }
    if !primary.pod_alive {
        return Health::Failed(format!("the pod of {name} is gone or being deleted"));
    }
    if primary.reachable && primary.postgres_running && primary.is_primary {
        return Health::Alive;
    }
    // Stopped for its demotion, which its manager carries out and reports: not a failure.
    if primary.reachable && primary.demoting {
        return Health::Alive;
    }
    if lease.ever_held {
        if lease.fresh_for(name, now) {
            return Health::Alive;
        }
        let held_by_another = lease
            .holder
            .as_deref()
            .is_some_and(|h| h != name && lease.fresh_for(h, now));
        // Starting: its pod is new and has not taken the Lease yet. A pod that renewed the
        // Lease since it was created has run as the primary; when it stops renewing (its node
        // stopped, say) it has failed, however young it is.
        let renewed_since_created = |created: DateTime<Utc>| {
            lease.holder.as_deref() == Some(name.as_str())
                && lease.renew_time.is_some_and(|renewed| renewed >= created)
        };
        let starting = primary.pod_created.is_some_and(|created| {
            now < created + STARTUP_GRACE && !renewed_since_created(created)
        });
        if starting && !held_by_another {
            return Health::Alive;
        }
        return Health::Failed(match &lease.holder {
            Some(holder) if holder != name => {
                format!("{name} does not hold the primary lease ({holder} does)")
            }
            _ => format!("{name} stopped renewing the primary lease"),
        });
    }
    // Managers that predate the Lease: only Kubernetes' view of the pod is left.
    if primary.pod_ready {
        Health::Alive
    } else {
        Health::Failed(format!("the pod of {name} is not ready"))
    }
}

/// What a failover does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failover {
    /// Not yet; why.
    Wait(String),
    /// Promote this instance; why it was chosen.
    Promote {
        /// The instance to promote.
        instance: String,
        /// Why this one.
        reason: String,
    },
}

/// Whether `instance` could become the primary now.
pub fn eligible(i: &Instance) -> bool {
    i.pod_alive && i.reachable && i.postgres_running && !i.fenced
}

/// The most advanced healthy standby, other than `failed`: received LSN, then replayed LSN,
/// then name. While any candidate still receives WAL from the failed primary (it is shutting
/// down and sending its last WAL), the choice waits, so nothing it sent is left behind. Pure.
pub fn elect(failed: &str, instances: &[Instance]) -> Failover {
    if let Some(still) = instances
        .iter()
        .find(|i| i.name != failed && eligible(i) && i.streaming)
    {
        return Failover::Wait(format!(
            "{} still receives WAL from {failed}; waiting for the stream to end",
            still.name
        ));
    }
    match most_advanced(failed, instances) {
        Some((instance, reason)) => Failover::Promote { instance, reason },
        None => Failover::Wait(format!(
            "no standby can be promoted: none is running, reachable and unfenced besides {failed}"
        )),
    }
}

/// The most advanced healthy instance other than `exclude` (received LSN, then replayed LSN,
/// then name), and why it was chosen; the target of a failover, or of the switchover a rolling
/// update does first with `primaryUpdateMethod: switchover`. Pure.
pub fn most_advanced(exclude: &str, instances: &[Instance]) -> Option<(String, String)> {
    let mut candidates: Vec<&Instance> = instances
        .iter()
        .filter(|i| i.name != exclude && eligible(i))
        .collect();
    if candidates.is_empty() {
        return None;
    }
    candidates.sort_by(|a, b| {
        b.received_lsn
            .cmp(&a.received_lsn)
            .then(b.replay_lsn.cmp(&a.replay_lsn))
            .then(a.name.cmp(&b.name))
    });
    let best = candidates[0];
    let lsn = |l: Option<Lsn>| l.map_or_else(|| "unknown".to_string(), |l| l.to_string());
    let reason = if candidates.len() == 1 {
        format!(
            "the only healthy standby (received {}, replayed {})",
            lsn(best.received_lsn),
            lsn(best.replay_lsn)
        )
    } else {
        format!(
            "the most advanced of {} healthy standbys (received {}, replayed {})",
            candidates.len(),
            lsn(best.received_lsn),
            lsn(best.replay_lsn)
        )
    };
    Some((best.name.clone(), reason))
}

/// How far behind the primary a switchover target may be when the old primary is asked to step
/// down: the rest arrives with its shutdown, and replaying it delays the new primary's first
/// write by as much.
pub const SWITCHOVER_MAX_LAG_BYTES: u64 = 16 * 1024 * 1024;

/// Whether a requested switchover to `target` may go ahead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Switchover {
    /// Step the primary down now.
    Proceed,
    /// Not yet; why.
    Wait(String),
    /// Never for this target; why (the request is undone).
    Refuse(String),
}

/// Checks a switchover from `primary` to the instance named `target` (None: no such instance).
/// Pure.
pub fn switchover(primary: &Instance, target: Option<&Instance>, target_name: &str) -> Switchover {
    let Some(t) = target else {
        return Switchover::Refuse(format!("instance {target_name} does not exist"));
    };
    if t.fenced {
        return Switchover::Refuse(format!(
            "instance {target_name} is fenced; unfence it first"
        ));
    }
    if !t.pod_alive {
        return Switchover::Refuse(format!("instance {target_name} has no running pod"));
    }
    if !(t.reachable && t.postgres_running) {
        return Switchover::Wait(format!(
            "instance {target_name} is not running postgres yet"
        ));
    }
    let (Some(head), Some(replayed)) = (primary.received_lsn, t.replay_lsn) else {
        return Switchover::Wait(format!(
            "the positions of {} and {target_name} are not known yet",
            primary.name
        ));
    };
    let lag = head.0.saturating_sub(replayed.0);
    if !t.streaming || lag > SWITCHOVER_MAX_LAG_BYTES {
        return Switchover::Wait(format!(
            "instance {target_name} is {lag} bytes behind {} (streaming: {}); waiting for it to catch up",
            primary.name, t.streaming
        ));
    }
    Switchover::Proceed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(1_800_000_000 + s)
    }

    fn standby(name: &str, received: u64, replayed: u64) -> Instance {
        Instance {
            name: name.into(),
            pod_alive: true,
            pod_ready: true,
            reachable: true,
            postgres_running: true,
            received_lsn: Some(Lsn(received)),
            replay_lsn: Some(Lsn(replayed)),
            ..Instance::default()
        }
    }

    fn primary() -> Instance {
        Instance {
            is_primary: true,
            ..standby("pg-1", 1000, 1000)
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

    #[test]
    fn a_primary_fails_when_its_pod_goes_or_its_lease_lapses() {
        let unreachable = Instance {
            reachable: false,
            postgres_running: false,
            is_primary: false,
            ..primary()
        };
        let deleted = Instance {
            pod_alive: false,
            ..primary()
        };
        let not_running = Instance {
            postgres_running: false,
            ..primary()
        };
        let unready_old = Instance {
            pod_ready: false,
            ..unreachable.clone()
        };
        let fenced = Instance {
            fenced: true,
            ..not_running.clone()
        };
        // Created at 0, as when a cluster resumes from hibernation.
        let just_created = Instance {
            pod_created: Some(at(0)),
            ..unreachable.clone()
        };
        let demoting = Instance {
            demoting: true,
            ..not_running.clone()
        };
        let demoting_unreachable = Instance {
            reachable: false,
            ..demoting.clone()
        };
        let cases: [(&str, &Instance, LeaseView, i64, bool); 16] = [
            // A demotion stops postgres on purpose and releases the Lease.
            (
                "demoting, lease lapsed",
                &demoting,
                lease("pg-1", -100),
                0,
                true,
            ),
            (
                "said to demote, then unreachable, lease lapsed",
                &demoting_unreachable,
                lease("pg-1", -100),
                0,
                false,
            ),
            (
                "answers as a running primary",
                &primary(),
                lease("pg-1", -100),
                0,
                true,
            ),
            (
                "pod deleted, lease fresh",
                &deleted,
                lease("pg-1", 0),
                1,
                false,
            ),
            (
                "unreachable, lease fresh",
                &unreachable,
                lease("pg-1", 0),
                10,
                true,
            ),
            (
                "unreachable, lease lapsed",
                &unreachable,
                lease("pg-1", 0),
                16,
                false,
            ),
            (
                "postgres down, lease fresh",
                &not_running,
                lease("pg-1", 0),
                5,
                true,
            ),
            (
                "postgres down, lease lapsed",
                &not_running,
                lease("pg-1", 0),
                20,
                false,
            ),
            (
                "another holds the lease",
                &unreachable,
                lease("pg-2", 0),
                1,
                false,
            ),
            // A Lease nobody ever took: the pod's readiness decides.
            (
                "old managers, pod ready",
                &unreachable,
                LeaseView::default(),
                0,
                true,
            ),
            (
                "old managers, pod unready",
                &unready_old,
                LeaseView::default(),
                0,
                false,
            ), // Fencing the primary stops it on purpose: no failover.
            (
                "fenced, lease released",
                &fenced,
                lease("pg-1", -100),
                0,
                true,
            ),
            (
                "pod just created, lease lapsed long ago",
                &just_created,
                lease("pg-1", -3600),
                30,
                true,
            ),
            (
                "pod created but not started within the grace",
                &just_created,
                lease("pg-1", -3600),
                61,
                false,
            ),
            (
                "pod just created, another holds the lease",
                &just_created,
                lease("pg-2", 25),
                30,
                false,
            ),
            (
                "young pod that ran as the primary, then stopped renewing",
                &just_created,
                lease("pg-1", 10),
                30,
                false,
            ),
        ];
        for (what, instance, lease, now, alive) in cases {
            let health = primary_health(instance, &lease, at(now));
            assert_eq!(health == Health::Alive, alive, "{what}: {health:?}");
        }
    }

    #[test]
    fn the_most_advanced_healthy_standby_is_promoted() {
        let fenced = Instance {
            fenced: true,
            ..standby("pg-9", 5000, 5000)
        };
        let unreachable = Instance {
            reachable: false,
            ..standby("pg-8", 6000, 6000)
        };
        let instances = [
            primary(),
            standby("pg-2", 900, 800),
            standby("pg-3", 900, 850),
            standby("pg-4", 800, 800),
            fenced,
            unreachable,
        ];
        match elect("pg-1", &instances) {
            Failover::Promote { instance, reason } => {
                assert_eq!(instance, "pg-3");
                assert!(reason.contains("most advanced of 3"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // Equal positions: the name decides.
        let tie = [standby("pg-3", 900, 900), standby("pg-2", 900, 900)];
        assert!(matches!(
            elect("pg-1", &tie),
            Failover::Promote { instance, .. } if instance == "pg-2"
        ));
    }

    #[test]
    fn a_failover_waits_for_the_stream_to_end_and_for_a_candidate() {
        let streaming = Instance {
            streaming: true,
            ..standby("pg-2", 900, 900)
        };
        assert!(matches!(
            elect("pg-1", &[primary(), streaming, standby("pg-3", 1000, 1000)]),
            Failover::Wait(why) if why.contains("pg-2 still receives WAL")
        ));
        let down = Instance {
            postgres_running: false,
            ..standby("pg-2", 900, 900)
        };
        assert!(matches!(
            elect("pg-1", &[primary(), down]),
            Failover::Wait(why) if why.contains("no standby can be promoted")
        ));
    }

    #[test]
    fn a_switchover_needs_a_healthy_target_that_caught_up() {
        let caught_up = Instance {
            streaming: true,
            ..standby("pg-2", 1000, 1000 - 100)
        };
        let behind = Instance {
            streaming: true,
            received_lsn: Some(Lsn(1000)),
            replay_lsn: Some(Lsn(0)),
            ..standby("pg-2", 0, 0)
        };
        let mut far_primary = primary();
        far_primary.received_lsn = Some(Lsn(SWITCHOVER_MAX_LAG_BYTES + 1000));
        let fenced = Instance {
            fenced: true,
            ..caught_up.clone()
        };
        let gone = Instance {
            pod_alive: false,
            ..caught_up.clone()
        };
        assert_eq!(
            switchover(&primary(), Some(&caught_up), "pg-2"),
            Switchover::Proceed
        );
        assert!(
            matches!(switchover(&far_primary, Some(&behind), "pg-2"), Switchover::Wait(w) if w.contains("catch up"))
        );
        assert!(
            matches!(switchover(&primary(), Some(&fenced), "pg-2"), Switchover::Refuse(w) if w.contains("fenced"))
        );
        assert!(matches!(
            switchover(&primary(), Some(&gone), "pg-2"),
            Switchover::Refuse(_)
        ));
        assert!(
            matches!(switchover(&primary(), None, "pg-7"), Switchover::Refuse(w) if w.contains("does not exist"))
        );
    }
}
