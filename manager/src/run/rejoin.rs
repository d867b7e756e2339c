//! How a former primary gets back in as a standby when pg_rewind fails: the pure decision (wait
//! for the source, re-clone, or stay down), what the supervisor remembers between attempts, and
//! the report the status document carries (kept beside PGDATA, so a restarted manager still
//! reports the last rejoin and the operator does not miss its Event). The side effects are
//! `instance::follow` (pg_rewind) and `instance::reclone`.

use crate::instance::rewind_failure::{RewindFailure, RewindFailureKind};
use pgfed_api::instance::{RejoinKind, RejoinReport};
use std::path::{Path, PathBuf};

/// How many failures pg_rewind's output does not explain, with the source reachable, are retried
/// before the data directory is re-cloned: never on the first, since an unknown error may pass.
pub const UNKNOWN_FAILURES_BEFORE_RECLONE: u32 = 3;

/// What to do after a failed pg_rewind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejoinStep {
    /// Try pg_rewind again later.
    Retry,
    /// Replace the data directory with a fresh copy of the new primary.
    Reclone,
    /// Stay down and report why; pg_rewind is tried again later (nothing it refuses is changed).
    Refuse,
}

/// What the supervisor remembers between attempts to follow the new primary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RejoinState {
    /// Failures pg_rewind's output does not explain, since the last success.
    pub unknown_failures: u32,
    /// The data directory was found unrewindable: it is re-cloned until that succeeds, never
    /// rewound again (a pg_rewind that stopped while copying leaves a directory no later pg_rewind
    /// should be trusted with).
    pub reclone_pending: bool,
}

impl RejoinState {
    /// The step after `failure`, remembering what the next decision needs. Pure.
    pub fn after_failure(&mut self, failure: RewindFailureKind) -> RejoinStep {
        let step = match failure {
            RewindFailureKind::SourceNotReady => RejoinStep::Retry,
            RewindFailureKind::Refused => RejoinStep::Refuse,
            RewindFailureKind::Unrewindable => RejoinStep::Reclone,
            RewindFailureKind::Unknown => {
                self.unknown_failures = self.unknown_failures.saturating_add(1);
                if self.unknown_failures >= UNKNOWN_FAILURES_BEFORE_RECLONE {
                    RejoinStep::Reclone
                } else {
                    RejoinStep::Retry
                }
            }
        };
        if step == RejoinStep::Reclone {
            self.reclone_pending = true;
        }
        step
    }

    /// After the instance rejoined (rewound, no rewind needed, or re-cloned).
    pub fn rejoined(&mut self) {
        *self = RejoinState::default();
    }
}

/// The report of `kind` for `reason` at `now` (RFC 3339), unless `previous` already reports the
/// same refusal: a refusal repeated on every retry is one occurrence, one Event. Pure.
pub fn report(
    previous: Option<&RejoinReport>,
    kind: RejoinKind,
    reason: &str,
    now: &str,
) -> Option<RejoinReport> {
    let repeated = kind == RejoinKind::RewindRefused
        && previous.is_some_and(|p| p.kind == kind && p.reason == reason);
    (!repeated).then(|| RejoinReport {
        kind,
        reason: reason.to_string(),
        time: now.to_string(),
    })
}

/// The reason a re-clone reports: pg_rewind's, or what made the supervisor give up on it.
pub fn reclone_reason(failure: &RewindFailure, state: &RejoinState) -> String {
    match failure.kind {
        RewindFailureKind::Unknown => format!(
            "pg_rewind failed {} times: {}",
            state.unknown_failures, failure.reason
        ),
        _ => format!(
            "pg_rewind cannot rewind this data directory: {}",
            failure.reason
        ),
    }
}

/// Where the report is kept: `<pgdata>.pgfed-rejoin` beside PGDATA (a re-clone replaces PGDATA).
fn report_path(pgdata: &Path) -> PathBuf {
    let mut name = pgdata.file_name().unwrap_or_default().to_os_string();
    name.push(".pgfed-rejoin");
    pgdata.with_file_name(name)
}

