//! What the operator makes of a cluster's Database objects. Pure: which objects the primary acts
//! on, what each object's status should say, and whether its finalizer goes on or comes off.
//!
//! Nothing is ever dropped because of a mistake: the finalizer that lets a deleted object drop
//! its database is only there with `databaseReclaimPolicy: delete`, only the object that won a
//! database is handed over for a drop, and a deleted object whose database cannot be dropped
//! (no cluster, a replica cluster, a losing object) lets go without dropping anything.

use kube::ResourceExt;
use pgfed_api::common::ReclaimPolicy;
use pgfed_api::database::{
    Database, DatabaseReport, DatabaseStatus, ManagedDatabase, ManagedObjectStatus,
};
use std::collections::BTreeMap;

/// The finalizer an object with `databaseReclaimPolicy: delete` carries until its database is
/// dropped.
pub const FINALIZER: &str = "pgfed.io/delete-database";

/// What the operator makes of one Database object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Handed to the primary's instance manager.
    Managed,
    /// Not handed over: an older object names the same database in the cluster.
    Conflict {
        /// The older object.
        with: String,
    },
    /// The cluster is a replica cluster: its databases are its source's, nothing is applied.
    ReplicaCluster,
    /// The cluster does not exist (or is being deleted).
    ClusterMissing,
    /// Being deleted with its database kept (`databaseReclaimPolicy: retain`): nothing to do.
    Released,
}

/// The Cluster an object names, as the Database controller finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterState {
    /// Absent, or being deleted.
    Missing,
    /// A replica cluster.
    Replica,
    /// A cluster whose primary can act.
    Present,
}

/// The objects of one cluster the primary acts on, and a verdict for every object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    /// For the managers' configuration, oldest object first.
    pub managed: Vec<ManagedDatabase>,
    /// By object name.
    pub verdicts: BTreeMap<String, Verdict>,
}

fn deleting(db: &Database) -> bool {
    db.metadata.deletion_timestamp.is_some()
}

fn reclaims(db: &Database) -> bool {
    db.spec.database_reclaim_policy == Some(ReclaimPolicy::Delete)
}

/// Chooses among the Database objects naming one cluster (all of them, in any order): an object
/// being deleted with `retain` is released; of two naming one database the older (by creation
/// time, then name) wins and the newer is refused; in a replica cluster none is acted on. Pure.
pub fn select(databases: &[Database], replica_cluster: bool) -> Selection {
    let mut ordered: Vec<&Database> = databases.iter().collect();
    ordered.sort_by_key(|d| (d.metadata.creation_timestamp.clone(), d.name_any()));
    let mut out = Selection::default();
    let mut owners: BTreeMap<&str, String> = BTreeMap::new();
    for db in ordered {
        let name = db.name_any();
        let verdict = if deleting(db) && !reclaims(db) {
            Verdict::Released
        } else if replica_cluster {
            Verdict::ReplicaCluster
        } else if let Some(with) = owners.get(db.spec.name.as_str()) {
            Verdict::Conflict { with: with.clone() }
        } else {
            owners.insert(db.spec.name.as_str(), name.clone());
            out.managed.push(ManagedDatabase {
                object: name.clone(),
                uid: db.metadata.uid.clone(),
                generation: db.metadata.generation,
                reclaim: deleting(db),
                spec: db.spec.clone(),
            });
            Verdict::Managed
        };
        out.verdicts.insert(name, verdict);
    }
    out
}

/// The verdict on one object as the Database controller sees it, without the cluster's other
/// objects (conflicts are the Cluster controller's to find). Pure.
pub fn verdict_alone(db: &Database, cluster: ClusterState) -> Verdict {
    match cluster {
        _ if deleting(db) && !reclaims(db) => Verdict::Released,
        ClusterState::Missing => Verdict::ClusterMissing,
        ClusterState::Replica => Verdict::ReplicaCluster,
        ClusterState::Present => Verdict::Managed,
    }
}

/// The primary's report on `db` (same name and uid), if it has one.
pub fn report_of<'a>(db: &Database, reports: &'a [DatabaseReport]) -> Option<&'a DatabaseReport> {
    let name = db.name_any();
    reports
        .iter()
        .find(|r| r.object == name && r.uid == db.metadata.uid)
}

