//! `manager bootstrap <dest>`: the init container of every instance pod runs the manager from the
//! operator image to copy itself into a volume shared with the PostgreSQL container, so any image
//! with PostgreSQL's binaries can be the operand without carrying pgfed. The copy is written
//! beside the destination and renamed over it, so a restarted init container never leaves a
//! half-written executable for the PostgreSQL container to start.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why the manager could not install itself.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The running executable cannot be found.
    #[error("locating the running manager: {0}")]
    CurrentExe(#[source] std::io::Error),
    /// A step of the copy failed.
    #[error("{step} {path}: {source}")]
    Io {
        /// What was being done.
        step: &'static str,
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl InstallError {
    /// A short, stable name of the cause, for metrics labels and Events.
    pub fn label(&self) -> &'static str {
        match self {
            InstallError::CurrentExe(_) => "current_exe",
            InstallError::Io { .. } => "install_io",
        }
    }
}

/// Copies `source` to `dest` (mode 0755) through a temporary file in the same directory and a
/// rename, fsyncing the file before the rename.
pub fn install_copy(source: &Path, dest: &Path) -> Result<(), InstallError> {
    let io = |step: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| InstallError::Io { step, path, source }
    };
    let bytes = std::fs::read(source).map_err(io("reading", source))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "manager".into());
    let temp = dest.with_file_name(format!(".{name}.installing"));
    let mut file = std::fs::File::create(&temp).map_err(io("creating", &temp))?;
    file.write_all(&bytes).map_err(io("writing", &temp))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o755))
        .map_err(io("setting the mode of", &temp))?;
    file.sync_all().map_err(io("syncing", &temp))?;
    drop(file);
    std::fs::rename(&temp, dest).map_err(io("renaming into", dest))
}

/// Copies the running manager to `dest`.
pub fn install_self(dest: &Path) -> Result<(), InstallError> {
    let me = std::env::current_exe().map_err(InstallError::CurrentExe)?;
    install_copy(&me, dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_an_executable_copy_over_an_old_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = dir.path().join("source");
        std::fs::write(&source, b"new manager").expect("source");
        let dest = dir.path().join("manager");
        std::fs::write(&dest, b"old").expect("old copy");
        install_copy(&source, &dest).expect("installed");
        assert_eq!(std::fs::read(&dest).expect("read"), b"new manager");
        let mode = std::fs::metadata(&dest).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 2, "no temporary file left: {left:?}");
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = dir.path().join("source");
        std::fs::write(&source, b"m").expect("source");
        let err = install_copy(&source, &dir.path().join("absent/manager")).expect_err("refused");
        assert_eq!(err.label(), "install_io");
        assert!(err.to_string().contains("absent"), "{err}");
    }
}
