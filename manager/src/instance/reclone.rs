//! Replaces a former primary's data directory, which pg_rewind cannot bring back, with a fresh
//! pg_basebackup of the new primary (the streaming source of its standby role), over the same
//! replication TLS certificate a clone uses. What the former primary wrote after the timelines
//! diverged is lost; the run loop decides when that is right (see `run::rejoin`).
//!
//! Safety, in order: postgres must not be running on the data directory; the source's system
//! identifier (`IDENTIFY_SYSTEM` over a replication connection) must be ours before anything is
//! removed; tablespaces are refused (their directories live outside PGDATA and would need a
//! mapping this does not do).
//!
//! Where the copy goes: into a sibling directory `<pgdata>.pgfed-reclone-new` on the same volume
//! when the volume has room for a second copy (the old data stays whole until the new copy is
//! complete and checked, so a source that dies mid-copy costs nothing), then swapped in by two
//! renames; otherwise PGDATA is emptied and the copy made in place (a volume sized for one copy
//! must still be able to come back). Either way the bootstrap record beside PGDATA says "in
//! progress, method clone" from the first destructive step until the new directory is configured:
//! a crash in between makes the next `instance run` empty the listed directories and clone again
//! from the target primary, never start a half-copied or half-swapped directory.

use super::bootstrap;
use super::{InstanceError, clone, configure};
use crate::config::ManagerConfig;
use crate::pg::conf::Role;
use crate::pg::{controldata, ctl};
use std::path::{Path, PathBuf};
use std::process::Command;

/// How long the identity check may take to reach the source.
const CONNECT_TIMEOUT_SECS: u32 = 10;
/// Room kept free beyond the estimated copy: WAL the source writes while the copy runs, and
/// headroom so the volume is not filled to the last byte.
const SPARE_BYTES: u64 = 256 * 1024 * 1024;

/// Why a re-clone did not happen (nothing was removed unless the error says so).
#[derive(Debug, thiserror::Error)]
pub enum RecloneError {
    /// The role has no streaming source to copy from.
    #[error("no streaming source to re-clone from")]
    NoSource,
    /// A postmaster runs on the data directory: it is never replaced under it.
    #[error("postgres is running on {0}; a data directory is never replaced under it")]
    Running(PathBuf),
    /// PGDATA uses tablespaces, which a re-clone does not map.
    #[error(
        "{0} holds tablespaces; a re-clone does not map them: remove the instance's volume to \
         clone it again"
    )]
    Tablespaces(PathBuf),
    /// The source's system identifier could not be read.
    #[error("cannot identify the source system: {reason}")]
    Identify {
        /// psql's error, or what it printed.
        reason: String,
    },
    /// The source is another database system: nothing is removed.
    #[error(
        "the source is database system {source_id}, this data directory belongs to {ours}: not \
         replaced"
    )]
    ForeignSource {
        /// Our system identifier.
        ours: String,
        /// The source's.
        source_id: String,
    },
    /// A file operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl RecloneError {
    /// A short, stable name of the cause, for metrics labels and Events.
    pub fn label(&self) -> &'static str {
        match self {
            RecloneError::NoSource => "reclone_no_source",
            RecloneError::Running(_) => "reclone_running",
            RecloneError::Tablespaces(_) => "reclone_tablespaces",
            RecloneError::Identify { .. } => "reclone_identify",
            RecloneError::ForeignSource { .. } => "reclone_foreign_source",
            RecloneError::Io { .. } => "reclone_io",
        }
    }

    /// Whether retrying later could help: not when the source is another system or tablespaces
    /// are in the way.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            RecloneError::ForeignSource { .. } | RecloneError::Tablespaces(_)
        )
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RecloneError + use<> {
    let path = path.to_path_buf();
    move |source| RecloneError::Io { what, path, source }
}

/// Where the new copy is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Beside PGDATA, then swapped in: the old data stays until the copy is complete.
    Sibling,
    /// In PGDATA, emptied first: the volume has no room for two copies.
    InPlace,
}

/// Where to copy, given the volume's free bytes and the size of the current data directory (the
/// best estimate of the source's, which is the same database minus what diverged). Pure.
pub fn placement(free_bytes: u64, pgdata_bytes: u64) -> Placement {
    let needed = pgdata_bytes
        .saturating_add(pgdata_bytes / 5)
        .saturating_add(SPARE_BYTES);
    if free_bytes >= needed {
        Placement::Sibling
    } else {
        Placement::InPlace
    }
}

