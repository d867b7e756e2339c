//! `status` of a ScheduledBackup: built from the plan, written only when it differs from the
//! stored one, so a schedule waking at every slot costs one write per backup, not per wake.

use super::decide::{Problem, Times};
use chrono::{DateTime, SecondsFormat, Utc};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use pgfed_api::backup::{ScheduledBackup, ScheduledBackupStatus};

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Reads a status time; an unreadable one counts as absent (the schedule starts over from
/// creation, which takes at most one catch-up).
pub fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The text of a problem in `status.error`.
pub fn problem_text(problem: Problem, cluster: &str) -> String {
    match problem {
        Problem::ClusterMissing => format!("spec.cluster: Cluster {cluster} does not exist"),
        Problem::NeverFires => "spec.schedule: the schedule has no future time".to_string(),
    }
}

/// The status after this turn. Pure.
pub fn build(times: &Times, error: Option<String>) -> ScheduledBackupStatus {
    ScheduledBackupStatus {
        last_check_time: times.last_check.map(rfc3339),
        last_schedule_time: times.last_schedule.map(rfc3339),
        next_schedule_time: times.next_schedule.map(rfc3339),
        error,
    }
}

/// Writes `new` when it differs from `old`. Returns whether it wrote.
pub async fn write_if_changed(
    client: &Client,
    namespace: &str,
    name: &str,
    old: &ScheduledBackupStatus,
    new: &ScheduledBackupStatus,
) -> Result<bool, kube::Error> {
    if old == new {
        return Ok(false);
    }
    let api: Api<ScheduledBackup> = Api::namespaced(client.clone(), namespace);
    // A merge patch with explicit nulls, so fields that became absent are removed.
    let patch = serde_json::json!({ "status": {
        "lastCheckTime": new.last_check_time,
        "lastScheduleTime": new.last_schedule_time,
        "nextScheduleTime": new.next_schedule_time,
        "error": new.error,
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_garbage_reads_as_absent() {
        let t = parse_time(Some("2026-12-01T10:00:00Z")).expect("time");
        let status = build(
            &Times {
                last_check: Some(t),
                last_schedule: None,
                next_schedule: Some(t),
            },
            Some(problem_text(Problem::ClusterMissing, "pg")),
        );
        assert_eq!(
            status.last_check_time.as_deref(),
            Some("2026-12-01T10:00:00Z")
        );
        assert_eq!(parse_time(status.last_check_time.as_deref()), Some(t));
        assert_eq!(
            status.error.as_deref(),
            Some("spec.cluster: Cluster pg does not exist")
        );
        assert_eq!(parse_time(Some("yesterday")), None);
    }
}