/// The status `db` should have, or `None` to leave it as it is. A managed object takes the
/// primary's report of its current generation; until there is one it says it waits, except when
/// this generation was reported already (a new primary has not reported yet: what the last one
/// said stands). Pure.
pub fn desired_status(
    db: &Database,
    verdict: &Verdict,
    report: Option<&DatabaseReport>,
) -> Option<DatabaseStatus> {
    let generation = db.metadata.generation;
    let said = |message: String| DatabaseStatus {
        object: ManagedObjectStatus {
            observed_generation: generation,
            applied: Some(false),
            message: Some(message),
        },
        ..DatabaseStatus::default()
    };
    match verdict {
        Verdict::Released => None,
        Verdict::Conflict { with } => Some(said(format!(
            "spec.name: the database {:?} is already managed by Database {with:?}, which is older; this one is not applied",
            db.spec.name
        ))),
        Verdict::ReplicaCluster => Some(said(format!(
            "the cluster {:?} is a replica cluster: its databases are its source's; this one is applied once the cluster is promoted",
            db.spec.cluster.name
        ))),
        Verdict::ClusterMissing => Some(said(format!(
            "spec.cluster: the cluster {:?} does not exist",
            db.spec.cluster.name
        ))),
        Verdict::Managed => {
            let old = db.status.clone().unwrap_or_default();
            match report {
                Some(r) if r.status.object.observed_generation == generation => {
                    Some(r.status.clone())
                }
                _ if old.object.observed_generation == generation => None,
                _ => Some(DatabaseStatus {
                    object: ManagedObjectStatus {
                        observed_generation: old.object.observed_generation,
                        applied: None,
                        message: Some(format!(
                            "waiting for the primary to apply generation {}",
                            generation.unwrap_or_default()
                        )),
                    },
                    ..DatabaseStatus::default()
                }),
            }
        }
    }
}

/// A change of the finalizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalizerChange {
    /// Put it on: the object's deletion drops its database.
    Add,
    /// Take it off: nothing (more) to drop.
    Remove,
}

