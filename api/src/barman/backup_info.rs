//! Barman's `backup.info`: `key=value` lines, Python literals for lists and strings. pgfed writes
//! what barman-cloud-restore reads and reads what barman-cloud-backup writes.
//!
//! Parsing, rendering and building only: the manager uploads and downloads the file, the
//! operators read backup times and WAL positions from its text, so everyone reads one catalog the
//! same way. What a finished or failed backup records is decided here from what the manager
//! observed ([`CompletedBackup`], [`FailedBackup`]).

use super::CompressionType;
use super::backup_label::BackupLabel;
use crate::lsn::{Lsn, WalSegmentName};
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::BTreeMap;

/// A tablespace as Barman records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tablespace {
    /// Name.
    pub name: String,
    /// OID (the pg_tblspc symlink name).
    pub oid: u32,
    /// Directory.
    pub location: String,
}

/// The fields of a backup.info the manager uses; other fields are kept verbatim.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupInfo {
    /// Every field, rendered as Barman writes it (`None` for null).
    pub fields: BTreeMap<String, String>,
}

/// A backup.info that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InfoError {
    /// A line that is neither `key=value`, blank nor a comment.
    #[error("backup.info: invalid line {0:?}")]
    InvalidLine(String),
    /// The `tablespaces` field is not a Python list of `(name, oid, location)` tuples.
    #[error("backup.info: tablespaces {text:?}: {problem}")]
    Tablespaces {
        /// The field's text.
        text: String,
        /// What is wrong with it.
        problem: TablespacesProblem,
    },
}

impl InfoError {
    /// A short, stable name for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            InfoError::InvalidLine(_) => "backup_info_line",
            InfoError::Tablespaces { .. } => "backup_info_tablespaces",
        }
    }
}

/// What is wrong with a `tablespaces` field.
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
pub enum TablespacesProblem {
    /// A quoted string never ends.
    #[error("unterminated string")]
    UnterminatedString,
    /// A backslash ends the text.
    #[error("dangling escape")]
    DanglingEscape,
    /// A number does not fit.
    #[error("bad integer")]
    BadInteger,
    /// An OID beyond 32 bits.
    #[error("oid out of range")]
    OidOutOfRange,
    /// A tuple is not `(name, oid, location)`.
    #[error("expected (name, oid, location)")]
    NotATuple,
}

impl BackupInfo {
    /// Parses the file text.
    pub fn parse(text: &str) -> Result<Self, InfoError> {
        let mut fields = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim_end();
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| InfoError::InvalidLine(line.to_string()))?;
            fields.insert(k.trim().to_string(), v.trim().to_string());
        }
        Ok(BackupInfo { fields })
    }

    /// Renders the file text: keys sorted, like Barman.
    pub fn render(&self) -> String {
        self.fields
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }

    /// A field, `None` when absent or null.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .get(key)
            .map(String::as_str)
            .filter(|v| *v != "None")
    }

    /// Sets a field; `None` writes Barman's null.
    pub fn set(&mut self, key: &str, value: Option<String>) {
        self.fields
            .insert(key.to_string(), value.unwrap_or_else(|| "None".to_string()));
    }

    /// `status` (DONE when usable).
    pub fn status(&self) -> Option<&str> {
        self.get("status")
    }

    /// The tablespaces, from Barman's Python list-of-tuples literal.
    pub fn tablespaces(&self) -> Result<Vec<Tablespace>, InfoError> {
        match self.get("tablespaces") {
            None => Ok(Vec::new()),
            Some(text) => parse_tablespaces(text),
        }
    }
}

