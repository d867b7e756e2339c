//! The WAL segment in progress, shipped every few seconds so that replica clusters replaying
//! only the object store lag by seconds rather than by `archive_timeout`: pure decisions for the
//! primary's uploader (`run::partial_wal`) and for wal-restore.
//!
//! One object per segment, `<serverName>/pgfed-partial/<segment>[.gz|.zst…]`, overwritten while
//! the segment grows. It lives outside the Barman `wals/` tree, so it never replaces an archived
//! segment and barman-cloud-wal-restore, Barman's retention and listings never see it. It holds
//! the segment's bytes up to the primary's flush LSN, never further: bytes past the flush may be
//! lost in a crash, and a replica must never be ahead of its primary. wal-restore serves it,
//! zero-padded to the segment size, only to a standby of a replica cluster and only when the
//! archive has no copy of the segment; PostgreSQL replays up to the zeros and asks for the same
//! segment again at its next retry, when it gets a longer copy or the archived one.

use pgfed_api::barman::CompressionType;
use pgfed_api::barman::layout;
use pgfed_api::lsn::{Lsn, WalSegmentName, is_wal_segment_file};

/// Directory of the in-progress segments, relative to the Barman server root.
pub const PARTIAL_DIR: &str = "pgfed-partial";

/// Key (relative to the server root) of the in-progress copy of `segment`.
pub fn partial_key(segment: &str, compression: Option<CompressionType>) -> String {
    format!(
        "{PARTIAL_DIR}/{segment}{}",
        compression.map_or("", |c| c.suffix())
    )
}

/// Where the primary's WAL stands, as it reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flushed {
    /// `pg_current_wal_flush_lsn()`.
    pub lsn: Lsn,
    /// The timeline WAL is written on.
    pub timeline: u32,
    /// `wal_segment_size` in bytes.
    pub segment_size: u64,
}

/// What the last successful upload carried: up to `lsn` on `timeline`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uploaded {
    /// Timeline of the uploaded segment.
    pub timeline: u32,
    /// Flush LSN it was uploaded up to.
    pub lsn: Lsn,
}

/// One upload: the first `len` bytes of `segment`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upload {
    /// The segment being written.
    pub segment: WalSegmentName,
    /// How many of its bytes are flushed.
    pub len: u64,
}

/// The upload due now, if any: the segment holding the flush LSN, up to it, when WAL was
/// flushed since the last upload (or the timeline changed) and that segment has bytes and is not
/// archived yet. Pure.
pub fn upload_due(
    flushed: &Flushed,
    last: Option<Uploaded>,
    last_archived: Option<&str>,
) -> Option<Upload> {
    if last.is_some_and(|u| u.timeline == flushed.timeline && u.lsn >= flushed.lsn) {
        return None;
    }
    let segment = WalSegmentName::containing(flushed.timeline, flushed.lsn, flushed.segment_size);
    let len = flushed.lsn.0 - segment.start_lsn().0;
    // At a segment boundary the segment before is complete (the archiver's business) and the
    // next one holds nothing yet.
    if len == 0 {
        return None;
    }
    if archived_segment(last_archived).is_some_and(|a| a >= segment.to_string().as_str()) {
        return None;
    }
    Some(Upload { segment, len })
}

/// `pg_stat_archiver.last_archived_wal` when it names a complete segment; a history, backup
/// label or `.partial` file says nothing about which segments are archived whole. Pure.
pub fn archived_segment(last_archived: Option<&str>) -> Option<&str> {
    last_archived.filter(|n| is_wal_segment_file(n))
}

/// The listed in-progress objects (base names) to delete once `archived` (a complete segment)
/// is archived: those of segments named up to it. Archiving goes in order, so every segment up
/// to it is archived whole; a segment of an older timeline named before it belongs to a history
/// a newer timeline replaced, and is never served again. Objects of later segments, and anything
/// whose name is not a segment's, are left alone. Pure.
pub fn deletions(listed: &[String], archived: &str) -> Vec<String> {
    if !is_wal_segment_file(archived) {
        return Vec::new();
    }
    listed
        .iter()
        .filter(|object| {
            let (stem, _) = layout::split_compression(object);
            is_wal_segment_file(stem) && stem <= archived
        })
        .cloned()
        .collect()
}

