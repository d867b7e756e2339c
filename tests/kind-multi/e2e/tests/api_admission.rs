//! The pgfed API on real kube-apiservers: CRDs are accepted and established, every example is
//! admitted (schema + webhook, server-side dry-run), invalid objects are refused by the live
//! webhook with field paths, defaults are applied, and immutable updates are refused.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use pgfed_e2e::{client, example_documents, pgfed_resource, regions, with_temp_namespace};

fn api_for(client: kube::Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let resource = pgfed_resource(kind);
    if kind == "ClusterImageCatalog" {
        Api::all_with(client, &resource)
    } else {
        Api::namespaced_with(client, ns, &resource)
    }
}

fn object(doc: &serde_json::Value) -> DynamicObject {
    serde_json::from_value(doc.clone()).expect("dynamic object")
}

#[tokio::test]
async fn crds_are_established_in_every_region() {
    for region in regions() {
        let crds: Api<CustomResourceDefinition> = Api::all(client(&region).await);
        for (_, crd) in pgfed_api::crds::all() {
            let name = crd.metadata.name.clone().expect("name");
            let live = crds
                .get(&name)
                .await
                .unwrap_or_else(|e| panic!("{region}: CRD {name}: {e}"));
            let established = live
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            assert!(established, "{region}: CRD {name} is not established");
        }
    }
}

#[tokio::test]
async fn every_example_is_admitted_by_the_api_server() {
    let files = [
        "cluster-minimal.yaml",
        "cluster-full.yaml",
        "cluster-with-backup.yaml",
        "backup.yaml",
        "scheduled-backup.yaml",
        "pooler.yaml",
        "database.yaml",
        "publication.yaml",
        "subscription.yaml",
        "image-catalog.yaml",
        "federation-two-regions.yaml",
    ];
    for region in regions() {
        with_temp_namespace(&region, move |client, ns| async move {
            let dry_run = PostParams {
                dry_run: true,
                ..Default::default()
            };
            for file in files {
                for doc in example_documents(file) {
                    let kind = doc["kind"].as_str().expect("kind").to_string();
                    api_for(client.clone(), &ns, &kind)
                        .create(&dry_run, &object(&doc))
                        .await
                        .unwrap_or_else(|e| panic!("{file} ({kind}) refused: {e}"));
                }
            }
        })
        .await;
    }
}

#[tokio::test]
async fn invalid_objects_are_refused_with_the_field_path() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        let cases = [
            (r#"{"apiVersion":"pgfed.io/v1","kind":"Cluster","metadata":{"name":"bad-replica"},
                "spec":{"instances":1,"storage":{"size":"1Gi"},"replica":{"source":"nowhere"}}}"#,
             "spec.replica.source"),
            (r#"{"apiVersion":"pgfed.io/v1","kind":"Cluster","metadata":{"name":"bad-param"},
                "spec":{"instances":1,"storage":{"size":"1Gi"},"postgresql":{"parameters":{"port":"5433"}}}}"#,
             "spec.postgresql.parameters.port"),
            (r#"{"apiVersion":"pgfed.io/v1","kind":"ScheduledBackup","metadata":{"name":"bad-cron"},
                "spec":{"cluster":{"name":"pg"},"schedule":"0 0 * *"}}"#,
             "spec.schedule"),
            (r#"{"apiVersion":"pgfed.io/v1","kind":"Federation","metadata":{"name":"bad-fed"},
                "spec":{"primary":"c","members":[{"name":"a","region":"eu","barmanObjectStore":{"destinationPath":"s3://a/"}}],
                        "template":{"instances":1,"storage":{"size":"1Gi"}}}}"#,
             "spec.primary"),
        ];
        for (json, field) in cases {
            let doc: serde_json::Value = serde_json::from_str(json).expect("fixture");
            let kind = doc["kind"].as_str().expect("kind").to_string();
            let err = api_for(client.clone(), &ns, &kind)
                .create(&PostParams::default(), &object(&doc))
                .await
                .expect_err("the webhook must refuse it");
            assert!(err.to_string().contains(field), "{kind}: want {field} in: {err}");
        }
    })
    .await;
}

#[tokio::test]
async fn defaults_are_applied_and_immutable_fields_hold() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        let clusters = api_for(client.clone(), &ns, "Cluster");
        let doc = example_documents("cluster-minimal.yaml").remove(0);
        let created = clusters
            .create(&PostParams::default(), &object(&doc))
            .await
            .expect("create");
        let spec = &created.data["spec"];
        assert_eq!(
            spec["imageName"],
            pgfed_api::names::DEFAULT_POSTGRES_IMAGE,
            "{spec}"
        );
        assert_eq!(spec["bootstrap"]["initdb"]["database"], "app", "{spec}");
        assert_eq!(spec["primaryLease"]["leaseDurationSeconds"], 15, "{spec}");
        let name = created.metadata.name.clone().expect("name");
        let shrink = serde_json::json!({"spec": {"storage": {"size": "512Mi"}}});
        let err = clusters
            .patch(&name, &PatchParams::default(), &Patch::Merge(&shrink))
            .await
            .expect_err("shrinking storage must be refused");
        assert!(err.to_string().contains("spec.storage.size"), "{err}");
        let grow = serde_json::json!({"spec": {"instances": 2, "storage": {"size": "2Gi"}}});
        clusters
            .patch(&name, &PatchParams::default(), &Patch::Merge(&grow))
            .await
            .expect("growing is allowed");
    })
    .await;
}
