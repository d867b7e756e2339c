//! Pure decisions for WAL transfer: which extra `.ready` files to archive alongside the one
//! PostgreSQL asked for, and which segments to prefetch after the one being restored.

use pgfed_api::lsn::{WalSegmentName, is_wal_segment_file};

/// The files to upload in one archive_command call: the requested one first, then up to
/// `max_parallel - 1` other ready segments, oldest first (PostgreSQL archives in that order too,
/// so the ones we take are exactly those it would ask for next).
pub fn archive_batch(requested: &str, ready: &[String], max_parallel: usize) -> Vec<String> {
    let mut batch = vec![requested.to_string()];
    if max_parallel <= 1 || !is_wal_segment_file(requested) {
        return batch;
    }
    let mut others: Vec<&String> = ready
        .iter()
        .filter(|n| n.as_str() != requested && is_wal_segment_file(n) && n.as_str() > requested)
        .collect();
    others.sort();
    batch.extend(others.into_iter().take(max_parallel - 1).cloned());
    batch
}

/// The segments after `name` worth prefetching, `count` of them, on the same timeline.
pub fn prefetch_names(name: &str, segment_size: u64, count: usize) -> Vec<String> {
    let Ok(mut seg) = WalSegmentName::parse(name, segment_size) else {
        return Vec::new();
    };
    (0..count)
        .map(|_| {
            seg = seg.next();
            seg.to_string()
        })
        .collect()
}

/// True when `len` is a size PostgreSQL allows for a WAL segment (a power of two, 1 MiB–1 GiB).
pub fn valid_segment_size(len: u64) -> bool {
    len.is_power_of_two() && (1 << 20..=1 << 30).contains(&len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn batches() {
        let ready = names(&[
            "000000010000000000000004",
            "000000010000000000000003",
            "000000010000000000000002",
            "00000002.history",
            "000000010000000000000001",
        ]);
        let cases: [(&str, usize, &[&str]); 5] = [
            ("000000010000000000000002", 1, &["000000010000000000000002"]),
            (
                "000000010000000000000002",
                3,
                &[
                    "000000010000000000000002",
                    "000000010000000000000003",
                    "000000010000000000000004",
                ],
            ),
            (
                "000000010000000000000002",
                16,
                &[
                    "000000010000000000000002",
                    "000000010000000000000003",
                    "000000010000000000000004",
                ],
            ),
            // History and partial files are archived alone: PostgreSQL must see them in order.
            ("00000002.history", 8, &["00000002.history"]),
            (
                "000000010000000000000001.partial",
                8,
                &["000000010000000000000001.partial"],
            ),
        ];
        for (req, max, want) in cases {
            assert_eq!(archive_batch(req, &ready, max), names(want), "{req} x{max}");
        }
    }

    #[test]
    fn prefetch_crosses_log_boundaries() {
        let seg = 16 << 20;
        assert_eq!(
            prefetch_names("0000000100000000000000FE", seg, 3),
            names(&[
                "0000000100000000000000FF",
                "000000010000000100000000",
                "000000010000000100000001"
            ])
        );
        assert!(prefetch_names("00000002.history", seg, 3).is_empty());
        assert!(prefetch_names("000000010000000000000001", seg, 0).is_empty());
    }

    #[test]
    fn segment_sizes() {
        for (len, ok) in [
            (16 << 20, true),
            (1 << 20, true),
            (1 << 30, true),
            (0, false),
            (1000, false),
            ((16 << 20) - 1, false),
            (2 << 30, false),
        ] {
            assert_eq!(valid_segment_size(len), ok, "{len}");
        }
    }
}
