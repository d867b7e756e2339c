//! Updates that would lose data or break running instances are refused, naming the field.

use pgfed_api::backup::BackupSpec;
use pgfed_api::cluster::ClusterSpec;
use pgfed_api::database::DatabaseSpec;
use pgfed_api::federation::FederationSpec;
use pgfed_api::validation;

fn cluster(yaml: &str) -> ClusterSpec {
    serde_norway::from_str(yaml).expect("fixture")
}

struct UpdateCase {
    old: &'static str,
    new: &'static str,
    field: &'static str,
    rule: &'static str,
}

#[test]
fn immutable_cluster_fields() {
    let base = "instances: 1\nstorage: {size: 2Gi, storageClass: fast}\nwalStorage: {size: 1Gi}\n";
    let cases = [
        UpdateCase {
            old: base,
            new: "instances: 1\nstorage: {size: 2Gi, storageClass: fast}\n",
            field: "spec.walStorage",
            rule: "cannot be removed",
        },
        UpdateCase {
            old: base,
            new: "instances: 1\nstorage: {size: 1Gi, storageClass: fast}\nwalStorage: {size: 1Gi}\n",
            field: "spec.storage.size",
            rule: "cannot shrink",
        },
        UpdateCase {
            old: base,
            new: "instances: 1\nstorage: {size: 2Gi, storageClass: fast}\nwalStorage: {size: 512Mi}\n",
            field: "spec.walStorage.size",
            rule: "cannot shrink",
        },
        UpdateCase {
            old: base,
            new: "instances: 1\npostgresUID: 1000\nstorage: {size: 2Gi, storageClass: fast}\nwalStorage: {size: 1Gi}\n",
            field: "spec.postgresUID",
            rule: "immutable",
        },
        UpdateCase {
            old: "instances: 1\nstorage: {size: 1Gi}\ntablespaces: [{name: t, storage: {size: 1Gi}}]\n",
            new: "instances: 1\nstorage: {size: 1Gi}\n",
            field: "spec.tablespaces[0]",
            rule: "cannot be removed",
        },
    ];
    for case in cases {
        let errors =
            validation::validate_cluster_update("pg", &cluster(case.old), &cluster(case.new));
        assert!(
            errors
                .0
                .iter()
                .any(|e| e.field == case.field && e.rule.contains(case.rule)),
            "want {} ~ {:?}, got [{errors}]",
            case.field,
            case.rule
        );
    }
}

#[test]
fn allowed_cluster_updates_pass() {
    // CloudNativePG admits all of these: none loses data. A new storage class or tablespace
    // kind applies to volumes created from then on; the WAL segment size is only read by initdb.
    for (old, new) in [
        (
            "instances: 1\nstorage: {size: 1Gi}\n",
            "instances: 3\nstorage: {size: 5Gi}\nwalStorage: {size: 1Gi}\n",
        ),
        (
            "instances: 1\nstorage: {size: 2Gi, storageClass: fast}\n",
            "instances: 1\nstorage: {size: 2Gi, storageClass: slow}\n",
        ),
        (
            "instances: 1\nstorage: {size: 1Gi}\ntablespaces: [{name: t, storage: {size: 1Gi}}]\n",
            "instances: 1\nstorage: {size: 1Gi}\ntablespaces: [{name: t, temporary: true, storage: {size: 1Gi}}]\n",
        ),
        (
            "instances: 1\nstorage: {size: 1Gi}\nbootstrap: {initdb: {walSegmentSize: 16}}\n",
            "instances: 1\nstorage: {size: 1Gi}\nbootstrap: {initdb: {walSegmentSize: 64}}\n",
        ),
    ] {
        let errors = validation::validate_cluster_update("pg", &cluster(old), &cluster(new));
        assert!(errors.is_empty(), "{old} -> {new}: {errors}");
    }
}

#[test]
fn backup_spec_is_immutable() {
    let old: BackupSpec = serde_norway::from_str("cluster: {name: pg}").expect("fixture");
    let new: BackupSpec = serde_norway::from_str("cluster: {name: other}").expect("fixture");
    let errors = validation::validate_backup_update(&old, &new);
    assert!(
        errors
            .0
            .iter()
            .any(|e| e.field == "spec" && e.rule.contains("immutable")),
        "{errors}"
    );
}

#[test]
fn database_identity_is_immutable() {
    let old: DatabaseSpec =
        serde_norway::from_str("cluster: {name: pg}\nname: shop\nowner: app").expect("fixture");
    let new: DatabaseSpec =
        serde_norway::from_str("cluster: {name: pg}\nname: shop2\nowner: app").expect("fixture");
    let errors = validation::validate_database_update(&old, &new);
    assert!(errors.0.iter().any(|e| e.field == "spec.name"), "{errors}");
}

fn federation(yaml: &str) -> FederationSpec {
    serde_norway::from_str(yaml).expect("fixture")
}

#[test]
fn federation_member_store_cannot_move_and_primary_cannot_vanish() {
    let old = federation(
        "primary: a\nmembers:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://a/'}}\n  - {name: b, region: us, clusterName: pg-b, barmanObjectStore: {destinationPath: 's3://b/'}}\ntemplate: {instances: 1, storage: {size: 1Gi}}\n",
    );
    let moved = federation(
        "primary: a\nmembers:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://elsewhere/'}}\n  - {name: b, region: us, clusterName: pg-b, barmanObjectStore: {destinationPath: 's3://b/'}}\ntemplate: {instances: 1, storage: {size: 1Gi}}\n",
    );
    let errors = validation::validate_federation_update("shop", &old, &moved);
    assert!(
        errors
            .0
            .iter()
            .any(|e| e.field == "spec.members[0].barmanObjectStore.destinationPath"),
        "{errors}"
    );
    let dropped = federation(
        "primary: b\nmembers:\n  - {name: b, region: us, clusterName: pg-b, barmanObjectStore: {destinationPath: 's3://b/'}}\ntemplate: {instances: 1, storage: {size: 1Gi}}\n",
    );
    let errors = validation::validate_federation_update("shop", &old, &dropped);
    assert!(
        errors
            .0
            .iter()
            .any(|e| e.field == "spec.members" && e.rule.contains("holds the primary")),
        "{errors}"
    );
    let shrunk = federation(
        "primary: a\nmembers:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://a/'}}\n  - {name: b, region: us, clusterName: pg-b, barmanObjectStore: {destinationPath: 's3://b/'}}\ntemplate: {instances: 1, storage: {size: 512Mi}}\n",
    );
    let errors = validation::validate_federation_update("shop", &old, &shrunk);
    assert!(
        errors
            .0
            .iter()
            .any(|e| e.field == "spec.template.storage.size"),
        "{errors}"
    );
    let switched = federation(
        "primary: b\nmembers:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://a/'}}\n  - {name: b, region: us, clusterName: pg-b, barmanObjectStore: {destinationPath: 's3://b/'}}\ntemplate: {instances: 1, storage: {size: 1Gi}}\n",
    );
    let errors = validation::validate_federation_update("shop", &old, &switched);
    assert!(errors.is_empty(), "a switchover is a valid edit: {errors}");
}
