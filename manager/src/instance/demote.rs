//! Demotion of a primary for a planned switchover: clean shutdown, every ready WAL file and the
//! final partial segment archived, then the demotion token (CloudNativePG's format) built from
//! pg_controldata. The instance is left stopped and configured as a standby of the replica source.
//! No token is issued unless the archive holds every byte of WAL up to the shutdown checkpoint.

use super::{InstanceError, configure};
use crate::config::ManagerConfig;
use crate::pg::{controldata, ctl, io};
use crate::wal::archive::{marker_dir, wal_archive};
use crate::wal::ready::{archive_status_dir, ready_wal_files};
use crate::wal::restore::clear_spool;
use pgfed_api::token::DemotionToken;
use std::path::Path;

/// Demotes the local primary and returns its token.
pub async fn demote(
    cfg: &ManagerConfig,
    config_file: &Path,
) -> Result<DemotionToken, InstanceError> {
    // What it becomes afterwards, decided first so a refused configuration stops nothing.
    let standby = configure::standby_role(cfg, None)?;
    ctl::stop(cfg, ctl::StopMode::Fast, 600)?;
    let cd = controldata::read(&cfg.pg_bindir, &cfg.pgdata)?;
    match cd.state()? {
        "shut down" => {}
        "shut down in recovery" => {
            return Err(InstanceError::Refused(
                "this instance is a standby; only a primary can be demoted".into(),
            ));
        }
        other => {
            return Err(InstanceError::Refused(format!(
                "postgres did not shut down cleanly (state {other:?}); a demotion token needs a shutdown checkpoint"
            )));
        }
    }
    archive_ready(cfg).await?;

    let token = cd.demotion_token()?;
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
    Ok(token)
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
