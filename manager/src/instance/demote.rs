//! Demotion of a primary for a planned switchover: clean shutdown, every ready WAL file and the
//! final partial segment archived, then the demotion token (CloudNativePG's format) built from
//! pg_controldata. The instance is left stopped and configured as a standby of the replica source.
//! No token is issued unless the archive holds every byte of WAL up to the shutdown checkpoint.
//!
//! Each step is recorded in PGDATA ([`DEMOTION_RECORD`]) before the next begins, so a manager that
//! restarts half-way resumes where it stopped: a primary that had not shut down cleanly is still
//! the primary, and one that had is kept down until its WAL and token are published.

use super::{InstanceError, RoleError, blocking, configure};
use crate::config::ManagerConfig;
use crate::pg::{controldata, ctl, io};
use crate::wal::archive::{marker_dir, wal_archive};
use crate::wal::ready::{archive_status_dir, ready_wal_files};
use crate::wal::restore::clear_spool;
use pgfed_api::token::DemotionToken;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file in PGDATA that records how far a demotion went.
pub const DEMOTION_RECORD: &str = "pgfed_demotion.json";

/// How long pg_ctl waits for the fast shutdown whose checkpoint the token names, before the
/// manager escalates to immediate (and the demotion starts again from a running primary).
const DEMOTION_FAST_STOP_SECS: u64 = 300;

/// How far a demotion went, as recorded in PGDATA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "camelCase")]
pub enum Demotion {
    /// Decided. Until postgres has shut down cleanly the instance is still the primary: if it
    /// must start again, it starts as one, and is demoted from there.
    Requested,
    /// Shut down cleanly at the token's checkpoint; its WAL is not all archived yet. Postgres stays
    /// down until it is.
    ShutDown {
        /// The encoded demotion token.
        token: String,
    },
    /// Every byte of WAL up to the token is archived and the role files say standby: the token
    /// is published, and stays so across restarts until this instance is promoted again.
    Published {
        /// The encoded demotion token.
        token: String,
    },
}

impl Demotion {
    /// The token to publish, once there is one to publish.
    pub fn published_token(&self) -> Option<&str> {
        match self {
            Demotion::Published { token } => Some(token),
            _ => None,
        }
    }
}

fn record_path(pgdata: &Path) -> PathBuf {
    pgdata.join(DEMOTION_RECORD)
}