/// Whether a cleanup is due: archiving reached a complete segment that the last cleanup did
/// not see. Returns that segment. Pure.
pub fn cleanup_due<'a>(
    last_archived: Option<&'a str>,
    cleaned_for: Option<&str>,
) -> Option<&'a str> {
    archived_segment(last_archived).filter(|a| Some(*a) != cleaned_for)
}

/// Whether wal-restore may answer a request for `name` with an in-progress copy: only for a WAL
/// segment (never a history file), only while PostgreSQL is a standby (`standby.signal`: it
/// keeps retrying, where a recovery to a target would end at the zeros and fork a timeline off a
/// segment still being written), and only from the primary this instance follows (`server`, the
/// Barman server being read, is `followed`: a replica cluster's source, or a standby's own
/// cluster). Pure.
pub fn serves_in_progress(name: &str, followed: Option<&str>, server: &str, standby: bool) -> bool {
    is_wal_segment_file(name) && standby && followed == Some(server)
}

/// The in-progress object serving `name` among `listed` (keys relative to the server root with
/// their modification times): the most recently written one, in case the compression changed
/// between two uploads. Pure.
pub fn find_in_progress<T: Ord + Copy>(
    listed: &[(String, T)],
    name: &str,
) -> Option<(String, Option<CompressionType>)> {
    listed
        .iter()
        .filter_map(|(key, modified)| {
            let object = key.strip_prefix(PARTIAL_DIR)?.strip_prefix('/')?;
            let (stem, c) = layout::split_compression(object);
            (stem == name).then(|| (*modified, object.to_string(), c))
        })
        .max_by_key(|(modified, _, _)| *modified)
        .map(|(_, object, c)| (object, c))
}

/// Whether the archive's `wals/` (base names directly in it) holds the history of a timeline
/// newer than `timeline`: a fork decided where `timeline` ends, and only what PostgreSQL archived
/// of it (complete or `.partial`) may be replayed; an in-progress copy could run past the fork.
/// Pure.
pub fn superseded(timeline: u32, wal_root: &[String]) -> bool {
    wal_root.iter().any(|object| {
        let (stem, _) = layout::split_compression(object);
        layout::is_history_file(stem)
            && u32::from_str_radix(&stem[..8], 16).is_ok_and(|t| t > timeline)
    })
}

/// Why bytes are not a prefix of the WAL segment they are named after.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotThisSegment {
    /// Too short for the segment's first page header.
    #[error("{0} bytes cannot hold a WAL segment's first page header")]
    TooShort(usize),
    /// The first page does not carry the long header every segment starts with.
    #[error("the first page has no long header")]
    NoLongHeader,
    /// The long header names a size PostgreSQL never uses.
    #[error("the first page names a segment size of {0} bytes")]
    BadSegmentSize(u64),
    /// The long header names a WAL page size PostgreSQL never uses.
    #[error("the first page names a WAL page size of {0} bytes")]
    BadPageSize(u64),
    /// Longer than a segment.
    #[error("{len} bytes, more than the segment size {segment_size}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The segment size.
        segment_size: u64,
    },
    /// The name is not a segment name for that segment size.
    #[error("{0} is not a segment name")]
    BadName(String),
    /// A page header names another place in WAL (a recycled file, another segment's bytes).
    #[error("the page at offset {offset} belongs at {found}, not {expected}")]
    WrongPage {
        /// Offset of the page in the segment.
        offset: u64,
        /// The LSN the page should start at.
        expected: Lsn,
        /// The LSN its header names.
        found: Lsn,
    },
}