/// Whether the finalizer goes on or comes off. A live object carries it exactly while its
/// reclaim policy is `delete`; a deleted one keeps it until the primary reported its database
/// dropped, or lets go at once when there is nothing it could drop. `report` is the primary's,
/// when the caller has it. Pure.
pub fn finalizer_change(
    db: &Database,
    verdict: &Verdict,
    report: Option<&DatabaseReport>,
) -> Option<FinalizerChange> {
    let has = db.finalizers().iter().any(|f| f == FINALIZER);
    if !deleting(db) {
        return match (reclaims(db), has) {
            (true, false) => Some(FinalizerChange::Add),
            (false, true) => Some(FinalizerChange::Remove),
            _ => None,
        };
    }
    let done = match verdict {
        Verdict::Managed => {
            report.is_some_and(|r| !r.exists && r.status.object.applied == Some(true))
        }
        _ => true,
    };
    (has && done).then_some(FinalizerChange::Remove)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    /// A Database object as the API server returns it, created at second `created`.
    fn db(object: &str, database: &str, created: i64, f: impl FnOnce(&mut Database)) -> Database {
        let mut d: Database = serde_json::from_value(serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "Database",
            "metadata": {"name": object, "namespace": "ns", "uid": format!("uid-{object}"),
                         "generation": 2},
            "spec": {"cluster": {"name": "pg"}, "name": database, "owner": "app"}
        }))
        .expect("database");
        d.metadata.creation_timestamp = Some(Time(
            k8s_openapi::jiff::Timestamp::from_second(created).expect("time"),
        ));
        f(&mut d);
        d
    }

    fn delete_policy(d: &mut Database) {
        d.spec.database_reclaim_policy = Some(ReclaimPolicy::Delete);
    }

    fn being_deleted(d: &mut Database) {
        d.metadata.deletion_timestamp = d.metadata.creation_timestamp.clone();
    }

    fn finalized(d: &mut Database) {
        d.metadata.finalizers = Some(vec![FINALIZER.to_string()]);
    }

    fn report(d: &Database, generation: i64, exists: bool, applied: bool) -> DatabaseReport {
        DatabaseReport {
            object: d.name_any(),
            uid: d.metadata.uid.clone(),
            exists,
            status: DatabaseStatus {
                object: ManagedObjectStatus {
                    observed_generation: Some(generation),
                    applied: Some(applied),
                    message: (!applied).then(|| "spec.owner: ALTER DATABASE: …".to_string()),
                },
                ..DatabaseStatus::default()
            },
        }
    }

    #[test]
    fn the_older_of_two_objects_for_one_database_wins() {
        let all = vec![
            db("newer", "shop", 200, |_| {}),
            db("other", "stock", 300, |_| {}),
            db("older", "shop", 100, |_| {}),
            // Same second: the name decides.
            db("b-same", "tie", 50, |_| {}),
            db("a-same", "tie", 50, |_| {}),
        ];
        let got = select(&all, false);
        let managed: Vec<&str> = got.managed.iter().map(|m| m.object.as_str()).collect();
        assert_eq!(managed, ["a-same", "older", "other"]);
        assert_eq!(
            got.verdicts["newer"],
            Verdict::Conflict {
                with: "older".into()
            }
        );
        assert_eq!(
            got.verdicts["b-same"],
            Verdict::Conflict {
                with: "a-same".into()
            }
        );
        assert_eq!(got.verdicts["older"], Verdict::Managed);
        let entry = &got.managed[1];
        assert_eq!(entry.uid.as_deref(), Some("uid-older"));
        assert_eq!(entry.generation, Some(2));
        assert!(!entry.reclaim);
        let status = desired_status(&all[0], &got.verdicts["newer"], None).expect("status");
        assert_eq!(status.object.applied, Some(false));
        assert_eq!(
            status.object.message.as_deref(),
            Some(
                "spec.name: the database \"shop\" is already managed by Database \"older\", which is older; this one is not applied"
            )
        );
    }

    #[test]
    fn deleted_objects_release_their_database_or_hand_it_over_for_a_drop() {
        let all = vec![
            // Deleted, kept: the newer object takes the database at once.
            db("kept", "shop", 100, being_deleted),
            db("next", "shop", 200, |_| {}),
            // Deleted, reclaimed: handed over with `reclaim` and still holds the name.
            db("dropped", "stock", 100, |d| {
                delete_policy(d);
                being_deleted(d);
            }),
            db("waiting", "stock", 200, |_| {}),
        ];
        let got = select(&all, false);
        assert_eq!(got.verdicts["kept"], Verdict::Released);
        assert_eq!(got.verdicts["next"], Verdict::Managed);
        assert_eq!(got.verdicts["dropped"], Verdict::Managed);
        assert!(matches!(got.verdicts["waiting"], Verdict::Conflict { .. }));
        let reclaimed: Vec<(&str, bool)> = got
            .managed
            .iter()
            .map(|m| (m.object.as_str(), m.reclaim))
            .collect();
        assert_eq!(reclaimed, [("dropped", true), ("next", false)]);
    }

    #[test]
    fn nothing_is_handed_over_in_a_replica_cluster() {
        let all = vec![db("a", "shop", 1, |_| {})];
        let got = select(&all, true);
        assert!(got.managed.is_empty());
        assert_eq!(got.verdicts["a"], Verdict::ReplicaCluster);
        let status = desired_status(&all[0], &Verdict::ReplicaCluster, None).expect("status");
        assert_eq!(status.object.applied, Some(false));
        assert!(
            status
                .object
                .message
                .is_some_and(|m| m.contains("replica cluster"))
        );
    }

    #[test]
    fn the_status_follows_the_report_of_the_current_generation() {
        let fresh = db("a", "shop", 1, |_| {});
        let reported_before = db("a", "shop", 1, |d| {
            d.status = Some(report(d, 2, true, true).status);
        });
        let older_status = db("a", "shop", 1, |d| {
            d.status = Some(report(d, 1, true, false).status);
        });
        let waiting = |og: Option<i64>| DatabaseStatus {
            object: ManagedObjectStatus {
                observed_generation: og,
                applied: None,
                message: Some("waiting for the primary to apply generation 2".into()),
            },
            ..DatabaseStatus::default()
        };
        let cases = [
            (
                "reported at this generation: the report",
                &fresh,
                Some(report(&fresh, 2, true, false)),
                Some(report(&fresh, 2, true, false).status),
            ),
            (
                "nothing reported yet: waiting",
                &fresh,
                None,
                Some(waiting(None)),
            ),
            (
                "reported at an older generation: waiting, the last generation kept",
                &older_status,
                Some(report(&older_status, 1, true, false)),
                Some(waiting(Some(1))),
            ),
            (
                "this generation reported before, no report now (new primary): left alone",
                &reported_before,
                None,
                None,
            ),
        ];
        for (what, d, r, want) in cases {
            assert_eq!(
                desired_status(d, &Verdict::Managed, r.as_ref()),
                want,
                "{what}"
            );
        }
        let missing = desired_status(&fresh, &Verdict::ClusterMissing, None).expect("status");
        assert_eq!(
            missing.object,
            ManagedObjectStatus {
                observed_generation: Some(2),
                applied: Some(false),
                message: Some("spec.cluster: the cluster \"pg\" does not exist".into()),
            }
        );
        assert_eq!(desired_status(&fresh, &Verdict::Released, None), None);
    }

    #[test]
    fn a_report_of_another_object_of_the_same_name_is_not_taken() {
        let d = db("a", "shop", 1, |_| {});
        let mut other = report(&d, 2, true, true);
        other.uid = Some("uid-of-a-deleted-a".into());
        let reports = [other];
        assert!(report_of(&d, &reports).is_none());
        let ok = [report(&d, 2, true, true)];
        assert!(report_of(&d, &ok).is_some());
    }

    #[test]
    fn the_finalizer_follows_the_policy_and_comes_off_once_nothing_is_left_to_drop() {
        let live = |f: fn(&mut Database)| db("a", "shop", 1, f);
        let gone = |f: fn(&mut Database)| {
            db("a", "shop", 1, move |d| {
                f(d);
                being_deleted(d);
            })
        };
        let d = gone(|d| {
            delete_policy(d);
            finalized(d);
        });
        let dropped = report(&d, 3, false, true);
        let still_there = report(&d, 3, true, true);
        let drop_failed = report(&d, 3, true, false);
        type Case<'a> = (
            &'a str,
            Database,
            Verdict,
            Option<DatabaseReport>,
            Option<FinalizerChange>,
        );
        let cases: Vec<Case> = vec![
            (
                "live, delete: added",
                live(delete_policy),
                Verdict::Managed,
                None,
                Some(FinalizerChange::Add),
            ),
            (
                "live, delete, has it: nothing",
                live(|d| {
                    delete_policy(d);
                    finalized(d)
                }),
                Verdict::Managed,
                None,
                None,
            ),
            (
                "live, retain: nothing",
                live(|_| {}),
                Verdict::Managed,
                None,
                None,
            ),
            (
                "live, switched to retain: removed",
                live(finalized),
                Verdict::Managed,
                None,
                Some(FinalizerChange::Remove),
            ),
            (
                "live, cluster missing, delete: still added",
                live(delete_policy),
                Verdict::ClusterMissing,
                None,
                Some(FinalizerChange::Add),
            ),
            (
                "deleted, dropped by the primary: removed",
                d.clone(),
                Verdict::Managed,
                Some(dropped),
                Some(FinalizerChange::Remove),
            ),
            (
                "deleted, not dropped yet: kept",
                d.clone(),
                Verdict::Managed,
                Some(still_there),
                None,
            ),
            (
                "deleted, the drop failed: kept",
                d.clone(),
                Verdict::Managed,
                Some(drop_failed),
                None,
            ),
            (
                "deleted, no report: kept",
                d.clone(),
                Verdict::Managed,
                None,
                None,
            ),
            (
                "deleted, the cluster is gone: removed",
                d.clone(),
                Verdict::ClusterMissing,
                None,
                Some(FinalizerChange::Remove),
            ),
            (
                "deleted, replica cluster: removed",
                d.clone(),
                Verdict::ReplicaCluster,
                None,
                Some(FinalizerChange::Remove),
            ),
            (
                "deleted, lost to an older object: removed",
                d.clone(),
                Verdict::Conflict { with: "x".into() },
                None,
                Some(FinalizerChange::Remove),
            ),
            (
                "deleted, retained: removed",
                gone(finalized),
                Verdict::Released,
                None,
                Some(FinalizerChange::Remove),
            ),
            (
                "deleted without it: nothing",
                gone(delete_policy),
                Verdict::Managed,
                None,
                None,
            ),
        ];
        for (what, d, verdict, r, want) in cases {
            assert_eq!(finalizer_change(&d, &verdict, r.as_ref()), want, "{what}");
        }
    }

    #[test]
    fn alone_the_database_controller_sees_the_cluster_and_the_policy() {
        let kept = db("a", "shop", 1, being_deleted);
        let d = db("a", "shop", 1, |_| {});
        assert_eq!(
            verdict_alone(&kept, ClusterState::Present),
            Verdict::Released
        );
        assert_eq!(
            verdict_alone(&d, ClusterState::Missing),
            Verdict::ClusterMissing
        );
        assert_eq!(
            verdict_alone(&d, ClusterState::Replica),
            Verdict::ReplicaCluster
        );
        assert_eq!(verdict_alone(&d, ClusterState::Present), Verdict::Managed);
    }
}
