//! What a ScheduledBackup does now: which Backup to create, if any, what its status says, and
//! when to look again. Pure: the reconcile observes, calls [`plan`], and applies the result.
//!
//! The rules, after CloudNativePG's, with two corrections:
//! - `status.lastCheckTime` is the instant up to which slots were handled. A slot is due when it
//!   falls in `(lastCheckTime, now]` (`now` included: a wake-up exactly at the slot fires it).
//!   Before the first check the window starts at the object's creation, so a schedule created
//!   while the operator was down is not silently skipped.
//! - However many slots the window holds (the operator was down for days), only the latest one
//!   gets a backup: at most one catch-up, never a burst.
//! - The Backup is named after the slot, not after the instant of creation: evaluating the same
//!   slot twice (the operator killed between creating the Backup and writing the status) yields
//!   the same name, and the second create finds the first Backup instead of adding one.
//! - `immediate`: before the first check, one backup named after the creation time.
//! - `suspend`: nothing is created and nothing is scheduled; on resumption the missed slots
//!   count as one catch-up, as in CloudNativePG.
//! - A missing cluster creates nothing and says so; the due slot stays due (checked again
//!   shortly), so the backup is taken once the cluster exists.

use super::schedule::Schedule;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// How soon a due slot is tried again while its cluster is missing.
pub const CLUSTER_MISSING_RETRY: Duration = Duration::from_secs(30);

/// What the decision looks at.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// Now.
    pub now: DateTime<Utc>,
    /// When the ScheduledBackup was created.
    pub created: DateTime<Utc>,
    /// `spec.schedule`, parsed.
    pub schedule: &'a Schedule,
    /// `spec.suspend`.
    pub suspended: bool,
    /// `spec.immediate`.
    pub immediate: bool,
    /// `status.lastCheckTime`.
    pub last_check: Option<DateTime<Utc>>,
    /// `status.lastScheduleTime`.
    pub last_schedule: Option<DateTime<Utc>>,
    /// Whether `spec.cluster` exists.
    pub cluster_exists: bool,
}

/// Why a Backup is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// `spec.immediate`: the one backup at creation (named after the creation time).
    Immediate(DateTime<Utc>),
    /// A scheduled time.
    Scheduled(DateTime<Utc>),
}

impl Slot {
    /// The instant that names the Backup.
    pub fn time(self) -> DateTime<Utc> {
        match self {
            Self::Immediate(t) | Self::Scheduled(t) => t,
        }
    }
}

/// The times the status shows after this turn.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Times {
    /// `status.lastCheckTime`.
    pub last_check: Option<DateTime<Utc>>,
    /// `status.lastScheduleTime`.
    pub last_schedule: Option<DateTime<Utc>>,
    /// `status.nextScheduleTime`.
    pub next_schedule: Option<DateTime<Utc>>,
}

/// What is wrong, for the status and an Event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// `spec.cluster` does not exist.
    ClusterMissing,
    /// The schedule has no future firing.
    NeverFires,
}

/// When to reconcile again (besides changes of the object).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// After this long: the next slot, or a retry.
    After(Duration),
    /// Only when the object changes (suspended, or no future slot).
    OnChange,
}

/// The decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The Backup to create now, if any.
    pub create: Option<Slot>,
    /// The status times.
    pub times: Times,
    /// What to report.
    pub problem: Option<Problem>,
    /// When to look again.
    pub wake: Wake,
}

