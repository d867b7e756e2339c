//! The CEL rules of the CRDs (`x-kubernetes-validations`) on real kube-apiservers: the API
//! server itself refuses immutable-field changes and out-of-range values, before any webhook is
//! asked, so a cluster installed without the pgfed webhook still refuses the worst mistakes.
//! Each refusal must carry the CRD rule's message and must not come from the admission webhook
//! (the API server validates the schema and its CEL rules before it calls validating webhooks).

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use pgfed_e2e::{example_documents, pgfed_resource, regions, with_temp_namespace};

fn object(doc: &serde_json::Value) -> DynamicObject {
    serde_json::from_value(doc.clone()).expect("dynamic object")
}

fn assert_refused_by_the_schema(err: kube::Error, message: &str, what: &str) {
    let text = err.to_string();
    assert!(
        text.contains(message),
        "{what}: want {message:?} in: {text}"
    );
    assert!(
        !text.contains("admission webhook"),
        "{what}: refused by the webhook, not by the CRD's CEL rule: {text}"
    );
}

#[tokio::test]
async fn immutable_cluster_fields_are_refused_by_the_api_server() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        let clusters: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &ns, &pgfed_resource("Cluster"));
        let doc = example_documents("cluster-minimal.yaml").remove(0);
        let created = clusters
            .create(&PostParams::default(), &object(&doc))
            .await
            .expect("create");
        let name = created.metadata.name.clone().expect("name");
        let cases = [
            (
                serde_json::json!({"spec": {"postgresUID": 1000}}),
                "postgresUID is immutable",
            ),
            (
                serde_json::json!({"spec": {"postgresGID": 1000}}),
                "postgresGID is immutable",
            ),
        ];
        for (patch, message) in cases {
            let err = clusters
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .expect_err("the API server must refuse it");
            assert_refused_by_the_schema(err, message, &patch.to_string());
        }
    })
    .await;
}

#[tokio::test]
async fn out_of_range_values_are_refused_by_the_api_server() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        let clusters: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &ns, &pgfed_resource("Cluster"));
        let cases = [
            (
                serde_json::json!({"bootstrap": {"initdb": {"walSegmentSize": 3}}}),
                "power of two",
            ),
            (
                serde_json::json!({"primaryLease": {"leaseDurationSeconds": 5}}),
                "renewDeadlineSeconds must be less than leaseDurationSeconds",
            ),
            (serde_json::json!({"instances": 0}), "spec.instances"),
        ];
        for (i, (extra, message)) in cases.into_iter().enumerate() {
            let mut doc = example_documents("cluster-minimal.yaml").remove(0);
            doc["metadata"]["name"] = format!("cel-range-{i}").into();
            for (k, v) in extra.as_object().expect("object") {
                doc["spec"][k] = v.clone();
            }
            let err = clusters
                .create(&PostParams::default(), &object(&doc))
                .await
                .expect_err("the API server must refuse it");
            assert_refused_by_the_schema(err, message, &extra.to_string());
        }
    })
    .await;
}

#[tokio::test]
async fn a_backup_spec_and_a_database_name_cannot_change() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        for (file, patch, message) in [
            (
                "backup.yaml",
                serde_json::json!({"spec": {"online": false}}),
                "a Backup's spec is immutable",
            ),
            (
                "database.yaml",
                serde_json::json!({"spec": {"name": "renamed"}}),
                "name is immutable",
            ),
        ] {
            let doc = example_documents(file).remove(0);
            let kind = doc["kind"].as_str().expect("kind").to_string();
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &ns, &pgfed_resource(&kind));
            let created = api
                .create(&PostParams::default(), &object(&doc))
                .await
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let name = created.metadata.name.clone().expect("name");
            let err = api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .expect_err("the API server must refuse it");
            assert_refused_by_the_schema(err, message, file);
        }
    })
    .await;
}

#[tokio::test]
async fn the_new_kinds_examples_are_admitted() {
    for region in regions() {
        with_temp_namespace(&region, move |client, ns| async move {
            let dry_run = PostParams {
                dry_run: true,
                ..Default::default()
            };
            for file in ["database-role.yaml", "object-store.yaml"] {
                for doc in example_documents(file) {
                    let kind = doc["kind"].as_str().expect("kind").to_string();
                    let api: Api<DynamicObject> =
                        Api::namespaced_with(client.clone(), &ns, &pgfed_resource(&kind));
                    api.create(&dry_run, &object(&doc))
                        .await
                        .unwrap_or_else(|e| panic!("{file} ({kind}) refused: {e}"));
                }
            }
        })
        .await;
    }
}
