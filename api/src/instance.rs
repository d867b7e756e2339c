//! The wire contract between the operator and an instance manager: the status document the
//! manager serves on its mutual-TLS port (`GET /pg/status`) and the dynamic settings the operator
//! pushes to it (`PUT /pg/config`). Both sides use these types, so a field renamed on one side is
//! a compile error on the other, not a silently missing value.

use serde::{Deserialize, Serialize};

/// Path of the status document on the manager's status port.
pub const STATUS_PATH: &str = "/pg/status";
/// Path of the dynamic settings on the manager's status port.
pub const CONFIG_PATH: &str = "/pg/config";
/// Path where the operator `PUT`s a new manager binary for an in-place upgrade (the manager
/// replaces its own executable and re-executes it; postgres keeps running).
pub const MANAGER_BINARY_PATH: &str = "/manager/binary";
/// Header of that `PUT` carrying the SHA-256 (lowercase hex) of the body, which the manager checks
/// before installing anything.
pub const MANAGER_HASH_HEADER: &str = "x-pgfed-manager-sha256";
/// Path where the operator `POST`s a request to restart postgres in place (a parameter that only
/// takes effect at start changed; the operator restarts the instances one at a time).
pub const RESTART_PATH: &str = "/pg/restart";
/// Path where the operator `POST`s a [`BackupRequest`] to start a base backup of the instance into
/// the cluster's object store, and `GET`s `/pg/backup/<name>` for its [`BackupProgress`].
pub const BACKUP_PATH: &str = "/pg/backup";
/// Path where the operator `POST`s a request for the primary to switch to a new WAL segment, so the
/// segment ending a standby's backup is archived now rather than at `archive_timeout`.
pub const WAL_SWITCH_PATH: &str = "/pg/wal/switch";

/// One connected standby (pg_stat_replication).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StandbyState {
    /// application_name.
    pub application_name: String,
    /// client_addr.
    pub client_addr: Option<String>,
    /// state (streaming, catchup…).
    pub state: Option<String>,
    /// sent_lsn.
    pub sent_lsn: Option<String>,
    /// flush_lsn.
    pub flush_lsn: Option<String>,
    /// replay_lsn.
    pub replay_lsn: Option<String>,
    /// Bytes between the primary's current LSN and the standby's replay LSN.
    pub replay_lag_bytes: Option<i64>,
    /// replay_lag in seconds.
    pub replay_lag_seconds: Option<f64>,
    /// sync_state.
    pub sync_state: Option<String>,
}

/// pg_stat_archiver.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArchiverState {
    /// archived_count.
    pub archived_count: i64,
    /// last_archived_wal.
    pub last_archived_wal: Option<String>,
    /// failed_count.
    pub failed_count: i64,
    /// last_failed_wal.
    pub last_failed_wal: Option<String>,
    /// last_archived_time (RFC 3339); absent from a manager that predates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_archived_time: Option<String>,
    /// last_failed_time (RFC 3339); absent from a manager that predates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failed_time: Option<String>,
}

/// A replication slot of the instance (`pg_replication_slots`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SlotState {
    /// slot_name.
    pub name: String,
    /// slot_type: `physical` or `logical`.
    #[serde(rename = "type")]
    pub slot_type: String,
    /// A walsender uses it now.
    pub active: bool,
    /// restart_lsn: the oldest WAL the slot keeps; absent while it reserves none.
    pub restart_lsn: Option<String>,
    /// wal_status: `reserved`, `extended`, `unreserved` or `lost`.
    pub wal_status: Option<String>,
}

