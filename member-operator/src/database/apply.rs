//! The operator's writes on Database objects: listing a cluster's objects, their status (only
//! when it changed) and their finalizer; [`settle`] applies what [`super::decide`] says for every
//! object of a cluster.

use super::decide::{self, FINALIZER, FinalizerChange, Selection};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::{Client, ResourceExt};
use pgfed_api::database::{Database, DatabaseReport, DatabaseStatus};

/// The Database objects of `namespace` that name the cluster `cluster`. Objects that do not
/// match the schema are left out (the Database controller reports them).
pub async fn of_cluster(
    client: &Client,
    namespace: &str,
    cluster: &str,
) -> Result<Vec<Database>, kube::Error> {
    let api: Api<DeserializeGuard<Database>> = Api::namespaced(client.clone(), namespace);
    let list = api.list(&ListParams::default()).await?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|d| d.0.ok())
        .filter(|d| d.spec.cluster.name == cluster)
        .collect())
}

fn api(client: &Client, db: &Database) -> Api<Database> {
    Api::namespaced(client.clone(), &db.namespace().unwrap_or_default())
}

/// Writes `new` as the status of `db`, replacing the whole status, unless it already is.
pub async fn write_status(
    client: &Client,
    db: &Database,
    new: &DatabaseStatus,
) -> Result<(), kube::Error> {
    if db.status.as_ref() == Some(new) {
        return Ok(());
    }
    // `add` replaces a status that is there and creates one that is not; unlike a merge patch
    // it also drops the fields the new status no longer has.
    let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
        {"op": "add", "path": "/status", "value": new}
    ]))
    .map_err(kube::Error::SerdeError)?;
    api(client, db)
        .patch_status(
            &db.name_any(),
            &PatchParams::default(),
            &Patch::<()>::Json(patch),
        )
        .await?;
    Ok(())
}

/// Puts the finalizer on `db` or takes it off, guarded by the object's resourceVersion so that
/// finalizers another writer set meanwhile are never lost.
pub async fn change_finalizer(
    client: &Client,
    db: &Database,
    change: FinalizerChange,
) -> Result<(), kube::Error> {
    let mut finalizers: Vec<String> = db
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    if change == FinalizerChange::Add {
        finalizers.push(FINALIZER.to_string());
    }
    let patch = serde_json::json!({
        "metadata": {"finalizers": finalizers, "resourceVersion": db.resource_version()}
    });
    api(client, db)
        .patch(
            &db.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(())
}

/// Applies the verdicts of `selection` to the objects of one cluster: each object's finalizer,
/// then its status from the primary's `reports` (the finalizer first: a status write changes
/// the version the finalizer's patch is guarded by; an object whose finalizer came off while it
/// is being deleted is gone, and gets no status).
pub async fn settle(
    client: &Client,
    databases: &[Database],
    selection: &Selection,
    reports: &[DatabaseReport],
) -> Result<(), kube::Error> {
    for db in databases {
        let Some(verdict) = selection.verdicts.get(&db.name_any()) else {
            continue;
        };
        let report = decide::report_of(db, reports);
        let change = decide::finalizer_change(db, verdict, report);
        if let Some(change) = change {
            match change_finalizer(client, db, change).await {
                // Changed meanwhile (the Database controller got there first): the next turn
                // looks at it again, with the object as it is now.
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                result => result?,
            }
            if change == FinalizerChange::Remove && db.metadata.deletion_timestamp.is_some() {
                continue;
            }
        }
        if let Some(status) = decide::desired_status(db, verdict, report) {
            write_status(client, db, &status).await?;
        }
    }
    Ok(())
}