/// `xlp_info` flag of a page that starts with the long header (the first page of a segment).
const XLP_LONG_HEADER: u16 = 0x0002;
/// Size of the long page header (`XLogLongPageHeaderData`), the first 40 bytes of a segment.
const LONG_HEADER_LEN: usize = 40;
/// Bytes of a page header up to and including `xlp_pageaddr`.
const PAGE_ADDR_END: usize = 16;

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(data.get(at..at + 8)?.try_into().ok()?))
}

/// The segment and WAL page sizes the first page of `data` names (its long header), checked to
/// be sizes PostgreSQL uses. Pure.
pub fn header_sizes(data: &[u8]) -> Result<(u64, u64), NotThisSegment> {
    if data.len() < LONG_HEADER_LEN {
        return Err(NotThisSegment::TooShort(data.len()));
    }
    let info = u16_at(data, 2).unwrap_or(0);
    if info & XLP_LONG_HEADER == 0 {
        return Err(NotThisSegment::NoLongHeader);
    }
    let segment_size = u64::from(u32_at(data, 32).unwrap_or(0));
    if !super::plan::valid_segment_size(segment_size) {
        return Err(NotThisSegment::BadSegmentSize(segment_size));
    }
    let page_size = u64::from(u32_at(data, 36).unwrap_or(0));
    if !page_size.is_power_of_two() || !(1 << 10..=1 << 16).contains(&page_size) {
        return Err(NotThisSegment::BadPageSize(page_size));
    }
    Ok((segment_size, page_size))
}

/// Checks that every page header in `data` (the first bytes of `segment`, pages of `page_size`)
/// names the place in WAL where that page belongs: a file recycled under another name, or a
/// copy of another segment, fails. Only headers wholly inside `data` are read. Pure.
pub fn check_pages(
    data: &[u8],
    segment: WalSegmentName,
    page_size: u64,
) -> Result<(), NotThisSegment> {
    let start = segment.start_lsn().0;
    let step = usize::try_from(page_size.max(1)).unwrap_or(usize::MAX);
    for offset in (0..data.len()).step_by(step) {
        if offset + PAGE_ADDR_END > data.len() {
            break;
        }
        let found = u64_at(data, offset + 8).unwrap_or(0);
        let expected = start + offset as u64;
        if found != expected {
            return Err(NotThisSegment::WrongPage {
                offset: offset as u64,
                expected: Lsn(expected),
                found: Lsn(found),
            });
        }
    }
    Ok(())
}

/// Checks that `data` is the start of segment `name`: a long header naming sizes PostgreSQL
/// uses, no longer than a segment, every page where it belongs. Returns the segment size. Pure.
pub fn check_prefix(name: &str, data: &[u8]) -> Result<u64, NotThisSegment> {
    let (segment_size, page_size) = header_sizes(data)?;
    if data.len() as u64 > segment_size {
        return Err(NotThisSegment::TooLong {
            len: data.len(),
            segment_size,
        });
    }
    let segment = WalSegmentName::parse(name, segment_size)
        .map_err(|_| NotThisSegment::BadName(name.to_string()))?;
    check_pages(data, segment, page_size)?;
    Ok(segment_size)
}

/// Where restore records the in-progress copies it served (inside PGDATA, excluded from base
/// backups with the archive markers): one file per segment, holding the SHA-256 of the copy.
pub fn served_dir(pgdata: &std::path::Path) -> std::path::PathBuf {
    super::ahead::marker_dir(pgdata).join("in-progress")
}

/// Records that `name` was served as the in-progress copy `data`. Every copy served is kept, not
/// only the last: restore records a longer copy before PostgreSQL moves it into `pg_wal`, so the
/// archiver may still be looking at the shorter one served before.
pub fn record_served(pgdata: &std::path::Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    let dir = served_dir(pgdata);
    std::fs::create_dir_all(&dir)?;
    let digest = crate::run::upgrade::digest(data);
    let mut recorded = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    if recorded.lines().any(|l| l.trim() == digest) {
        return Ok(());
    }
    recorded.push_str(&digest);
    recorded.push('\n');
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, recorded)?;
    std::fs::rename(&tmp, dir.join(name))
}

