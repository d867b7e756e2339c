//! The Barman Cloud object layout, as pure functions: where a WAL file or a backup lives under
//! `<destinationPath>/<serverName>/`, and how to read an object name back into a file name and a
//! compression. barman-cloud-wal-restore and barman-cloud-restore read exactly these names.
//!
//! Keys are relative to the server root; joining them to a store and listing or fetching objects
//! is the caller's job (the manager's `objstore`), so this stays usable without an object store.

use super::CompressionType;

/// Every compression Barman Cloud recognises by suffix, plus the ones pgfed adds.
pub const ALL_COMPRESSIONS: [CompressionType; 6] = [
    CompressionType::Gzip,
    CompressionType::Bzip2,
    CompressionType::Snappy,
    CompressionType::Lz4,
    CompressionType::Zstd,
    CompressionType::Xz,
];

/// True for a WAL segment name, optionally followed by `.partial` or a `.backup` label suffix.
pub fn is_xlog_file(name: &str) -> bool {
    let Some(head) = name.get(..24) else {
        return false;
    };
    if !crate::lsn::is_wal_segment_file(head) {
        return false;
    }
    let rest = &name[24..];
    rest.is_empty()
        || rest == ".partial"
        || (rest.len() == 16
            && rest.starts_with('.')
            && rest.ends_with(".backup")
            && rest[1..9].chars().all(|c| c.is_ascii_hexdigit()))
}

/// True for a timeline history file name (`00000002.history`).
pub fn is_history_file(name: &str) -> bool {
    name.len() == 16
        && name.ends_with(".history")
        && name[..8].chars().all(|c| c.is_ascii_hexdigit())
}

/// The Barman directory for a WAL file: timeline + log for segments, none for history files.
pub fn wal_hash_dir(name: &str) -> Option<&str> {
    if is_xlog_file(name) {
        name.get(..16)
    } else {
        None
    }
}

/// Key (relative to the server root) of the directory that holds `name`.
pub fn wal_dir_key(name: &str) -> String {
    match wal_hash_dir(name) {
        Some(dir) => format!("wals/{dir}"),
        None => "wals".to_string(),
    }
}

/// Key (relative to the server root) of WAL file `name` stored with `compression`.
pub fn wal_key(name: &str, compression: Option<CompressionType>) -> String {
    format!(
        "{}/{name}{}",
        wal_dir_key(name),
        compression.map_or("", |c| c.suffix())
    )
}

/// Splits an object's base name into the WAL file name and its compression, if it is one.
pub fn parse_wal_object(object_name: &str) -> Option<(&str, Option<CompressionType>)> {
    let (stem, compression) = split_compression(object_name);
    (is_xlog_file(stem) || is_history_file(stem)).then_some((stem, compression))
}

/// Strips a known compression suffix.
pub fn split_compression(name: &str) -> (&str, Option<CompressionType>) {
    for c in ALL_COMPRESSIONS {
        if let Some(stem) = name.strip_suffix(c.suffix()) {
            return (stem, Some(c));
        }
    }
    (name, None)
}

/// Key of a backup's directory.
pub fn backup_dir_key(backup_id: &str) -> String {
    format!("base/{backup_id}")
}

/// Key of the tar archive `part` (0 = `data.tar`, n = `data_000n.tar`) of the data directory
/// (`tablespace` None) or of a tablespace (its OID), as barman-cloud-backup names them.
pub fn backup_tar_key(
    backup_id: &str,
    tablespace: Option<u32>,
    part: usize,
    compression: Option<CompressionType>,
) -> String {
    let base = tablespace.map_or_else(|| "data".to_string(), |oid| oid.to_string());
    let part = if part > 0 {
        format!("_{part:04}")
    } else {
        String::new()
    };
    let suffix = compression.map_or("", |c| c.suffix());
    format!("base/{backup_id}/{base}{part}.tar{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_keys_match_barman_cloud() {
        let cases = [
            (
                "000000010000000000000005",
                None,
                "wals/0000000100000000/000000010000000000000005",
            ),
            (
                "000000010000000000000005",
                Some(CompressionType::Gzip),
                "wals/0000000100000000/000000010000000000000005.gz",
            ),
            (
                "0000000200000001000000A0.partial",
                Some(CompressionType::Zstd),
                "wals/0000000200000001/0000000200000001000000A0.partial.zst",
            ),
            (
                "000000010000000000000002.00000028.backup",
                None,
                "wals/0000000100000000/000000010000000000000002.00000028.backup",
            ),
            ("00000002.history", None, "wals/00000002.history"),
            (
                "00000002.history",
                Some(CompressionType::Bzip2),
                "wals/00000002.history.bz2",
            ),
        ];
        for (name, c, want) in cases {
            assert_eq!(wal_key(name, c), want, "{name}");
        }
    }

    #[test]
    fn parses_object_names() {
        let cases = [
            (
                "000000010000000000000005.gz",
                Some(("000000010000000000000005", Some(CompressionType::Gzip))),
            ),
            (
                "000000010000000000000005",
                Some(("000000010000000000000005", None)),
            ),
            (
                "000000010000000000000005.partial.lz4",
                Some((
                    "000000010000000000000005.partial",
                    Some(CompressionType::Lz4),
                )),
            ),
            (
                "00000003.history.snappy",
                Some(("00000003.history", Some(CompressionType::Snappy))),
            ),
            ("backup.info", None),
            ("00000001000000000000000G", None),
            ("000000010000000000000005.tmp", None),
        ];
        for (name, want) in cases {
            assert_eq!(parse_wal_object(name), want, "{name}");
        }
    }

    #[test]
    fn backup_keys_match_barman_cloud() {
        assert_eq!(
            backup_tar_key("20260101T000000", None, 0, None),
            "base/20260101T000000/data.tar"
        );
        assert_eq!(
            backup_tar_key("20260101T000000", None, 2, Some(CompressionType::Gzip)),
            "base/20260101T000000/data_0002.tar.gz"
        );
        assert_eq!(
            backup_tar_key("X", Some(16385), 0, None),
            "base/X/16385.tar"
        );
    }
}