/// The status document.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct InstanceStatus {
    /// Instance name.
    pub instance_name: String,
    /// False when fenced or down.
    pub postgres_running: bool,
    /// Fenced by configuration.
    pub fenced: bool,
    /// Why this instance fenced itself over the federation's fencing lease
    /// (`spec.replica.fencingLease`): it could not renew the lease within its duration, or the
    /// lease names another holder or a newer epoch. Postgres stays stopped meanwhile; absent
    /// when not fenced that way (`fenced` keeps meaning the configuration's fencing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fenced_by_lease: Option<String>,
    /// Primary (not in recovery).
    pub is_primary: bool,
    /// Current timeline.
    #[serde(rename = "timeLineID")]
    pub timeline_id: Option<u32>,
    /// Database system identifier.
    #[serde(rename = "systemID")]
    pub system_id: Option<String>,
    /// Primary: pg_current_wal_lsn.
    pub current_lsn: Option<String>,
    /// Standby: last received LSN.
    pub received_lsn: Option<String>,
    /// Standby: last replayed LSN.
    pub replay_lsn: Option<String>,
    /// Standby: commit time of the last transaction replayed (`pg_last_xact_replay_timestamp`,
    /// RFC 3339), which dates how far behind its source a replica cluster is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_replay_time: Option<String>,
    /// A WAL receiver is streaming.
    pub is_wal_receiver_active: bool,
    /// pg_stat_wal_receiver.status.
    pub wal_receiver_status: Option<String>,
    /// Connected standbys.
    pub replication_info: Vec<StandbyState>,
    /// Archiver.
    pub archiver: ArchiverState,
    /// A changed parameter needs a restart.
    pub pending_restart: bool,
    /// The pending restart lowers a setting a standby must have at least as high as its primary
    /// (`max_connections`, `max_prepared_transactions`, `max_wal_senders`,
    /// `max_worker_processes`, `max_locks_per_transaction`): the primary must restart first, or a
    /// restarted standby would refuse to start.
    pub pending_restart_lowers_standby_minimum: bool,
    /// WAL files waiting to be archived.
    pub ready_wal_files: usize,
    /// The token of this instance's last demotion, for the operator to publish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demotion_token: Option<String>,
    /// A demotion is under way: postgres stops cleanly, archives its WAL and publishes the token,
    /// then starts as a standby. The operator does not take the stopped server for a failed
    /// primary meanwhile.
    pub demotion_under_way: bool,
    /// Primary only: the outcome of the last reconciliation of `spec.managed.roles`, which the
    /// operator copies into the Cluster's `status.managedRolesStatus`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_roles: Option<crate::cluster::ManagedRolesStatus>,
    /// Primary only: the outcome of the last reconciliation of the configuration's `databases`
    /// (one entry per Database object handed to it), which the operator copies into each
    /// Database's status. Absent on a standby, before the first pass, and from a manager that
    /// predates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub databases: Option<Vec<crate::database::DatabaseReport>>,
    /// The running manager's version (its crate version); empty from a manager that predates
    /// in-place upgrades (it cannot take one).
    pub manager_version: String,
    /// The instance's replication slots (temporary ones left out); empty from a manager that
    /// predates them.
    pub replication_slots: Vec<SlotState>,
    /// SHA-256 (lowercase hex) of the running manager's executable: the operator compares it with
    /// the manager it carries to decide on an in-place upgrade. Empty for a moment after the
    /// manager starts (it digests itself in the background).
    pub manager_hash: String,
    /// What `SHOW synchronous_standby_names` says on this instance: on a primary, the standbys
    /// its commits wait for (the operator builds the failover quorum from it, not from what it
    /// pushed); empty or absent when commits wait for none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synchronous_standby_names: Option<String>,
    /// How this instance last came back as a standby after it had been a primary: rewound,
    /// re-cloned because pg_rewind could not bring it back, or refused (it stays down). The
    /// operator publishes an Event on the Cluster once per report (`time` tells reports apart);
    /// absent when it never had to rejoin, and from a manager that predates the report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejoin: Option<RejoinReport>,
    /// Primary only: the last pass of `backup.retentionPolicy` over the object store; absent
    /// when no policy is set, before the first pass, and from a manager that predates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionReport>,
    /// A replica cluster's designated primary whose own history went past the point where the
    /// source's timeline forked off (a former primary region that wrote WAL the failover never
    /// saw): it cannot replay the source's archive, so postgres stays stopped and the operator
    /// re-seeds the cluster from the source. Absent when it follows its source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diverged_from_source: Option<SourceDivergence>,
}