/// Forgets `name`: a complete copy replaced it.
pub fn forget_served(pgdata: &std::path::Path, name: &str) {
    let _ = std::fs::remove_file(served_dir(pgdata).join(name));
}

/// Whether the file `data` of segment `name` is the in-progress copy restore served for it (and
/// not a complete copy restored since, which has other content).
pub fn is_served_copy(pgdata: &std::path::Path, name: &str, data: &[u8]) -> bool {
    let digest = crate::run::upgrade::digest(data);
    std::fs::read_to_string(served_dir(pgdata).join(name))
        .is_ok_and(|recorded| recorded.lines().any(|l| l.trim() == digest))
}

/// Whether `local`, a file in `pg_wal` named after a segment, holds nothing that `archived`, the
/// copy of that segment already in the archive, lacks: the same bytes up to its last non-zero
/// byte and zeros after it — an in-progress copy restore served, zero-padded, of the segment
/// archived whole since. Archiving it is then done. This needs no record of what restore served,
/// so it holds whatever order PostgreSQL's restore and archiver ran in. Pure.
pub fn carried_by(local: &[u8], archived: &[u8]) -> bool {
    if local.len() != archived.len() {
        return false;
    }
    let end = local.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    local.get(..end) == archived.get(..end)
}

/// Turns the in-progress copy of segment `name` into the file PostgreSQL expects: checked to be
/// the start of that segment ([`check_prefix`]), then zero-padded to the segment size, which
/// restore_command must deliver (a shorter file is taken for one still being copied). Pure.
pub fn zero_padded(name: &str, mut data: Vec<u8>) -> Result<Vec<u8>, NotThisSegment> {
    let segment_size = check_prefix(name, &data)?;
    data.resize(usize::try_from(segment_size).unwrap_or(usize::MAX), 0);
    Ok(data)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const SEG: u64 = 16 << 20;
    const PAGE: u64 = 8192;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// The first `len` bytes of `segment` as PostgreSQL writes them: a long header on the first
    /// page, a short one on every other, each naming its own LSN; records are stand-in bytes.
    pub(crate) fn segment_bytes(segment: WalSegmentName, len: usize) -> Vec<u8> {
        let mut data = vec![0x5a; len];
        let page = PAGE as usize;
        for offset in (0..len).step_by(page) {
            let header = if offset == 0 { LONG_HEADER_LEN } else { 24 };
            let mut h = vec![0u8; header];
            h[0..2].copy_from_slice(&0xD110u16.to_le_bytes());
            let info = if offset == 0 { XLP_LONG_HEADER } else { 0 };
            h[2..4].copy_from_slice(&info.to_le_bytes());
            h[4..8].copy_from_slice(&segment.timeline.to_le_bytes());
            h[8..16].copy_from_slice(&(segment.start_lsn().0 + offset as u64).to_le_bytes());
            if offset == 0 {
                h[24..32].copy_from_slice(&7_000_000_000_000_000_001u64.to_le_bytes());
                h[32..36].copy_from_slice(&(segment.segment_size as u32).to_le_bytes());
                h[36..40].copy_from_slice(&(PAGE as u32).to_le_bytes());
            }
            let end = (offset + header).min(len);
            data[offset..end].copy_from_slice(&h[..end - offset]);
        }
        data
    }

    fn seg(name: &str) -> WalSegmentName {
        WalSegmentName::parse(name, SEG).expect("segment name")
    }

    #[test]
    fn a_served_copy_is_recognised_until_a_complete_one_replaces_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let name = "000000030000000000000008";
        let padded =
            zero_padded(name, segment_bytes(seg(name), 3 * PAGE as usize + 100)).expect("a prefix");
        let complete = segment_bytes(seg(name), SEG as usize);
        assert!(!is_served_copy(dir.path(), name, &padded));
        record_served(dir.path(), name, &padded).expect("record");
        assert!(is_served_copy(dir.path(), name, &padded));
        assert!(!is_served_copy(dir.path(), name, &complete));
        assert!(!is_served_copy(
            dir.path(),
            "000000030000000000000009",
            &padded
        ));
        // A longer copy served later: the shorter one, maybe still in pg_wal, is still known.
        let longer =
            zero_padded(name, segment_bytes(seg(name), 5 * PAGE as usize)).expect("a prefix");
        record_served(dir.path(), name, &longer).expect("record");
        record_served(dir.path(), name, &longer).expect("record again");
        assert!(is_served_copy(dir.path(), name, &padded));
        assert!(is_served_copy(dir.path(), name, &longer));
        assert!(!is_served_copy(dir.path(), name, &complete));
        forget_served(dir.path(), name);
        assert!(!is_served_copy(dir.path(), name, &padded));
        assert!(!is_served_copy(dir.path(), name, &longer));
    }

    #[test]
    fn a_zero_padded_prefix_is_carried_by_the_complete_segment_and_nothing_else_is() {
        let name = "000000030000000000000008";
        let complete = segment_bytes(seg(name), SEG as usize);
        let prefix =
            zero_padded(name, segment_bytes(seg(name), 3 * PAGE as usize + 100)).expect("a prefix");
        let mut altered = prefix.clone();
        altered[2 * PAGE as usize + 50] ^= 0xff;
        let mut past_the_end = prefix.clone();
        past_the_end[SEG as usize - 1] = 1;
        let other = segment_bytes(seg("000000030000000000000009"), SEG as usize);
        let cases: [(&str, &[u8], bool); 6] = [
            ("the in-progress copy", &prefix, true),
            ("the complete segment itself", &complete, true),
            ("a changed byte within the prefix", &altered, false),
            ("a byte past what the archive holds", &past_the_end, false),
            ("another segment's bytes", &other, false),
            ("a shorter file", &prefix[..PAGE as usize], false),
        ];
        for (what, local, carried) in cases {
            assert_eq!(carried_by(local, &complete), carried, "{what}");
        }
    }

    #[test]
    fn an_upload_is_due_when_the_flush_moved_within_a_segment_not_yet_archived() {
        let at = |lsn: &str| Flushed {
            lsn: lsn.parse().expect("lsn"),
            timeline: 1,
            segment_size: SEG,
        };
        let up = |timeline, lsn: &str| {
            Some(Uploaded {
                timeline,
                lsn: lsn.parse().expect("lsn"),
            })
        };
        let want = |name: &str, len: u64| {
            Some(Upload {
                segment: seg(name),
                len,
            })
        };
        let cases = [
            // (what, flushed, last uploaded, last archived, upload)
            (
                "first round",
                at("0/3000100"),
                None,
                None,
                want("000000010000000000000003", 0x100),
            ),
            (
                "nothing flushed since",
                at("0/3000100"),
                up(1, "0/3000100"),
                None,
                None,
            ),
            (
                "flushed more",
                at("0/3000200"),
                up(1, "0/3000100"),
                None,
                want("000000010000000000000003", 0x200),
            ),
            (
                "into the next segment",
                at("0/4000010"),
                up(1, "0/3FFFFF0"),
                Some("000000010000000000000003"),
                want("000000010000000000000004", 0x10),
            ),
            (
                "at a segment boundary",
                at("0/4000000"),
                up(1, "0/3000100"),
                None,
                None,
            ),
            (
                "the same LSN on a new timeline",
                Flushed {
                    timeline: 2,
                    ..at("0/3000100")
                },
                up(1, "0/3000100"),
                None,
                want("000000020000000000000003", 0x100),
            ),
            (
                "segment already archived",
                at("0/3000100"),
                None,
                Some("000000010000000000000003"),
                None,
            ),
            (
                "a later segment archived",
                at("0/3000100"),
                None,
                Some("000000010000000000000005"),
                None,
            ),
            (
                "an earlier segment archived",
                at("0/3000100"),
                None,
                Some("000000010000000000000002"),
                want("000000010000000000000003", 0x100),
            ),
            // Neither a history file nor a .partial says the segment is archived whole.
            (
                "history archived",
                at("0/3000100"),
                None,
                Some("00000002.history"),
                want("000000010000000000000003", 0x100),
            ),
            (
                "partial archived",
                at("0/3000100"),
                None,
                Some("000000010000000000000003.partial"),
                want("000000010000000000000003", 0x100),
            ),
            (
                "a 1 GiB segment",
                Flushed {
                    segment_size: 1 << 30,
                    ..at("1/40000010")
                },
                None,
                None,
                Some(Upload {
                    segment: WalSegmentName::parse("000000010000000100000001", 1 << 30)
                        .expect("name"),
                    len: 0x10,
                }),
            ),
        ];
        for (what, flushed, last, archived, want) in cases {
            assert_eq!(upload_due(&flushed, last, archived), want, "{what}");
        }
    }

    #[test]
    fn only_objects_of_archived_segments_are_deleted() {
        let listed = names(&[
            "000000010000000000000002.zst",
            "000000010000000000000003",
            "000000010000000000000004.gz",
            "000000010000000000000005.zst",
            "00000002.history",
            "notes.txt",
            "000000010000000000000003.partial",
        ]);
        let cases: [(&str, &[&str]); 5] = [
            (
                "000000010000000000000004",
                &[
                    "000000010000000000000002.zst",
                    "000000010000000000000003",
                    "000000010000000000000004.gz",
                ],
            ),
            ("000000010000000000000001", &[]),
            // An older timeline's segments once a newer timeline's segment is archived.
            (
                "000000020000000000000001",
                &[
                    "000000010000000000000002.zst",
                    "000000010000000000000003",
                    "000000010000000000000004.gz",
                    "000000010000000000000005.zst",
                ],
            ),
            // Never on the strength of a name that is not a complete segment.
            ("00000002.history", &[]),
            ("000000010000000000000009.partial", &[]),
        ];
        for (archived, want) in cases {
            assert_eq!(deletions(&listed, archived), names(want), "{archived}");
        }
    }

    #[test]
    fn a_cleanup_is_due_once_per_newly_archived_segment() {
        let a = "000000010000000000000004";
        let cases = [
            (None, None, None),
            (Some(a), None, Some(a)),
            (Some(a), Some(a), None),
            (Some(a), Some("000000010000000000000003"), Some(a)),
            (Some("00000002.history"), None, None),
        ];
        for (archived, cleaned, want) in cases {
            assert_eq!(
                cleanup_due(archived, cleaned),
                want,
                "{archived:?} {cleaned:?}"
            );
        }
    }

    #[test]
    fn in_progress_copies_go_only_to_a_replica_clusters_standby_and_only_for_segments() {
        let s = "000000010000000000000003";
        let cases = [
            (s, Some("region-a"), "region-a", true, true),
            (
                "00000002.history",
                Some("region-a"),
                "region-a",
                true,
                false,
            ),
            (
                "000000010000000000000003.partial",
                Some("region-a"),
                "region-a",
                true,
                false,
            ),
            // A recovery to a target would end at the zeros and fork a timeline off it.
            (s, Some("region-a"), "region-a", false, false),
            // Following no primary (a recovery from a backup source), or another server.
            (s, None, "region-a", true, false),
            (s, Some("region-a"), "backup-source", true, false),
        ];
        for (name, source, server, standby, want) in cases {
            assert_eq!(
                serves_in_progress(name, source, server, standby),
                want,
                "{name} {source:?} {server} {standby}"
            );
        }
    }

    #[test]
    fn the_newest_copy_of_the_segment_is_found() {
        let listed = vec![
            ("pgfed-partial/000000010000000000000003.gz".to_string(), 5),
            ("pgfed-partial/000000010000000000000003.zst".to_string(), 9),
            ("pgfed-partial/000000010000000000000004".to_string(), 1),
            ("pgfed-partial/00000002.history".to_string(), 1),
            ("elsewhere/000000010000000000000005".to_string(), 1),
        ];
        assert_eq!(
            find_in_progress(&listed, "000000010000000000000003"),
            Some((
                "000000010000000000000003.zst".into(),
                Some(CompressionType::Zstd)
            ))
        );
        assert_eq!(
            find_in_progress(&listed, "000000010000000000000004"),
            Some(("000000010000000000000004".into(), None))
        );
        assert_eq!(find_in_progress(&listed, "000000010000000000000005"), None);
        assert_eq!(find_in_progress(&listed, "000000010000000000000006"), None);
    }

    #[test]
    fn a_newer_timelines_history_supersedes_in_progress_copies() {
        let root = names(&[
            "00000002.history",
            "00000003.history.gz",
            "0000000100000000",
        ]);
        assert!(superseded(1, &root));
        assert!(superseded(2, &root));
        assert!(!superseded(3, &root));
        assert!(!superseded(1, &names(&["0000000100000000"])));
    }

    #[test]
    fn a_prefix_of_its_segment_is_zero_padded_and_anything_else_refused() {
        let name = "000000010000000000000003";
        let data = segment_bytes(seg(name), 3 * PAGE as usize + 100);
        let padded = zero_padded(name, data.clone()).expect("a prefix");
        assert_eq!(padded.len() as u64, SEG);
        assert_eq!(&padded[..data.len()], &data[..]);
        assert!(padded[data.len()..].iter().all(|b| *b == 0));

        let other = segment_bytes(seg("000000010000000000000004"), 2 * PAGE as usize);
        let mut recycled = data.clone();
        recycled[PAGE as usize..2 * PAGE as usize]
            .copy_from_slice(&other[PAGE as usize..2 * PAGE as usize]);
        let mut short_header = data.clone();
        short_header[2] = 0;
        let mut huge = data.clone();
        huge[32..36].copy_from_slice(&(3u32 << 20).to_le_bytes());
        let cases: [(&str, Vec<u8>, NotThisSegment); 5] = [
            (
                "too short",
                data[..20].to_vec(),
                NotThisSegment::TooShort(20),
            ),
            ("no long header", short_header, NotThisSegment::NoLongHeader),
            ("bad size", huge, NotThisSegment::BadSegmentSize(3 << 20)),
            (
                "another segment",
                other,
                NotThisSegment::WrongPage {
                    offset: 0,
                    expected: Lsn(0x300_0000),
                    found: Lsn(0x400_0000),
                },
            ),
            (
                "a recycled page",
                recycled,
                NotThisSegment::WrongPage {
                    offset: PAGE,
                    expected: Lsn(0x300_0000 + PAGE),
                    found: Lsn(0x400_0000 + PAGE),
                },
            ),
        ];
        for (what, bytes, want) in cases {
            assert_eq!(zero_padded(name, bytes), Err(want), "{what}");
        }
        let mut too_long = segment_bytes(seg(name), PAGE as usize);
        too_long.resize(SEG as usize + 1, 0);
        assert!(matches!(
            zero_padded(name, too_long),
            Err(NotThisSegment::TooLong { .. })
        ));
    }

    #[test]
    fn a_page_header_cut_by_the_flush_is_not_read() {
        let s = seg("000000010000000000000003");
        // The flush ends 10 bytes into the second page's header: only the first page is checked.
        let data = segment_bytes(s, PAGE as usize + 10);
        assert_eq!(check_pages(&data, s, PAGE), Ok(()));
    }

    #[test]
    fn keys_are_outside_the_barman_tree() {
        assert_eq!(
            partial_key("000000010000000000000003", Some(CompressionType::Zstd)),
            "pgfed-partial/000000010000000000000003.zst"
        );
        assert_eq!(
            partial_key("000000010000000000000003", None),
            "pgfed-partial/000000010000000000000003"
        );
        assert!(!partial_key("000000010000000000000003", None).starts_with("wals/"));
    }
}