/// `<pgdata>.<suffix>` beside PGDATA.
fn beside(pgdata: &Path, suffix: &str) -> PathBuf {
    let mut name = pgdata.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    pgdata.with_file_name(name)
}

/// Where a sibling copy is made before it is swapped in.
pub fn new_copy_path(pgdata: &Path) -> PathBuf {
    beside(pgdata, ".pgfed-reclone-new")
}

/// Where the replaced data directory waits for removal after the swap.
pub fn old_copy_path(pgdata: &Path) -> PathBuf {
    beside(pgdata, ".pgfed-reclone-old")
}

/// The system identifier in `IDENTIFY_SYSTEM`'s answer as `psql -At -F'|'` prints it
/// (`systemid|timeline|xlogpos|dbname`). Pure.
pub fn parse_identify_system(output: &str) -> Option<String> {
    let first = output.lines().map(str::trim).find(|l| !l.is_empty())?;
    let id = first.split('|').next()?.trim();
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_string())
}

/// Replaces the data directory with a fresh copy of the streaming source of `role`, then writes
/// this instance's configuration for `role`. Postgres must be stopped. Returns where the copy was
/// made.
pub fn reclone(
    cfg: &ManagerConfig,
    config_file: &Path,
    role: &Role,
) -> Result<Placement, InstanceError> {
    let Role::Standby {
        primary_conninfo: Some(conninfo),
        ..
    } = role
    else {
        return Err(RecloneError::NoSource.into());
    };
    let pgdata = &cfg.pgdata;
    if ctl::is_running(cfg) {
        return Err(RecloneError::Running(pgdata.clone()).into());
    }
    if has_tablespaces(pgdata)? {
        return Err(RecloneError::Tablespaces(pgdata.clone()).into());
    }
    let ours = controldata::read(&cfg.pg_bindir, pgdata)?
        .system_identifier()?
        .to_string();
    let source_id = source_system_identifier(cfg, conninfo)?;
    if source_id != ours {
        return Err(RecloneError::ForeignSource { ours, source_id }.into());
    }
    remove_leftovers(cfg)?;
    let parent = pgdata
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let placed = placement(free_bytes(parent)?, dir_size(pgdata)?);
    tracing::warn!(
        ?placed,
        pgdata = %pgdata.display(),
        "replacing the former primary's data directory with a copy of the new primary"
    );
    match placed {
        Placement::Sibling => swap_in_copy(cfg, conninfo, &ours)?,
        Placement::InPlace => {
            bootstrap::begin_replacing(cfg, vec![pgdata.clone()])?;
            bootstrap::empty_dirs(cfg, std::slice::from_ref(pgdata))?;
            clone::base_backup(cfg, pgdata, conninfo)?;
        }
    }
    configure::write_all(cfg, config_file, role)?;
    // Last: only now may PostgreSQL start on it.
    bootstrap::finish_replacing(cfg)?;
    remove_leftovers(cfg)?;
    Ok(placed)
}

/// Copies into the sibling directory, checks the copy's identity, then swaps it in. The record
/// says "in progress" from just before the first rename.
fn swap_in_copy(cfg: &ManagerConfig, conninfo: &str, ours: &str) -> Result<(), InstanceError> {
    let pgdata = &cfg.pgdata;
    let (new, old) = (new_copy_path(pgdata), old_copy_path(pgdata));
    clone::base_backup(cfg, &new, conninfo)?;
    // The copy itself is the final word on what the source is.
    let copied = controldata::read(&cfg.pg_bindir, &new)?
        .system_identifier()?
        .to_string();
    if copied != ours {
        std::fs::remove_dir_all(&new).map_err(io("removing", &new))?;
        return Err(RecloneError::ForeignSource {
            ours: ours.to_string(),
            source_id: copied,
        }
        .into());
    }
    bootstrap::begin_replacing(cfg, vec![pgdata.clone(), new.clone(), old.clone()])?;
    std::fs::rename(pgdata, &old).map_err(io("moving aside", pgdata))?;
    std::fs::rename(&new, pgdata).map_err(io("moving into place", &new))?;
    if let Some(parent) = pgdata.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(io("syncing", parent))?;
    }
    Ok(())
}

