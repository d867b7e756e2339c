//! Which instance takes a backup: `primary`, or `prefer-standby` — the most advanced standby
//! that streams from the primary and is healthy, else the primary. Pure.

use pgfed_api::common::BackupTarget;
use pgfed_api::instance::InstanceStatus;
use pgfed_api::lsn::Lsn;

/// One instance as the choice sees it.
#[derive(Clone, Debug)]
pub struct Candidate<'a> {
    /// Pod name.
    pub name: &'a str,
    /// The pod exists, is not being deleted, has an IP and is Ready.
    pub ready: bool,
    /// What its manager reported (None: it did not answer).
    pub report: Option<&'a InstanceStatus>,
}

fn is_running_primary(c: &Candidate) -> bool {
    c.ready
        && c.report
            .is_some_and(|r| r.postgres_running && r.is_primary && !r.fenced)
}

fn is_streaming_standby(c: &Candidate) -> bool {
    c.ready
        && c.report.is_some_and(|r| {
            r.postgres_running && !r.is_primary && !r.fenced && r.is_wal_receiver_active
        })
}

fn replayed(c: &Candidate) -> Lsn {
    c.report
        .and_then(|r| r.replay_lsn.as_deref())
        .and_then(|l| l.parse().ok())
        .unwrap_or(Lsn(0))
}

/// The instance to back up for `target`, given the cluster's `currentPrimary`; None when no
/// instance can take it now (the Backup waits).
pub fn choose<'a>(
    target: BackupTarget,
    current_primary: Option<&str>,
    candidates: &[Candidate<'a>],
) -> Option<&'a str> {
    let primary = candidates
        .iter()
        .find(|c| Some(c.name) == current_primary && is_running_primary(c))
        .map(|c| c.name);
    match target {
        BackupTarget::Primary => primary,
        BackupTarget::PreferStandby => candidates
            .iter()
            .filter(|c| Some(c.name) != current_primary && is_streaming_standby(c))
            // The most advanced standby (least behind the primary), then the name for a stable
            // choice.
            .max_by(|a, b| replayed(a).cmp(&replayed(b)).then(b.name.cmp(a.name)))
            .map(|c| c.name)
            .or(primary),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(primary: bool, streaming: bool, replay: &str) -> InstanceStatus {
        InstanceStatus {
            postgres_running: true,
            is_primary: primary,
            is_wal_receiver_active: streaming,
            replay_lsn: (!replay.is_empty()).then(|| replay.to_string()),
            ..InstanceStatus::default()
        }
    }

    #[test]
    fn prefer_standby_takes_the_most_advanced_streaming_healthy_standby_else_the_primary() {
        let primary = report(true, false, "");
        let ahead = report(false, true, "0/5000000");
        let behind = report(false, true, "0/4000000");
        let not_streaming = report(false, false, "0/6000000");
        let mut fenced = report(false, true, "0/7000000");
        fenced.fenced = true;
        let c = |name, ready, report| Candidate {
            name,
            ready,
            report,
        };
        use BackupTarget::{PreferStandby, Primary};
        let cases: Vec<(&str, BackupTarget, Vec<Candidate>, Option<&str>)> = vec![
            (
                "the most advanced standby",
                PreferStandby,
                vec![
                    c("pg-1", true, Some(&primary)),
                    c("pg-2", true, Some(&behind)),
                    c("pg-3", true, Some(&ahead)),
                ],
                Some("pg-3"),
            ),
            (
                "a standby that is not Ready is skipped",
                PreferStandby,
                vec![
                    c("pg-1", true, Some(&primary)),
                    c("pg-2", true, Some(&behind)),
                    c("pg-3", false, Some(&ahead)),
                ],
                Some("pg-2"),
            ),
            (
                "a standby that does not stream, or is fenced, or does not answer, is skipped",
                PreferStandby,
                vec![
                    c("pg-1", true, Some(&primary)),
                    c("pg-2", true, Some(&not_streaming)),
                    c("pg-3", true, Some(&fenced)),
                    c("pg-4", true, None),
                ],
                Some("pg-1"),
            ),
            (
                "no standby: the primary",
                PreferStandby,
                vec![c("pg-1", true, Some(&primary))],
                Some("pg-1"),
            ),
            (
                "target primary ignores standbys",
                Primary,
                vec![
                    c("pg-1", true, Some(&primary)),
                    c("pg-2", true, Some(&ahead)),
                ],
                Some("pg-1"),
            ),
            (
                "a primary that is not the current primary is not taken",
                Primary,
                vec![c("pg-9", true, Some(&primary))],
                None,
            ),
            (
                "nothing healthy: wait",
                PreferStandby,
                vec![
                    c("pg-1", false, Some(&primary)),
                    c("pg-2", true, Some(&not_streaming)),
                ],
                None,
            ),
        ];
        for (what, target, candidates, want) in cases {
            assert_eq!(choose(target, Some("pg-1"), &candidates), want, "{what}");
        }
    }
}
