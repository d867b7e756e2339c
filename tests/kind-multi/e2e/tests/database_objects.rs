//! Database objects on real Kubernetes: a Database with a schema and an extension becomes
//! applied and exists in PostgreSQL, a changed connection limit is applied, a second object
//! naming the same database is refused with a message naming the first, deleting an object with
//! the default `retain` keeps its database (and the refused object takes it over), one with
//! `databaseReclaimPolicy: delete` drops it before the object goes, and an object naming a
//! cluster that does not exist says so (and, with `delete`, goes away at once when deleted).
//! Runs in its own namespace.

use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use pgfed_e2e::cluster::{self, HEALTHY};
use pgfed_e2e::{
    pgfed_resource, psql_client_pod, regions, run_pod, wait_until, with_temp_namespace,
};
use serde_json::{Value, json};
use std::time::Duration;

const CLUSTER: &str = "dbs";
/// The operator pushes a changed object to the primary's manager on its next turn and reads its
/// report within half a minute; the bound leaves room for a loaded machine.
const APPLIED: Duration = Duration::from_secs(300);
const FINALIZER: &str = "pgfed.io/delete-database";

fn databases(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &pgfed_resource("Database"))
}

/// Creates the Database object `name` with `spec` (the cluster defaults to this test's).
async fn create(client: &Client, ns: &str, name: &str, spec: Value) {
    let mut spec = spec;
    if spec.get("cluster").is_none() {
        spec["cluster"] = json!({"name": CLUSTER});
    }
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "pgfed.io/v1", "kind": "Database",
        "metadata": {"name": name}, "spec": spec
    }))
    .expect("database manifest");
    databases(client, ns)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("creating Database {name}: {e}"));
}

/// The Database object `name` once `check` accepts it.
async fn wait_object(
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    check: impl Fn(&DynamicObject) -> bool,
) -> DynamicObject {
    let api = databases(client, ns);
    let check = &check;
    wait_until(
        &format!("Database {name}: {what}"),
        APPLIED,
        Duration::from_secs(2),
        || {
            let api = api.clone();
            async move {
                let obj = api.get(name).await.map_err(|e| e.to_string())?;
                if check(&obj) {
                    Ok(obj)
                } else {
                    Err(format!(
                        "generation {:?}, finalizers {:?}, status {}",
                        obj.metadata.generation, obj.metadata.finalizers, obj.data["status"]
                    ))
                }
            }
        },
    )
    .await
}

/// Applied at its current generation.
fn applied(obj: &DynamicObject) -> bool {
    let status = &obj.data["status"];
    status["applied"] == true && status["observedGeneration"].as_i64() == obj.metadata.generation
}

/// Refused (`applied: false`) with a message containing `words`.
fn refused_with(words: &'static str) -> impl Fn(&DynamicObject) -> bool {
    move |obj| {
        let status = &obj.data["status"];
        status["applied"] == false
            && status["message"]
                .as_str()
                .is_some_and(|m| m.contains(words))
    }
}

/// Deletes the object `name` and waits until the API server no longer has it.
async fn delete_and_wait_gone(client: &Client, ns: &str, name: &str) {
    let api = databases(client, ns);
    api.delete(name, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("deleting Database {name}: {e}"));
    wait_until(
        &format!("Database {name} gone"),
        APPLIED,
        Duration::from_secs(2),
        || {
            let api = api.clone();
            async move {
                match api.get_opt(name).await.map_err(|e| e.to_string())? {
                    None => Ok(()),
                    Some(obj) => Err(format!(
                        "finalizers {:?}, status {}",
                        obj.metadata.finalizers, obj.data["status"]
                    )),
                }
            }
        },
    )
    .await;
}

/// Runs `sql` in database `dbname` through `-rw` as the application owner (verify-full TLS).
async fn in_database(client: &Client, ns: &str, pod: &str, dbname: &str, sql: &str) -> String {
    let host = format!("{CLUSTER}-rw");
    let script = format!(
        "{}psql -h {host} -d {dbname} -qtAc \"{sql}\"",
        pgfed_e2e::wait_for_postgres(&[&host])
    );
    let (ok, log) = run_pod(
        client,
        ns,
        psql_client_pod(pod, CLUSTER, &script),
        Duration::from_secs(120),
    )
    .await;
    assert!(ok, "{sql} in {dbname}:\n{log}");
    log.trim().to_string()
}

/// Runs `sql` in the application database.
async fn query(client: &Client, ns: &str, pod: &str, sql: &str) -> String {
    let host = format!("{CLUSTER}-rw");
    cluster::query(client, ns, pod, CLUSTER, &host, sql).await
}

