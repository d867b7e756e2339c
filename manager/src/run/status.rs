//! The instance status the operator polls: role, timeline, system identifier, LSNs, per-standby
//! replication, WAL receiver, replication slots, archiver, pending restart, ready-WAL count and the
//! synchronous standby names in force.

use crate::config::ManagerConfig;
use crate::pg::{PgError, sql};
use tokio_postgres::Client;

/// How long the status document and the readiness probe wait for the local server: a frozen
/// postmaster makes them answer "not running" instead of hanging.
const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub use pgfed_api::instance::{ArchiverState, InstanceStatus, SlotState, StandbyState};

/// Collects the status of the local instance.
pub async fn collect(cfg: &ManagerConfig, fenced: bool) -> InstanceStatus {
    let mut st = InstanceStatus {
        instance_name: cfg.me().to_string(),
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
             COALESCE((SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1), \
               (SELECT timeline_id FROM pg_control_checkpoint()))::int, \
             CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END, \
             pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, \
             EXISTS (SELECT 1 FROM pg_settings WHERE pending_restart), \
             CASE WHEN pg_is_in_recovery() THEN NULL ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END, \
             EXISTS (SELECT 1 FROM pg_settings s \
               JOIN LATERAL (SELECT f.setting FROM pg_file_settings f \
                 WHERE f.name = s.name ORDER BY f.seqno DESC LIMIT 1) f ON true \
               WHERE s.pending_restart AND s.name IN ('max_connections', 'max_prepared_transactions', \
                 'max_wal_senders', 'max_worker_processes', 'max_locks_per_transaction') \
               AND CASE WHEN f.setting ~ '^[0-9]+$' THEN f.setting::bigint < s.setting::bigint ELSE false END), \
             to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
            &[],
        )
        .await
        .map_err(sql::query_error("status"))?;
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
    st.pending_restart_lowers_standby_minimum = row.get(8);
    st.last_replay_time = row.get(9);
    if let Some(r) = c
        .query_opt("SELECT status FROM pg_stat_wal_receiver", &[])
        .await
        .map_err(sql::query_error("pg_stat_wal_receiver"))?
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
        .map_err(sql::query_error("pg_stat_replication"))?
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
    st.replication_slots = c
        .query(
            "SELECT slot_name::text, slot_type, active, restart_lsn::text, wal_status \
             FROM pg_replication_slots WHERE NOT temporary ORDER BY pg_replication_slots.slot_name",
            &[],
        )
        .await
        .map_err(sql::query_error("pg_replication_slots"))?
        .into_iter()
        .map(|r| SlotState {
            name: r.get(0),
            slot_type: r.get(1),
            active: r.get(2),
            restart_lsn: r.get(3),
            wal_status: r.get(4),
        })
        .collect();
    let a = c
        .query_one(
            "SELECT archived_count, last_archived_wal, failed_count, last_failed_wal, \
             to_char(last_archived_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
             to_char(last_failed_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
             FROM pg_stat_archiver",
            &[],
        )
        .await
        .map_err(sql::query_error("pg_stat_archiver"))?;
    st.synchronous_standby_names = c
        .query_one("SELECT current_setting('synchronous_standby_names')", &[])
        .await
        .map_err(sql::query_error("synchronous_standby_names"))?
        .get(0);
    st.archiver = ArchiverState {
        archived_count: a.get(0),
        last_archived_wal: a.get(1),
        failed_count: a.get(2),
        last_failed_wal: a.get(3),
        last_archived_time: a.get(4),
        last_failed_time: a.get(5),
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