fn record_error(path: &Path, reason: impl ToString) -> RoleError {
    RoleError::Record {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// The demotion recorded in `pgdata`, if any.
pub fn read_record(pgdata: &Path) -> Result<Option<Demotion>, RoleError> {
    let path = record_path(pgdata);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| record_error(&path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(record_error(&path, e)),
    }
}

/// Records `d`, atomically and durably: a crash leaves the previous step or this one.
fn write_record(pgdata: &Path, d: &Demotion) -> Result<(), RoleError> {
    let path = record_path(pgdata);
    let text = serde_json::to_vec(d).map_err(|e| record_error(&path, e))?;
    crate::durable::replace(&path, &text).map_err(|e| record_error(&path, e))
}

/// Forgets a demotion: it was cancelled, or the instance is a primary again.
pub fn clear_record(pgdata: &Path) -> Result<(), RoleError> {
    let path = record_path(pgdata);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(record_error(&path, e)),
    }
}

/// Starts a demotion: checks the standby configuration it ends in (so a refused configuration
/// stops nothing) and records the request.
pub fn begin(cfg: &ManagerConfig) -> Result<Demotion, InstanceError> {
    configure::standby_role(cfg, None)?;
    write_record(&cfg.pgdata, &Demotion::Requested)?;
    Ok(Demotion::Requested)
}

/// Takes the demotion one step further and records where it stands.
pub async fn advance(
    cfg: &ManagerConfig,
    config_file: &Path,
    d: Demotion,
) -> Result<Demotion, InstanceError> {
    let next = match d {
        Demotion::Requested => shut_down(cfg).await?,
        // Something started postgres after it stopped for the token (`instance start`): WAL
        // may have been written past the token, which would no longer mark the end of this
        // primary's history. Start over with a new stop and a new token.
        Demotion::ShutDown { .. } if running(cfg).await? => {
            tracing::warn!("postgres runs again since its demotion stopped it: starting over");
            Demotion::Requested
        }
        Demotion::ShutDown { token } => {
            publish(cfg, config_file, &token).await?;
            Demotion::Published { token }
        }
        published @ Demotion::Published { .. } => return Ok(published),
    };
    write_record(&cfg.pgdata, &next)?;
    Ok(next)
}

async fn running(cfg: &ManagerConfig) -> Result<bool, InstanceError> {
    let c = cfg.clone();
    blocking("pg_ctl status", move || Ok(ctl::is_running(&c))).await
}

/// Stops postgres (fast, immediate when that does not end) and reads the token of its shutdown
/// checkpoint.
async fn shut_down(cfg: &ManagerConfig) -> Result<Demotion, InstanceError> {
    let c = cfg.clone();
    let cd = blocking("stopping postgres for the demotion", move || {
        ctl::stop_escalating(
            &c,
            &ctl::escalation(ctl::StopMode::Fast, 0, DEMOTION_FAST_STOP_SECS),
        )?;
        Ok(controldata::read(&c.pg_bindir, &c.pgdata)?)
    })
    .await?;
    match cd.state()? {
        "shut down" => Ok(Demotion::ShutDown {
            token: cd.demotion_token()?.encode(),
        }),
        "shut down in recovery" => {
            clear_record(&cfg.pgdata)?;
            Err(RoleError::NotPrimary.into())
        }
        other => Err(RoleError::UncleanShutdown {
            state: other.to_string(),
        }
        .into()),
    }
}

/// Archives every ready WAL file and the final partial segment, then writes the standby role.
/// Idempotent: a retry after a failure or a restart archives what is left.
async fn publish(
    cfg: &ManagerConfig,
    config_file: &Path,
    token: &str,
) -> Result<(), InstanceError> {
    let standby = configure::standby_role(cfg, None)?;
    let token = DemotionToken::decode(token).map_err(RoleError::from)?;
    archive_ready(cfg).await?;
    let partial_dir = cfg.pgdata.join("pgfed_partial");
    std::fs::create_dir_all(&partial_dir).map_err(io("creating pgfed_partial"))?;
    let partial = partial_dir.join(format!("{}.partial", token.redo_wal_file));
    std::fs::copy(
        cfg.pgdata.join("pg_wal").join(&token.redo_wal_file),
        &partial,
    )
    .map_err(io(format!(
        "copying {} for the .partial upload",
        token.redo_wal_file
    )))?;
    wal_archive(cfg, &partial).await?;
    std::fs::remove_dir_all(&partial_dir).map_err(io("removing pgfed_partial"))?;
    clear_spool(cfg).map_err(io("clearing the WAL spool"))?;
    configure::write_role(cfg, config_file, &standby)?;
    Ok(())
}

/// `instance demote`: demotes the local primary, or finishes a demotion a previous run left
/// half-way, and returns its token.
pub async fn demote(
    cfg: &ManagerConfig,
    config_file: &Path,
) -> Result<DemotionToken, InstanceError> {
    let mut d = match read_record(&cfg.pgdata)? {
        // A published demotion of an instance that runs again (as a primary) is an old one.
        Some(Demotion::Published { .. }) if ctl::is_running(cfg) => begin(cfg)?,
        Some(d) => d,
        None => begin(cfg)?,
    };
    loop {
        if let Demotion::Published { token } = &d {
            return Ok(DemotionToken::decode(token).map_err(RoleError::from)?);
        }
        d = advance(cfg, config_file, d).await?;
    }
}

/// Archives every `.ready` WAL file, oldest first, marking each done. Used while postgres is
/// stopped, so the archiver cannot race us.
pub async fn archive_ready(cfg: &ManagerConfig) -> Result<usize, InstanceError> {
    let status = archive_status_dir(&cfg.pgdata);
    let mut ready =
        ready_wal_files(&status).map_err(io(format!("listing {}", status.display())))?;
    // History files first, like PostgreSQL's archiver, then segments in order.
    ready.sort_by_key(|n| (!n.ends_with(".history"), n.clone()));
    if cfg.backup_store().is_err() {
        return Ok(0);
    }
    for name in &ready {
        wal_archive(cfg, &Path::new("pg_wal").join(name)).await?;
        std::fs::rename(
            status.join(format!("{name}.ready")),
            status.join(format!("{name}.done")),
        )
        .map_err(io(format!("marking {name} archived")))?;
    }
    // Markers for segments uploaded ahead of PostgreSQL are meaningless once it is stopped.
    if let Err(e) = std::fs::remove_dir_all(marker_dir(cfg))
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(InstanceError::Pg(crate::pg::PgError::Io {
            context: "clearing archive markers".into(),
            source: e,
        }));
    }
    Ok(ready.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_round_trips_and_only_a_published_demotion_has_a_token_to_publish() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read_record(dir.path()).expect("read"), None);
        for (d, published) in [
            (Demotion::Requested, None),
            (Demotion::ShutDown { token: "t".into() }, None),
            (Demotion::Published { token: "t".into() }, Some("t")),
        ] {
            write_record(dir.path(), &d).expect("write");
            assert_eq!(read_record(dir.path()).expect("read").as_ref(), Some(&d));
            assert_eq!(d.published_token(), published);
        }
        clear_record(dir.path()).expect("clear");
        clear_record(dir.path()).expect("clearing twice");
        assert_eq!(read_record(dir.path()).expect("read"), None);
        std::fs::write(dir.path().join(DEMOTION_RECORD), "{").expect("write");
        assert!(read_record(dir.path()).is_err());
    }
}
