//! Reading and changing replication slots: the local server's over the Unix socket, the primary's
//! through `psql` with the standby's own connection parameters (the replication client
//! certificate, which libpq reads from the files `primaryConnection` names, as for streaming).

use super::plan::{ObservedSlot, SlotStep};
use crate::config::ManagerConfig;
use crate::pg::PgError;
use pgfed_api::lsn::Lsn;
use std::time::Duration;
use tokio_postgres::Client;

/// The slots a round looks at: physical and persistent (logical slots are PostgreSQL's own
/// business, temporary ones die with their session). Three tab-separated columns.
const LIST: &str = "SELECT slot_name, active, coalesce(restart_lsn::text, '') \
     FROM pg_catalog.pg_replication_slots WHERE NOT temporary AND slot_type = 'physical' \
     ORDER BY slot_name";

/// Why the primary's slots could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PrimarySlotsError {
    /// `psql` could not be started.
    #[error("cannot run psql: {0}")]
    Spawn(std::io::Error),
    /// No answer in time.
    #[error("the primary did not answer within {0}s")]
    NoAnswer(u64),
    /// The primary refused the connection or the query.
    #[error("reading the primary's slots failed: {0}")]
    Refused(String),
    /// A line of the answer is not a slot.
    #[error("unexpected answer from the primary: {0:?}")]
    Garbled(String),
}

impl PrimarySlotsError {
    /// A short, stable name of the cause, for metrics labels and Events.
    pub fn label(&self) -> &'static str {
        match self {
            PrimarySlotsError::Spawn(_) => "slots_psql_spawn",
            PrimarySlotsError::NoAnswer(_) => "slots_primary_no_answer",
            PrimarySlotsError::Refused(_) => "slots_primary_refused",
            PrimarySlotsError::Garbled(_) => "slots_primary_garbled",
        }
    }
}

fn sql(context: &str) -> impl FnOnce(tokio_postgres::Error) -> PgError + '_ {
    move |source| PgError::Sql {
        context: context.to_string(),
        source,
    }
}

/// One line of [`LIST`]'s unaligned output (`name<TAB>t|f<TAB>lsn or empty`). Pure.
pub fn parse_slot_line(line: &str) -> Option<ObservedSlot> {
    let mut cols = line.split('\t');
    let (name, active, lsn) = (cols.next()?, cols.next()?, cols.next()?);
    if cols.next().is_some() || name.is_empty() {
        return None;
    }
    let active = match active {
        "t" => true,
        "f" => false,
        _ => return None,
    };
    let restart_lsn = match lsn {
        "" => None,
        lsn => Some(lsn.parse::<Lsn>().ok()?),
    };
    Some(ObservedSlot {
        name: name.to_string(),
        active,
        restart_lsn,
    })
}

/// The local server's slots.
pub async fn local_slots(c: &Client) -> Result<Vec<ObservedSlot>, PgError> {
    let rows = c
        .query(LIST, &[])
        .await
        .map_err(sql("listing replication slots"))?;
    rows.iter()
        .map(|r| {
            let lsn: String = r.get(2);
            Ok(ObservedSlot {
                name: r.get(0),
                active: r.get(1),
                restart_lsn: match lsn.as_str() {
                    "" => None,
                    lsn => lsn.parse().ok(),
                },
            })
        })
        .collect()
}

/// Whether the local server is in recovery, and how far it replayed.
pub async fn recovery(c: &Client) -> Result<(bool, Option<Lsn>), PgError> {
    let row = c
        .query_one(
            "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text",
            &[],
        )
        .await
        .map_err(sql("pg_last_wal_replay_lsn"))?;
    let replayed: Option<String> = row.get(1);
    Ok((row.get(0), replayed.and_then(|l| l.parse().ok())))
}

/// Carries out one step on the local server.
pub async fn apply(c: &Client, step: &SlotStep) -> Result<(), PgError> {
    match step {
        SlotStep::Create { name } => c
            .execute(
                "SELECT pg_catalog.pg_create_physical_replication_slot($1, true)",
                &[name],
            )
            .await
            .map(drop)
            .map_err(sql("creating a replication slot")),
        SlotStep::Advance { name, to } => c
            .execute(
                "SELECT pg_catalog.pg_replication_slot_advance($1, $2::text::pg_lsn)",
                &[name, &to.to_string()],
            )
            .await
            .map(drop)
            .map_err(sql("advancing a replication slot")),
        SlotStep::Drop { name } => c
            .execute("SELECT pg_catalog.pg_drop_replication_slot($1)", &[name])
            .await
            .map(drop)
            .map_err(sql("dropping a replication slot")),
    }
}

/// The primary's slots, read with `psql` through `conninfo` within `limit`.
pub async fn primary_slots(
    cfg: &ManagerConfig,
    conninfo: &str,
    limit: Duration,
) -> Result<Vec<ObservedSlot>, PrimarySlotsError> {
    let run = tokio::process::Command::new(cfg.pg_bindir.join("psql"))
        .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-F", "\t"])
        .args(["-c", LIST, "-d", conninfo])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(limit, run)
        .await
        .map_err(|_| PrimarySlotsError::NoAnswer(limit.as_secs()))?
        .map_err(PrimarySlotsError::Spawn)?;
    if !out.status.success() {
        return Err(PrimarySlotsError::Refused(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| parse_slot_line(l).ok_or_else(|| PrimarySlotsError::Garbled(l.to_string())))
        .collect()
}

/// How the keeper reaches the primary for SQL: the standby's `primaryConnection` to the target
/// primary, in the `postgres` database (the one pg_hba opens to the replication user) and under
/// its own application name (so `pg_stat_replication` never mistakes it for a standby).
pub fn primary_sql_conninfo(cfg: &ManagerConfig) -> Option<String> {
    let primary = cfg.other_target_primary()?;
    let mut conn = cfg.primary_connection.clone()?;
    for (k, v) in [("dbname", "postgres"), ("application_name", "pgfed-slots")] {
        conn.connection_parameters
            .insert(k.to_string(), v.to_string());
    }
    Some(conn.conninfo(primary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psql_lines_parse_into_slots() {
        assert_eq!(
            parse_slot_line("_pgfed_pg_b\tt\t0/3000060"),
            Some(ObservedSlot {
                name: "_pgfed_pg_b".into(),
                active: true,
                restart_lsn: Some("0/3000060".parse().expect("lsn")),
            })
        );
        assert_eq!(
            parse_slot_line("user\tf\t"),
            Some(ObservedSlot {
                name: "user".into(),
                active: false,
                restart_lsn: None,
            })
        );
        for bad in [
            "",
            "a\tt",
            "a\tx\t",
            "a\tt\tnot-an-lsn",
            "a\tt\t\textra",
            "\tt\t",
        ] {
            assert_eq!(parse_slot_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_primary_is_read_in_the_postgres_database_under_the_keepers_name() {
        let cfg = ManagerConfig::parse(
            "clusterName: pg\ninstanceName: pg-2\npgdata: /x\ntargetPrimary: pg-1\n\
             primaryConnection:\n  connectionParameters: {host: '{primary}.pg', user: streaming_replica, dbname: app}\n",
        )
        .expect("config");
        assert_eq!(
            primary_sql_conninfo(&cfg).as_deref(),
            Some(
                "application_name=pgfed-slots dbname=postgres host=pg-1.pg user=streaming_replica"
            )
        );
        let mut primary = cfg.clone();
        primary.target_primary = Some("pg-2".into());
        assert_eq!(primary_sql_conninfo(&primary), None);
    }
}