/// Where a replica cluster's designated primary and its source parted, as its manager found it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SourceDivergence {
    /// The external cluster replayed (`spec.replica.source`).
    pub source: String,
    /// The local timeline (its latest checkpoint's).
    pub local_timeline: u32,
    /// How far the local history reached on that timeline (latest checkpoint, or minimum
    /// recovery point when later).
    #[serde(rename = "localLSN")]
    pub local_lsn: String,
    /// The source's latest timeline.
    pub source_timeline: u32,
    /// The timeline both histories share up to the split.
    pub fork_timeline: u32,
    /// Where the source's history left `forkTimeline`; absent when the source's history does not
    /// contain the local timeline at all.
    #[serde(rename = "forkLSN", default, skip_serializing_if = "Option::is_none")]
    pub fork_lsn: Option<String>,
    /// The source's newest completed base backup a new instance can be restored from and follow
    /// the source's latest timeline with; absent when it has none (the re-seed waits for one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed_backup: Option<String>,
    /// What was found, for people (PostgreSQL's own words when it refused to start).
    pub detail: String,
    /// When it was first found (RFC 3339).
    pub time: String,
}

/// The last pass of the retention policy, as the primary's manager reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RetentionReport {
    /// When the pass ended (RFC 3339).
    pub time: String,
    /// The policy applied (`30d`).
    pub policy: String,
    /// Base backups removed.
    pub removed_backups: u32,
    /// WAL files removed.
    pub removed_wal: u32,
    /// Why the pass removed nothing or stopped part-way (object store unreachable, listing
    /// incomplete, a deletion refused); absent when it went through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What happened when a former primary tried to follow the new primary.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum RejoinKind {
    /// pg_rewind brought it back; it follows the new primary.
    Rewound,
    /// pg_rewind could not bring it back: its data directory was replaced by a fresh copy of the
    /// new primary (what it wrote after the timelines diverged is gone).
    Recloned,
    /// pg_rewind refused in a way a copy must not paper over (the source is another database
    /// system, or an incompatible version): postgres stays down until someone looks.
    RewindRefused,
}

/// The last rejoin of a former primary, as the manager reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RejoinReport {
    /// What happened.
    pub kind: RejoinKind,
    /// Why, in pg_rewind's words where it gave some (never a connection string).
    pub reason: String,
    /// When (RFC 3339): a new time is a new occurrence.
    pub time: String,
}

/// What the operator asks for with `POST /pg/backup`: one base backup for one Backup object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BackupRequest {
    /// Name of the Backup object: the key that makes the request idempotent (a repeated request
    /// for the same name returns the backup already started, never a second one).
    pub name: String,
}

/// Where a backup started by `POST /pg/backup` is (the Backup's phase strings).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum BackupPhase {
    /// Accepted; `pg_backup_start` not returned yet.
    #[default]
    Started,
    /// Copying the data directory and tablespaces.
    Running,
    /// Copy done; waiting for the last WAL segment to be archived.
    Finalizing,
    /// `backup.info` is DONE: the backup is usable.
    Completed,
    /// Failed; `error` says why.
    Failed,
}

impl BackupPhase {
    /// The Backup `status.phase` string of this phase.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupPhase::Started => crate::backup::backup_phase::STARTED,
            BackupPhase::Running => crate::backup::backup_phase::RUNNING,
            BackupPhase::Finalizing => crate::backup::backup_phase::FINALIZING,
            BackupPhase::Completed => crate::backup::backup_phase::COMPLETED,
            BackupPhase::Failed => crate::backup::backup_phase::FAILED,
        }
    }

    /// Whether the backup has ended, well or not.
    pub fn is_final(self) -> bool {
        matches!(self, BackupPhase::Completed | BackupPhase::Failed)
    }
}