/// Removes what an earlier re-clone left beside PGDATA (a partial copy, a replaced directory, or
/// the empty directories a resumed bootstrap left of them). Only these two names are touched.
pub fn remove_leftovers(cfg: &ManagerConfig) -> Result<(), RecloneError> {
    for dir in [new_copy_path(&cfg.pgdata), old_copy_path(&cfg.pgdata)] {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => tracing::info!(dir = %dir.display(), "removed a re-clone's leftover"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("removing", &dir)(e)),
        }
    }
    Ok(())
}

/// Reads the source's system identifier over a replication connection (what the replication
/// user may always do), with `psql`.
fn source_system_identifier(cfg: &ManagerConfig, conninfo: &str) -> Result<String, RecloneError> {
    let mut cmd = Command::new(ctl::program(cfg, "psql"));
    cmd.args([
        "-X",
        "-A",
        "-t",
        "-q",
        "-F",
        "|",
        "-c",
        "IDENTIFY_SYSTEM",
        "-d",
    ])
    .arg(format!(
        "{conninfo} replication=true connect_timeout={CONNECT_TIMEOUT_SECS}"
    ))
    .env("LC_ALL", "C");
    let out = cmd.output().map_err(|e| RecloneError::Identify {
        reason: format!("cannot run psql: {e}"),
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(RecloneError::Identify {
            reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    parse_identify_system(&stdout).ok_or_else(|| RecloneError::Identify {
        reason: format!("unexpected answer {:?}", stdout.trim()),
    })
}

fn has_tablespaces(pgdata: &Path) -> Result<bool, RecloneError> {
    let dir = pgdata.join("pg_tblspc");
    match std::fs::read_dir(&dir) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io("listing", &dir)(e)),
    }
}

/// Bytes the files under `dir` hold; symbolic links are not followed.
fn dir_size(dir: &Path) -> Result<u64, RecloneError> {
    let mut total = 0u64;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).map_err(io("listing", &d))? {
            let entry = entry.map_err(io("listing", &d))?;
            let meta = entry.metadata().map_err(io("inspecting", &d))?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                total = total.saturating_add(meta.len());
            }
        }
    }
    Ok(total)
}

/// Bytes an unprivileged process may still write on the volume holding `dir`.
fn free_bytes(dir: &Path) -> Result<u64, RecloneError> {
    let st = nix::sys::statvfs::statvfs(dir)
        .map_err(|e| io("measuring free space of", dir)(std::io::Error::from(e)))?;
    Ok(st.blocks_available().saturating_mul(st.fragment_size()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_copy_goes_beside_only_when_the_volume_has_room_for_it() {
        const MB: u64 = 1024 * 1024;
        for (free, size, want) in [
            (10_000 * MB, 1_000 * MB, Placement::Sibling),
            // 1000 MB + 20% + the spare.
            (1_456 * MB, 1_000 * MB, Placement::Sibling),
            (1_455 * MB, 1_000 * MB, Placement::InPlace),
            (500 * MB, 1_000 * MB, Placement::InPlace),
            (0, 0, Placement::InPlace),
            (300 * MB, 30 * MB, Placement::Sibling),
            (u64::MAX - 1, u64::MAX, Placement::InPlace),
        ] {
            assert_eq!(placement(free, size), want, "{free} {size}");
        }
    }

    #[test]
    fn identify_system_answers_parse_to_the_system_identifier() {
        for (out, want) in [
            (
                "7312345678901234567|2|0/3000148|\n",
                Some("7312345678901234567"),
            ),
            (
                "\n7312345678901234567|1|0/1000000|postgres\n",
                Some("7312345678901234567"),
            ),
            ("", None),
            ("systemid|timeline\n", None),
            ("|2|0/3000148|\n", None),
        ] {
            assert_eq!(parse_identify_system(out).as_deref(), want, "{out:?}");
        }
    }

    #[test]
    fn leftovers_sit_beside_pgdata_under_their_own_names() {
        let pgdata = Path::new("/var/lib/postgresql/data/pgdata");
        assert_eq!(
            new_copy_path(pgdata),
            Path::new("/var/lib/postgresql/data/pgdata.pgfed-reclone-new")
        );
        assert_eq!(
            old_copy_path(pgdata),
            Path::new("/var/lib/postgresql/data/pgdata.pgfed-reclone-old")
        );
    }
}