/// What the manager observed of a backup that completed: `pg_backup_stop` returned and every
/// tar is uploaded.
#[derive(Clone, Debug)]
pub struct CompletedBackup<'a> {
    /// Backup ID (the `base/` directory name).
    pub backup_id: &'a str,
    /// Barman server name.
    pub server_name: &'a str,
    /// Data directory of the instance backed up.
    pub pgdata: &'a str,
    /// `server_version_num`.
    pub version: &'a str,
    /// System identifier.
    pub systemid: &'a str,
    /// WAL segment size in bytes.
    pub segment_size: u64,
    /// How the tars are compressed.
    pub compression: Option<CompressionType>,
    /// Tablespaces other than pg_default and pg_global.
    pub tablespaces: &'a [Tablespace],
    /// When pg_backup_start was called.
    pub begin_time: DateTime<Utc>,
    /// When pg_backup_stop returned.
    pub end_time: DateTime<Utc>,
    /// The backup_label text pg_backup_stop returned.
    pub label_text: &'a str,
    /// Its parsed fields.
    pub label: &'a BackupLabel,
    /// The LSN pg_backup_stop returned.
    pub end_lsn: Lsn,
    /// Bytes read from disk.
    pub size: u64,
}

/// The last WAL segment a backup needs: the one holding the byte just before `end_lsn`.
pub fn backup_end_wal(timeline: u32, end_lsn: Lsn, segment_size: u64) -> WalSegmentName {
    WalSegmentName::containing(timeline, Lsn(end_lsn.0.saturating_sub(1)), segment_size)
}

/// A timestamp as Python's `str(datetime)` writes it, which Barman reads back.
fn py_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, false)
        .replace('T', " ")
}

/// The name Barman records for a compression.
fn compression_name(c: CompressionType) -> &'static str {
    match c {
        CompressionType::Bzip2 => "bzip2",
        CompressionType::Gzip => "gzip",
        CompressionType::Lz4 => "lz4",
        CompressionType::Snappy => "snappy",
        CompressionType::Xz => "xz",
        CompressionType::Zstd => "zstd",
    }
}

impl BackupInfo {
    /// The backup.info of a completed backup (status DONE), with the fields
    /// barman-cloud-backup writes.
    pub fn completed(b: &CompletedBackup) -> BackupInfo {
        let mut info = BackupInfo::default();
        let end_wal = backup_end_wal(b.label.timeline, b.end_lsn, b.segment_size);
        let in_pgdata = |file: &str| Some(format!("{}/{file}", b.pgdata.trim_end_matches('/')));
        let fields = [
            ("backup_label", Some(py_repr(b.label_text))),
            (
                "begin_offset",
                Some((b.label.start_lsn.0 % b.segment_size).to_string()),
            ),
            ("begin_time", Some(py_timestamp(b.begin_time))),
            ("begin_wal", Some(b.label.start_wal.clone())),
            ("begin_xlog", Some(b.label.start_lsn.to_string())),
            (
                "compression",
                b.compression.map(|c| compression_name(c).to_string()),
            ),
            ("config_file", in_pgdata("postgresql.conf")),
            ("copy_stats", None),
            ("deduplicated_size", None),
            (
                "end_offset",
                Some((b.end_lsn.0.saturating_sub(1) % b.segment_size + 1).to_string()),
            ),
            ("end_time", Some(py_timestamp(b.end_time))),
            ("end_wal", Some(end_wal.to_string())),
            ("end_xlog", Some(b.end_lsn.to_string())),
            ("error", None),
            ("hba_file", in_pgdata("pg_hba.conf")),
            ("ident_file", in_pgdata("pg_ident.conf")),
            ("included_files", None),
            ("mode", Some("concurrent".to_string())),
            ("pgdata", Some(b.pgdata.to_string())),
            ("server_name", Some(b.server_name.to_string())),
            ("size", Some(b.size.to_string())),
            ("status", Some("DONE".to_string())),
            ("systemid", Some(b.systemid.to_string())),
            ("tablespaces", render_tablespaces(b.tablespaces)),
            ("timeline", Some(b.label.timeline.to_string())),
            ("version", Some(b.version.to_string())),
            ("xlog_segment_size", Some(b.segment_size.to_string())),
        ];
        for (k, v) in fields {
            info.set(k, v);
        }
        info
    }

