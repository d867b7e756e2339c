//! Follow another primary or source: stop, reconfigure as a standby of the configured replica
//! source (its object store, and streaming when it has connection parameters), rewinding first
//! when a streaming source is available and timelines diverged. Leaves postgres stopped.

use super::rewind_failure::classify;
use super::{InstanceError, configure};
use crate::config::ManagerConfig;
use crate::pg::conf::Role;
use crate::pg::{PgError, conninfo, controldata, ctl, io};
use crate::wal::restore::clear_spool;
use std::path::Path;
use std::process::Command;

/// How long pg_rewind may take to reach its source before it gives up, so a former primary whose
/// new primary is unreachable fails and retries instead of hanging.
const REWIND_CONNECT_TIMEOUT_SECS: u32 = 10;

/// What [`rewind_if_needed`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rewind {
    /// Nothing: the data directory was not a primary's, or there is no streaming source.
    NotNeeded,
    /// pg_rewind found the timelines had not diverged.
    NoneRequired,
    /// pg_rewind rewound the data directory to the source's timeline.
    Rewound,
}

/// Reconfigures the local instance as a standby of `cfg.replica.source`.
pub fn follow(cfg: &ManagerConfig, config_file: &Path) -> Result<(), InstanceError> {
    let role = configure::standby_role(cfg, None)?;
    ctl::stop_escalating(
        cfg,
        &ctl::escalation(ctl::StopMode::Fast, 0, ctl::FAST_STOP_TIMEOUT_SECS),
    )?;
    rewind_and_configure(cfg, config_file, &role, Divergence::IfFormerPrimary)?;
    clear_spool(cfg).map_err(io("clearing the WAL spool"))?;
    Ok(())
}

/// Which data directories go through pg_rewind before they follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Divergence {
    /// Only one that was last a primary (it may hold WAL its new primary never saw).
    IfFormerPrimary,
    /// This one too, though it was a standby: it was seen replaying past the point where the
    /// primary's timeline forked off (see `run::diverged`).
    SeenOnStandby,
}

/// Rewinds a former primary from the streaming source of `role` when it needs it, then writes
/// this instance's configuration files for `role` whether the rewind succeeded or not: pg_rewind
/// copies the source's configuration, and a failed rewind must leave a standby's files behind,
/// never a primary's. A failed pg_rewind is [`InstanceError::Rewind`], classified.
pub fn rewind_and_configure(
    cfg: &ManagerConfig,
    config_file: &Path,
    role: &Role,
    divergence: Divergence,
) -> Result<Rewind, InstanceError> {
    let rewound = match role {
        Role::Standby {
            primary_conninfo: Some(conninfo),
            ..
        } => rewind_if_needed(cfg, conninfo, role, divergence),
        _ => Ok(Rewind::NotNeeded),
    };
    let written = configure::write_all(cfg, config_file, role);
    let rewound = rewound?;
    written?;
    Ok(rewound)
}

/// Whether a data directory in this pg_controldata state was last running as a primary, so it
/// may hold WAL its new primary never saw and must go through pg_rewind before it can follow.
/// A base backup not yet started also reads "in production" (the state copied from its source),
/// but its `backup_label` gives it away: it has never run, so there is nothing to rewind. Pure.
pub fn was_primary(state: &str, has_backup_label: bool) -> bool {
    !has_backup_label && matches!(state, "in production" | "shut down" | "in crash recovery")
}

/// Runs pg_rewind against the streaming source when this instance was a primary, or when a
/// standby was seen diverged (pg_rewind accepts a standby shut down in recovery); pg_rewind
/// itself decides whether timelines diverged ("no rewind required" otherwise) and first finishes
/// crash recovery when the old primary was not shut down cleanly. The signal files of `role` are
/// back in place when this returns, whatever happened.
pub fn rewind_if_needed(
    cfg: &ManagerConfig,
    conninfo: &str,
    role: &Role,
    divergence: Divergence,
) -> Result<Rewind, InstanceError> {
    let cd = controldata::read(&cfg.pg_bindir, &cfg.pgdata)?;
    let former_primary = was_primary(cd.state()?, cfg.pgdata.join("backup_label").exists());
    if !former_primary && divergence == Divergence::IfFormerPrimary {
        return Ok(Rewind::NotNeeded);
    }
    // pg_rewind finishes an interrupted primary's crash recovery in single-user mode, which
    // refuses to run with a standby signal; it also deletes files its source lacks. The guard
    // writes the role's signal files back on every way out of this function, errors and panics
    // included.
    let _restore = SignalFilesBack {
        pgdata: &cfg.pgdata,
        role,
    };
    configure::write_signal_files(&cfg.pgdata, &Role::Primary)?;
    let mut cmd = Command::new(ctl::program(cfg, "pg_rewind"));
    cmd.arg("--target-pgdata")
        .arg(&cfg.pgdata)
        .arg(format!(
            "--source-server={conninfo} {}",
            conninfo::render([
                ("dbname", "postgres".to_string()),
                ("connect_timeout", REWIND_CONNECT_TIMEOUT_SECS.to_string()),
            ])
        ))
        .arg("--progress")
        .env("LC_ALL", "C");
    let output = match ctl::run(cmd) {
        Ok(output) => output,
        // Only pg_rewind's own words go on: the command line holds the connection string.
        Err(PgError::Failed { output, .. }) => return Err(classify(&output).into()),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(%output, "pg_rewind finished");
    Ok(outcome(&output))
}

/// What a successful pg_rewind did, from its output ("no rewind required" when the timelines
/// had not diverged). Pure.
pub fn outcome(output: &str) -> Rewind {
    if output.contains("no rewind required") {
        Rewind::NoneRequired
    } else {
        Rewind::Rewound
    }
}

/// Puts a role's signal files back when dropped.
struct SignalFilesBack<'a> {
    pgdata: &'a Path,
    role: &'a Role,
}

impl Drop for SignalFilesBack<'_> {
    fn drop(&mut self) {
        if let Err(e) = configure::write_signal_files(self.pgdata, self.role) {
            tracing::error!(error = %e, "cannot write the signal files back after pg_rewind");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_successful_pg_rewind_says_whether_it_rewound() {
        assert_eq!(
            outcome(
                "pg_rewind: source and target cluster are on the same timeline\npg_rewind: no rewind required\n"
            ),
            Rewind::NoneRequired
        );
        assert_eq!(
            outcome(
                "pg_rewind: servers diverged at WAL location 0/3000060 on timeline 1\npg_rewind: Done!\n"
            ),
            Rewind::Rewound
        );
    }

    #[test]
    fn only_former_primaries_are_rewound() {
        for (state, backup_label, want) in [
            ("in production", false, true),
            ("shut down", false, true),
            ("in crash recovery", false, true),
            ("shut down in recovery", false, false),
            ("in archive recovery", false, false),
            // A fresh pg_basebackup copy carries its source's state and a backup_label.
            ("in production", true, false),
        ] {
            assert_eq!(
                was_primary(state, backup_label),
                want,
                "{state} {backup_label}"
            );
        }
    }
}
