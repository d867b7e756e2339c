//! Admission of CloudNativePG 1.26+ manifests that keep their object store in a Barman Cloud
//! plugin `ObjectStore`: the plugin documentation's manifests (usage page of
//! cloudnative-pg/plugin-barman-cloud) pass with only `apiVersion` changed; other plugins, a
//! missing `barmanObjectName`, a plugin beside the in-tree store, and sidecar settings are
//! refused naming the field.

use pgfed_api::admission::{default_document, validate_document};
use serde_json::Value;

/// The errors the webhook answers for each document of `yaml`, defaulted first as the webhook
/// does, one line per error.
fn review(yaml: &str) -> Vec<String> {
    serde_norway::Deserializer::from_str(yaml)
        .flat_map(|document| {
            let doc: Value = serde::Deserialize::deserialize(document).expect("YAML");
            let kind = doc["kind"].as_str().unwrap_or("?").to_string();
            let defaulted = default_document(&doc).expect("defaulted");
            validate_document(&defaulted, None)
                .expect("reviewable")
                .0
                .into_iter()
                .map(move |e| format!("{kind} {}: {}", e.field, e.rule))
        })
        .collect()
}

/// The documentation's ObjectStore, Cluster and Backup, `apiVersion` changed only.
const PLUGIN_DOCS_USAGE: &str = r#"
apiVersion: pgfed.io/v1
kind: ObjectStore
metadata:
  name: minio-store
spec:
  configuration:
    destinationPath: s3://backups/
    endpointURL: http://minio:9000
    s3Credentials:
      accessKeyId:
        name: minio
        key: ACCESS_KEY_ID
      secretAccessKey:
        name: minio
        key: ACCESS_SECRET_KEY
    wal:
      compression: gzip
---
apiVersion: pgfed.io/v1
kind: Cluster
metadata:
  name: cluster-example
spec:
  instances: 3
  imagePullPolicy: Always
  plugins:
  - name: barman-cloud.cloudnative-pg.io
    isWALArchiver: true
    parameters:
      barmanObjectName: minio-store
  storage:
    size: 1Gi
---
apiVersion: pgfed.io/v1
kind: Backup
metadata:
  name: backup-example
spec:
  cluster:
    name: cluster-example
  method: plugin
  pluginConfiguration:
    name: barman-cloud.cloudnative-pg.io
"#;

/// The documentation's restore with archiving and its replica-cluster topology.
const PLUGIN_DOCS_RECOVERY_AND_REPLICA: &str = r#"
apiVersion: pgfed.io/v1
kind: Cluster
metadata:
  name: cluster-restore
spec:
  instances: 3
  imagePullPolicy: IfNotPresent
  bootstrap:
    recovery:
      source: source
  plugins:
  - name: barman-cloud.cloudnative-pg.io
    isWALArchiver: true
    parameters:
      # Backup Object Store (push, read-write)
      barmanObjectName: minio-store-bis
  externalClusters:
  - name: source
    plugin:
      name: barman-cloud.cloudnative-pg.io
      parameters:
        # Recovery Object Store (pull, read-only)
        barmanObjectName: minio-store
        serverName: cluster-example
  storage:
    size: 1Gi
---
apiVersion: pgfed.io/v1
kind: Cluster
metadata:
  name: cluster-dc-a
spec:
  instances: 3
  primaryUpdateStrategy: unsupervised

  storage:
    storageClass: csi-hostpath-sc
    size: 1Gi

  plugins:
  - name: barman-cloud.cloudnative-pg.io
    isWALArchiver: true
    parameters:
      barmanObjectName: minio-store-a

  replica:
    self: cluster-dc-a
    primary: cluster-dc-a
    source: cluster-dc-b

  externalClusters:
  - name: cluster-dc-a
    plugin:
      name: barman-cloud.cloudnative-pg.io
      parameters:
        barmanObjectName: minio-store-a

  - name: cluster-dc-b
    plugin:
      name: barman-cloud.cloudnative-pg.io
      parameters:
        barmanObjectName: minio-store-b
"#;

#[test]
fn the_plugin_documentation_manifests_are_accepted() {
    assert_eq!(review(PLUGIN_DOCS_USAGE), Vec::<String>::new());
    assert_eq!(
        review(PLUGIN_DOCS_RECOVERY_AND_REPLICA),
        Vec::<String>::new()
    );
    let scheduled = "apiVersion: pgfed.io/v1\nkind: ScheduledBackup\nmetadata: {name: nightly}\nspec:\n  schedule: '0 0 0 * * *'\n  cluster: {name: cluster-example}\n  method: plugin\n  pluginConfiguration: {name: barman-cloud.cloudnative-pg.io}\n";
    assert_eq!(review(scheduled), Vec::<String>::new());
}