    /// The backup.info of a backup that failed (status FAILED) with `error`: what was uploaded
    /// stays, as Barman does, so catalogs skip it and people see why.
    pub fn failed(b: &FailedBackup) -> BackupInfo {
        let mut info = BackupInfo::default();
        let fields = [
            ("backup_id", b.backup_id.to_string()),
            ("begin_time", py_timestamp(b.begin_time)),
            ("end_time", py_timestamp(b.end_time)),
            // backup.info is one key=value per line.
            ("error", b.error.replace(['\n', '\r'], " ")),
            ("status", "FAILED".to_string()),
            ("systemid", b.systemid.to_string()),
            ("version", b.version.to_string()),
        ];
        for (k, v) in fields {
            info.set(k, Some(v));
        }
        info
    }
}

/// What the manager knows of a backup that failed after pg_backup_start.
#[derive(Clone, Debug)]
pub struct FailedBackup<'a> {
    /// Backup ID.
    pub backup_id: &'a str,
    /// When pg_backup_start was called.
    pub begin_time: DateTime<Utc>,
    /// When the failure was seen.
    pub end_time: DateTime<Utc>,
    /// Why it failed.
    pub error: &'a str,
    /// System identifier.
    pub systemid: &'a str,
    /// `server_version_num`.
    pub version: &'a str,
}

