//! The member operator on real Kubernetes: a Cluster becomes running PostgreSQL, serves writes
//! through `-rw` and reads through `-ro` over TLS with the generated credentials, scales, and
//! reports a missing Secret, an image that cannot be pulled and a claim that cannot bind until
//! they are fixed. Each test runs in its own namespace; on failure the
//! namespace's pods, Events and logs are printed.

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use pgfed_e2e::cluster::{self, HEALTHY};
use pgfed_e2e::{psql_client_pod, regions, run_pod, wait_until, with_temp_namespace};
use std::time::Duration;

fn names<K: kube::Resource>(items: &[K]) -> Vec<String> {
    let mut n: Vec<String> = items.iter().filter_map(|o| o.meta().name.clone()).collect();
    n.sort();
    n
}

#[tokio::test]
async fn three_instances_become_healthy_serve_tls_clients_and_scale_up_and_down() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        cluster::create(&client, &ns, cluster::minimal("pg", 3))
        .await;
        let status = cluster::wait_phase(&client, &ns, "pg", HEALTHY, Duration::from_secs(480)).await;
        assert_eq!(status["readyInstances"], 3, "{status}");
        assert_eq!(status["currentPrimary"], "pg-1", "{status}");
        assert_eq!(status["targetPrimary"], "pg-1", "{status}");
        assert_eq!(status["writeService"], "pg-rw");
        assert_eq!(
            status["instanceNames"],
            serde_json::json!(["pg-1", "pg-2", "pg-3"])
        );
        let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
        assert!(
            conditions.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"),
            "{status}"
        );
        let pods = cluster::instance_pods(&client, &ns, "pg").await;
        let primaries: Vec<String> = pods
            .iter()
            .filter(|p| p.metadata.labels.as_ref().and_then(|l| l.get("pgfed.io/instanceRole")).map(String::as_str) == Some("primary"))
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        assert_eq!(primaries, vec!["pg-1".to_string()], "exactly one pod is labelled primary");
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
        let app = secrets.get("pg-app").await.expect("pg-app secret");
        let keys: Vec<String> = app.data.unwrap_or_default().into_keys().collect();
        for key in ["username", "password", "dbname", "uri", "jdbc-uri", "pgpass"] {
            assert!(keys.contains(&key.to_string()), "pg-app lacks {key}: {keys:?}");
        }

        // Writes through -rw, reads through -ro from another pod, over verified TLS; -ro refuses writes.
        let script = r#"set -u
for h in pg-rw pg-ro; do for _ in $(seq 60); do pg_isready -q -h $h && break; sleep 1; done; done
psql -h pg-rw -v ON_ERROR_STOP=1 -c 'CREATE TABLE e2e(i int)' -c 'INSERT INTO e2e SELECT generate_series(1,100)' || exit 2
echo "ssl: $(psql -h pg-rw -tAc 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')"
for _ in $(seq 90); do
  n=$(psql -h pg-ro -tAc 'SELECT count(*) FROM e2e' 2>/dev/null)
  if [ "$n" = 100 ]; then echo "read $n rows through pg-ro"; break; fi
  sleep 1
