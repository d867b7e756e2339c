//! Lock files a postmaster left behind when its container went away with it: a pod whose node
//! was powered off, or whose container was killed, restarts its containers on the same volumes
//! (the data directory and the socket directory outlive the container). PostgreSQL trusts such a
//! file only when the PID it names is dead; in the new container that PID is often alive as some
//! other process (one of the manager's own threads, say), and postgres then refuses to start
//! ("lock file already exists") for as long as the pod lives. The manager clears them when its
//! container starts (before pg_rewind or anything else runs postgres) and before it starts a
//! postmaster when it has none: a lock file then belongs to a live postmaster only if its PID is
//! a running `postgres` executable.

use crate::config::ManagerConfig;
use std::path::{Path, PathBuf};

/// The PID on the first line of a PostgreSQL lock file. Pure.
pub fn lock_pid(text: &str) -> Option<i32> {
    text.lines().next()?.trim().parse().ok().filter(|p| *p > 0)
}

/// What a lock file naming a PID that no longer exists means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadPid {
    /// Stale: the container has just started, so no process of an earlier postmaster (orphaned
    /// backends included) can still run, and a thread started later could take that PID.
    Stale,
    /// Left to postgres, which then also checks from the same file that no orphaned backend
    /// still uses the old shared memory.
    LeftToPostgres,
}

/// Whether the lock is stale, from what `/proc/<pid>/exe` says: a live process that does not run
/// a program named `postgres` (postgres would take it for a running postmaster); a process that
/// does not exist, as `dead` says. A process whose executable cannot be read (`Err`) is left
/// alone. Pure.
pub fn is_stale(exe: Result<Option<&Path>, ()>, dead: DeadPid) -> bool {
    match exe {
        Ok(Some(path)) => path.file_name().is_none_or(|n| n != "postgres"),
        Ok(None) => dead == DeadPid::Stale,
        Err(()) => false,
    }
}

fn exe_of(pid: i32) -> Result<Option<PathBuf>, ()> {
    match std::fs::read_link(format!("/proc/{pid}/exe")) {
        Ok(path) => Ok(Some(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(_) => Err(()),
    }
}

/// The lock files of this instance: the data directory's `postmaster.pid` and the socket's.
pub fn lock_files(cfg: &ManagerConfig) -> [PathBuf; 2] {
    [
        cfg.pgdata.join("postmaster.pid"),
        cfg.socket_dir.join(format!(".s.PGSQL.{}.lock", cfg.port)),
    ]
}

/// Removes the lock files that no live postmaster holds; returns those removed. Errors reading
/// or removing a file are logged and the file left for postgres to judge.
pub fn remove_stale(cfg: &ManagerConfig, dead: DeadPid) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for file in lock_files(cfg) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let pid = lock_pid(&text);
        let stale = match pid {
            Some(pid) => {
                let exe = exe_of(pid);
                is_stale(exe.as_ref().map(Option::as_deref).map_err(|_| ()), dead)
            }
            // Empty or torn (the postmaster died while writing it): nobody holds it.
            None => true,
        };
        if !stale {
            continue;
        }
        match std::fs::remove_file(&file) {
            Ok(()) => {
                tracing::warn!(file = %file.display(), pid, "removed a stale lock file left by an earlier postmaster");
                removed.push(file);
            }
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "cannot remove a stale lock file")
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pid_is_the_first_line() {
        assert_eq!(
            lock_pid("16\n/var/lib/postgresql/data\n1764574540\n"),
            Some(16)
        );
        assert_eq!(lock_pid(" 42 \n"), Some(42));
        assert_eq!(lock_pid(""), None);
        assert_eq!(lock_pid("garbage\n"), None);
        assert_eq!(lock_pid("-1\n"), None);
    }

    #[test]
    fn only_a_live_postgres_holds_a_lock() {
        let postgres = Path::new("/usr/lib/postgresql/15/bin/postgres");
        let manager = Path::new("/controller/manager");
        use DeadPid::{LeftToPostgres, Stale};
        assert!(
            !is_stale(Ok(None), LeftToPostgres),
            "no such process: postgres judges it"
        );
        assert!(
            is_stale(Ok(None), Stale),
            "no such process in a fresh container"
        );
        for dead in [Stale, LeftToPostgres] {
            assert!(
                is_stale(Ok(Some(manager)), dead),
                "a live process that is not postgres"
            );
            assert!(!is_stale(Ok(Some(postgres)), dead), "a live postmaster");
            assert!(!is_stale(Err(()), dead), "unknown: left alone");
        }
    }

    #[test]
    fn a_lock_naming_a_live_process_that_is_not_postgres_is_removed() {
        let dir = std::env::temp_dir().join(format!("pgfed-stale-lock-{}", std::process::id()));
        let pgdata = dir.join("data");
        let sockets = dir.join("run");
        std::fs::create_dir_all(&pgdata).expect("pgdata");
        std::fs::create_dir_all(&sockets).expect("socket dir");
        let cfg = ManagerConfig {
            pgdata: pgdata.clone(),
            socket_dir: sockets.clone(),
            port: 5432,
            ..ManagerConfig::default()
        };
        // This test's own PID: alive, and not postgres (as a thread of the new container's
        // manager was); the socket lock is torn (empty).
        let me = std::process::id();
        std::fs::write(
            pgdata.join("postmaster.pid"),
            format!("{me}\n{}\n", pgdata.display()),
        )
        .expect("postmaster.pid");
        std::fs::write(sockets.join(".s.PGSQL.5432.lock"), "").expect("lock");
        let removed = remove_stale(&cfg, DeadPid::LeftToPostgres);
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert!(!pgdata.join("postmaster.pid").exists());
        assert!(!sockets.join(".s.PGSQL.5432.lock").exists());
        // A dead PID is postgres's to judge.
        std::fs::write(pgdata.join("postmaster.pid"), "2147483646\n").expect("postmaster.pid");
        assert!(remove_stale(&cfg, DeadPid::LeftToPostgres).is_empty());
        assert!(pgdata.join("postmaster.pid").exists());
        // Unless the container has just started.
        assert_eq!(remove_stale(&cfg, DeadPid::Stale).len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