#[tokio::test]
async fn database_objects_are_applied_refused_kept_and_dropped_as_asked() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        cluster::create_healthy(&client, &ns, cluster::minimal(CLUSTER, 1)).await;

        // A Database with a schema and an extension in it: applied, and there in PostgreSQL.
        create(
            &client,
            &ns,
            "shop",
            json!({"name": "shop", "owner": "app",
                   "schemas": [{"name": "sales", "owner": "app"}],
                   "extensions": [{"name": "hstore", "schema": "sales"}]}),
        )
        .await;
        let shop = wait_object(&client, &ns, "shop", "applied", applied).await;
        let status = &shop.data["status"];
        assert_eq!(
            status["schemas"],
            json!([{"name": "sales", "applied": true}]),
            "{status}"
        );
        assert_eq!(
            status["extensions"],
            json!([{"name": "hstore", "applied": true}]),
            "{status}"
        );
        assert!(
            shop.metadata
                .finalizers
                .as_ref()
                .is_none_or(|f| f.is_empty()),
            "retain carries no finalizer: {:?}",
            shop.metadata.finalizers
        );
        assert_eq!(
            in_database(
                &client,
                &ns,
                "shop-contents",
                "shop",
                "SELECT n.nspname || ' ' || pg_get_userbyid(n.nspowner) FROM pg_extension e \
                 JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'hstore'"
            )
            .await,
            "sales app"
        );

        // The connection limit changed: applied at the new generation.
        databases(&client, &ns)
            .patch(
                "shop",
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"connectionLimit": 7}})),
            )
            .await
            .expect("patch connectionLimit");
        wait_object(&client, &ns, "shop", "connection limit applied", |o| {
            applied(o) && o.metadata.generation > shop.metadata.generation
        })
        .await;
        assert_eq!(
            query(
                &client,
                &ns,
                "shop-limit",
                "SELECT datconnlimit FROM pg_database WHERE datname = 'shop'"
            )
            .await,
            "7"
        );

        // A second object for the same database: the newer is refused, naming the older.
        create(
            &client,
            &ns,
            "shop-again",
            json!({"name": "shop", "owner": "app"}),
        )
        .await;
        wait_object(
            &client,
            &ns,
            "shop-again",
            "refused",
            refused_with("already managed by Database \"shop\""),
        )
        .await;
        let shop_now = databases(&client, &ns).get("shop").await.expect("shop");
        assert!(
            applied(&shop_now),
            "the older one stays applied: {}",
            shop_now.data["status"]
        );

        // An object for a cluster that does not exist says so; with `delete` it still goes at once.
        for (name, policy) in [("orphan", "retain"), ("orphan-delete", "delete")] {
            create(
                &client,
                &ns,
                name,
                json!({"cluster": {"name": "nowhere"}, "name": "lost", "owner": "app",
                       "databaseReclaimPolicy": policy}),
            )
            .await;
            wait_object(
                &client,
                &ns,
                name,
                "the missing cluster reported",
                refused_with("the cluster \"nowhere\" does not exist"),
            )
            .await;
        }
        wait_object(&client, &ns, "orphan-delete", "finalizer added", |o| {
            o.metadata
                .finalizers
                .as_ref()
                .is_some_and(|f| f.iter().any(|f| f == FINALIZER))
        })
        .await;
        delete_and_wait_gone(&client, &ns, "orphan-delete").await;
        delete_and_wait_gone(&client, &ns, "orphan").await;

        // `retain` (the default): the object goes, the database stays, and the refused object
        // takes it over.
        delete_and_wait_gone(&client, &ns, "shop").await;
        wait_object(
            &client,
            &ns,
            "shop-again",
            "applied once shop is gone",
            applied,
        )
        .await;
        assert_eq!(
            query(
                &client,
                &ns,
                "shop-kept",
                "SELECT count(*) FROM pg_database WHERE datname = 'shop'"
            )
            .await,
            "1"
        );

        // `delete`: the database is dropped before the object goes.
        create(
            &client,
            &ns,
            "scratch",
            json!({"name": "scratch", "owner": "app", "databaseReclaimPolicy": "delete"}),
        )
        .await;
        let scratch = wait_object(&client, &ns, "scratch", "applied with its finalizer", |o| {
            applied(o)
                && o.metadata
                    .finalizers
                    .as_ref()
                    .is_some_and(|f| f.iter().any(|f| f == FINALIZER))
        })
        .await;
        assert_eq!(scratch.data["status"]["message"], Value::Null);
        assert_eq!(
            query(
                &client,
                &ns,
                "scratch-there",
                "SELECT count(*) FROM pg_database WHERE datname = 'scratch'"
            )
            .await,
            "1"
        );
        delete_and_wait_gone(&client, &ns, "scratch").await;
        assert_eq!(
            query(
                &client,
                &ns,
                "scratch-dropped",
                "SELECT count(*) FROM pg_database WHERE datname = 'scratch'"
            )
            .await,
            "0"
        );
        // Nothing else went with it.
        assert_eq!(
            query(
                &client,
                &ns,
                "others-kept",
                "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database \
                 WHERE datname IN ('app', 'shop')"
            )
            .await,
            "app,shop"
        );
        let status = cluster::status(&client, &ns, CLUSTER).await;
        assert_eq!(status["phase"], HEALTHY, "{status}");
    })
    .await;
}