/// The kept report; none when there is none or it cannot be read (it is only a report).
pub fn load(pgdata: &Path) -> Option<RejoinReport> {
    let bytes = std::fs::read(report_path(pgdata)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Keeps the report beside PGDATA; a failure is logged, the report still goes out in memory.
pub fn keep(pgdata: &Path, report: &RejoinReport) {
    let path = report_path(pgdata);
    let kept = serde_json::to_vec(report)
        .map_err(std::io::Error::other)
        .and_then(|bytes| crate::durable::replace(&path, &bytes));
    if let Err(e) = kept {
        tracing::warn!(error = %e, path = %path.display(), "cannot keep the rejoin report");
    }
}

#[cfg(test)]
mod tests {
    use super::RejoinStep::*;
    use super::*;
    use RewindFailureKind::*;

    #[test]
    fn each_failure_leads_to_its_step_and_unknown_ones_only_after_repeating() {
        for (failures, want) in [
            (vec![SourceNotReady], vec![Retry]),
            (vec![SourceNotReady; 5], vec![Retry; 5]),
            (vec![Unrewindable], vec![Reclone]),
            (vec![Refused, Refused], vec![Refuse, Refuse]),
            (vec![Unknown], vec![Retry]),
            (vec![Unknown, Unknown, Unknown], vec![Retry, Retry, Reclone]),
            // An unreachable source in between is not counted against the directory.
            (
                vec![Unknown, SourceNotReady, Unknown, SourceNotReady, Unknown],
                vec![Retry, Retry, Retry, Retry, Reclone],
            ),
            (vec![SourceNotReady, Unrewindable], vec![Retry, Reclone]),
        ] {
            let mut state = RejoinState::default();
            let got: Vec<RejoinStep> = failures.iter().map(|f| state.after_failure(*f)).collect();
            assert_eq!(got, want, "{failures:?}");
            assert_eq!(
                state.reclone_pending,
                want.contains(&Reclone),
                "{failures:?}"
            );
        }
    }

    #[test]
    fn rejoining_forgets_the_failures() {
        let mut state = RejoinState::default();
        state.after_failure(Unknown);
        state.after_failure(Unknown);
        state.rejoined();
        assert_eq!(state.after_failure(Unknown), Retry);
        state.after_failure(Unrewindable);
        state.rejoined();
        assert!(!state.reclone_pending);
    }

    #[test]
    fn a_repeated_refusal_is_one_report_and_anything_else_a_new_one() {
        let refused = report(None, RejoinKind::RewindRefused, "different systems", "t1")
            .expect("first refusal");
        assert_eq!(refused.time, "t1");
        assert_eq!(
            report(
                Some(&refused),
                RejoinKind::RewindRefused,
                "different systems",
                "t2"
            ),
            None
        );
        let other = report(Some(&refused), RejoinKind::RewindRefused, "other", "t3")
            .expect("another reason");
        assert_eq!(other.time, "t3");
        let recloned =
            report(Some(&refused), RejoinKind::Recloned, "no ancestor", "t4").expect("re-clone");
        assert_eq!(recloned.kind, RejoinKind::Recloned);
        assert!(report(Some(&recloned), RejoinKind::Recloned, "no ancestor", "t5").is_some());
    }

    #[test]
    fn the_report_is_kept_beside_pgdata() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pgdata = dir.path().join("pgdata");
        assert_eq!(load(&pgdata), None);
        let r = RejoinReport {
            kind: RejoinKind::Recloned,
            reason: "why".into(),
            time: "2026-01-01T00:00:00.000Z".into(),
        };
        keep(&pgdata, &r);
        assert_eq!(load(&pgdata), Some(r));
        assert!(dir.path().join("pgdata.pgfed-rejoin").is_file());
    }
}
