//! The postmaster as the supervisor's child process: start it, notice that it exited, and stop it
//! along an escalation that always ends — smart, fast, immediate through pg_ctl, each bounded,
//! then a kill — so no stop and no wait for the postmaster can hang the manager.

use crate::config::ManagerConfig;
use crate::pg::{PgError, ctl, io};
use std::process::ExitStatus;
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long the manager waits for a postmaster that pg_ctl saw stop, or that was killed, to be
/// reaped.
const REAP_TIMEOUT: Duration = Duration::from_secs(10);

/// The postmaster as a child process of the manager.
enum Process {
    /// Started by this image of the manager.
    Spawned(Child),
    /// Started by the image this one replaced with an in-place upgrade: still this process's
    /// child (the PID did not change), but unknown to tokio, so it is waited for by PID.
    Adopted(nix::unistd::Pid),
}

/// The supervised postmaster, when there is one.
#[derive(Default)]
pub struct Postmaster {
    child: Option<Process>,
}

/// What waiting on an adopted postmaster found.
fn adopted_exit(pid: nix::unistd::Pid) -> Option<ExitStatus> {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    use std::os::unix::process::ExitStatusExt;
    match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::StillAlive) => None,
        Ok(WaitStatus::Exited(_, code)) => Some(ExitStatus::from_raw((code & 0xff) << 8)),
        Ok(WaitStatus::Signaled(_, signal, _)) => Some(ExitStatus::from_raw(signal as i32)),
        Ok(_) => None,
        // Not (or no longer) our child: nothing left to wait for.
        Err(_) => Some(ExitStatus::from_raw(0)),
    }
}

impl Postmaster {
    /// Takes over the postmaster the previous image of this manager started, when `pid` is a
    /// live child of this process; otherwise there is none (and the supervisor starts one).
    pub fn adopt(pid: u32) -> Postmaster {
        let Ok(raw) = i32::try_from(pid) else {
            return Postmaster::default();
        };
        let pid = nix::unistd::Pid::from_raw(raw);
        if adopted_exit(pid).is_some() {
            tracing::warn!(
                pid = raw,
                "the handed-over postmaster is gone; starting a new one"
            );
            return Postmaster::default();
        }
        tracing::info!(
            pid = raw,
            "postmaster adopted from the previous manager image"
        );
        Postmaster {
            child: Some(Process::Adopted(pid)),
        }
    }

    /// True while the manager has a postmaster child it has not reaped.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// The postmaster's PID, to hand over to a new image of the manager.
    pub fn pid(&self) -> Option<u32> {
        match self.child.as_ref()? {
            Process::Spawned(c) => c.id(),
            Process::Adopted(pid) => u32::try_from(pid.as_raw()).ok(),
        }
    }

