//! The SQL side of an online base backup: what the server says about itself (version, system
//! identifier, WAL segment size, tablespaces), `pg_backup_start` and `pg_backup_stop` on one
//! session, and the abort that leaves no backup in progress.

use super::BackupError;
use crate::pg::PgError;
use pgfed_api::barman::backup_info::Tablespace;
use pgfed_api::lsn::{DEFAULT_WAL_SEGMENT_SIZE, Lsn};
use tokio_postgres::Client;

/// What backup.info records about the server backed up.
pub(super) struct ServerFacts {
    /// `server_version_num`.
    pub(super) version: String,
    /// System identifier.
    pub(super) systemid: String,
    /// WAL segment size in bytes.
    pub(super) segment_size: u64,
    /// Tablespaces other than pg_default and pg_global, by OID.
    pub(super) tablespaces: Vec<Tablespace>,
    /// The server is a standby (the backup starts in recovery).
    pub(super) in_recovery: bool,
    /// `archive_mode`: on a standby, pg_backup_stop waits for archiving only when `always`.
    pub(super) archive_mode: String,
    /// `archive_command`: one that only acknowledges (another instance archives) proves nothing.
    pub(super) archive_command: String,
}

impl ServerFacts {
    /// The major version (`150004` → 15); 0 when the server said something else.
    pub(super) fn major_version(&self) -> i32 {
        self.version.parse::<i32>().map_or(0, |v| v / 10000)
    }
}

/// What pg_backup_stop returned.
pub(super) struct Stopped {
    /// The backup_label to put into data.tar.
    pub(super) label: String,
    /// Where the backup ends in WAL.
    pub(super) end_lsn: Lsn,
}

fn sql(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> PgError {
    move |source| PgError::Sql {
        context: context.into(),
        source,
    }
}

/// Reads the facts backup.info needs.
pub(super) async fn server_facts(client: &Client) -> Result<ServerFacts, BackupError> {
    let version: String = client
        .query_one("SHOW server_version_num", &[])
        .await
        .map_err(sql("server_version_num"))?
        .get(0);
    let row = client
        .query_one(
            "SELECT system_identifier::text, bytes_per_wal_segment::bigint \
             FROM pg_control_system(), pg_control_init()",
            &[],
        )
        .await
        .map_err(sql("pg_control_system"))?;
    let systemid: String = row.get(0);
    let segment_size = u64::try_from(row.get::<_, i64>(1)).unwrap_or(DEFAULT_WAL_SEGMENT_SIZE);
    let tablespaces = client
        .query(
            "SELECT spcname::text, oid::bigint, pg_tablespace_location(oid) FROM pg_tablespace \
             WHERE spcname NOT IN ('pg_default', 'pg_global') ORDER BY oid",
            &[],
        )
        .await
        .map_err(sql("pg_tablespace"))?
        .into_iter()
        .map(|r| Tablespace {
            name: r.get(0),
            oid: u32::try_from(r.get::<_, i64>(1)).unwrap_or(0),
            location: r.get(2),
        })
        .collect();
    let role = client
        .query_one(
            "SELECT pg_is_in_recovery(), current_setting('archive_mode'), \
             current_setting('archive_command')",
            &[],
        )
        .await
        .map_err(sql("pg_is_in_recovery"))?;
    Ok(ServerFacts {
        version,
        systemid,
        segment_size,
        tablespaces,
        in_recovery: role.get(0),
        archive_mode: role.get(1),
        archive_command: role.get(2),
    })
}

/// Starts the backup on this session; `fast` asks for an immediate checkpoint (a restartpoint on
/// a standby). Returns where the backup starts in WAL.
pub(super) async fn start(
    client: &Client,
    backup_id: &str,
    fast: bool,
) -> Result<Lsn, BackupError> {
    let lsn: String = client
        .query_one(
            "SELECT pg_backup_start($1, $2)::text",
            &[&format!("pgfed {backup_id}"), &fast],
        )
        .await
        .map_err(sql("pg_backup_start"))?
        .get(0);
    Ok(lsn.parse()?)
}

/// Ends the backup, waiting for its last WAL segment to be archived.
pub(super) async fn stop(client: &Client) -> Result<Stopped, BackupError> {
    let row = client
        .query_one("SELECT lsn::text, labelfile FROM pg_backup_stop(true)", &[])
        .await
        .map_err(sql("pg_backup_stop"))?;
    let lsn: String = row.get(0);
    Ok(Stopped {
        end_lsn: lsn.parse()?,
        label: row.get(1),
    })
}

/// Ends a failed backup without waiting; the session ending would also abort it.
pub(super) async fn abort(client: &Client) {
    if let Err(e) = client.query("SELECT pg_backup_stop(false)", &[]).await {
        tracing::debug!(error = %e, "pg_backup_stop(false) after a failed backup");
    }
}
