//! PostgreSQL write-ahead log positions and segment names: parsing and arithmetic, no I/O.

use std::fmt;
use std::str::FromStr;

/// A WAL location (`pg_lsn`), written by PostgreSQL as two hexadecimal halves `XXXXXXXX/YYYYYYYY`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

/// A string that is not a WAL location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an LSN: expected two hexadecimal numbers separated by '/', e.g. 0/16B3748")]
pub struct InvalidLsn(pub String);

impl FromStr for Lsn {
    type Err = InvalidLsn;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidLsn(s.to_string());
        let (hi, lo) = s.trim().split_once('/').ok_or_else(bad)?;
        let valid =
            |p: &str| !p.is_empty() && p.len() <= 8 && p.chars().all(|c| c.is_ascii_hexdigit());
        if !valid(hi) || !valid(lo) {
            return Err(bad());
        }
        let hi = u64::from_str_radix(hi, 16).map_err(|_| bad())?;
        let lo = u64::from_str_radix(lo, 16).map_err(|_| bad())?;
        Ok(Lsn((hi << 32) | lo))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// Default WAL segment size (16 MiB).
pub const DEFAULT_WAL_SEGMENT_SIZE: u64 = 16 * 1024 * 1024;

/// A WAL segment file name: 24 hex digits = timeline, log, segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WalSegmentName {
    /// Timeline the segment belongs to.
    pub timeline: u32,
    /// Segment number counted from the start of WAL (log * segments-per-log + seg).
    pub segment_number: u64,
    /// Segment size in bytes (a power of two between 1 MiB and 1 GiB).
    pub segment_size: u64,
}

/// A file name that is not a WAL segment name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a WAL segment name (24 hexadecimal digits)")]
pub struct InvalidWalSegmentName(pub String);

impl WalSegmentName {
    /// The segment containing `lsn` on `timeline`.
    pub fn containing(timeline: u32, lsn: Lsn, segment_size: u64) -> Self {
        WalSegmentName {
            timeline,
            segment_number: lsn.0 / segment_size,
            segment_size,
        }
    }

    fn segments_per_log(segment_size: u64) -> u64 {
        0x1_0000_0000 / segment_size
    }

    /// Parses a 24-digit segment name (no suffix).
    pub fn parse(name: &str, segment_size: u64) -> Result<Self, InvalidWalSegmentName> {
        let bad = || InvalidWalSegmentName(name.to_string());
        if name.len() != 24 || !name.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let timeline = u32::from_str_radix(&name[0..8], 16).map_err(|_| bad())?;
        let log = u64::from_str_radix(&name[8..16], 16).map_err(|_| bad())?;
        let seg = u64::from_str_radix(&name[16..24], 16).map_err(|_| bad())?;
        let per_log = Self::segments_per_log(segment_size);
        if seg >= per_log {
            return Err(bad());
        }
        Ok(WalSegmentName {
            timeline,
            segment_number: log * per_log + seg,
            segment_size,
        })
    }

    /// The segment that follows this one on the same timeline.
    pub fn next(self) -> Self {
        WalSegmentName {
            segment_number: self.segment_number + 1,
            ..self
        }
    }

    /// The first LSN stored in this segment.
    pub fn start_lsn(self) -> Lsn {
        Lsn(self.segment_number * self.segment_size)
    }
}

impl fmt::Display for WalSegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per_log = Self::segments_per_log(self.segment_size);
        write!(
            f,
            "{:08X}{:08X}{:08X}",
            self.timeline,
            self.segment_number / per_log,
            self.segment_number % per_log
        )
    }
}

/// True for names PostgreSQL hands to archive_command/restore_command that are WAL segments
/// (24 hex digits), as opposed to `.history`, `.partial` or `.backup` files.
pub fn is_wal_segment_file(name: &str) -> bool {
    name.len() == 24 && name.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_round_trips() {
        for s in ["0/0", "0/16B3748", "1/0", "FFFFFFFF/FFFFFFFF", "A/5000028"] {
            let lsn: Lsn = s.parse().expect("valid");
            assert_eq!(lsn.to_string(), s);
        }
        assert_eq!("1/0".parse::<Lsn>().map(|l| l.0), Ok(1 << 32));
    }

    #[test]
    fn lsn_rejects_garbage() {
        for s in ["", "0", "/1", "1/", "g/1", "123456789/0", "0/1/2", "-1/0"] {
            assert!(s.parse::<Lsn>().is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn segment_names() {
        let seg = WalSegmentName::containing(
            1,
            "0/5000028".parse().expect("lsn"),
            DEFAULT_WAL_SEGMENT_SIZE,
        );
        assert_eq!(seg.to_string(), "000000010000000000000005");
        let seg = WalSegmentName::containing(
            3,
            "1/FF000000".parse().expect("lsn"),
            DEFAULT_WAL_SEGMENT_SIZE,
        );
        assert_eq!(seg.to_string(), "0000000300000001000000FF");
        assert_eq!(seg.next().to_string(), "000000030000000200000000");
        let parsed = WalSegmentName::parse("0000000300000001000000FF", DEFAULT_WAL_SEGMENT_SIZE)
            .expect("name");
        assert_eq!(parsed, seg);
        assert!(
            WalSegmentName::parse("000000030000000100000100", DEFAULT_WAL_SEGMENT_SIZE).is_err()
        );
        let big = WalSegmentName::parse("000000010000000000000003", 1 << 30).expect("name");
        assert_eq!(big.start_lsn().to_string(), "0/C0000000");
    }
}