done
[ "$n" = 100 ] || { echo "pg-ro returned ${n:-nothing}"; exit 3; }
echo "standby: $(psql -h pg-ro -tAc 'SELECT pg_is_in_recovery()')"
if psql -h pg-ro -c 'INSERT INTO e2e VALUES (0)' 2>&1; then echo "pg-ro accepted a write"; exit 4; fi
"#;
        let (ok, log) = run_pod(&client, &ns, psql_client_pod("client", "pg", script), Duration::from_secs(180)).await;
        assert!(ok, "client pod failed:\n{log}");
        assert!(log.contains("ssl: t"), "{log}");
        assert!(log.contains("read 100 rows through pg-ro"), "{log}");
        assert!(log.contains("standby: t"), "{log}");
        assert!(log.contains("read-only transaction"), "{log}");

        // Scale up to 5 through the scale subresource, as `kubectl scale` does: new serials,
        // each cloned from the primary.
        cluster::api(&client, &ns)
            .patch_scale("pg", &PatchParams::default(), &Patch::Merge(&serde_json::json!({"spec": {"replicas": 5}})))
            .await
            .expect("scale up");
        let status = wait_until("5 ready instances", Duration::from_secs(420), Duration::from_secs(2), || {
            let (client, ns) = (client.clone(), ns.clone());
            async move {
                let s = cluster::status(&client, &ns, "pg").await;
                if s["readyInstances"] == 5 && s["phase"] == HEALTHY { Ok(s) } else { Err(format!("{} ready, {}", s["readyInstances"], s["phase"])) }
            }
        })
        .await;
        assert_eq!(
            status["instanceNames"],
            serde_json::json!(["pg-1", "pg-2", "pg-3", "pg-4", "pg-5"])
        );

        // Scale down to 2: the highest serials go, one at a time, with their claims.
        cluster::patch(&client, &ns, "pg", serde_json::json!({"spec": {"instances": 2}})).await;
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
        wait_until("pg-3, pg-4, pg-5 and their claims removed", Duration::from_secs(300), Duration::from_secs(2), || {
            let (client, ns, pvcs) = (client.clone(), ns.clone(), pvcs.clone());
            async move {
                let pods = names(&cluster::instance_pods(&client, &ns, "pg").await);
                let claims = names(&pvcs.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items);
                if pods == ["pg-1", "pg-2"] && claims == ["pg-1", "pg-2"] {
                    Ok(())
                } else {
                    Err(format!("pods {pods:?}, claims {claims:?}"))
                }
            }
        })
        .await;
        let status = cluster::wait_phase(&client, &ns, "pg", HEALTHY, Duration::from_secs(120)).await;
        assert_eq!(status["instances"], 2, "{status}");
    })
    .await;
}

#[tokio::test]
async fn a_missing_credentials_secret_is_reported_until_it_appears() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        cluster::create(&client, &ns, serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "Cluster",
            "metadata": {"name": "solo"},
            "spec": {"instances": 1, "storage": {"size": "1Gi"},
                     "bootstrap": {"initdb": {"database": "shop", "owner": "shop", "secret": {"name": "shop-login"}}}}
        }))
        .await;
        let status = cluster::wait_phase(&client, &ns, "solo", "Unable to create required cluster objects", Duration::from_secs(60)).await;
        let reason = status["phaseReason"].as_str().unwrap_or_default();
        assert!(reason.contains("shop-login") && reason.contains("spec.bootstrap.initdb.secret"), "{status}");
        assert!(cluster::instance_pods(&client, &ns, "solo").await.is_empty(), "no pod before the Secret exists");
        let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), &ns);
        wait_until("a MissingReference Event", Duration::from_secs(30), Duration::from_secs(2), || {
            let events = events.clone();
            async move {
                let list = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
                list.items
                    .iter()
                    .find(|e| e.reason.as_deref() == Some("MissingReference"))
                    .map(|_| ())
                    .ok_or_else(|| format!("{} events", list.items.len()))
            }
        })
        .await;

        let secret: Secret = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "shop-login"},
            "type": "kubernetes.io/basic-auth",
            "stringData": {"username": "shop", "password": "e2e-Secret-1"}
        }))
        .expect("secret");
        Api::<Secret>::namespaced(client.clone(), &ns)
            .create(&PostParams::default(), &secret)
            .await
            .expect("create secret");
        let status = cluster::wait_phase(&client, &ns, "solo", HEALTHY, Duration::from_secs(300)).await;
        assert_eq!(status["readyInstances"], 1, "{status}");
        // The owner logs in with the user's password over TLS.
        let script = r#"for _ in $(seq 60); do pg_isready -q -h solo-rw && break; sleep 1; done
