//! PostgreSQL's archiver status: which WAL files wait in `pg_wal/archive_status` with a `.ready`
//! file. The one place that reads that directory; the archiver batch, the demotion's final
//! archiving and the status report all ask here.

use std::path::{Path, PathBuf};

/// `pg_wal/archive_status` of a data directory.
pub fn archive_status_dir(pgdata: &Path) -> PathBuf {
    pgdata.join("pg_wal").join("archive_status")
}

/// Names of the WAL files marked `.ready` in `status_dir`, in no particular order.
pub fn ready_wal_files(status_dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(status_dir)? {
        // An entry that vanished while listing was archived meanwhile.
        let Ok(entry) = entry else { continue };
        if let Some(name) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_suffix(".ready"))
        {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_only_ready_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in [
            "000000010000000000000001.ready",
            "000000010000000000000002.done",
            "00000002.history.ready",
            "000000010000000000000003.ready.tmp",
        ] {
            std::fs::write(dir.path().join(f), b"").expect("write");
        }
        let mut ready = ready_wal_files(dir.path()).expect("list");
        ready.sort();
        assert_eq!(ready, ["000000010000000000000001", "00000002.history"]);
        assert!(ready_wal_files(&dir.path().join("missing")).is_err());
    }
}
