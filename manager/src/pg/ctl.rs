//! pg_ctl and initdb: start, stop, promote and status of the local postmaster when the manager
//! is not supervising it as a child (one-shot commands); `run` supervises postgres directly.

use super::{PgError, io};
use crate::config::ManagerConfig;
use std::path::PathBuf;
use std::process::Command;

/// How to stop the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopMode {
    /// Wait for clients to disconnect.
    Smart,
    /// Disconnect clients, clean shutdown checkpoint.
    Fast,
    /// Abort (crash recovery on next start).
    Immediate,
}

/// How long pg_ctl waits for a fast shutdown (it ends with a checkpoint) before the manager
/// escalates to immediate.
pub const FAST_STOP_TIMEOUT_SECS: u64 = 60;
/// How long pg_ctl waits for an immediate shutdown before the manager kills the postmaster.
pub const IMMEDIATE_STOP_TIMEOUT_SECS: u64 = 10;

/// The stops to try, in order, each with how long pg_ctl waits for it: `first`, then every harder
/// mode, so a stop always ends (immediate at the latest). A smart stop waits `smart_timeout`
/// seconds (at least one); a fast one `fast_timeout`. Pure.
pub fn escalation(first: StopMode, smart_timeout: u64, fast_timeout: u64) -> Vec<(StopMode, u64)> {
    [
        (StopMode::Smart, smart_timeout.max(1)),
        (StopMode::Fast, fast_timeout.max(1)),
        (StopMode::Immediate, IMMEDIATE_STOP_TIMEOUT_SECS),
    ]
    .into_iter()
    .filter(|(mode, _)| *mode >= first)
    .collect()
}

impl StopMode {
    /// pg_ctl's name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            StopMode::Smart => "smart",
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        }
    }
}

/// Path of a PostgreSQL program.
pub fn program(cfg: &ManagerConfig, name: &str) -> PathBuf {
    cfg.pg_bindir.join(name)
}

/// Runs a program to completion, returning its output or a descriptive error.
pub fn run(mut cmd: Command) -> Result<String, PgError> {
    let desc = format!("{cmd:?}");
    let out = cmd.output().map_err(|source| PgError::Spawn {
        program: desc.clone(),
        source,
    })?;
    if out.status.success() {
        // Some programs (pg_rewind --progress) report on stderr even when they succeed.
        return Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Err(PgError::Failed {
        program: desc,
        status: out.status.to_string(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ),
    })
}

fn pg_ctl(cfg: &ManagerConfig) -> Command {
    let mut cmd = Command::new(program(cfg, "pg_ctl"));
    cmd.arg("-D").arg(&cfg.pgdata).env("LC_ALL", "C");
    cmd
}

/// Starts postgres in the background and waits until it accepts connections (a standby: until it
/// is consistent) or `timeout_secs` pass.
pub fn start(cfg: &ManagerConfig, timeout_secs: u64) -> Result<(), PgError> {
    std::fs::create_dir_all(&cfg.socket_dir)
        .map_err(io(format!("creating {}", cfg.socket_dir.display())))?;
    let log = cfg.pgdata.join("log");
    std::fs::create_dir_all(&log).map_err(io(format!("creating {}", log.display())))?;
    let mut cmd = pg_ctl(cfg);
    cmd.args(["start", "-w", "-t", &timeout_secs.to_string(), "-l"])
        .arg(log.join("startup.log"));
    // pg_ctl leaves postgres holding its stdout/stderr; do not tie them to our pipes.
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    run(cmd).map(|_| ())
}

/// Stops postgres if it runs and waits for it to exit.
pub fn stop(cfg: &ManagerConfig, mode: StopMode, timeout_secs: u64) -> Result<(), PgError> {
    if !is_running(cfg) {
        return Ok(());
    }
    let mut cmd = pg_ctl(cfg);
    cmd.args([
        "stop",
        "-w",
        "-t",
        &timeout_secs.to_string(),
        "-m",
        mode.as_str(),
    ]);
    run(cmd).map(|_| ())
}

/// Stops postgres along `plan` (see [`escalation`]): each mode in turn until one stops it.
/// Returns the mode that did; fails when none did, postgres still running.
pub fn stop_escalating(cfg: &ManagerConfig, plan: &[(StopMode, u64)]) -> Result<StopMode, PgError> {
    let mut tried = Vec::new();
    let mut last = None;
    for &(mode, timeout) in plan {
        tried.push(mode.as_str());
        match stop(cfg, mode, timeout) {
            Ok(()) => return Ok(mode),
            Err(e) => {
                tracing::warn!(mode = mode.as_str(), error = %e, "stop did not finish; escalating");
                last = Some(e);
            }
        }
    }
    Err(PgError::StillRunning {
        tried: tried.join(", "),
        last: Box::new(last.unwrap_or(PgError::NoAnswer {
            context: "stop",
            seconds: 0,
        })),
    })
}

/// What SIGTERM does: smart shutdown, fast after `smart_timeout` seconds, immediate after
/// [`FAST_STOP_TIMEOUT_SECS`] more.
pub fn shutdown(cfg: &ManagerConfig, smart_timeout: u64) -> Result<(), PgError> {
    stop_escalating(
        cfg,
        &escalation(StopMode::Smart, smart_timeout, FAST_STOP_TIMEOUT_SECS),
    )
    .map(|_| ())
}

/// Promotes a standby and waits for it to leave recovery.
pub fn promote(cfg: &ManagerConfig) -> Result<(), PgError> {
    let mut cmd = pg_ctl(cfg);
    cmd.args(["promote", "-w", "-t", "600"]);
    run(cmd).map(|_| ())
}

/// Tells a running postmaster to reread its configuration.
pub fn reload(cfg: &ManagerConfig) -> Result<(), PgError> {
    let mut cmd = pg_ctl(cfg);
    cmd.arg("reload");
    run(cmd).map(|_| ())
}

/// True when a postmaster runs on this data directory.
pub fn is_running(cfg: &ManagerConfig) -> bool {
    let mut cmd = pg_ctl(cfg);
    cmd.arg("status");
    run(cmd).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use StopMode::{Fast, Immediate, Smart};

    #[test]
    fn every_stop_escalates_to_immediate() {
        let cases = [
            (Smart, 30, vec![(Smart, 30), (Fast, 60), (Immediate, 10)]),
            (Smart, 0, vec![(Smart, 1), (Fast, 60), (Immediate, 10)]),
            (Fast, 30, vec![(Fast, 60), (Immediate, 10)]),
            (Immediate, 30, vec![(Immediate, 10)]),
        ];
        for (first, smart, want) in cases {
            assert_eq!(escalation(first, smart, 60), want, "{first:?} {smart}");
        }
    }
}
