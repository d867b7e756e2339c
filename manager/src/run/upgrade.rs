//! In-place upgrade of the manager: the operator `PUT`s the binary it carries, the manager checks
//! its digest, proves it runs, installs it over its own executable and re-executes itself. The
//! process keeps its PID (PID 1 of the container), so the postmaster stays its child and keeps
//! running; the new image adopts it ([`ADOPT_POSTMASTER_ENV`]) instead of starting another one.
//!
//! Nothing is replaced before the new binary is known good: a body whose digest differs from the
//! one announced, or a binary that does not run `--version`, leaves the running manager and its
//! executable untouched.

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variable through which a manager hands its postmaster's PID to the image it
/// re-executes.
pub const ADOPT_POSTMASTER_ENV: &str = "PGFED_ADOPT_POSTMASTER";
/// Environment variable through which a manager hands how far it had forwarded PostgreSQL's log
/// files (`offset,offset`, in the order of [`crate::run::jsonlog`]'s followers), so the new image
/// neither repeats nor skips lines.
pub const LOG_OFFSETS_ENV: &str = "PGFED_LOG_OFFSETS";
/// errno of an executable still open for writing somewhere.
const ETXTBSY: i32 = 26;
/// How long the new binary may take to print its version.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a new manager binary was not installed.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// The announced digest is not 64 lowercase hex digits.
    #[error("the announced SHA-256 {0:?} is not 64 lowercase hex digits")]
    BadDigest(String),
    /// The body is not what was announced (cut or corrupted on the way).
    #[error("the binary's SHA-256 is {actual}, {announced} was announced")]
    DigestMismatch {
        /// What the operator announced.
        announced: String,
        /// What arrived.
        actual: String,
    },
    /// Writing or renaming the new executable failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The new binary does not run on this image (wrong architecture, missing libraries).
    #[error("the new manager does not run: {0}")]
    DoesNotRun(String),
}

impl UpgradeError {
    /// A short, stable name of the cause, for logs and the operator.
    pub fn label(&self) -> &'static str {
        match self {
            UpgradeError::BadDigest(_) => "bad_digest",
            UpgradeError::DigestMismatch { .. } => "digest_mismatch",
            UpgradeError::Io { .. } => "io",
            UpgradeError::DoesNotRun(_) => "does_not_run",
        }
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> UpgradeError {
    let context = context.into();
    move |source| UpgradeError::Io { context, source }
}

/// Lowercase hex of a digest.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn digest(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 of the file at `path`, read in chunks (the manager's own executable is tens of MiB
/// and its resident memory must stay small).
pub fn file_digest(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The executable this process runs, as a path that stays valid after it is replaced (the
/// kernel's `/proc/self/exe` link gains " (deleted)" once the file is renamed over).
pub fn own_executable() -> std::io::Result<PathBuf> {
    std::env::current_exe()
}

fn valid_digest(d: &str) -> bool {
    d.len() == 64
        && d.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What [`install`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Installed {
    /// The binary is the one already running: nothing to do.
    AlreadyRunning,
    /// The binary replaced the executable; the manager must re-execute it.
    New,
}

/// Checks `binary` against `announced`, and unless it is the `running` one writes it next to
/// `executable`, proves it runs, and renames it over `executable`. The running process keeps its
/// (now unlinked) image until it re-executes.
pub fn install(
    executable: &Path,
    running: &str,
    announced: &str,
    binary: &[u8],
) -> Result<Installed, UpgradeError> {
    if !valid_digest(announced) {
        return Err(UpgradeError::BadDigest(announced.to_string()));
    }
    let actual = digest(binary);
    if actual != announced {
        return Err(UpgradeError::DigestMismatch {
            announced: announced.to_string(),
            actual,
        });
    }
    if announced == running {
        return Ok(Installed::AlreadyRunning);
    }
    let staged = executable.with_extension("new");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o755)
            .open(&staged)
            .map_err(io(format!("creating {}", staged.display())))?;
        f.write_all(binary)
            .and_then(|()| f.sync_all())
            .map_err(io(format!("writing {}", staged.display())))?;
    }
    if let Err(e) = runs(&staged) {
        let _ = std::fs::remove_file(&staged);
        return Err(e);
    }
    std::fs::rename(&staged, executable).map_err(io(format!(
        "renaming {} to {}",
        staged.display(),
        executable.display()
    )))?;
    Ok(Installed::New)
}

/// Runs `binary --version` and expects the manager's answer.
fn runs(binary: &Path) -> Result<(), UpgradeError> {
    let spawn = || {
        std::process::Command::new(binary)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
    };
    // ETXTBSY: another thread forked while the file was still open for writing, and its child
    // holds that descriptor until it execs; it goes away within moments.
    let mut attempt = 0;
    let mut child = loop {
        match spawn() {
            Ok(child) => break child,
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && attempt < 50 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(UpgradeError::DoesNotRun(e.to_string())),
        }
    };
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < PROBE_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(UpgradeError::DoesNotRun(format!(
                    "--version did not answer within {PROBE_TIMEOUT:?}"
                )));
            }
            Err(e) => return Err(UpgradeError::DoesNotRun(e.to_string())),
        }
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    if !status.success() || !out.starts_with("manager ") {
        return Err(UpgradeError::DoesNotRun(format!(
            "--version ended with {status} and printed {:?}",
            out.trim()
        )));
    }
    Ok(())
}

/// Replaces this process with `executable`, same arguments, handing over the postmaster's PID and
/// the log offsets. Returns only when the exec failed.
pub fn reexec(executable: &Path, postmaster: Option<u32>, log_offsets: &[u64]) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    // Whatever this image printed must reach the log before it is replaced.
    let _ = std::io::stdout().flush();
    let mut command = std::process::Command::new(executable);
    command.args(std::env::args_os().skip(1));
    match postmaster {
        Some(pid) => command.env(ADOPT_POSTMASTER_ENV, pid.to_string()),
        None => command.env(ADOPT_POSTMASTER_ENV, ""),
    };
    let offsets: Vec<String> = log_offsets.iter().map(u64::to_string).collect();
    command.env(LOG_OFFSETS_ENV, offsets.join(","));
    command.exec()
}