PGPASSWORD=e2e-Secret-1 psql "host=solo-rw user=shop dbname=shop sslmode=verify-full sslrootcert=/ca/ca.crt" -tAc 'SELECT current_user' || exit 2"#;
        let mut pod = psql_client_pod("login", "solo", script);
        // this cluster has no generated app Secret: drop the env taken from it
        pod["spec"]["containers"][0]["env"] = serde_json::json!([{"name": "HOME", "value": "/tmp"}]);
        let (ok, log) = run_pod(&client, &ns, pod, Duration::from_secs(120)).await;
        assert!(ok && log.trim() == "shop", "{log}");
    })
    .await;
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_is_reported_and_fixing_it_recovers() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        cluster::create(
            &client,
            &ns,
            serde_json::json!({
                "apiVersion": "pgfed.io/v1", "kind": "Cluster",
                "metadata": {"name": "img"},
                "spec": {"instances": 1, "storage": {"size": "1Gi"},
                         "imageName": "pgfed/postgresql:does-not-exist", "imagePullPolicy": "Never"}
            }),
        )
        .await;
        let api = cluster::api(&client, &ns);
        wait_until(
            "the pull failure in the phase reason",
            Duration::from_secs(120),
            Duration::from_secs(2),
            || {
                let api = api.clone();
                async move {
                    let c = api.get("img").await.map_err(|e| e.to_string())?;
                    let reason = c.data["status"]["phaseReason"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    if reason.contains("img-1") && reason.contains("ErrImageNeverPull") {
                        Ok(())
                    } else {
                        Err(reason)
                    }
                }
            },
        )
        .await;
        api.patch(
            "img",
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({
                "spec": {"imageName": "pgfed/postgresql:15"}
            })),
        )
        .await
        .expect("fix the image");
        let status =
            cluster::wait_phase(&client, &ns, "img", HEALTHY, Duration::from_secs(300)).await;
        assert_eq!(status["image"], "pgfed/postgresql:15", "{status}");
    })
    .await;
}

#[tokio::test]
async fn a_claim_that_cannot_bind_is_named_and_binding_it_recovers() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        // A StorageClass that does not exist yet: the claim stays Pending, the pod unschedulable.
        let class = format!("pgfed-e2e-late-{ns}");
        cluster::create(
            &client,
            &ns,
            serde_json::json!({
                "apiVersion": "pgfed.io/v1", "kind": "Cluster",
                "metadata": {"name": "unb"},
                "spec": {"instances": 1, "storage": {"size": "1Gi", "storageClass": class}}
            }),
        )
        .await;
        let api = cluster::api(&client, &ns);
        let want = class.clone();
        wait_until(
            "the unbound claim in the phase reason",
            Duration::from_secs(120),
            Duration::from_secs(2),
            || {
                let (api, want) = (api.clone(), want.clone());
                async move {
                    let c = api.get("unb").await.map_err(|e| e.to_string())?;
                    let reason = c.data["status"]["phaseReason"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    if reason.contains("claim unb-1") && reason.contains(&want) {
                        Ok(())
                    } else {
                        Err(reason)
                    }
                }
            },
        )
        .await;
        let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), &ns);
        let warned = events
            .list(&ListParams::default())
            .await
            .expect("events")
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("InstanceNotStarting")
                    && e.message
                        .as_deref()
                        .is_some_and(|m| m.contains("claim unb-1"))
            });
        assert!(warned, "no Warning Event names the claim");

        // The class appears (the local provisioner of the environment): the claim binds and the
        // cluster comes up on it.
        let classes: Api<k8s_openapi::api::storage::v1::StorageClass> = Api::all(client.clone());
        let sc: k8s_openapi::api::storage::v1::StorageClass =
            serde_json::from_value(serde_json::json!({
                "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": class},
                "provisioner": "pgfed.io/local-path",
                "reclaimPolicy": "Delete",
                "volumeBindingMode": "WaitForFirstConsumer"
            }))
            .expect("StorageClass");
        classes
            .create(&PostParams::default(), &sc)
            .await
            .expect("create the StorageClass");
        // Waited for in a task, so the cluster-wide StorageClass is removed however it ends.
        let (c, n) = (client.clone(), ns.clone());
        let healthy = tokio::spawn(async move {
            cluster::wait_phase(&c, &n, "unb", HEALTHY, Duration::from_secs(300)).await
        })
        .await;
        let _ = classes
            .delete(&class, &kube::api::DeleteParams::default())
            .await;
        assert!(healthy.is_ok(), "the cluster did not recover");
    })
    .await;
}