/// A backup as the manager that takes it reports it (`POST /pg/backup`, `GET /pg/backup/<name>`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct BackupProgress {
    /// Name of the Backup object.
    pub name: String,
    /// The instance taking it.
    pub instance: String,
    /// The manager's session (new at every start of the manager): the backup lives and dies with it.
    #[serde(rename = "sessionID")]
    pub session_id: String,
    /// Where it is.
    pub phase: BackupPhase,
    /// Barman backup ID (`base/<backupId>/`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    /// The object store's destination path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_path: Option<String>,
    /// The server name (folder) in the object store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// First WAL segment needed to restore it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub begin_wal: Option<String>,
    /// Last WAL segment needed to reach consistency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_wal: Option<String>,
    /// LSN at `pg_backup_start`.
    #[serde(rename = "beginLSN", skip_serializing_if = "Option::is_none")]
    pub begin_lsn: Option<String>,
    /// LSN at `pg_backup_stop`.
    #[serde(rename = "endLSN", skip_serializing_if = "Option::is_none")]
    pub end_lsn: Option<String>,
    /// Timeline the backup starts on.
    #[serde(rename = "timeLineID", skip_serializing_if = "Option::is_none")]
    pub timeline_id: Option<u32>,
    /// PostgreSQL major version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub major_version: Option<i32>,
    /// Whether it was taken on a standby.
    pub from_standby: bool,
    /// When it started (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it ended (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    /// Why it failed (never a credential).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The answer of `GET /pg/backup/<name>` (404) and `POST /pg/backup` (409) when the manager cannot
/// give the backup asked for.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct BackupRefusal {
    /// Why.
    pub error: String,
    /// The manager's current session: a backup started in another session was lost with it.
    #[serde(rename = "sessionID")]
    pub session_id: String,
    /// The backup that is running, when another one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<String>,
}

/// Settings the operator changes while an instance runs, pushed over the status API so they reach
/// the manager within a second instead of through kubelet's volume sync (up to a minute). They
/// override the same settings of the configuration file. `version` orders them: the manager keeps
/// the highest version it has seen (from a push or from the file) and refuses an older one, so a
/// delayed push from a previous operator leader cannot undo a newer decision.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DynamicConfig {
    /// Monotonic version chosen by the operator; higher wins.
    pub version: u64,
    /// The instance that should be the cluster's primary (the Cluster's `status.targetPrimary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_primary: Option<String>,
    /// Postgres kept stopped while the manager keeps running.
    #[serde(default)]
    pub fenced: bool,
    /// The Cluster's `spec.postgresql` (parameters, `pg_hba`, `pg_ident`, …), so a changed
    /// parameter is reloaded within a second; absent: the file's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgresql: Option<crate::cluster::PostgresConfiguration>,
    /// Every instance of the cluster, running or not (the primary keeps a high-availability
    /// replication slot for each of the others).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<String>,
    /// The `synchronous_standby_names` the primary enforces, chosen by the operator among the
    /// instances that can be synchronous; absent: no synchronous replication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronous_standby_names: Option<String>,
    /// The Cluster's `spec.replica` (whether this is a replica cluster, its source, the promotion
    /// token), so a demotion or promotion starts within a second; absent: the file's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<PushedReplica>,
    /// The cluster's Database objects the primary acts on (see `ManagerConfig::databases`), so a
    /// changed object is applied within seconds, not when kubelet syncs the ConfigMap; absent:
    /// the file's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub databases: Option<Vec<crate::database::ManagedDatabase>>,
}

/// `spec.replica` as pushed: present even when the Cluster has none, so removing it is pushed too.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PushedReplica {
    /// `spec.replica`; absent: the Cluster has no replica section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<crate::cluster::ReplicaClusterConfiguration>,
}

