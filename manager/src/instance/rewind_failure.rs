//! What a failed pg_rewind means for a former primary: wait for the source, replace the data
//! directory with a fresh copy, or stay down. Pure: reads pg_rewind's output only. The message
//! texts are PostgreSQL's own (`src/bin/pg_rewind/pg_rewind.c`, `parsexlog.c`, `timeline.c`,
//! `libpq_source.c`/`libpq_fetch.c` and libpq's connection errors) for every major from 10 on;
//! they are matched without the `pg_rewind: error:` / `fatal:` prefix, which changed across
//! versions. pg_rewind runs with `LC_ALL=C`, so the messages are never translated.

// Left Unknown on purpose (retried, re-cloned only if they persist): "target server must be shut
// down cleanly" may mean a postmaster still runs on the data directory, which a copy must never
// replace under it; and "postgres single-user mode in target cluster failed" (pg_rewind finishing
// a crashed primary's recovery) also fails while the backends of a killed postmaster are still
// exiting, which passes within seconds.

/// How a pg_rewind failure is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RewindFailureKind {
    /// The source cannot be reached or is not ready yet (connection refused or timed out, still
    /// starting or in recovery, authentication not possible yet): retry, as before.
    SourceNotReady,
    /// The target cannot be rewound from this source (no common ancestor, WAL it needs is gone,
    /// neither checksums nor wal_log_hints, or pg_rewind stopped after it began to modify the
    /// data directory): retrying cannot help, a fresh copy can.
    Unrewindable,
    /// The source is not a server this instance may be copied from (another database system, an
    /// incompatible version): never wipe data because of it; stay down and say why.
    Refused,
    /// Nothing above: retried a few times, then treated as [`Self::Unrewindable`].
    Unknown,
}

/// A failed pg_rewind, classified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("pg_rewind failed: {reason}")]
pub struct RewindFailure {
    /// How to handle it.
    pub kind: RewindFailureKind,
    /// pg_rewind's own error line (its first), without prefix: safe to log and report, it names
    /// no connection parameters beyond a host and port.
    pub reason: String,
}

impl RewindFailureKind {
    /// A short, stable name, for metrics labels.
    pub fn label(self) -> &'static str {
        match self {
            RewindFailureKind::SourceNotReady => "rewind_source_not_ready",
            RewindFailureKind::Unrewindable => "rewind_impossible",
            RewindFailureKind::Refused => "rewind_refused",
            RewindFailureKind::Unknown => "rewind_failed",
        }
    }
}

/// Messages meaning the target cannot be rewound from this source.
const UNREWINDABLE: &[&str] = &[
    "could not find common ancestor of the source and target cluster's timelines",
    "could not find previous WAL record",
    "could not read WAL record",
    "target server needs to use either data checksums or \"wal_log_hints = on\"",
    "invalid data in history file",
    "syntax error in history file",
    "out-of-sequence timeline ID",
    "WAL file is from different database system",
];

/// Messages meaning the source must not be copied from.
const REFUSED: &[&str] = &[
    "source and target clusters are from different systems",
    "clusters are not compatible with this version of pg_rewind",
];

/// Messages meaning the source is not reachable or not ready yet (libpq's connection errors
/// across versions, and a server starting, stopping or in recovery).
const NOT_READY: &[&str] = &[
    "could not connect to server",
    "connection to server at",
    "connection to server on socket",
    "Connection refused",
    "timeout expired",
    "could not translate host name",
    "Name or service not known",
    "Temporary failure in name resolution",
    "No route to host",
    "Network is unreachable",
    "the database system is starting up",
    "the database system is not yet accepting connections",
    "the database system is not accepting connections",
    "the database system is in recovery mode",
    "the database system is shutting down",
    "source server must not be in recovery mode",
    "source system was in unexpected state at end of rewind",
    "server closed the connection unexpectedly",
    "could not receive data from server",
    "SSL SYSCALL error",
    "too many clients already",
    "remaining connection slots are reserved",
    "no pg_hba.conf entry",
    "password authentication failed",
    "certificate authentication failed",
    "authentication failed for user",
    "role \"",
    "permission denied for function",
    "SSL error",
    "certificate verify failed",
];

