//! Which slots to create, advance and drop in one round, from what the round observed. Pure.

use super::SlotPolicy;
use pgfed_api::lsn::Lsn;

/// A physical, non-temporary replication slot as `pg_replication_slots` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedSlot {
    /// `slot_name`.
    pub name: String,
    /// A walsender uses it now.
    pub active: bool,
    /// `restart_lsn`; `None` while the slot reserves no WAL.
    pub restart_lsn: Option<Lsn>,
}

/// What one round saw.
#[derive(Clone, Debug)]
pub enum Observed<'a> {
    /// On the primary (or a replica cluster's designated primary, which serves its standbys the
    /// same way): its own slots and every instance of the cluster (empty: not known yet).
    Primary {
        /// Every instance of the cluster, this one included.
        instances: &'a [String],
        /// The server's slots.
        local: &'a [ObservedSlot],
    },
    /// On a standby: the primary's slots, its own, and how far it has replayed.
    Standby {
        /// The primary's slots.
        primary: &'a [ObservedSlot],
        /// This server's slots.
        local: &'a [ObservedSlot],
        /// `pg_last_wal_replay_lsn()`; `None` when unknown.
        replayed: Option<Lsn>,
    },
}

/// One change to a slot of the local server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotStep {
    /// `pg_create_physical_replication_slot(name, true)`: created reserving WAL from now on.
    Create {
        /// The slot.
        name: String,
    },
    /// `pg_replication_slot_advance(name, to)`.
    Advance {
        /// The slot.
        name: String,
        /// Its new restart position.
        to: Lsn,
    },
    /// `pg_drop_replication_slot(name)`.
    Drop {
        /// The slot.
        name: String,
    },
}

/// The changes that bring the local slots where `policy` wants them, for the instance `me`.
/// Pure.
///
/// On the primary: an HA slot for every other listed instance, created when missing; HA slots of
/// instances no longer listed (and this instance's own) dropped. Nothing is dropped while the list
/// is empty (unknown, not "none"), no slot without the prefix is ever touched, and an active slot
/// is never dropped (its standby still streams; it goes once the standby stops).
///
/// On a standby: each slot of the primary it should keep (the other instances' HA slots; user
/// slots that match no exclude pattern when `synchronizeReplicas` is on) is created when missing
/// and advanced towards the primary's position, capped at this standby's replay position (a slot
/// never claims WAL the standby does not have). A slot the primary reserves no WAL for is not
/// copied. Local slots the primary no longer has, this standby's own HA slot, and those `policy`
/// no longer wants are dropped; excluded user slots are left alone.
pub fn plan(policy: &SlotPolicy, me: &str, observed: &Observed) -> Vec<SlotStep> {
    match observed {
        Observed::Primary { instances, local } => plan_primary(policy, me, instances, local),
        Observed::Standby {
            primary,
            local,
            replayed,
        } => plan_standby(policy, me, primary, local, *replayed),
    }
}

fn plan_primary(
    policy: &SlotPolicy,
    me: &str,
    instances: &[String],
    local: &[ObservedSlot],
) -> Vec<SlotStep> {
    if policy.high_availability && instances.is_empty() {
        return Vec::new();
    }
    let wanted: Vec<String> = if policy.high_availability {
        instances
            .iter()
            .filter(|i| *i != me)
            .map(|i| policy.slot_name(i))
            .collect()
    } else {
        Vec::new()
    };
    let mut steps: Vec<SlotStep> = wanted
        .iter()
        .filter(|w| !local.iter().any(|s| &s.name == *w))
        .map(|name| SlotStep::Create { name: name.clone() })
        .collect();
    steps.extend(
        local
            .iter()
            .filter(|s| policy.is_ha(&s.name) && !s.active && !wanted.contains(&s.name))
            .map(|s| SlotStep::Drop {
                name: s.name.clone(),
            }),
    );
    steps
}

/// Whether a standby keeps a copy of the slot `name`. Pure.
fn kept_on_standby(policy: &SlotPolicy, own: &str, name: &str) -> bool {
    if name == own {
        false
    } else if policy.is_ha(name) {
        policy.high_availability
    } else {
        policy.synchronize_user_slots && !policy.excluded(name)
    }
}