/// Decides this turn. See the module documentation for the rules.
pub fn plan(o: &Observed) -> Plan {
    if o.suspended {
        return Plan {
            create: None,
            times: Times {
                last_check: o.last_check,
                last_schedule: o.last_schedule,
                next_schedule: None,
            },
            problem: (!o.cluster_exists).then_some(Problem::ClusterMissing),
            wake: Wake::OnChange,
        };
    }
    let due = match o.last_check {
        None if o.immediate => Some(Slot::Immediate(o.created)),
        None => o
            .schedule
            .latest_in(o.created.min(o.now), o.now)
            .map(Slot::Scheduled),
        Some(checked) => o.schedule.latest_in(checked, o.now).map(Slot::Scheduled),
    };
    let next = o.schedule.next_after(o.now);
    let until_next = |next: Option<DateTime<Utc>>| match next {
        Some(t) => Wake::After((t - o.now).to_std().unwrap_or(Duration::ZERO)),
        None => Wake::OnChange,
    };
    let never = next.is_none().then_some(Problem::NeverFires);
    match due {
        Some(_) if !o.cluster_exists => Plan {
            create: None,
            // The slot stays due: lastCheckTime does not move.
            times: Times {
                last_check: o.last_check,
                last_schedule: o.last_schedule,
                next_schedule: next,
            },
            problem: Some(Problem::ClusterMissing),
            wake: Wake::After(CLUSTER_MISSING_RETRY),
        },
        Some(slot) => Plan {
            create: Some(slot),
            times: Times {
                last_check: Some(o.now),
                last_schedule: Some(o.now),
                next_schedule: next,
            },
            problem: never,
            wake: until_next(next),
        },
        None => Plan {
            create: None,
            times: Times {
                last_check: Some(o.last_check.unwrap_or(o.now)),
                last_schedule: o.last_schedule,
                next_schedule: next,
            },
            problem: if o.cluster_exists {
                never
            } else {
                Some(Problem::ClusterMissing)
            },
            wake: until_next(next),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-12-01T{s}Z"))
            .expect("test time")
            .with_timezone(&Utc)
    }

    fn secs(n: u64) -> Wake {
        Wake::After(Duration::from_secs(n))
    }

    struct Case {
        name: &'static str,
        schedule: &'static str,
        now: &'static str,
        created: &'static str,
        last_check: Option<&'static str>,
        suspended: bool,
        immediate: bool,
        cluster_exists: bool,
        create: Option<Slot>,
        last_check_after: Option<&'static str>,
        next: Option<&'static str>,
        problem: Option<Problem>,
        wake: Wake,
    }

    const HOURLY: &str = "0 0 * * * *";

    fn base(name: &'static str) -> Case {
        Case {
            name,
            schedule: HOURLY,
            now: "10:20:00",
            created: "10:00:30",
            last_check: None,
            suspended: false,
            immediate: false,
            cluster_exists: true,
            create: None,
            last_check_after: Some("10:20:00"),
            next: Some("11:00:00"),
            problem: None,
            wake: secs(40 * 60),
        }
    }

    #[test]
    fn plans() {
        let cases = [
            base("first run: nothing due, check recorded, wake at the next slot"),
            Case {
                immediate: true,
                create: Some(Slot::Immediate(at("10:00:30"))),
                ..base("immediate: one backup at creation, named after the creation time")
            },
            Case {
                immediate: true,
                last_check: Some("10:00:31"),
                last_check_after: Some("10:00:31"),
                ..base("immediate is only for the first check")
            },
            Case {
                now: "13:20:00",
                created: "10:00:30",
                create: Some(Slot::Scheduled(at("13:00:00"))),
                last_check_after: Some("13:20:00"),
                next: Some("14:00:00"),
                ..base("created while the operator was down: one catch-up, the latest slot")
            },
            Case {
                now: "15:10:00",
                last_check: Some("10:30:00"),
                create: Some(Slot::Scheduled(at("15:00:00"))),
                last_check_after: Some("15:10:00"),
                next: Some("16:00:00"),
                wake: secs(50 * 60),
                ..base("missed five slots: exactly one backup, for the latest")
            },
            Case {
                now: "11:00:00",
                last_check: Some("10:20:00"),
                create: Some(Slot::Scheduled(at("11:00:00"))),
                last_check_after: Some("11:00:00"),
                next: Some("12:00:00"),
                wake: secs(3600),
                ..base("woken exactly at the slot: it fires, next wake one period on")
            },
            Case {
                now: "10:59:59",
                last_check: Some("10:20:00"),
                last_check_after: Some("10:20:00"),
                wake: secs(1),
                ..base("woken a second early: nothing, wake at the slot")
            },
            Case {
                now: "11:00:05",
                last_check: Some("11:00:00"),
                last_check_after: Some("11:00:00"),
                next: Some("12:00:00"),
                wake: secs(3595),
                ..base("the slot already handled is not taken twice")
            },
            Case {
                now: "15:10:00",
                last_check: Some("10:30:00"),
                suspended: true,
                last_check_after: Some("10:30:00"),
                next: None,
                wake: Wake::OnChange,
                ..base("suspended: nothing created, nothing scheduled")
            },
            Case {
                now: "15:10:00",
                last_check: Some("10:30:00"),
                cluster_exists: false,
                last_check_after: Some("10:30:00"),
                next: Some("16:00:00"),
                problem: Some(Problem::ClusterMissing),
                wake: Wake::After(CLUSTER_MISSING_RETRY),
                ..base("cluster missing with a slot due: nothing created, the slot stays due")
            },
            Case {
                cluster_exists: false,
                immediate: true,
                last_check_after: None,
                problem: Some(Problem::ClusterMissing),
                wake: Wake::After(CLUSTER_MISSING_RETRY),
                ..base("cluster missing at creation: the immediate backup waits for it")
            },
            Case {
                cluster_exists: false,
                problem: Some(Problem::ClusterMissing),
                ..base("cluster missing, nothing due: reported, wake at the next slot")
            },
            Case {
                schedule: "0 0 0 30 2 *",
                next: None,
                problem: Some(Problem::NeverFires),
                wake: Wake::OnChange,
                ..base("a schedule with no future firing is reported and waits for a change")
            },
            Case {
                schedule: "@every 1h",
                now: "13:20:00",
                last_check: Some("10:30:00"),
                create: Some(Slot::Scheduled(at("12:30:00"))),
                last_check_after: Some("13:20:00"),
                next: Some("14:20:00"),
                wake: secs(3600),
                ..base("@every: one catch-up, the interval restarts from the check")
            },
        ];
        for c in cases {
            let schedule = Schedule::parse(c.schedule).expect(c.name);
            let last_schedule = Some(at("09:00:00"));
            let got = plan(&Observed {
                now: at(c.now),
                created: at(c.created),
                schedule: &schedule,
                suspended: c.suspended,
                immediate: c.immediate,
                last_check: c.last_check.map(at),
                last_schedule,
                cluster_exists: c.cluster_exists,
            });
            let want = Plan {
                create: c.create,
                times: Times {
                    last_check: c.last_check_after.map(at),
                    last_schedule: if c.create.is_some() {
                        Some(at(c.now))
                    } else {
                        last_schedule
                    },
                    next_schedule: c.next.map(at),
                },
                problem: c.problem,
                wake: c.wake,
            };
            assert_eq!(got, want, "{}", c.name);
        }
    }

    #[test]
    fn replaying_a_turn_after_a_lost_status_write_names_the_same_backup() {
        // The operator created the Backup for 15:00 at 15:10 and died before the status write;
        // it comes back at 15:40 with the old status and picks the same slot, hence the same
        // name, which the create then finds already there.
        let schedule = Schedule::parse(HOURLY).expect("hourly");
        let turn = |now| {
            plan(&Observed {
                now: at(now),
                created: at("08:00:00"),
                schedule: &schedule,
                suspended: false,
                immediate: false,
                last_check: Some(at("10:30:00")),
                last_schedule: None,
                cluster_exists: true,
            })
            .create
        };
        assert_eq!(turn("15:10:00"), turn("15:40:00"));
        assert_eq!(turn("15:40:00"), Some(Slot::Scheduled(at("15:00:00"))));
    }
}
