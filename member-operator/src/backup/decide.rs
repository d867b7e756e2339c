//! The next step of a Backup, decided purely from what was observed: the Backup itself, its
//! Cluster (or its absence), the instances and, once an instance was asked, what its manager says
//! about the backup. A completed or failed Backup is never run again; a Backup whose Cluster,
//! pod or manager session is gone fails with the reason instead of waiting for ever.

use super::target::{Candidate, choose};
use pgfed_api::backup::{BackupSpec, BackupStatus, backup_phase};
use pgfed_api::cluster::Cluster;
use pgfed_api::common::{BackupMethod, BackupTarget};
use pgfed_api::instance::{BackupPhase, BackupProgress};
use pgfed_api::lsn::{DEFAULT_WAL_SEGMENT_SIZE, Lsn, WalSegmentName};
use pgfed_api::plugins::{BARMAN_CLOUD, MissingObjectStore, backup_plugin};

/// What the manager of the instance taking the backup said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Its record of the backup.
    Found(Box<BackupProgress>),
    /// It knows no backup of that name: it runs in another session (it restarted).
    Unknown {
        /// Its current session.
        session_id: String,
    },
    /// It did not answer.
    Unreachable(String),
}

/// What to do with a Backup now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// It ended (completed or failed): nothing, ever.
    Ended,
    /// It cannot be taken: fail it with the reason.
    Fail(String),
    /// No instance can take it now: it stays pending, with the reason.
    Wait(String),
    /// Record this instance as the one taking it (phase `started`), before asking it, so that
    /// a later reconcile asks the same instance and never a second one.
    Choose(String),
    /// Ask this instance's manager to start it (idempotent by the Backup's name).
    Request(String),
    /// Copy the manager's progress into the status; `switch_wal`: the backup waits for its last
    /// segment from the primary, which is asked to switch segments.
    Follow {
        /// The manager's record.
        progress: Box<BackupProgress>,
        /// Ask the primary to switch WAL segments.
        switch_wal: bool,
    },
    /// The manager did not answer: try again later.
    Retry(String),
}

/// Everything the decision looks at.
pub struct View<'a> {
    /// The Backup's spec.
    pub spec: &'a BackupSpec,
    /// Its status.
    pub status: Option<&'a BackupStatus>,
    /// Its Cluster (effective: plugin-backed stores filled in), None when it does not exist.
    pub cluster: Option<&'a Cluster>,
    /// An ObjectStore the Cluster names that does not exist.
    pub missing_store: Option<&'a MissingObjectStore>,
    /// The Cluster's instances.
    pub candidates: &'a [Candidate<'a>],
    /// Whether the pod of this name exists and is not being deleted.
    pub pod_present: &'a dyn Fn(&str) -> bool,
    /// The manager's answer about this backup, when an instance was asked.
    pub probe: Option<&'a Probe>,
}

/// The reason a Backup of `method` is refused, when it is.
pub fn refused_method(spec: &BackupSpec) -> Option<String> {
    match spec.method.unwrap_or(BackupMethod::BarmanObjectStore) {
        BackupMethod::BarmanObjectStore => (spec.online == Some(false)).then(|| {
            "offline backups are only possible with method volumeSnapshot; remove spec.online \
             or set it to true"
                .to_string()
        }),
        BackupMethod::VolumeSnapshot => Some(
            "method volumeSnapshot is not supported yet: use method barmanObjectStore".to_string(),
        ),
        // The Barman Cloud plugin's backup is the in-tree one, into the store of the Cluster's
        // plugin entry (the effective Cluster carries it as `backup.barmanObjectStore`).
        BackupMethod::Plugin => match &spec.plugin_configuration {
            Some(p) if p.name == BARMAN_CLOUD => (spec.online == Some(false)).then(|| {
                "offline backups are only possible with method volumeSnapshot; remove spec.online \
                 or set it to true"
                    .to_string()
            }),
            Some(p) => Some(format!(
                "plugin {:?} is not served by pgfed; pgfed serves {BARMAN_CLOUD}",
                p.name
            )),
            None => Some(format!(
                "method plugin needs pluginConfiguration naming {BARMAN_CLOUD}"
            )),
        },
    }
}