/// Printed by `--progress` just before pg_rewind starts copying: from then on a failure leaves
/// the data directory half-rewound ("the point of no return" in pg_rewind.c).
const COPYING_BEGAN: &str = "need to copy ";

/// Classifies the output (stderr then stdout) of a pg_rewind that exited unsuccessfully. Pure.
pub fn classify(output: &str) -> RewindFailure {
    let reason = error_line(output);
    let has = |needles: &[&str]| needles.iter().any(|n| output.contains(n));
    let kind = if has(REFUSED) {
        RewindFailureKind::Refused
    } else if has(UNREWINDABLE) || has_missing_target_wal(output) {
        RewindFailureKind::Unrewindable
    } else if output.contains(COPYING_BEGAN) {
        // Whatever stopped it (even the source going away), the target is no longer the old
        // primary nor a rewound standby: only a fresh copy is safe to start.
        RewindFailureKind::Unrewindable
    } else if has(NOT_READY) {
        RewindFailureKind::SourceNotReady
    } else {
        RewindFailureKind::Unknown
    };
    RewindFailure { kind, reason }
}

/// `could not open file ".../pg_wal/..."`: a WAL segment or history file of the target that
/// pg_rewind needs is gone (recycled or removed). Not when the file is the source's.
fn has_missing_target_wal(output: &str) -> bool {
    output.lines().any(|l| {
        l.contains("could not open file")
            && l.contains("pg_wal/")
            && !l.contains("source file")
            && !l.contains("could not fetch remote file")
    })
}

