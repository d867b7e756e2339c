//! The instance status the operator polls: role, timeline, system identifier, LSNs, per-standby
//! replication, WAL receiver, archiver, pending restart and ready-WAL count.

use crate::config::ManagerConfig;
use crate::pg::{PgError, sql};
use serde::Serialize;
use tokio_postgres::Client;

/// How long the status document and the readiness probe wait for the local server: a frozen
/// postmaster makes them answer "not running" instead of hanging.
const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// One connected standby (pg_stat_replication).
#[derive(Debug, Clone, Serialize, PartialEq)]
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
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
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
}

/// The status document.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    /// Instance name.
    pub instance_name: String,
    /// False when fenced or down.
    pub postgres_running: bool,
    /// Fenced by configuration.
    pub fenced: bool,
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
    /// WAL files waiting to be archived.
    pub ready_wal_files: usize,
    /// The token of this instance's last demotion, for the operator to publish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demotion_token: Option<String>,
}

fn sqlerr(context: &str) -> impl FnOnce(tokio_postgres::Error) -> PgError + '_ {
    move |source| PgError::Sql {
        context: context.to_string(),
        source,
    }
}

/// Collects the status of the local instance.
pub async fn collect(cfg: &ManagerConfig, fenced: bool) -> InstanceStatus {
    let mut st = InstanceStatus {
        instance_name: cfg
            .instance_name
            .clone()
            .unwrap_or_else(|| cfg.cluster_name.clone()),
        fenced,
        ready_wal_files: ready_wal_files(cfg),
        ..Default::default()
    };
    let answered = tokio::time::timeout(ANSWER_TIMEOUT, async {
        let client = sql::connect(cfg, "postgres").await?;
        query(&client, &mut st).await
    })
    .await;
    st.postgres_running = matches!(answered, Ok(Ok(())));
    st
}

async fn query(c: &Client, st: &mut InstanceStatus) -> Result<(), PgError> {
    let row = c
        .query_one(
            "SELECT NOT pg_is_in_recovery(), (SELECT system_identifier::text FROM pg_control_system()), \
             (SELECT timeline_id FROM pg_control_checkpoint())::int, \
             CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END, \
             pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, \
             EXISTS (SELECT 1 FROM pg_settings WHERE pending_restart), \
             CASE WHEN pg_is_in_recovery() THEN NULL ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END",
            &[],
        )
        .await
        .map_err(sqlerr("status"))?;
    st.is_primary = row.get(0);
    st.system_id = row.get(1);
    let checkpoint_tli: Option<i32> = row.get(2);
    let current_tli: Option<i32> = row.get(7);
    st.timeline_id = current_tli
        .or(checkpoint_tli)
        .and_then(|t| u32::try_from(t).ok());
    st.current_lsn = row.get(3);
    st.received_lsn = row.get(4);
    st.replay_lsn = row.get(5);
    st.pending_restart = row.get(6);
    if let Some(r) = c
        .query_opt("SELECT status FROM pg_stat_wal_receiver", &[])
        .await
        .map_err(sqlerr("pg_stat_wal_receiver"))?
    {
        let status: Option<String> = r.get(0);
        st.is_wal_receiver_active = status.as_deref() == Some("streaming");
        st.wal_receiver_status = status;
    }
    st.replication_info = c
        .query(
            "SELECT application_name, client_addr::text, state, sent_lsn::text, flush_lsn::text, replay_lsn::text, \
             CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint END, \
             extract(epoch FROM replay_lag)::float8, sync_state FROM pg_stat_replication ORDER BY application_name",
            &[],
        )
        .await
        .map_err(sqlerr("pg_stat_replication"))?
        .into_iter()
        .map(|r| StandbyState {
            application_name: r.get(0),
            client_addr: r.get(1),
            state: r.get(2),
            sent_lsn: r.get(3),
            flush_lsn: r.get(4),
            replay_lsn: r.get(5),
            replay_lag_bytes: r.get(6),
            replay_lag_seconds: r.get(7),
            sync_state: r.get(8),
        })
        .collect();
    let a = c
        .query_one(
            "SELECT archived_count, last_archived_wal, failed_count, last_failed_wal FROM pg_stat_archiver",
            &[],
        )
        .await
        .map_err(sqlerr("pg_stat_archiver"))?;
    st.archiver = ArchiverState {
        archived_count: a.get(0),
        last_archived_wal: a.get(1),
        failed_count: a.get(2),
        last_failed_wal: a.get(3),
    };
    Ok(())
}

/// Number of `.ready` files in pg_wal/archive_status.
pub fn ready_wal_files(cfg: &ManagerConfig) -> usize {
    crate::wal::ready::ready_wal_files(&crate::wal::ready::archive_status_dir(&cfg.pgdata))
        .map_or(0, |names| names.len())
}

/// Readiness: the server answers an empty query in time.
pub async fn ready(cfg: &ManagerConfig) -> bool {
    let answered = tokio::time::timeout(ANSWER_TIMEOUT, async {
        let c = sql::connect(cfg, "postgres").await.ok()?;
        c.simple_query(";").await.ok()
    })
    .await;
    matches!(answered, Ok(Some(_)))
}
