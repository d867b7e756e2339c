//! Writes the configuration files of a data directory for a role: postgresql.conf, pg_hba.conf,
//! pg_ident.conf, the role include file and the standby/recovery signal files.

use crate::config::{ConfigError, ManagerConfig};
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
    write(cfg, ROLE_CONF, &role_conf(cfg, config_file, role))?;
    write_signal_files(&cfg.pgdata, role)
}

/// The role include file's text for this instance: a standby restores WAL only when an object
/// store holds it.
pub fn role_conf(cfg: &ManagerConfig, config_file: &Path, role: &Role) -> String {
    let can_restore = match role {
        Role::Standby { restore_from, .. } => cfg.restore_store(restore_from.as_deref()).is_ok(),
        Role::Primary | Role::Recovery { .. } => true,
    };
    conf::render_role_conf(role, &manager_exe(), config_file, can_restore)
}

/// The signal files of a role: `standby.signal` for a standby, `recovery.signal` for a
/// targeted recovery, none for a primary. Pure.
pub fn signal_files(role: &Role) -> [(&'static str, bool); 2] {
    let (standby, recovery) = match role {
        Role::Primary => (false, false),
        Role::Standby { .. } => (true, false),
        Role::Recovery { .. } => (false, true),
    };
    [("standby.signal", standby), ("recovery.signal", recovery)]
}

/// Writes the signal files of `role` in `pgdata` and removes the others. The new file is written
/// before the other is removed, so a standby never passes through having neither.
pub fn write_signal_files(pgdata: &Path, role: &Role) -> Result<(), PgError> {
    let mut files = signal_files(role);
    // Wanted files first.
    files.sort_by_key(|(_, want)| !*want);
    for (name, want) in files {
        let path = pgdata.join(name);
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

/// The standby role this configuration asks for. Pure.
///
/// While another instance is the target primary and `primaryConnection` says how to reach it,
/// this is a standby streaming from it. While this instance waits to be promoted, `previous` (the
/// connection string it streamed from until now) keeps it receiving the former primary's last WAL
/// up to that one's shutdown. A replica cluster's designated primary, or an instance with neither,
/// follows `replica.source` (its object store and, when it has connection parameters, streaming).
/// WAL missing from the stream is restored from the archive either way. Refuses what following
/// `replica.source` would need but the manager does not implement (a `password` on the source).
pub fn standby_role(cfg: &ManagerConfig, previous: Option<&str>) -> Result<Role, ConfigError> {
    let designated_primary = cfg.is_replica_cluster() && cfg.other_target_primary().is_none();
    if !designated_primary
        && let Some(conninfo) = cfg
            .target_primary_conninfo()
            .or(previous.map(str::to_string))
    {
        return Ok(Role::Standby {
            restore_from: None,
            primary_conninfo: Some(conninfo),
        });
    }
    let source = cfg.replica.as_ref().map(|r| r.source.clone());
    let conninfo = source
        .as_deref()
        .and_then(|s| cfg.external_cluster(s))
        .filter(|c| !c.connection_parameters.is_empty())
        .map(|c| cfg.external_conninfo(c))
        .transpose()?;
    Ok(Role::Standby {
        restore_from: source.filter(|s| cfg.external_store(s).is_ok()),
        primary_conninfo: conninfo,
    })
}

/// The role postgres should run in: a standby while another instance is the target primary,
/// while the cluster is a replica cluster, or while the data directory says so; else a primary.
/// Deciding from `targetPrimary` first is what keeps a former primary that restarts after a
/// failover from coming back as a second primary. `previous` and refusals as for
/// [`standby_role`]. Pure apart from the signal-file check.
pub fn startup_role(cfg: &ManagerConfig, previous: Option<&str>) -> Result<Role, ConfigError> {
    if cfg.other_target_primary().is_some()
        || cfg.is_replica_cluster()
        || cfg.pgdata.join("standby.signal").exists()
    {
        standby_role(cfg, previous)
    } else {
        Ok(Role::Primary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> ManagerConfig {
        ManagerConfig::parse(yaml).expect("valid test configuration")
    }

    #[test]
    fn roles_follow_the_target_primary() {
        let base = "clusterName: pg\ninstanceName: pg-1\npgdata: /nonexistent/pgdata\n";
        let conn = "primaryConnection:\n  connectionParameters: {host: '{primary}.pg', user: streaming_replica}\n";
        let cases = [
            // (extra configuration, expected role)
            ("", Role::Primary),
            ("targetPrimary: pg-1\n", Role::Primary),
            (
                &format!("targetPrimary: pg-2\n{conn}") as &str,
                Role::Standby {
                    restore_from: None,
                    primary_conninfo: Some(
                        "application_name=pg-1 host=pg-2.pg user=streaming_replica".into(),
                    ),
                },
            ),
            // Without primaryConnection a standby still comes up (from the archive), never a primary.
            (
                "targetPrimary: pg-2\n",
                Role::Standby {
                    restore_from: None,
                    primary_conninfo: None,
                },
            ),
            (
                &format!("targetPrimary: pg-1\n{conn}") as &str,
                Role::Primary,
            ),
        ];
        for (extra, want) in cases {
            assert_eq!(
                startup_role(&cfg(&format!("{base}{extra}")), None).expect("role"),
                want,
                "{extra}"
            );
        }
    }

    #[test]
    fn a_standby_awaiting_promotion_keeps_streaming_from_the_former_primary() {
        let c = cfg(
            "clusterName: pg\ninstanceName: pg-1\npgdata: /nonexistent\ntargetPrimary: pg-1\n\
             primaryConnection:\n  connectionParameters: {host: '{primary}.pg'}\n",
        );
        assert_eq!(
            standby_role(&c, Some("host=pg-0.pg")).expect("role"),
            Role::Standby {
                restore_from: None,
                primary_conninfo: Some("host=pg-0.pg".into()),
            }
        );
    }

    #[test]
    fn a_replica_clusters_designated_primary_follows_the_source_cluster() {
        let c = cfg(
            "clusterName: pg\ninstanceName: pg-1\npgdata: /nonexistent\ntargetPrimary: pg-1\n\
             primaryConnection:\n  connectionParameters: {host: '{primary}.pg'}\n\
             replica: {enabled: true, source: far}\n\
             externalClusters: [{name: far, connectionParameters: {host: far.example}}]\n",
        );
        assert_eq!(
            startup_role(&c, Some("host=pg-0.pg")).expect("role"),
            Role::Standby {
                restore_from: None,
                primary_conninfo: Some("host=far.example".into()),
            }
        );
        // Its other instances cascade from it.
        let mut other = c.clone();
        other.instance_name = Some("pg-2".into());
        assert_eq!(
            startup_role(&other, None).expect("role"),
            Role::Standby {
                restore_from: None,
                primary_conninfo: Some("application_name=pg-2 host=pg-1.pg".into()),
            }
        );
    }

    #[test]
    fn following_the_source_refuses_what_the_manager_does_not_implement() {
        let base = "clusterName: pg\npgdata: /nonexistent\n";
        let extra = "replica: {enabled: true, source: far}\n\
             externalClusters: [{name: far, connectionParameters: {host: far.example},\
             password: {name: far-pw, key: password}}]\n";
        let field = "externalClusters[far].password";
        let err = startup_role(&cfg(&format!("{base}{extra}")), None).expect_err(field);
        assert!(err.to_string().contains(field), "{err}");
        // a delayed replica cluster follows its source (the delay is a parameter)
        let delayed = "replica: {enabled: true, source: far, minApplyDelay: 1h}\n";
        assert!(startup_role(&cfg(&format!("{base}{delayed}")), None).is_ok());
    }
}