impl DynamicConfig {
    /// Whether `self` asks for the same settings as `other`, whatever their versions.
    pub fn same_settings(&self, other: &DynamicConfig) -> bool {
        self.target_primary == other.target_primary
            && self.fenced == other.fenced
            && self.postgresql == other.postgresql
            && self.instances == other.instances
            && self.synchronous_standby_names == other.synchronous_standby_names
            && self.replica == other.replica
            && self.databases == other.databases
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_with_the_manager_field_names() {
        let status = InstanceStatus {
            instance_name: "pg-1".into(),
            postgres_running: true,
            is_primary: true,
            timeline_id: Some(2),
            system_id: Some("7300000000000000001".into()),
            current_lsn: Some("0/3000060".into()),
            replication_info: vec![StandbyState {
                application_name: "pg-2".into(),
                client_addr: None,
                state: Some("streaming".into()),
                sent_lsn: None,
                flush_lsn: None,
                replay_lsn: Some("0/3000060".into()),
                replay_lag_bytes: Some(0),
                replay_lag_seconds: None,
                sync_state: Some("async".into()),
            }],
            replication_slots: vec![SlotState {
                name: "_pgfed_pg_2".into(),
                slot_type: "physical".into(),
                active: true,
                restart_lsn: Some("0/3000060".into()),
                wal_status: Some("reserved".into()),
            }],
            ..InstanceStatus::default()
        };
        let json = serde_json::to_value(&status).expect("serialize");
        assert_eq!(json["timeLineID"], 2);
        assert_eq!(json["replicationSlots"][0]["type"], "physical");
        assert_eq!(json["replicationSlots"][0]["restartLsn"], "0/3000060");
        assert_eq!(json["systemID"], "7300000000000000001");
        assert_eq!(json["replicationInfo"][0]["applicationName"], "pg-2");
        let back: InstanceStatus = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, status);
    }

    #[test]
    fn a_divergence_from_the_source_uses_the_lsn_field_names_of_the_status() {
        let status = InstanceStatus {
            diverged_from_source: Some(SourceDivergence {
                source: "region-b".into(),
                local_timeline: 1,
                local_lsn: "0/6000028".into(),
                source_timeline: 2,
                fork_timeline: 1,
                fork_lsn: Some("0/5000100".into()),
                seed_backup: None,
                detail: "past the fork".into(),
                time: "2026-02-12T10:15:00Z".into(),
            }),
            ..InstanceStatus::default()
        };
        let json = serde_json::to_value(&status).expect("serialize");
        let d = &json["divergedFromSource"];
        assert_eq!(d["localLSN"], "0/6000028");
        assert_eq!(d["forkLSN"], "0/5000100");
        assert!(d.get("seedBackup").is_none(), "{d}");
        let back: InstanceStatus = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, status);
        // Absent when it follows its source.
        let plain = serde_json::to_value(InstanceStatus::default()).expect("serialize");
        assert!(plain.get("divergedFromSource").is_none());
    }

    #[test]
    fn a_status_from_an_older_manager_with_fewer_fields_still_parses() {
        let status: InstanceStatus =
            serde_json::from_str(r#"{"instanceName":"pg-2","postgresRunning":false}"#)
                .expect("deserialize");
        assert_eq!(status.instance_name, "pg-2");
        assert!(!status.is_primary);
    }

    #[test]
    fn backup_progress_uses_the_backup_status_field_names() {
        let progress = BackupProgress {
            name: "nightly".into(),
            instance: "pg-2".into(),
            session_id: "1-abc".into(),
            phase: BackupPhase::Finalizing,
            begin_lsn: Some("0/3000028".into()),
            timeline_id: Some(1),
            ..BackupProgress::default()
        };
        let json = serde_json::to_value(&progress).expect("serialize");
        assert_eq!(json["phase"], "finalizing");
        assert_eq!(json["sessionID"], "1-abc");
        assert_eq!(json["beginLSN"], "0/3000028");
        assert_eq!(json["timeLineID"], 1);
        assert_eq!(
            BackupPhase::Finalizing.as_str(),
            crate::backup::backup_phase::FINALIZING
        );
        assert!(BackupPhase::Failed.is_final() && !BackupPhase::Running.is_final());
        let back: BackupProgress = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, progress);
        // An archiver report from a manager without the times still parses.
        let archiver: ArchiverState =
            serde_json::from_str(r#"{"archivedCount":3,"failedCount":0}"#).expect("archiver");
        assert_eq!(archiver.last_archived_time, None);
    }

    #[test]
    fn dynamic_config_defaults_to_unfenced_without_a_target() {
        let config: DynamicConfig = serde_json::from_str(r#"{"version":3}"#).expect("parse");
        assert_eq!(
            config,
            DynamicConfig {
                version: 3,
                target_primary: None,
                fenced: false,
                postgresql: None,
                ..DynamicConfig::default()
            }
        );
    }
}