    /// Starts postgres on the data directory in the foreground of a child process.
    pub fn spawn(&mut self, cfg: &ManagerConfig) -> Result<(), PgError> {
        std::fs::create_dir_all(&cfg.socket_dir)
            .map_err(io(format!("creating {}", cfg.socket_dir.display())))?;
        if secure_data_dir(&cfg.pgdata)
            .map_err(io(format!("restricting {}", cfg.pgdata.display())))?
        {
            tracing::info!(pgdata = %cfg.pgdata.display(), "data directory made private again (0700)");
        }
        if self.child.is_none() {
            // No postmaster of ours runs: a lock file that a dead one left in the volumes must
            // not keep this one from starting.
            crate::pg::stale_lock::remove_stale(
                cfg,
                crate::pg::stale_lock::DeadPid::LeftToPostgres,
            );
        }
        let program = ctl::program(cfg, "postgres");
        let mut child = Command::new(&program)
            .arg("-D")
            .arg(&cfg.pgdata)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(false)
            .spawn()
            .map_err(|source| PgError::Spawn {
                program: program.display().to_string(),
                source,
            })?;
        // What the postmaster says before its logging collector runs (a refusal to start, such as
        // "data directory has invalid permissions") would otherwise be lost: it becomes a
        // `postgres-stderr` line of the manager's log.
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(v) = super::jsonlog::convert(&line, "postgres") {
                        println!("{v}");
                    }
                }
            });
        }
        self.child = Some(Process::Spawned(child));
        Ok(())
    }

    /// Reaps a postmaster that exited by itself (crash, kill) and returns how it ended.
    pub fn reap_exited(&mut self) -> Option<ExitStatus> {
        let status = match self.child.as_mut()? {
            Process::Spawned(c) => c.try_wait().ok().flatten()?,
            Process::Adopted(pid) => adopted_exit(*pid)?,
        };
        self.child = None;
        Some(status)
    }

    /// Reaps the postmaster after something else stopped it (a demotion), waiting at most
    /// [`REAP_TIMEOUT`]; returns false when it is still alive.
    pub async fn reap_stopped(&mut self) -> bool {
        let exited = match self.child.as_mut() {
            None => return true,
            Some(Process::Spawned(child)) => tokio::time::timeout(REAP_TIMEOUT, child.wait())
                .await
                .is_ok(),
            Some(Process::Adopted(pid)) => {
                let pid = *pid;
                let deadline = tokio::time::Instant::now() + REAP_TIMEOUT;
                loop {
                    if adopted_exit(pid).is_some() {
                        break true;
                    }
                    if tokio::time::Instant::now() >= deadline {
                        break false;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        };
        if exited {
            self.child = None;
        }
        exited
    }

    /// Stops postgres along `plan` ([`ctl::escalation`]) and reaps it. Fails, keeping the child,
    /// when no mode stopped it.
    pub async fn stop(
        &mut self,
        cfg: &ManagerConfig,
        plan: Vec<(ctl::StopMode, u64)>,
    ) -> Result<ctl::StopMode, PgError> {
        let c = cfg.clone();
        let stopped = tokio::task::spawn_blocking(move || ctl::stop_escalating(&c, &plan))
            .await
            .unwrap_or_else(|e| {
                Err(PgError::Io {
                    context: "waiting for pg_ctl stop".into(),
                    source: std::io::Error::other(e),
                })
            })?;
        if !self.reap_stopped().await {
            tracing::warn!("pg_ctl reported postgres stopped but the postmaster has not exited");
        }
        Ok(stopped)
    }

    /// The manager's own shutdown: smart, fast after `smartShutdownTimeout`, immediate, and a
    /// kill of the postmaster when even that did not end it. Always returns with no postmaster
    /// child left running (short of one that ignores SIGKILL).
    pub async fn shutdown(&mut self, cfg: &ManagerConfig) {
        if self.child.is_none() {
            return;
        }
        let plan = ctl::escalation(
            ctl::StopMode::Smart,
            cfg.smart_shutdown_timeout,
            ctl::FAST_STOP_TIMEOUT_SECS,
        );
        match self.stop(cfg, plan).await {
            Ok(mode) => tracing::info!(mode = mode.as_str(), "postgres stopped"),
            Err(e) => {
                tracing::error!(error = %e, "postgres did not stop; killing the postmaster");
                let killed = match self.child.as_mut() {
                    Some(Process::Spawned(child)) => child.start_kill(),
                    Some(Process::Adopted(pid)) => {
                        nix::sys::signal::kill(*pid, nix::sys::signal::Signal::SIGKILL)
                            .map_err(std::io::Error::from)
                    }
                    None => Ok(()),
                };
                if let Err(e) = killed {
                    tracing::error!(error = %e, "cannot kill the postmaster");
                }
                if !self.reap_stopped().await {
                    tracing::error!("the killed postmaster has not exited");
                }
            }
        }
    }
}

/// Takes group write and any access by others away from the data directory, which PostgreSQL
/// refuses to start on. Kubernetes adds them when it applies a pod's `fsGroup` to a volume that
/// already holds data (a pod recreated on its claim). Only the directory itself matters to
/// PostgreSQL's check. Returns whether it had to change anything.
pub fn secure_data_dir(pgdata: &std::path::Path) -> std::io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(pgdata)?.permissions().mode();
    if mode & 0o027 == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(pgdata, std::fs::Permissions::from_mode(0o700))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_data_directory_opened_up_by_fs_group_is_made_private_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pgdata = dir.path().join("pgdata");
        std::fs::create_dir(&pgdata).expect("mkdir");
        let mode = |m| std::fs::Permissions::from_mode(m);
        for (before, changed, after) in [
            (0o2770, true, 0o700),
            (0o755, true, 0o700),
            (0o750, false, 0o750),
            (0o700, false, 0o700),
        ] {
            std::fs::set_permissions(&pgdata, mode(before)).expect("chmod");
            assert_eq!(
                secure_data_dir(&pgdata).expect("secure"),
                changed,
                "{before:o}"
            );
            let now = std::fs::metadata(&pgdata)
                .expect("stat")
                .permissions()
                .mode()
                & 0o7777;
            assert_eq!(now, after, "{before:o}");
        }
    }
}
