//! How a Cluster's first instance is made and where its image comes from, on real Kubernetes:
//! - `examples/cluster-post-init-sql.yaml`: scripts from a Secret and a ConfigMap run at bootstrap
//!   in CloudNativePG's order (a role, an extension made in template1 and inherited by the
//!   application database, a table owned by the application owner); a Cluster whose script
//!   ConfigMap is missing says so, creates nothing, and bootstraps once it appears;
//! - `imageCatalogRef`: the image comes from an ImageCatalog, and a change of the catalog rolls
//!   the Cluster to the new image;
//! - `bootstrap.pg_basebackup`: a Cluster copied from another over TLS with certificate
//!   authentication, becoming a primary of its own with the source's data.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use pgfed_e2e::cluster::{self, HEALTHY};
use pgfed_e2e::{example_documents, pgfed_resource, regions, wait_until, with_temp_namespace};
use std::time::Duration;

/// Creates a Secret, ConfigMap or pgfed object from a manifest.
async fn create_document(client: &Client, ns: &str, doc: serde_json::Value) {
    let kind = doc["kind"].as_str().unwrap_or_default().to_string();
    match kind.as_str() {
        "Secret" => {
            let secret: Secret = serde_json::from_value(doc).expect("Secret");
            Api::<Secret>::namespaced(client.clone(), ns)
                .create(&PostParams::default(), &secret)
                .await
                .expect("create Secret");
        }
        "ConfigMap" => {
            let map: ConfigMap = serde_json::from_value(doc).expect("ConfigMap");
            Api::<ConfigMap>::namespaced(client.clone(), ns)
                .create(&PostParams::default(), &map)
                .await
                .expect("create ConfigMap");
        }
        _ => {
            let obj: DynamicObject = serde_json::from_value(doc).expect("pgfed object");
            Api::<DynamicObject>::namespaced_with(client.clone(), ns, &pgfed_resource(&kind))
                .create(&PostParams::default(), &obj)
                .await
                .unwrap_or_else(|e| panic!("create {kind}: {e}"));
        }
    }
}

#[tokio::test]
async fn post_init_scripts_from_secrets_and_config_maps_run_at_bootstrap() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        let docs = example_documents("cluster-post-init-sql.yaml");
        let (mut cluster_doc, mut objects) = (None, Vec::new());
        for doc in docs {
            if doc["kind"] == "Cluster" {
                cluster_doc = Some(doc);
            } else {
                objects.push(doc);
            }
        }
        let mut cluster_doc = cluster_doc.expect("the example has a Cluster");
        // One instance is enough to prove the scripts; the example's three take longer.
        cluster_doc["spec"]["instances"] = serde_json::json!(1);
        let name = cluster_doc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (schema, others): (Vec<_>, Vec<_>) =
            objects.into_iter().partition(|d| d["kind"] == "ConfigMap");

        // The ConfigMap is missing: reported by field, nothing created, until it appears.
        for doc in others {
            create_document(&client, &ns, doc).await;
        }
        cluster::create(&client, &ns, cluster_doc).await;
        wait_until(
            "the missing ConfigMap reported",
            Duration::from_secs(120),
            Duration::from_secs(2),
            || {
                let (client, ns, name) = (client.clone(), ns.clone(), name.clone());
                async move {
                    let reason = cluster::status(&client, &ns, &name).await["phaseReason"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    if reason.contains("cluster-post-init-sql-schema")
                        && reason.contains("spec.bootstrap.initdb.postInit")
                    {
                        Ok(())
                    } else {
                        Err(reason)
                    }
                }
            },
        )
        .await;
        assert!(
            cluster::instance_pods(&client, &ns, &name).await.is_empty(),
            "a pod was created before the scripts exist"
        );
        for doc in schema {
            create_document(&client, &ns, doc).await;
        }
        cluster::wait_phase(&client, &ns, &name, HEALTHY, Duration::from_secs(300)).await;

        let rw = format!("{name}-rw");
        let q = |pod: &'static str, sql: &'static str| {
            let (client, ns, name, rw) = (client.clone(), ns.clone(), name.clone(), rw.clone());
            async move { cluster::query(&client, &ns, pod, &name, &rw, sql).await }
        };
        assert_eq!(
            q(
                "q-role",
                "SELECT rolname FROM pg_roles WHERE rolname = 'reporting'"
            )
            .await,
            "reporting",
            "postInitSQLRefs (Secret) did not run"
        );
        assert_eq!(
            q(
                "q-ext",
                "SELECT extname FROM pg_extension WHERE extname = 'pgcrypto'"
            )
            .await,
            "pgcrypto",
            "the application database did not inherit template1's extension"
        );
        assert_eq!(
            q(
                "q-table",
                "INSERT INTO orders DEFAULT VALUES RETURNING length(reference::text)"
            )
            .await,
            "36",
            "postInitApplicationSQLRefs did not make the table the application owner writes"
        );
    })
    .await;
}

