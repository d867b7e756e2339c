//! Bookkeeping for segments uploaded ahead of PostgreSQL's request (parallel archiving): a marker
//! file per segment in PGDATA that records which Barman server area it went to. A later
//! archive_command for that segment is only skipped when it asks for the same area; a marker
//! left by another destination (the cluster's object store changed, a demoted primary now
//! archiving elsewhere) never stands in for an upload that did not happen.

use std::path::{Path, PathBuf};

/// Directory of the markers, inside PGDATA (and excluded from base backups).
pub fn marker_dir(pgdata: &Path) -> PathBuf {
    pgdata.join("pgfed_archive_spool")
}

/// Records that `name` was uploaded to the area `destination` names
/// ([`crate::objstore::server_identity`]).
pub fn record(dir: &Path, name: &str, destination: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, destination)?;
    std::fs::rename(&tmp, dir.join(name))
}

/// Consumes the marker of `name`: true when it records an upload to `destination`. A marker for
/// another destination is removed too (it will never match again) and the caller must upload.
pub fn take(dir: &Path, name: &str, destination: &str) -> std::io::Result<bool> {
    let marker = dir.join(name);
    let recorded = match std::fs::read(&marker) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    std::fs::remove_file(&marker)?;
    Ok(recorded == destination.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_counts_only_for_its_own_destination() {
        let dir = tempfile::tempdir().expect("tempdir");
        let markers = dir.path().join("spool");
        let seg = "000000010000000000000002";
        let cases = [
            // (recorded for, asked for, skipped)
            (Some("s3://main"), "s3://main", true),
            (Some("s3://main"), "s3://other", false),
            // Markers from before they named a destination are empty: never a match.
            (Some(""), "s3://main", false),
            (None, "s3://main", false),
        ];
        for (recorded, asked, want) in cases {
            match recorded {
                Some("") => {
                    std::fs::create_dir_all(&markers).expect("mkdir");
                    std::fs::write(markers.join(seg), b"").expect("write");
                }
                Some(d) => record(&markers, seg, d).expect("record"),
                None => {}
            }
            assert_eq!(
                take(&markers, seg, asked).expect("take"),
                want,
                "{recorded:?} {asked}"
            );
            assert!(
                !markers.join(seg).exists(),
                "the marker is consumed either way"
            );
        }
    }
}