/// The first line pg_rewind marked as an error, without its prefix; else the last non-empty
/// line. Bounded so a report stays small.
fn error_line(output: &str) -> String {
    const PREFIXES: &[&str] = &[
        "pg_rewind: error: ",
        "pg_rewind: fatal: ",
        "pg_rewind: FATAL: ",
        "pg_rewind: ",
    ];
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let marked = lines
        .iter()
        .find(|l| l.contains("error:") || l.contains("fatal:") || l.starts_with("FATAL:"));
    let line = marked.or(lines.last()).copied().unwrap_or("no output");
    let stripped = PREFIXES
        .iter()
        .find_map(|p| line.strip_prefix(p))
        .unwrap_or(line);
    let mut reason = stripped.to_string();
    if reason.len() > 300 {
        let mut end = 300;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::RewindFailureKind::*;
    use super::*;

    #[test]
    fn failures_are_classified_by_what_retrying_can_fix() {
        for (output, want) in [
            // PostgreSQL 15 and later (libpq 14+ connection errors).
            (
                "pg_rewind: error: connection to server at \"pg-2.pg-rw\" (10.0.0.7), port 5432 failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?",
                SourceNotReady,
            ),
            (
                "pg_rewind: error: connection to server at \"pg-2\" (10.0.0.7), port 5432 failed: timeout expired",
                SourceNotReady,
            ),
            (
                "pg_rewind: error: could not translate host name \"pg-2.pg-rw\" to address: Name or service not known",
                SourceNotReady,
            ),
            (
                "pg_rewind: error: connection to server at \"pg-2\" (10.0.0.7), port 5432 failed: FATAL:  the database system is starting up",
                SourceNotReady,
            ),
            (
                "pg_rewind: error: connection to server at \"pg-2\" (10.0.0.7), port 5432 failed: FATAL:  the database system is not yet accepting connections\nDETAIL:  Consistent recovery state has not been yet reached.",
                SourceNotReady,
            ),
            (
                "pg_rewind: error: connection to server at \"pg-2\", port 5432 failed: FATAL:  no pg_hba.conf entry for replication connection from host \"10.0.0.8\", user \"streaming_replica\"",
                SourceNotReady,
            ),
            (
                "pg_rewind: error: connection to server at \"pg-2\", port 5432 failed: SSL error: certificate verify failed",
                SourceNotReady,
            ),
            // PostgreSQL 10-13 (libpq_fetch.c).
            (
                "could not connect to server: could not connect to server: Connection refused",
                SourceNotReady,
            ),
            ("source server must not be in recovery mode", SourceNotReady),
            (
                "pg_rewind: fatal: could not connect to server: timeout expired",
                SourceNotReady,
            ),
            // The target cannot be rewound.
            (
                "pg_rewind: connected to server\npg_rewind: error: could not find common ancestor of the source and target cluster's timelines",
                Unrewindable,
            ),
            (
                "pg_rewind: servers diverged at WAL location 0/3000060 on timeline 1\npg_rewind: error: could not open file \"/var/lib/postgresql/data/pgdata/pg_wal/000000010000000000000002\": No such file or directory\npg_rewind: error: could not find previous WAL record at 0/2000028",
                Unrewindable,
            ),
            (
                "pg_rewind: error: could not open file \"/d/pgdata/pg_wal/000000010000000000000003\": No such file or directory",
                Unrewindable,
            ),
            (
                "pg_rewind: error: could not read WAL record at 0/3000060: invalid record length",
                Unrewindable,
            ),
            (
                "pg_rewind: error: target server needs to use either data checksums or \"wal_log_hints = on\"",
                Unrewindable,
            ),
            (
                "target server needs to use either data checksums or \"wal_log_hints = on\"\nFailure, exiting",
                Unrewindable,
            ),
            (
                "pg_rewind: error: could not open file \"/d/pgdata/pg_wal/00000002.history\" for reading: No such file or directory",
                Unrewindable,
            ),
            // Stopped while copying, whatever the cause: the target is half-rewound.
            (
                "pg_rewind: need to copy 52 MB (total source directory size is 70 MB)\npg_rewind: error: could not fetch remote file \"base/5/1259\": server closed the connection unexpectedly",
                Unrewindable,
            ),
            // Misconfigurations: never a copy.
            (
                "pg_rewind: error: source and target clusters are from different systems",
                Refused,
            ),
            (
                "pg_rewind: fatal: clusters are not compatible with this version of pg_rewind",
                Refused,
            ),
            // A source's file that cannot be fetched before copying is not the target's WAL.
            (
                "pg_rewind: error: could not fetch remote file \"pg_wal/00000002.history\": ERROR:  could not open file \"pg_wal/00000002.history\": No such file or directory",
                Unknown,
            ),
            // Passes once a killed postmaster's backends are gone.
            (
                "pg_rewind: executing \"/usr/lib/postgresql/15/bin/postgres\" for target server to complete crash recovery\npg_rewind: error: postgres single-user mode in target cluster failed\npg_rewind: error: Command was: \"/usr/lib/postgresql/15/bin/postgres\" --single -F -D \"/d/pgdata\" template1 < \"/dev/null\"",
                Unknown,
            ),
            (
                "pg_rewind: error: target server must be shut down cleanly",
                Unknown,
            ),
            // Anything else.
            ("pg_rewind: error: out of memory", Unknown),
            ("", Unknown),
        ] {
            assert_eq!(classify(output).kind, want, "{output}");
        }
    }

    #[test]
    fn the_reason_is_pg_rewinds_error_line_without_its_prefix() {
        let out = "pg_rewind: connected to server\npg_rewind: servers diverged at WAL location 0/3000060 on timeline 1\npg_rewind: error: could not find previous WAL record at 0/2000028\n";
        assert_eq!(
            classify(out).reason,
            "could not find previous WAL record at 0/2000028"
        );
        assert_eq!(
            classify("source and target clusters are from different systems\n").reason,
            "source and target clusters are from different systems"
        );
        assert_eq!(classify("").reason, "no output");
        assert!(classify(&"x".repeat(1000)).reason.len() <= 300);
    }
}