fn plan_standby(
    policy: &SlotPolicy,
    me: &str,
    primary: &[ObservedSlot],
    local: &[ObservedSlot],
    replayed: Option<Lsn>,
) -> Vec<SlotStep> {
    let own = policy.slot_name(me);
    let mut steps = Vec::new();
    for p in primary
        .iter()
        .filter(|p| kept_on_standby(policy, &own, &p.name))
    {
        let Some(position) = p.restart_lsn else {
            continue;
        };
        match local.iter().find(|l| l.name == p.name) {
            None => steps.push(SlotStep::Create {
                name: p.name.clone(),
            }),
            Some(l) => {
                let Some(to) = replayed.map(|r| r.min(position)) else {
                    continue;
                };
                // A slot never moves back (PostgreSQL refuses it).
                if l.restart_lsn.is_none_or(|at| to > at) {
                    steps.push(SlotStep::Advance {
                        name: p.name.clone(),
                        to,
                    });
                }
            }
        }
    }
    for l in local {
        let excluded_user_slot = !policy.is_ha(&l.name) && policy.excluded(&l.name);
        let on_primary = primary.iter().any(|p| p.name == l.name);
        let unwanted = !kept_on_standby(policy, &own, &l.name) || !on_primary;
        if !l.active && !excluded_user_slot && unwanted {
            steps.push(SlotStep::Drop {
                name: l.name.clone(),
            });
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgfed_api::cluster::{
        ReplicationSlotsConfiguration, ReplicationSlotsHaConfiguration,
        SynchronizeReplicasConfiguration,
    };

    fn policy(ha: bool, sync: bool, exclude: &[&str]) -> SlotPolicy {
        SlotPolicy::of(Some(&ReplicationSlotsConfiguration {
            high_availability: Some(ReplicationSlotsHaConfiguration {
                enabled: Some(ha),
                ..Default::default()
            }),
            update_interval: None,
            synchronize_replicas: Some(SynchronizeReplicasConfiguration {
                enabled: Some(sync),
                exclude_patterns: exclude.iter().map(|p| p.to_string()).collect(),
            }),
        }))
        .expect("valid patterns")
    }

    fn slot(name: &str, active: bool, restart: Option<u64>) -> ObservedSlot {
        ObservedSlot {
            name: name.to_string(),
            active,
            restart_lsn: restart.map(Lsn),
        }
    }

    fn create(name: &str) -> SlotStep {
        SlotStep::Create { name: name.into() }
    }
    fn drop(name: &str) -> SlotStep {
        SlotStep::Drop { name: name.into() }
    }
    fn advance(name: &str, to: u64) -> SlotStep {
        SlotStep::Advance {
            name: name.into(),
            to: Lsn(to),
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn slot_names_hold_only_what_postgres_allows() {
        for (prefix, instance, want) in [
            ("_pgfed_", "pg-2", "_pgfed_pg_2"),
            ("_pgfed_", "Pg.One-3", "_pgfed_pg_one_3"),
            ("_cnpg_", "a_b", "_cnpg_a_b"),
        ] {
            assert_eq!(super::super::slot_name(prefix, instance), want);
        }
    }

    #[test]
    fn the_primary_keeps_a_slot_for_every_other_listed_instance() {
        let on = policy(true, true, &[]);
        let off = policy(false, true, &[]);
        let abc = names(&["pg-a", "pg-b", "pg-c"]);
        let ab = names(&["pg-a", "pg-b"]);
        // (policy, instances, local slots, steps)
        type Case<'a> = (
            &'a SlotPolicy,
            &'a [String],
            Vec<ObservedSlot>,
            Vec<SlotStep>,
        );
        let cases: Vec<Case> = vec![
            (
                &on,
                &abc,
                vec![],
                vec![create("_pgfed_pg_b"), create("_pgfed_pg_c")],
            ),
            (
                &on,
                &abc,
                vec![
                    slot("_pgfed_pg_b", true, Some(9)),
                    slot("user", false, None),
                ],
                vec![create("_pgfed_pg_c")],
            ),
            // c removed: its slot goes; the user's slot stays.
            (
                &on,
                &ab,
                vec![
                    slot("_pgfed_pg_b", true, Some(9)),
                    slot("_pgfed_pg_c", false, Some(5)),
                    slot("user", false, None),
                ],
                vec![drop("_pgfed_pg_c")],
            ),
            // A promoted standby drops the copy of its own slot.
            (
                &on,
                &ab,
                vec![
                    slot("_pgfed_pg_a", false, Some(3)),
                    slot("_pgfed_pg_b", false, Some(3)),
                ],
                vec![drop("_pgfed_pg_a")],
            ),
            // Still streaming: kept until its standby stops.
            (
                &on,
                &ab,
                vec![slot("_pgfed_pg_c", true, Some(5))],
                vec![create("_pgfed_pg_b")],
            ),
            // Unknown instances: nothing created, nothing dropped.
            (&on, &[], vec![slot("_pgfed_pg_c", false, Some(5))], vec![]),
            // HA off: every inactive HA slot goes, never a user's.
            (
                &off,
                &abc,
                vec![
                    slot("_pgfed_pg_b", false, Some(9)),
                    slot("_pgfed_pg_c", true, Some(9)),
                    slot("user", false, None),
                ],
                vec![drop("_pgfed_pg_b")],
            ),
        ];
        for (i, (policy, instances, local, want)) in cases.into_iter().enumerate() {
            let got = plan(
                policy,
                "pg-a",
                &Observed::Primary {
                    instances,
                    local: &local,
                },
            );
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn standbys_copy_the_primarys_slots_up_to_their_replay_position() {
        let on = policy(true, true, &["^keep_out", "^tmp_"]);
        let no_users = policy(true, false, &[]);
        let off = policy(false, true, &[]);
        let primary = vec![
            slot("_pgfed_pg_b", true, Some(100)),
            slot("_pgfed_pg_c", false, Some(80)),
            slot("user", false, Some(90)),
            slot("keep_out_1", false, Some(90)),
            slot("never_used", false, None),
        ];
        // (policy, local slots, replayed, steps)
        type Case<'a> = (
            &'a SlotPolicy,
            Vec<ObservedSlot>,
            Option<u64>,
            Vec<SlotStep>,
        );
        let cases: Vec<Case> = vec![
            // Nothing yet: created (not the standby's own, not excluded, not the unreserved).
            (
                &on,
                vec![],
                Some(120),
                vec![create("_pgfed_pg_c"), create("user")],
            ),
            // Behind the primary: advanced to the primary's position.
            (
                &on,
                vec![
                    slot("_pgfed_pg_c", false, Some(50)),
                    slot("user", false, Some(90)),
                ],
                Some(120),
                vec![advance("_pgfed_pg_c", 80)],
            ),
            // The standby replayed less than the primary's slot: capped at its replay.
            (
                &on,
                vec![
                    slot("_pgfed_pg_c", false, Some(50)),
                    slot("user", false, Some(60)),
                ],
                Some(70),
                vec![advance("_pgfed_pg_c", 70), advance("user", 70)],
            ),
            // Never backwards; no replay position known: no advance.
            (
                &on,
                vec![
                    slot("_pgfed_pg_c", false, Some(85)),
                    slot("user", false, Some(60)),
                ],
                None,
                vec![],
            ),
            // Gone from the primary, or the standby's own: dropped; excluded user slots and
            // active ones stay.
            (
                &on,
                vec![
                    slot("_pgfed_pg_b", false, Some(10)),
                    slot("_pgfed_pg_c", false, Some(80)),
                    slot("_pgfed_pg_d", false, Some(10)),
                    slot("user", false, Some(90)),
                    slot("gone", false, Some(10)),
                    slot("gone_but_active", true, Some(10)),
                    slot("tmp_local", false, Some(10)),
                ],
                Some(80),
                vec![drop("_pgfed_pg_b"), drop("_pgfed_pg_d"), drop("gone")],
            ),
            // synchronizeReplicas off: HA slots only, copied user slots dropped.
            (
                &no_users,
                vec![slot("user", false, Some(90))],
                Some(120),
                vec![create("_pgfed_pg_c"), drop("user")],
            ),
            // HA off: no HA slot kept.
            (
                &off,
                vec![slot("_pgfed_pg_c", false, Some(80))],
                Some(120),
                vec![create("user"), create("keep_out_1"), drop("_pgfed_pg_c")],
            ),
        ];
        for (i, (policy, local, replayed, want)) in cases.into_iter().enumerate() {
            let got = plan(
                policy,
                "pg-b",
                &Observed::Standby {
                    primary: &primary,
                    local: &local,
                    replayed: replayed.map(Lsn),
                },
            );
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn an_invalid_exclude_pattern_is_named_by_its_position() {
        let err = SlotPolicy::of(Some(&ReplicationSlotsConfiguration {
            synchronize_replicas: Some(SynchronizeReplicasConfiguration {
                enabled: Some(true),
                exclude_patterns: names(&["^ok$", "(unclosed"]),
            }),
            ..Default::default()
        }))
        .expect_err("invalid");
        assert!(
            err.to_string()
                .starts_with("replicationSlots.synchronizeReplicas.excludePatterns[1]:"),
            "{err}"
        );
    }
}
