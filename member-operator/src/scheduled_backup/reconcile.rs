//! One turn of a ScheduledBackup: observe (the object, its cluster, now) → decide (pure,
//! `decide::plan`) → create the Backup → write the status. Events are returned to the
//! controller, which publishes them.

use super::build::{self, ClusterIdentity};
use super::decide::{self, Observed, Plan, Slot};
use super::error::ScheduledBackupError;
use super::schedule::Schedule;
use super::status;
use chrono::{DateTime, Utc};
use kube::api::{Api, DynamicObject, PostParams};
use kube::discovery::ApiResource;
use kube::{Client, ResourceExt};
use pgfed_api::backup::{Backup, ScheduledBackup};
use pgfed_api::cluster::Cluster;
use pgfed_api::names::LABEL_SCHEDULED_BACKUP;

/// What a turn did, for Events.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The plan that was applied.
    pub plan: Option<Plan>,
    /// The Backup of this turn's slot, and whether this turn created it (false: an earlier
    /// turn whose status write was lost did).
    pub created: Option<(String, bool)>,
    /// The status error before this turn.
    pub error_before: Option<String>,
    /// The status error after this turn.
    pub error_after: Option<String>,
}

/// Runs one turn for `scheduled` at `now`.
pub async fn reconcile(
    client: &Client,
    scheduled: &ScheduledBackup,
    now: DateTime<Utc>,
) -> Result<Outcome, ScheduledBackupError> {
    let namespace = scheduled.namespace().unwrap_or_default();
    let name = scheduled.name_any();
    let old = scheduled.status.clone().unwrap_or_default();
    let schedule = match Schedule::parse(&scheduled.spec.schedule) {
        Ok(s) => s,
        Err(e) => {
            let mut new = old.clone();
            new.error = Some(e.to_string());
            status::write_if_changed(client, &namespace, &name, &old, &new)
                .await
                .map_err(ScheduledBackupError::kube("writing the status"))?;
            return Err(e.into());
        }
    };
    let cluster = observe_cluster(client, &namespace, &scheduled.spec.cluster.name).await?;
    let created = scheduled
        .metadata
        .creation_timestamp
        .as_ref()
        .and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0))
        .unwrap_or(now);
    let plan = decide::plan(&Observed {
        now,
        created,
        schedule: &schedule,
        suspended: scheduled.spec.suspend.unwrap_or(false),
        immediate: scheduled.spec.immediate.unwrap_or(false),
        last_check: status::parse_time(old.last_check_time.as_deref()),
        last_schedule: status::parse_time(old.last_schedule_time.as_deref()),
        cluster_exists: cluster.is_some(),
    });
    let mut outcome = Outcome {
        error_before: old.error.clone(),
        ..Outcome::default()
    };
    if let Some(slot) = plan.create {
        outcome.created = Some(create_backup(client, scheduled, slot, cluster.as_ref()).await?);
    }
    let error = plan
        .problem
        .map(|p| status::problem_text(p, &scheduled.spec.cluster.name));
    let new = status::build(&plan.times, error.clone());
    status::write_if_changed(client, &namespace, &name, &old, &new)
        .await
        .map_err(ScheduledBackupError::kube("writing the status"))?;
    outcome.error_after = error;
    outcome.plan = Some(plan);
    Ok(outcome)
}

/// The cluster's identity, or `None` when it does not exist. Read untyped: a Cluster that does
/// not match the schema still exists and still has a uid.
async fn observe_cluster(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<ClusterIdentity>, ScheduledBackupError> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        namespace,
        &ApiResource::erase::<Cluster>(&()),
    );
    let found = api
        .get_opt(name)
        .await
        .map_err(ScheduledBackupError::kube(format!(
            "reading Cluster {name}"
        )))?;
    Ok(found.map(|c| ClusterIdentity {
        name: name.to_string(),
        uid: c.uid().unwrap_or_default(),
    }))
}

/// Creates the Backup of `slot`. A Backup of that name that this schedule created already (a
/// turn whose status write was lost) counts as created: returns `(name, false)`.
async fn create_backup(
    client: &Client,
    scheduled: &ScheduledBackup,
    slot: Slot,
    cluster: Option<&ClusterIdentity>,
) -> Result<(String, bool), ScheduledBackupError> {
    let backup = build::backup(scheduled, slot, cluster)?;
    let name = backup.name_any();
    let api: Api<Backup> =
        Api::namespaced(client.clone(), &scheduled.namespace().unwrap_or_default());
    match api.create(&PostParams::default(), &backup).await {
        Ok(_) => Ok((name, true)),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let existing = api
                .get_metadata(&name)
                .await
                .map_err(ScheduledBackupError::kube(format!("reading Backup {name}")))?;
            let ours = existing.labels().get(LABEL_SCHEDULED_BACKUP) == Some(&scheduled.name_any());
            if ours {
                Ok((name, false))
            } else {
                Err(ScheduledBackupError::NameTaken(name))
            }
        }
        Err(e) => Err(ScheduledBackupError::kube(format!(
            "creating Backup {name}"
        ))(e)),
    }
}
