//! Table tests: every invalid spec is refused with an error naming the field path and the rule.

use pgfed_api::backup::{BackupSpec, ScheduledBackupSpec};
use pgfed_api::cluster::ClusterSpec;
use pgfed_api::database::{DatabaseSpec, PublicationSpec, SubscriptionSpec};
use pgfed_api::federation::FederationSpec;
use pgfed_api::image_catalog::ImageCatalogSpec;
use pgfed_api::pooler::PoolerSpec;
use pgfed_api::validation::{self, FieldErrors};

/// One invalid object: its kind, YAML spec, the field the error must name and words of the rule.
struct Case {
    kind: &'static str,
    spec: &'static str,
    field: &'static str,
    rule: &'static str,
}

const STORE_A: &str = "destinationPath: s3://bucket-a/\n      endpointURL: http://minio:9000\n      s3Credentials:\n        accessKeyId: {name: s3, key: id}\n        secretAccessKey: {name: s3, key: secret}";

fn validate(kind: &str, yaml: &str) -> FieldErrors {
    fn parse<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
        serde_norway::from_str(yaml)
            .unwrap_or_else(|e| panic!("fixture does not parse: {e}\n{yaml}"))
    }
    match kind {
        "Cluster" => validation::validate_cluster("pg", &parse::<ClusterSpec>(yaml)),
        "ClusterName" => validation::validate_cluster("PG_Cluster", &parse::<ClusterSpec>(yaml)),
        "Federation" => validation::validate_federation("shop", &parse::<FederationSpec>(yaml)),
        "Backup" => validation::validate_backup(&parse::<BackupSpec>(yaml)),
        "ScheduledBackup" => {
            validation::validate_scheduled_backup(&parse::<ScheduledBackupSpec>(yaml))
        }
        "Pooler" => validation::validate_pooler(&parse::<PoolerSpec>(yaml)),
        "Database" => validation::validate_database(&parse::<DatabaseSpec>(yaml)),
        "Publication" => validation::validate_publication(&parse::<PublicationSpec>(yaml)),
        "Subscription" => validation::validate_subscription(&parse::<SubscriptionSpec>(yaml)),
        "ImageCatalog" => validation::validate_image_catalog(&parse::<ImageCatalogSpec>(yaml)),
        other => panic!("unknown kind {other}"),
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            kind: "Cluster",
            spec: "instances: 0\nstorage: {size: 1Gi}",
            field: "spec.instances",
            rule: "at least 1",
        },
        Case {
            kind: "Cluster",
            spec: "instances: -2\nstorage: {size: 1Gi}",
            field: "spec.instances",
            rule: "at least 1",
        },
        Case {
            kind: "ClusterName",
            spec: "instances: 1\nstorage: {size: 1Gi}",
            field: "metadata.name",
            rule: "DNS-1123",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1",
            field: "spec.storage",
            rule: "required",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 10GB}",
            field: "spec.storage.size",
            rule: "not a quantity",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nwalStorage: {size: lots}",
            field: "spec.walStorage.size",
            rule: "not a quantity",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nimageName: pg:15\nimageCatalogRef: {kind: ImageCatalog, name: c, major: 15}",
            field: "spec.imageCatalogRef",
            rule: "mutually exclusive",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nimageCatalogRef: {kind: Catalog, name: c, major: 15}",
            field: "spec.imageCatalogRef.kind",
            rule: "ImageCatalog or ClusterImageCatalog",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 3\nmaxSyncReplicas: 3\nstorage: {size: 1Gi}",
            field: "spec.maxSyncReplicas",
            rule: "less than instances",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 3\nminSyncReplicas: 2\nmaxSyncReplicas: 1\nstorage: {size: 1Gi}",
            field: "spec.minSyncReplicas",
            rule: "must not exceed maxSyncReplicas",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 2\nstorage: {size: 1Gi}\npostgresql:\n  synchronous: {method: any, number: 2}",
            field: "spec.postgresql.synchronous.number",
            rule: "need more than 2 instances",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {port: '5433'}",
            field: "spec.postgresql.parameters.port",
            rule: "managed by pgfed",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {listen_addresses: '*'}",
            field: "spec.postgresql.parameters.listen_addresses",
            rule: "managed by pgfed",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {data_directory: /tmp}",
            field: "spec.postgresql.parameters.data_directory",
            rule: "managed by pgfed",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {archive_command: /bin/true}",
            field: "spec.postgresql.parameters.archive_command",
            rule: "managed by pgfed",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {restore_command: cp}",
            field: "spec.postgresql.parameters.restore_command",
            rule: "managed by pgfed",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {primary_conninfo: host=x}",
            field: "spec.postgresql.parameters.primary_conninfo",
            rule: "managed by pgfed",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {hot_standby: 'off'}",
            field: "spec.postgresql.parameters.hot_standby",
            rule: "managed by pgfed",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {wal_level: minimal}",
            field: "spec.postgresql.parameters.wal_level",
            rule: "below replica",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {synchronous_standby_names: '*'}",
            field: "spec.postgresql.parameters.synchronous_standby_names",
            rule: "spec.postgresql.synchronous",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  pg_hba: ['host all all']",
            field: "spec.postgresql.pg_hba[0]",
            rule: "not a pg_hba rule",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {source: origin}",
            field: "spec.replica.source",
            rule: "not listed in spec.externalClusters",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {primary: a, self: pg, source: a}\nexternalClusters:\n  - name: a\n    connectionParameters: {host: a}",
            field: "spec.replica.self",
            rule: "not listed in spec.externalClusters",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {primary: b, self: a, source: b}\nexternalClusters:\n  - name: a\n    connectionParameters: {host: a}",
            field: "spec.replica.primary",
            rule: "not listed in spec.externalClusters",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {enabled: true, primary: a, source: a}\nexternalClusters:\n  - name: a\n    connectionParameters: {host: a}",
            field: "spec.replica.enabled",
            rule: "cannot be combined with replica.primary",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {primary: a, self: b, source: a, promotionToken: eyJ9}\nexternalClusters:\n  - name: a\n    connectionParameters: {host: a}\n  - name: b\n    connectionParameters: {host: b}",
            field: "spec.replica.promotionToken",
            rule: "only valid when this cluster is being promoted",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {enabled: false, source: a, promotionToken: eyJ9, minApplyDelay: 1h}\nexternalClusters:\n  - name: a\n    connectionParameters: {host: a}",
            field: "spec.replica.promotionToken",
            rule: "cannot be combined with minApplyDelay",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {primary: pg, source: a, promotionToken: '%%%'}\nexternalClusters:\n  - name: a\n    connectionParameters: {host: a}\n  - name: pg\n    connectionParameters: {host: pg}",
            field: "spec.replica.promotionToken",
            rule: "not base64",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {enabled: true, source: a, minApplyDelay: 'one hour'}\nexternalClusters:\n  - name: a\n    connectionParameters: {host: a}",
            field: "spec.replica.minApplyDelay",
            rule: "not a duration",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nexternalClusters:\n  - name: a\n    connectionParameters: {host: a}\n  - name: a\n    connectionParameters: {host: b}",
            field: "spec.externalClusters[1].name",
            rule: "duplicate name",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nexternalClusters:\n  - name: empty",
            field: "spec.externalClusters[0]",
            rule: "needs connectionParameters, barmanObjectStore",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbackup:\n  retentionPolicy: 30 days\n  barmanObjectStore: {destinationPath: 's3://b/'}",
            field: "spec.backup.retentionPolicy",
            rule: "not a retention policy",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbackup:\n  barmanObjectStore: {destinationPath: 'ftp://b/'}",
            field: "spec.backup.barmanObjectStore.destinationPath",
            rule: "must start with one of",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbackup:\n  barmanObjectStore:\n    destinationPath: 's3://b/'\n    wal: {maxParallel: 0}",
            field: "spec.backup.barmanObjectStore.wal.maxParallel",
            rule: "between 1 and 256",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbackup:\n  barmanObjectStore:\n    destinationPath: 's3://b/'\n    s3Credentials: {accessKeyId: {name: s, key: id}}",
            field: "spec.backup.barmanObjectStore.s3Credentials",
            rule: "needs accessKeyId and secretAccessKey",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  initdb: {walSegmentSize: 24}",
            field: "spec.bootstrap.initdb.walSegmentSize",
            rule: "power of two",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  initdb: {}\n  pg_basebackup: {source: a}",
            field: "spec.bootstrap",
            rule: "only one of initdb, recovery, pg_basebackup",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  recovery: {source: nowhere}",
            field: "spec.bootstrap.recovery.source",
            rule: "not listed in spec.externalClusters",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  recovery:\n    backup: {name: b}\n    recoveryTarget: {targetLSN: 'zz/1'}",
            field: "spec.bootstrap.recovery.recoveryTarget.targetLSN",
            rule: "not an LSN",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  recovery:\n    backup: {name: b}\n    recoveryTarget: {targetTime: 'last tuesday'}",
            field: "spec.bootstrap.recovery.recoveryTarget.targetTime",
            rule: "not a timestamp",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  recovery:\n    backup: {name: b}\n    recoveryTarget: {targetXID: '12', targetName: before-migration}",
            field: "spec.bootstrap.recovery.recoveryTarget",
            rule: "only one of targetXID",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  recovery:\n    backup: {name: b}\n    recoveryTarget: {targetXID: 'abc'}",
            field: "spec.bootstrap.recovery.recoveryTarget.targetXID",
            rule: "not a transaction ID",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  recovery:\n    backup: {name: b}\n    recoveryTarget: {targetTLI: 'newest'}",
            field: "spec.bootstrap.recovery.recoveryTarget.targetTLI",
            rule: "latest, current or a positive",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nmanaged:\n  roles:\n    - {name: alice}\n    - {name: alice}",
            field: "spec.managed.roles[1].name",
            rule: "duplicate name",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nmanaged:\n  roles:\n    - {name: streaming_replica}",
            field: "spec.managed.roles[0].name",
            rule: "reserved",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nmanaged:\n  roles:\n    - {name: bob, validUntil: soon}",
            field: "spec.managed.roles[0].validUntil",
            rule: "not a timestamp",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\ntablespaces:\n  - {name: pg_data, storage: {size: 1Gi}}",
            field: "spec.tablespaces[0].name",
            rule: "reserved",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\ntablespaces:\n  - {name: t1, storage: {size: 1Gi}}\n  - {name: t1, storage: {size: 1Gi}}",
            field: "spec.tablespaces[1].name",
            rule: "duplicate name",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nprimaryLease: {leaseDurationSeconds: 5, renewDeadlineSeconds: 10}",
            field: "spec.primaryLease.renewDeadlineSeconds",
            rule: "less than leaseDurationSeconds",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nstopDelay: 30\nsmartShutdownTimeout: 60",
            field: "spec.smartShutdownTimeout",
            rule: "must not exceed stopDelay",
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nprobes:\n  readiness: {type: query, maximumLag: 16Mi}",
            field: "spec.probes.readiness.maximumLag",
            rule: "requires type: streaming",
        },
        Case {
            kind: "ScheduledBackup",
            spec: "cluster: {name: pg}\nschedule: '0 0 * * *'",
            field: "spec.schedule",
            rule: "six, seconds first",
        },
        Case {
            kind: "ScheduledBackup",
            spec: "cluster: {name: pg}\nschedule: '0 0 25 * * *'",
            field: "spec.schedule",
            rule: "not a valid cron schedule",
        },
        Case {
            kind: "Backup",
            spec: "cluster: {name: ''}",
            field: "spec.cluster.name",
            rule: "required",
        },
        Case {
            kind: "Backup",
            spec: "cluster: {name: pg}\nonline: false",
            field: "spec.online",
            rule: "volumeSnapshot",
        },
        Case {
            kind: "Pooler",
            spec: "cluster: {name: pg}\npgbouncer:\n  parameters: {listen_port: '6543'}",
            field: "spec.pgbouncer.parameters.listen_port",
            rule: "managed by pgfed",
        },
        Case {
            kind: "Database",
            spec: "cluster: {name: pg}\nname: template1\nowner: app",
            field: "spec.name",
            rule: "reserved",
        },
        Case {
            kind: "Database",
            spec: "cluster: {name: pg}\nname: shop\nowner: app\nconnectionLimit: -5",
            field: "spec.connectionLimit",
            rule: "-1 (unlimited)",
        },
        Case {
            kind: "Publication",
            spec: "cluster: {name: pg}\nname: pub\ndbname: app\ntarget: {allTables: true, objects: [{tablesInSchema: public}]}",
            field: "spec.target",
            rule: "cannot be combined",
        },
        Case {
            kind: "Publication",
            spec: "cluster: {name: pg}\nname: pub\ndbname: app\ntarget:\n  objects: [{tablesInSchema: public, table: {name: t}}]",
            field: "spec.target.objects[0]",
            rule: "exactly one of",
        },
        Case {
            kind: "Subscription",
            spec: "cluster: {name: pg}\nname: sub\ndbname: app\npublicationName: pub\nexternalClusterName: ''",
            field: "spec.externalClusterName",
            rule: "required",
        },
        Case {
            kind: "ImageCatalog",
            spec: "images:\n  - {image: 'pg:15', major: 15}\n  - {image: 'pg:15.1', major: 15}",
            field: "spec.images[1].major",
            rule: "listed twice",
        },
        Case {
            kind: "Federation",
            spec: "primary: c\nmembers:\n  - {name: a, region: eu}\n  - {name: b, region: us}\ntemplate: {instances: 1, storage: {size: 1Gi}}",
            field: "spec.primary",
            rule: "is not a member",
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu}\ntemplate: {instances: 1, storage: {size: 1Gi}}",
            field: "spec.members[0].barmanObjectStore",
            rule: "required",
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu, clusterName: x, barmanObjectStore: {destinationPath: 's3://a/'}}\n  - {name: a, region: us, clusterName: y, barmanObjectStore: {destinationPath: 's3://b/'}}\ntemplate: {instances: 1, storage: {size: 1Gi}}",
            field: "spec.members[1].name",
            rule: "duplicate name",
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu, kubeconfigSecretRef: {name: k, key: a}, barmanObjectStore: {destinationPath: 's3://same/'}}\n  - {name: b, region: us, kubeconfigSecretRef: {name: k, key: b}, barmanObjectStore: {destinationPath: 's3://same/'}}\ntemplate: {instances: 1, storage: {size: 1Gi}}",
            field: "spec.members[1].barmanObjectStore.destinationPath",
            rule: "overwrite each other's WAL",
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://a/'}}\ntemplate: {instances: 0, storage: {size: 1Gi}}",
            field: "spec.template.instances",
            rule: "at least 1",
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://a/'}}\ntemplate:\n  instances: 1\n  storage: {size: 1Gi}\n  replica: {enabled: true, source: a}",
            field: "spec.template.replica",
            rule: "set by the federation controller",
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://a/'}}\ntemplate: {instances: 1, storage: {size: 1Gi}}\nfailover: {mode: Automatic, primaryUnreachableTimeout: 30s, leaseDuration: 45s}",
            field: "spec.failover.leaseDuration",
            rule: "shorter than primaryUnreachableTimeout",
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://a/'}}\ntemplate: {instances: 1, storage: {size: 1Gi}}\nfailover: {maximumDataLoss: {bytes: 'a lot'}}",
            field: "spec.failover.maximumDataLoss.bytes",
            rule: "not a quantity",
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://a/'}}\ntemplate: {instances: 1, storage: {size: 1Gi}}\nreplication: {partialWalUploadInterval: 100ms}",
            field: "spec.replication.partialWalUploadInterval",
            rule: "below the 1s minimum",
        },
    ]
}

#[test]
fn every_invalid_spec_names_its_field_and_rule() {
    let cases = cases();
    assert!(
        cases.len() >= 30,
        "the table must hold at least 30 invalid specs"
    );
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let spec = case.spec.replace("{STORE_A}", STORE_A);
        let errors = validate(case.kind, &spec);
        let hit = errors
            .0
            .iter()
            .any(|e| e.field == case.field && e.rule.contains(case.rule));
        if !hit {
            failures.push(format!(
                "case {i} ({}): want {} ~ {:?}, got [{errors}]",
                case.kind, case.field, case.rule
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_valid_federation_passes() {
    let spec = format!(
        "primary: a\nmembers:\n  - name: a\n    region: eu\n    barmanObjectStore:\n      {STORE_A}\n  - name: b\n    region: us\n    kubeconfigSecretRef: {{name: region-b, key: kubeconfig}}\n    barmanObjectStore: {{destinationPath: 's3://bucket-b/', endpointURL: 'http://minio:9000'}}\ntemplate: {{instances: 2, storage: {{size: 1Gi}}}}\n"
    );
    let errors = validate("Federation", &spec);
    assert!(errors.is_empty(), "{errors}");
}