/// Python `repr()` of a string, which `ast.literal_eval` reads back.
pub fn py_repr(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Renders tablespaces as Barman does: `[('name', oid, 'location'), ...]`, or `None`.
pub fn render_tablespaces(t: &[Tablespace]) -> Option<String> {
    if t.is_empty() {
        return None;
    }
    let items: Vec<String> = t
        .iter()
        .map(|t| {
            format!(
                "({}, {}, {})",
                py_repr(&t.name),
                t.oid,
                py_repr(&t.location)
            )
        })
        .collect();
    Some(format!("[{}]", items.join(", ")))
}

/// Reads Barman's tablespace list: tuples of (string, int, string), in any quoting Python uses.
pub fn parse_tablespaces(text: &str) -> Result<Vec<Tablespace>, InfoError> {
    let bad = |problem| InfoError::Tablespaces {
        text: text.to_string(),
        problem,
    };
    let tokens = tokenize(text).map_err(bad)?;
    let mut out = Vec::new();
    let mut tuple: Vec<Token> = Vec::new();
    let mut in_tuple = false;
    for tok in tokens {
        match tok {
            Token::Open('(') => {
                in_tuple = true;
                tuple.clear();
            }
            Token::Close(')') => {
                in_tuple = false;
                match tuple.as_slice() {
                    [Token::Str(name), Token::Int(oid), Token::Str(location), ..] => {
                        out.push(Tablespace {
                            name: name.clone(),
                            oid: u32::try_from(*oid)
                                .map_err(|_| bad(TablespacesProblem::OidOutOfRange))?,
                            location: location.clone(),
                        })
                    }
                    _ => return Err(bad(TablespacesProblem::NotATuple)),
                }
            }
            t @ (Token::Str(_) | Token::Int(_)) if in_tuple => tuple.push(t),
            _ => {}
        }
    }
    Ok(out)
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Open(char),
    Close(char),
    Str(String),
    Int(i64),
}

fn tokenize(text: &str) -> Result<Vec<Token>, TablespacesProblem> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '[' | '(' => out.push(Token::Open(c)),
            ']' | ')' => out.push(Token::Close(c)),
            '\'' | '"' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err(TablespacesProblem::UnterminatedString),
                        Some(q) if q == c => break,
                        Some('\\') => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            Some(other) => s.push(other),
                            None => return Err(TablespacesProblem::DanglingEscape),
                        },
                        Some(ch) => s.push(ch),
                    }
                }
                out.push(Token::Str(s));
            }
            d if d.is_ascii_digit() => {
                let mut n = d.to_string();
                while let Some(&next) = chars.peek() {
                    if !next.is_ascii_digit() {
                        break;
                    }
                    n.push(next);
                    chars.next();
                }
                out.push(Token::Int(
                    n.parse().map_err(|_| TablespacesProblem::BadInteger)?,
                ));
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tablespaces_round_trip_and_read_barman_forms() {
        let t = vec![
            Tablespace {
                name: "tbs1".into(),
                oid: 16385,
                location: "/var/lib/tbs1".into(),
            },
            Tablespace {
                name: "it's".into(),
                oid: 16390,
                location: "/x".into(),
            },
        ];
        let text = render_tablespaces(&t).expect("some");
        assert_eq!(
            text,
            r"[('tbs1', 16385, '/var/lib/tbs1'), ('it\'s', 16390, '/x')]"
        );
        assert_eq!(parse_tablespaces(&text).expect("parse"), t);
        let barman = r#"[("it's", 16390, '/x')]"#;
        assert_eq!(parse_tablespaces(barman).expect("parse")[0].name, "it's");
        assert!(parse_tablespaces("[('a', 'b')]").is_err());
        assert_eq!(render_tablespaces(&[]), None);
    }

    #[test]
    fn fields_and_nulls() {
        let text = "backup_label='START WAL LOCATION: 0/2000028\\n'\nerror=None\nstatus=DONE\ntablespaces=None\n";
        let info = BackupInfo::parse(text).expect("parse");
        assert_eq!(info.status(), Some("DONE"));
        assert_eq!(info.get("error"), None);
        assert!(info.tablespaces().expect("ts").is_empty());
        assert_eq!(info.render(), text);
        assert!(BackupInfo::parse("no equals sign").is_err());
        assert_eq!(py_repr("a\nb'c\\"), r"'a\nb\'c\\'");
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("timestamp")
            .with_timezone(&Utc)
    }

    #[test]
    fn completed_backups_record_where_their_wal_starts_and_ends() {
        const MIB16: u64 = 16 << 20;
        let label = |lsn: &str, wal: &str, timeline| BackupLabel {
            start_lsn: lsn.parse().expect("lsn"),
            start_wal: wal.into(),
            timeline,
        };
        // (label, end LSN, segment size, compression) →
        // (begin_offset, end_offset, end_wal, compression field)
        let cases = [
            (
                label("0/2000028", "000000010000000000000002", 1),
                "0/2000138",
                MIB16,
                Some(CompressionType::Gzip),
                ("40", "312", "000000010000000000000002", "gzip"),
            ),
            // Ending exactly on a segment boundary: the last byte is in the previous segment.
            (
                label("0/2000028", "000000010000000000000002", 1),
                "0/4000000",
                MIB16,
                None,
                ("40", "16777216", "000000010000000000000003", "None"),
            ),
            (
                label("1/FF000060", "0000000300000001000000FF", 3),
                "2/100",
                MIB16,
                Some(CompressionType::Zstd),
                ("96", "256", "000000030000000200000000", "zstd"),
            ),
            // 64 MiB segments.
            (
                label("0/4000028", "000000010000000000000001", 1),
                "0/8000010",
                64 << 20,
                Some(CompressionType::Bzip2),
                ("40", "16", "000000010000000000000002", "bzip2"),
            ),
        ];
        for (label, end, segment_size, compression, want) in cases {
            let b = CompletedBackup {
                backup_id: "20261130T120000",
                server_name: "alpha",
                pgdata: "/var/lib/postgresql/data/pgdata",
                version: "150010",
                systemid: "7301234567890123456",
                segment_size,
                compression,
                tablespaces: &[],
                begin_time: at("2026-11-30T12:00:00Z"),
                end_time: at("2026-11-30T12:01:02.5Z"),
                label_text: "START WAL LOCATION: x\n",
                label: &label,
                end_lsn: end.parse().expect("lsn"),
                size: 1234,
            };
            let info = BackupInfo::completed(&b);
            let got = (
                info.fields["begin_offset"].as_str(),
                info.fields["end_offset"].as_str(),
                info.fields["end_wal"].as_str(),
                info.fields["compression"].as_str(),
            );
            assert_eq!(got, want, "{label:?} {end}");
            assert_eq!(info.get("begin_wal"), Some(label.start_wal.as_str()));
            assert_eq!(info.get("end_xlog"), Some(end));
            assert_eq!(
                info.get("timeline"),
                Some(label.timeline.to_string().as_str())
            );
        }
    }

    #[test]
    fn completed_backups_carry_what_barman_cloud_restore_reads() {
        let label = BackupLabel {
            start_lsn: "0/2000028".parse().expect("lsn"),
            start_wal: "000000010000000000000002".into(),
            timeline: 1,
        };
        let tablespaces = [Tablespace {
            name: "tbs".into(),
            oid: 16385,
            location: "/t".into(),
        }];
        let b = CompletedBackup {
            backup_id: "b1",
            server_name: "alpha",
            pgdata: "/data/",
            version: "150010",
            systemid: "42",
            segment_size: 16 << 20,
            compression: None,
            tablespaces: &tablespaces,
            begin_time: at("2026-11-30T12:00:00Z"),
            end_time: at("2026-11-30T12:01:02.5Z"),
            label_text: "START WAL LOCATION: 0/2000028\n",
            label: &label,
            end_lsn: "0/2000138".parse().expect("lsn"),
            size: 99,
        };
        let info = BackupInfo::completed(&b);
        let cases = [
            ("status", Some("DONE")),
            ("mode", Some("concurrent")),
            ("backup_label", Some(r"'START WAL LOCATION: 0/2000028\n'")),
            ("begin_time", Some("2026-11-30 12:00:00.000000+00:00")),
            ("end_time", Some("2026-11-30 12:01:02.500000+00:00")),
            ("config_file", Some("/data/postgresql.conf")),
            ("hba_file", Some("/data/pg_hba.conf")),
            ("ident_file", Some("/data/pg_ident.conf")),
            ("pgdata", Some("/data/")),
            ("server_name", Some("alpha")),
            ("size", Some("99")),
            ("systemid", Some("42")),
            ("version", Some("150010")),
            ("xlog_segment_size", Some("16777216")),
            ("tablespaces", Some("[('tbs', 16385, '/t')]")),
            ("error", None),
            ("copy_stats", None),
        ];
        for (key, want) in cases {
            assert_eq!(info.get(key), want, "{key}");
        }
        // What it renders reads back to the same fields and tablespaces.
        let back = BackupInfo::parse(&info.render()).expect("parse");
        assert_eq!(back, info);
        assert_eq!(
            back.tablespaces().expect("tablespaces").as_slice(),
            &tablespaces
        );
    }

    #[test]
    fn failed_backups_record_the_reason_on_one_line() {
        let f = FailedBackup {
            backup_id: "b2",
            begin_time: at("2026-11-30T12:00:00Z"),
            end_time: at("2026-11-30T12:05:00Z"),
            error: "archiving stalled\nsecond line\r",
            systemid: "42",
            version: "150010",
        };
        let info = BackupInfo::failed(&f);
        let cases = [
            ("status", Some("FAILED")),
            ("backup_id", Some("b2")),
            ("error", Some("archiving stalled second line ")),
            ("end_time", Some("2026-11-30 12:05:00.000000+00:00")),
        ];
        for (key, want) in cases {
            assert_eq!(info.get(key), want, "{key}");
        }
        assert_eq!(info.render().lines().count(), info.fields.len());
    }

    #[test]
    fn unreadable_fields_say_what_is_wrong() {
        let cases = [
            ("[('a', 'b')]", TablespacesProblem::NotATuple),
            ("[('a, 1, '/x')]", TablespacesProblem::UnterminatedString),
            (
                "[('a', 99999999999, '/x')]",
                TablespacesProblem::OidOutOfRange,
            ),
            ("[('a\\", TablespacesProblem::DanglingEscape),
        ];
        for (text, problem) in cases {
            assert_eq!(
                parse_tablespaces(text),
                Err(InfoError::Tablespaces {
                    text: text.to_string(),
                    problem
                }),
                "{text}"
            );
        }
        assert_eq!(
            BackupInfo::parse("no equals sign"),
            Err(InfoError::InvalidLine("no equals sign".into()))
        );
    }
}