fn current_primary(cluster: &Cluster) -> Option<&str> {
    cluster
        .status
        .as_ref()
        .and_then(|s| s.current_primary.as_deref())
}

/// Whether the primary, at `primary_lsn`, still writes the segment `end_wal` a standby's backup
/// waits for (then it must switch segments for the backup to end); unknown LSN: assume so.
/// Before the standby knows its end segment, no switch yet: one switch after it suffices,
/// instead of a new segment at every look. Pure.
pub fn primary_still_writes(end_wal: Option<&str>, primary_lsn: Option<&str>) -> bool {
    let Some(end) = end_wal.and_then(|w| WalSegmentName::parse(w, DEFAULT_WAL_SEGMENT_SIZE).ok())
    else {
        return false;
    };
    match primary_lsn.and_then(|l| l.parse::<Lsn>().ok()) {
        Some(lsn) => lsn.0 < end.next().start_lsn().0,
        None => true,
    }
}

/// The next step. Pure.
pub fn decide(view: &View) -> Decision {
    let status = view.status.cloned().unwrap_or_default();
    if matches!(
        status.phase.as_deref(),
        Some(backup_phase::COMPLETED | backup_phase::FAILED)
    ) {
        return Decision::Ended;
    }
    if let Some(reason) = refused_method(view.spec) {
        return Decision::Fail(reason);
    }
    let cluster_name = &view.spec.cluster.name;
    let Some(cluster) = view.cluster else {
        return Decision::Fail(format!("Cluster {cluster_name} does not exist"));
    };
    let instance = status.instance_id.as_ref();
    let asked = instance.and_then(|i| i.pod_name.as_deref()).is_some();
    if view.spec.method == Some(BackupMethod::Plugin) && backup_plugin(&cluster.spec).is_none() {
        return Decision::Fail(format!(
            "Cluster {cluster_name} has no enabled {BARMAN_CLOUD} entry in spec.plugins: method \
             plugin backs up into that entry's ObjectStore"
        ));
    }
    if let (false, Some(missing)) = (asked, view.missing_store) {
        // The user may be creating the store right now; the Cluster itself waits for it too.
        return Decision::Wait(format!(
            "Cluster {cluster_name} cannot be backed up yet: {missing}"
        ));
    }
    let configured = cluster
        .spec
        .backup
        .as_ref()
        .is_some_and(|b| b.barman_object_store.is_some());
    if !configured {
        return Decision::Fail(format!(
            "Cluster {cluster_name} has no backup.barmanObjectStore: there is nowhere to put \
             the backup"
        ));
    }
    if let Some(pod) = instance.and_then(|i| i.pod_name.as_deref()) {
        if !(view.pod_present)(pod) {
            return Decision::Fail(format!(
                "instance pod {pod} is gone: the backup it was taking is lost"
            ));
        }
        let Some(session) = instance.and_then(|i| i.session_id.as_deref()) else {
            return Decision::Request(pod.to_string());
        };
        return match view.probe {
            Some(Probe::Found(progress)) => {
                let primary_lsn = view
                    .candidates
                    .iter()
                    .find(|c| Some(c.name) == current_primary(cluster))
                    .and_then(|c| c.report)
                    .and_then(|r| r.current_lsn.as_deref());
                Decision::Follow {
                    switch_wal: progress.phase == BackupPhase::Finalizing
                        && progress.from_standby
                        && primary_still_writes(progress.end_wal.as_deref(), primary_lsn),
                    progress: progress.clone(),
                }
            }
            Some(Probe::Unknown { session_id }) => Decision::Fail(format!(
                "the instance manager of {pod} restarted during the backup (session {session}, \
                 now {session_id}): the backup was lost"
            )),
            Some(Probe::Unreachable(e)) => Decision::Retry(e.clone()),
            None => Decision::Retry(format!("the instance manager of {pod} was not asked")),
        };
    }
    let target = view
        .spec
        .target
        .or(cluster.spec.backup.as_ref().and_then(|b| b.target))
        .unwrap_or(BackupTarget::PreferStandby);
    match choose(target, current_primary(cluster), view.candidates) {
        Some(pod) => Decision::Choose(pod.to_string()),
        None => Decision::Wait(match target {
            BackupTarget::Primary => {
                format!("waiting for the primary of Cluster {cluster_name} to run and answer")
            }
            BackupTarget::PreferStandby => format!(
                "waiting for a streaming standby or the primary of Cluster {cluster_name} to \
                 run and answer"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgfed_api::backup::InstanceId;
    use pgfed_api::cluster::{BackupConfiguration, ClusterStatus};
    use pgfed_api::instance::InstanceStatus;

    fn cluster(store: bool, target: Option<BackupTarget>) -> Cluster {
        let mut c = Cluster::new("pg", Default::default());
        c.spec.backup = Some(BackupConfiguration {
            barman_object_store: store.then(Default::default),
            target,
            ..BackupConfiguration::default()
        });
        c.status = Some(ClusterStatus {
            current_primary: Some("pg-1".into()),
            ..ClusterStatus::default()
        });
        c
    }

    fn spec(method: Option<BackupMethod>, online: Option<bool>) -> BackupSpec {
        BackupSpec {
            cluster: pgfed_api::common::LocalObjectReference { name: "pg".into() },
            method,
            online,
            ..BackupSpec::default()
        }
    }

    fn status(phase: &str, pod: Option<&str>, session: Option<&str>) -> BackupStatus {
        BackupStatus {
            phase: Some(phase.into()),
            instance_id: pod.map(|p| InstanceId {
                pod_name: Some(p.into()),
                session_id: session.map(str::to_string),
                ..InstanceId::default()
            }),
            ..BackupStatus::default()
        }
    }

    fn progress(phase: BackupPhase, from_standby: bool) -> BackupProgress {
        BackupProgress {
            name: "b".into(),
            phase,
            from_standby,
            session_id: "s1".into(),
            end_wal: Some("000000010000000000000005".into()),
            ..BackupProgress::default()
        }
    }

    #[test]
    fn the_primary_switches_only_while_it_still_writes_the_segment_waited_for() {
        let end = Some("000000010000000000000005");
        let cases = [
            (end, Some("0/5000100"), true),
            (end, Some("0/5FFFFFF"), true),
            (end, Some("0/6000000"), false),
            (end, Some("0/7000028"), false),
            (end, None, true),
            (None, Some("0/5000100"), false),
            (Some("not a segment"), Some("0/5000100"), false),
        ];
        for (end_wal, lsn, want) in cases {
            assert_eq!(
                primary_still_writes(end_wal, lsn),
                want,
                "{end_wal:?} {lsn:?}"
            );
        }
    }

    #[test]
    fn the_next_step_of_a_backup() {
        let primary = InstanceStatus {
            postgres_running: true,
            is_primary: true,
            ..InstanceStatus::default()
        };
        let standby = InstanceStatus {
            postgres_running: true,
            is_wal_receiver_active: true,
            replay_lsn: Some("0/3000000".into()),
            ..InstanceStatus::default()
        };
        let both = [
            Candidate {
                name: "pg-1",
                ready: true,
                report: Some(&primary),
            },
            Candidate {
                name: "pg-2",
                ready: true,
                report: Some(&standby),
            },
        ];
        let none: [Candidate; 0] = [];
        let present = |p: &str| p == "pg-1" || p == "pg-2";
        let with_store = cluster(true, None);
        let primary_default = cluster(true, Some(BackupTarget::Primary));
        let without_store = cluster(false, None);
        let plain = spec(None, None);
        let to_primary = BackupSpec {
            target: Some(BackupTarget::Primary),
            ..plain.clone()
        };
        let found_finalizing = Probe::Found(Box::new(progress(BackupPhase::Finalizing, true)));
        let found_primary_finalizing =
            Probe::Found(Box::new(progress(BackupPhase::Finalizing, false)));
        let unknown = Probe::Unknown {
            session_id: "s2".into(),
        };
        let unreachable = Probe::Unreachable("timeout".into());
        type Case<'a> = (
            &'a str,
            &'a BackupSpec,
            Option<BackupStatus>,
            Option<&'a Cluster>,
            &'a [Candidate<'a>],
            Option<&'a Probe>,
            Decision,
        );
        // The same, with the ObjectStore found missing.
        type MissingCase<'a> = (
            &'a str,
            &'a BackupSpec,
            Option<BackupStatus>,
            &'a Cluster,
            Decision,
        );
        let volume = spec(Some(BackupMethod::VolumeSnapshot), None);
        let plugin_named = |name: &str| BackupSpec {
            plugin_configuration: Some(pgfed_api::common::BackupPluginConfiguration {
                name: name.into(),
                ..Default::default()
            }),
            ..spec(Some(BackupMethod::Plugin), None)
        };
        let plugin = plugin_named(BARMAN_CLOUD);
        let other_plugin = plugin_named("cnpg-i-pgbackrest.example");
        let unnamed_plugin = spec(Some(BackupMethod::Plugin), None);
        // A Cluster whose Barman Cloud plugin entry was resolved into its store.
        let mut plugin_cluster = cluster(true, None);
        plugin_cluster.spec.plugins = vec![pgfed_api::common::PluginConfiguration {
            name: BARMAN_CLOUD.into(),
            is_wal_archiver: Some(true),
            ..Default::default()
        }];
        let mut unresolved = plugin_cluster.clone();
        unresolved.spec.backup = None;
        let mut disabled = plugin_cluster.clone();
        disabled.spec.plugins[0].enabled = Some(false);
        disabled.spec.backup = None;
        let missing = MissingObjectStore {
            field: "spec.plugins[0].parameters.barmanObjectName".into(),
            name: "minio-store".into(),
        };
        let offline = spec(None, Some(false));
        let no_plugin = Decision::Fail("Cluster pg has no enabled barman-cloud.cloudnative-pg.io entry in spec.plugins: method plugin backs up into that entry's ObjectStore".into());
        let cases: Vec<Case> = vec![
            ("completed: never again", &plain, Some(status("completed", Some("pg-2"), Some("s1"))), Some(&with_store), &both, None, Decision::Ended),
            ("failed: never again", &plain, Some(status("failed", None, None)), None, &none, None, Decision::Ended),
            ("volume snapshots are refused with the reason", &volume, None, Some(&with_store), &both, None,
                Decision::Fail("method volumeSnapshot is not supported yet: use method barmanObjectStore".into())),
            ("method plugin backs up into the plugin entry's store", &plugin, None, Some(&plugin_cluster), &both, None,
                Decision::Choose("pg-2".into())),
            ("method barmanObjectStore on a plugin cluster uses the same store", &plain, None, Some(&plugin_cluster), &both, None,
                Decision::Choose("pg-2".into())),
            ("method plugin on a cluster without the plugin", &plugin, None, Some(&with_store), &both, None,
                no_plugin.clone()),
            ("method plugin on a cluster whose plugin is disabled", &plugin, None, Some(&disabled), &both, None,
                no_plugin.clone()),
            ("another plugin (admission bypassed)", &other_plugin, None, Some(&plugin_cluster), &both, None,
                Decision::Fail("plugin \"cnpg-i-pgbackrest.example\" is not served by pgfed; pgfed serves barman-cloud.cloudnative-pg.io".into())),
            ("method plugin without a plugin (admission bypassed)", &unnamed_plugin, None, Some(&plugin_cluster), &both, None,
                Decision::Fail("method plugin needs pluginConfiguration naming barman-cloud.cloudnative-pg.io".into())),
            ("offline object store backups are refused", &offline, None, Some(&with_store), &both, None,
                Decision::Fail("offline backups are only possible with method volumeSnapshot; remove spec.online or set it to true".into())),
            ("a missing cluster fails it", &plain, None, None, &none, None,
                Decision::Fail("Cluster pg does not exist".into())),
            ("a cluster deleted while it ran fails it", &plain, Some(status("running", Some("pg-2"), Some("s1"))), None, &none, None,
                Decision::Fail("Cluster pg does not exist".into())),
            ("a cluster without an object store fails it", &plain, None, Some(&without_store), &both, None,
                Decision::Fail("Cluster pg has no backup.barmanObjectStore: there is nowhere to put the backup".into())),
            ("new: prefer-standby by default chooses the standby", &plain, None, Some(&with_store), &both, None, Decision::Choose("pg-2".into())),
            ("new: the Backup's target wins", &to_primary, None, Some(&with_store), &both, None, Decision::Choose("pg-1".into())),
            ("new: the cluster's target is the default", &plain, Some(status("pending", None, None)), Some(&primary_default), &both, None, Decision::Choose("pg-1".into())),
            ("new: nothing can take it yet", &plain, None, Some(&with_store), &none, None,
                Decision::Wait("waiting for a streaming standby or the primary of Cluster pg to run and answer".into())),
            ("chosen, not asked yet (or the answer was lost): ask the same instance", &plain, Some(status("started", Some("pg-2"), None)), Some(&with_store), &both, None, Decision::Request("pg-2".into())),
            ("the chosen pod is gone", &plain, Some(status("running", Some("pg-3"), Some("s1"))), Some(&with_store), &both, None,
                Decision::Fail("instance pod pg-3 is gone: the backup it was taking is lost".into())),
            ("the chosen pod is gone before it was asked", &plain, Some(status("started", Some("pg-3"), None)), Some(&with_store), &both, None,
                Decision::Fail("instance pod pg-3 is gone: the backup it was taking is lost".into())),
            ("running on a standby, waiting for the last segment: switch", &plain, Some(status("running", Some("pg-2"), Some("s1"))), Some(&with_store), &both, Some(&found_finalizing),
                Decision::Follow { progress: Box::new(progress(BackupPhase::Finalizing, true)), switch_wal: true }),
            ("on the primary pg_backup_stop switches itself", &plain, Some(status("running", Some("pg-1"), Some("s1"))), Some(&with_store), &both, Some(&found_primary_finalizing),
                Decision::Follow { progress: Box::new(progress(BackupPhase::Finalizing, false)), switch_wal: false }),
            ("the manager restarted: lost", &plain, Some(status("running", Some("pg-2"), Some("s1"))), Some(&with_store), &both, Some(&unknown),
                Decision::Fail("the instance manager of pg-2 restarted during the backup (session s1, now s2): the backup was lost".into())),
            ("the manager does not answer: retry", &plain, Some(status("running", Some("pg-2"), Some("s1"))), Some(&with_store), &both, Some(&unreachable),
                Decision::Retry("timeout".into())),
        ];
        let decide_on =
            |spec, status: Option<BackupStatus>, cluster, missing_store, candidates, probe| {
                decide(&View {
                    spec,
                    status: status.as_ref(),
                    cluster,
                    missing_store,
                    candidates,
                    pod_present: &present,
                    probe,
                })
            };
        for (what, spec, status, cluster, candidates, probe, want) in cases {
            assert_eq!(
                decide_on(spec, status, cluster, None, candidates, probe),
                want,
                "{what}"
            );
        }
        let missing_cases: Vec<MissingCase> = vec![
            ("a new backup waits for the store", &plugin, None, &unresolved,
                Decision::Wait("Cluster pg cannot be backed up yet: spec.plugins[0].parameters.barmanObjectName: ObjectStore \"minio-store\" does not exist in the Cluster's namespace".into())),
            ("a started backup no longer has a store", &plugin, Some(status("running", Some("pg-2"), Some("s1"))), &unresolved,
                Decision::Fail("Cluster pg has no backup.barmanObjectStore: there is nowhere to put the backup".into())),
        ];
        for (what, spec, status, cluster, want) in missing_cases {
            let got = decide_on(spec, status, Some(cluster), Some(&missing), &both, None);
            assert_eq!(got, want, "{what}");
        }
    }
}