#[tokio::test]
async fn the_image_comes_from_the_catalog_and_a_catalog_change_rolls_the_cluster() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        create_document(
            &client,
            &ns,
            serde_json::json!({
                "apiVersion": "pgfed.io/v1", "kind": "ImageCatalog",
                "metadata": {"name": "postgresql"},
                "spec": {"images": [{"major": 15, "image": "pgfed/postgresql:15"}]}
            }),
        )
        .await;
        cluster::create(
            &client,
            &ns,
            serde_json::json!({
                "apiVersion": "pgfed.io/v1", "kind": "Cluster",
                "metadata": {"name": "cat"},
                "spec": {"instances": 1, "storage": {"size": "1Gi"},
                         "imageCatalogRef": {"apiGroup": "pgfed.io", "kind": "ImageCatalog",
                                             "name": "postgresql", "major": 15}}
            }),
        )
        .await;
        let status =
            cluster::wait_phase(&client, &ns, "cat", HEALTHY, Duration::from_secs(300)).await;
        assert_eq!(status["image"], "pgfed/postgresql:15");

        let catalogs = Api::<DynamicObject>::namespaced_with(
            client.clone(),
            &ns,
            &pgfed_resource("ImageCatalog"),
        );
        catalogs
            .patch(
                "postgresql",
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({
                    "spec": {"images": [{"major": 15, "image": "pgfed/postgresql:15-next"}]}
                })),
            )
            .await
            .expect("patch the catalog");
        // Within the normal reconcile cadence, not the idle resync: the catalog is watched.
        wait_until(
            "the cluster on the catalog's new image",
            Duration::from_secs(180),
            Duration::from_secs(2),
            || {
                let (client, ns) = (client.clone(), ns.clone());
                async move {
                    let pods = cluster::instance_pods(&client, &ns, "cat").await;
                    let on_new = pods.iter().any(|p| {
                        p.spec.as_ref().is_some_and(|s| {
                            s.containers
                                .iter()
                                .any(|c| c.image.as_deref() == Some("pgfed/postgresql:15-next"))
                        })
                    });
                    let status = cluster::status(&client, &ns, "cat").await;
                    if on_new
                        && status["phase"] == HEALTHY
                        && status["image"] == "pgfed/postgresql:15-next"
                    {
                        Ok(())
                    } else {
                        Err(format!(
                            "on new image: {on_new}, phase {}, image {}",
                            status["phase"], status["image"]
                        ))
                    }
                }
            },
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn a_cluster_is_copied_from_an_external_cluster_with_pg_basebackup() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        cluster::create(&client, &ns, cluster::minimal("src", 1)).await;
        let source = cluster::wait_phase(&client, &ns, "src", HEALTHY, Duration::from_secs(300)).await;
        cluster::query(&client, &ns, "q-src", "src", "src-rw",
            "CREATE TABLE copied AS SELECT generate_series(1, 300) AS n").await;
        // The source's own replication certificate and CA: certificate authentication, verified
        // server name, no password anywhere.
        cluster::create(&client, &ns, serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "Cluster",
            "metadata": {"name": "copy"},
            "spec": {
                "instances": 1, "storage": {"size": "1Gi"},
                "bootstrap": {"pg_basebackup": {"source": "src"}},
                "externalClusters": [{
                    "name": "src",
                    "connectionParameters": {"host": format!("src-rw.{ns}.svc"), "user": "streaming_replica",
                                             "dbname": "postgres", "sslmode": "verify-full"},
                    "sslCert": {"name": "src-replication", "key": "tls.crt"},
                    "sslKey": {"name": "src-replication", "key": "tls.key"},
                    "sslRootCert": {"name": "src-ca", "key": "ca.crt"}
                }]
            }
        })).await;
        let copy = cluster::wait_phase(&client, &ns, "copy", HEALTHY, Duration::from_secs(300)).await;
        assert_eq!(copy["systemID"], source["systemID"], "a physical copy keeps the system identifier");
        // The copy has the source's roles: the source's application credentials, the copy's CA.
        let mut pod = pgfed_e2e::psql_client_pod("q-copy", "src",
            &format!("{}psql -h copy-rw -qtAc \"SELECT count(*) FROM copied WHERE pg_is_in_recovery() = false\"",
                pgfed_e2e::wait_for_postgres(&["copy-rw"])));
        pod["spec"]["volumes"][0]["secret"]["secretName"] = serde_json::json!("copy-ca");
        let (ok, log) = pgfed_e2e::run_pod(&client, &ns, pod, Duration::from_secs(120)).await;
        assert!(ok, "querying the copy failed:\n{log}");
        assert_eq!(log.trim(), "300", "the copy must hold the source's rows and be a primary");
    })
    .await;
}
