//! Managed roles on real Kubernetes: a role declared in `spec.managed.roles` with its password in
//! a Secret logs in over verified TLS with that password and holds the membership the spec gives
//! it, the Cluster status lists it as reconciled, and `ensure: absent` drops it (its login then
//! fails). Runs in its own namespace; on failure the namespace's pods, Events and logs are printed.

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use pgfed_e2e::{
    pgfed_resource, psql_client_pod, regions, run_pod, wait_until, with_temp_namespace,
};
use serde_json::{Value, json};
use std::time::Duration;

const HEALTHY: &str = "Cluster in healthy state";
const CLUSTER: &str = "roles";
const ROLE_PASSWORD: &str = "e2e-Reporting-1";

fn clusters(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &pgfed_resource("Cluster"))
}

/// The Cluster's status once `check` accepts it.
async fn wait_status(
    client: &Client,
    ns: &str,
    what: &str,
    timeout: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let api = clusters(client, ns);
    let check = &check;
    wait_until(what, timeout, Duration::from_secs(2), || {
        let api = api.clone();
        async move {
            let c = api.get(CLUSTER).await.map_err(|e| e.to_string())?;
            let status = c.data.get("status").cloned().unwrap_or_default();
            if check(&status) {
                Ok(status)
            } else {
                Err(status.to_string())
            }
        }
    })
    .await
}

/// The `reporting` role, present or absent.
fn reporting(ensure: &str) -> Value {
    json!({"name": "reporting", "ensure": ensure, "login": true,
           "passwordSecret": {"name": "reporting-login"}, "inRoles": ["pg_read_all_data"]})
}

/// Shell: `reporting` logs in to `-rw` over verified TLS with its password and runs `$1`.
fn as_reporting() -> String {
    format!(
        r#"{}as_reporting() {{ PGUSER=reporting PGPASSWORD='{ROLE_PASSWORD}' PGDATABASE=postgres psql -h {CLUSTER}-rw -tAc "$1"; }}"#,
        pgfed_e2e::wait_for_postgres(&[&format!("{CLUSTER}-rw")])
    )
}

#[tokio::test]
async fn a_managed_role_logs_in_with_its_secret_and_is_dropped_when_absent() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        let secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "reporting-login"},
            "type": "kubernetes.io/basic-auth",
            "stringData": {"username": "reporting", "password": ROLE_PASSWORD}
        }))
        .expect("secret");
        Api::<Secret>::namespaced(client.clone(), &ns)
            .create(&PostParams::default(), &secret)
            .await
            .expect("create secret");
        let cluster: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "pgfed.io/v1", "kind": "Cluster",
            "metadata": {"name": CLUSTER},
            "spec": {"instances": 1, "storage": {"size": "1Gi"},
                     "managed": {"roles": [reporting("present")]}}
        }))
        .expect("cluster");
        clusters(&client, &ns)
            .create(&PostParams::default(), &cluster)
            .await
            .expect("create cluster");
        let status = wait_status(&client, &ns, "a healthy cluster with reporting reconciled", Duration::from_secs(480), |s| {
            s["phase"] == HEALTHY
                && s["managedRolesStatus"]["byStatus"]["reconciled"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|n| n == "reporting"))
        })
        .await;
        assert!(
            status["managedRolesStatus"]["cannotReconcile"].is_null(),
            "{status}"
        );

        // The role logs in with the Secret's password over verified TLS, with its membership.
        let script = format!(
            "{}\nas_reporting \"SELECT current_user || ' ' || pg_has_role('pg_read_all_data', 'MEMBER')\" || exit 2",
            as_reporting()
        );
        let (ok, log) = run_pod(&client, &ns, psql_client_pod("login", CLUSTER, &script), Duration::from_secs(180)).await;
        assert!(ok, "reporting cannot log in:\n{log}");
        assert_eq!(log.trim(), "reporting true", "{log}");

        // ensure: absent drops it: its login fails, and the role is gone.
        clusters(&client, &ns)
            .patch(
                CLUSTER,
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"managed": {"roles": [reporting("absent")]}}})),
            )
            .await
            .expect("set reporting absent");
        let script = format!(
            r#"{}
for _ in $(seq 120); do
  if ! as_reporting 'SELECT 1' >/dev/null 2>/tmp/err && grep -q 'password authentication failed' /tmp/err; then echo "login refused: $(cat /tmp/err)"; break; fi
  sleep 2
done
n=$(psql -h {CLUSTER}-rw -tAc "SELECT count(*) FROM pg_roles WHERE rolname = 'reporting'") || exit 3
echo "roles named reporting: $n""#,
            as_reporting()
        );
        let (ok, log) = run_pod(&client, &ns, psql_client_pod("dropped", CLUSTER, &script), Duration::from_secs(300)).await;
        assert!(ok, "{log}");
        assert!(log.contains("login refused"), "{log}");
        assert!(log.contains("roles named reporting: 0"), "{log}");
        let status = wait_status(&client, &ns, "reporting no longer present", Duration::from_secs(120), |s| {
            s["managedRolesStatus"]["byStatus"]["reconciled"]
                .as_array()
                .is_some_and(|r| r.iter().any(|n| n == "reporting"))
                && !s["managedRolesStatus"]["byStatus"]["not-managed"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|n| n == "reporting"))
        })
        .await;
        assert_eq!(status["phase"], HEALTHY, "{status}");
    })
    .await;
}