#[test]
fn what_pgfed_cannot_serve_is_refused_naming_the_field() {
    let cluster = |spec: &str| {
        format!(
            "apiVersion: pgfed.io/v1\nkind: Cluster\nmetadata: {{name: pg}}\nspec:\n  instances: 1\n  storage: {{size: 1Gi}}\n{spec}"
        )
    };
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "another plugin",
            cluster("  plugins:\n  - {name: cnpg-i-pgbackrest.example, isWALArchiver: true}\n"),
            vec![
                "Cluster spec.plugins[0].name: plugin \"cnpg-i-pgbackrest.example\" is not served by pgfed; pgfed serves barman-cloud.cloudnative-pg.io",
            ],
        ),
        (
            "no barmanObjectName",
            cluster(
                "  plugins:\n  - name: barman-cloud.cloudnative-pg.io\n    isWALArchiver: true\n",
            ),
            vec![
                "Cluster spec.plugins[0].parameters.barmanObjectName: required: the name of the ObjectStore this cluster archives WAL and takes backups to",
            ],
        ),
        (
            "plugins and barmanObjectStore together",
            cluster(
                "  backup:\n    barmanObjectStore: {destinationPath: 's3://b/'}\n  plugins:\n  - name: barman-cloud.cloudnative-pg.io\n    isWALArchiver: true\n    parameters: {barmanObjectName: minio-store}\n",
            ),
            vec![
                "Cluster spec.plugins[0]: barman-cloud.cloudnative-pg.io cannot be combined with spec.backup.barmanObjectStore: pgfed archives WAL to one object store; keep one of the two",
            ],
        ),
        (
            "a recovery source through another plugin",
            cluster(
                "  bootstrap: {recovery: {source: origin}}\n  externalClusters:\n  - name: origin\n    plugin: {name: wal-g.example, parameters: {bucket: b}}\n",
            ),
            vec![
                "Cluster spec.externalClusters[0].plugin.name: plugin \"wal-g.example\" is not served by pgfed; pgfed serves barman-cloud.cloudnative-pg.io",
            ],
        ),
        (
            "a backup through another plugin",
            "apiVersion: pgfed.io/v1\nkind: Backup\nmetadata: {name: b}\nspec:\n  cluster: {name: pg}\n  method: plugin\n  pluginConfiguration: {name: cnpg-i-pgbackrest.example}\n".to_string(),
            vec![
                "Backup spec.pluginConfiguration.name: plugin \"cnpg-i-pgbackrest.example\" is not served by pgfed; pgfed serves barman-cloud.cloudnative-pg.io",
            ],
        ),
        (
            "sidecar settings and a serverName in the ObjectStore",
            "apiVersion: pgfed.io/v1\nkind: ObjectStore\nmetadata: {name: s}\nspec:\n  configuration: {destinationPath: 's3://b/', serverName: pg}\n  retentionPolicy: 30d\n  instanceSidecarConfiguration:\n    retentionPolicyIntervalSeconds: 1800\n    resources: {requests: {memory: 64Mi}}\n".to_string(),
            vec![
                "ObjectStore spec.configuration.serverName: must be empty in an ObjectStore: name the server in the Cluster's plugin parameters (serverName), else the cluster's name is used",
                "ObjectStore spec.instanceSidecarConfiguration.resources: pgfed runs no sidecar: the instance manager archives and backs up in-process; remove it",
                "ObjectStore spec.instanceSidecarConfiguration.retentionPolicyIntervalSeconds: pgfed's primary applies the retention policy every hour; remove it",
            ],
        ),
        (
            "plugins in a Federation's template (the federation gives members their stores)",
            "apiVersion: pgfed.io/v1\nkind: Federation\nmetadata: {name: shop}\nspec:\n  primary: a\n  members:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://a/'}}\n  template:\n    instances: 1\n    storage: {size: 1Gi}\n    plugins:\n    - name: barman-cloud.cloudnative-pg.io\n      parameters: {barmanObjectName: s}\n".to_string(),
            vec!["Federation spec.template.plugins: pgfed does not support spec.template.plugins yet"],
        ),
    ];
    for (why, yaml, want) in cases {
        assert_eq!(review(&yaml), want, "{why}");
    }
}