/// The postmaster PID handed over by the previous image, if any.
pub fn handed_over_postmaster() -> Option<u32> {
    std::env::var(ADOPT_POSTMASTER_ENV).ok()?.parse().ok()
}

/// The log offsets handed over by the previous image (none on a fresh start).
pub fn handed_over_log_offsets() -> Vec<u64> {
    std::env::var(LOG_OFFSETS_ENV)
        .ok()
        .map(|v| v.split(',').filter_map(|o| o.parse().ok()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_lowercase_hex_sha256() {
        assert_eq!(
            digest(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("f");
        std::fs::write(&f, vec![7u8; 200_000]).expect("write");
        assert_eq!(
            file_digest(&f).expect("digest"),
            digest(&vec![7u8; 200_000])
        );
    }

    #[test]
    fn nothing_is_installed_unless_the_binary_is_what_was_announced_and_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = dir.path().join("manager");
        std::fs::write(&exe, b"old").expect("write");
        let script = b"#!/bin/sh\necho 'manager 9.9.9'\n";
        let broken = b"#!/bin/sh\nexit 3\n";
        let garbage: &[u8] = b"\x7fELF-garbage";
        let cases: [(String, &[u8], &str); 4] = [
            ("not hex".into(), script, "bad_digest"),
            (digest(b"other"), script, "digest_mismatch"),
            (digest(broken), broken, "does_not_run"),
            (digest(garbage), garbage, "does_not_run"),
        ];
        for (announced, body, label) in cases {
            let e = install(&exe, "", &announced, body).expect_err(label);
            assert_eq!(e.label(), label, "{e}");
            assert_eq!(std::fs::read(&exe).expect("read"), b"old", "{label}");
            assert!(!exe.with_extension("new").exists(), "{label}");
        }
        assert_eq!(
            install(&exe, &digest(script), &digest(script), script).expect("same"),
            Installed::AlreadyRunning
        );
        assert_eq!(std::fs::read(&exe).expect("read"), b"old");
        assert_eq!(
            install(&exe, "", &digest(script), script).expect("install"),
            Installed::New
        );
        assert_eq!(std::fs::read(&exe).expect("read"), script);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&exe).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn digests_are_checked_for_shape() {
        assert!(valid_digest(&digest(b"x")));
        assert!(!valid_digest(&digest(b"x").to_uppercase()));
        assert!(!valid_digest("abc"));
    }
}
