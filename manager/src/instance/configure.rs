//! Writes the configuration files of a data directory for a role: postgresql.conf, pg_hba.conf,
//! pg_ident.conf, the role include file and the standby/recovery signal files.

use crate::config::ManagerConfig;
use crate::pg::conf::{self, ROLE_CONF, Role};
use crate::pg::{PgError, hba, io};
use std::path::{Path, PathBuf};

/// The manager binary PostgreSQL should call back (archive/restore commands).
pub fn manager_exe() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/controller/manager"))
}

/// Writes every configuration file for `role`.
pub fn write_all(cfg: &ManagerConfig, config_file: &Path, role: &Role) -> Result<(), PgError> {
    let exe = manager_exe();
    let params = conf::render_parameters(cfg, &exe, config_file)?;
    write(
        cfg,
        "postgresql.conf",
        &conf::render_postgresql_conf(&params),
    )?;
    write(cfg, "pg_hba.conf", &hba::render_hba(cfg))?;
    write(cfg, "pg_ident.conf", &hba::render_ident(cfg))?;
    write_role(cfg, config_file, role)
}

/// Writes the role include file and signal files only.
pub fn write_role(cfg: &ManagerConfig, config_file: &Path, role: &Role) -> Result<(), PgError> {
    write(
        cfg,
        ROLE_CONF,
        &conf::render_role_conf(role, &manager_exe(), config_file),
    )?;
    let standby = cfg.pgdata.join("standby.signal");
    let recovery = cfg.pgdata.join("recovery.signal");
    let (want_standby, want_recovery) = match role {
        Role::Primary => (false, false),
        Role::Standby { .. } => (true, false),
        Role::Recovery { .. } => (false, true),
    };
    for (path, want) in [(standby, want_standby), (recovery, want_recovery)] {
        if want {
            std::fs::write(&path, b"").map_err(io(format!("writing {}", path.display())))?;
        } else if path.exists() {
            std::fs::remove_file(&path).map_err(io(format!("removing {}", path.display())))?;
        }
    }
    Ok(())
}

fn write(cfg: &ManagerConfig, name: &str, text: &str) -> Result<(), PgError> {
    let path = cfg.pgdata.join(name);
    let tmp = cfg.pgdata.join(format!("{name}.pgfed-tmp"));
    std::fs::write(&tmp, text).map_err(io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(io(format!("renaming {}", path.display())))
}

/// The standby role following this configuration's replica source (object store and, when it
/// has connection parameters, streaming).
pub fn standby_role(cfg: &ManagerConfig) -> Role {
    let source = cfg.replica.as_ref().map(|r| r.source.clone());
    let conninfo = source
        .as_deref()
        .and_then(|s| cfg.external_cluster(s))
        .filter(|c| !c.connection_parameters.is_empty())
        .map(crate::instance::follow::conninfo);
    Role::Standby {
        restore_from: source.filter(|s| cfg.external_store(s).is_ok()),
        primary_conninfo: conninfo,
    }
}
