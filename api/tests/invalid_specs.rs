//! Table tests: every invalid spec is refused with an error naming the field path and the rule.

mod common;

use common::validate;
use pgfed_api::validation::FieldErrors;

/// One invalid object: its kind, its YAML spec, and exactly the errors it must get — each the
/// field path and words of the rule. Any other error fails the case, so a rule that starts
/// firing where it should not is caught.
struct Case {
    kind: &'static str,
    spec: &'static str,
    want: &'static [(&'static str, &'static str)],
}

const STORE_A: &str = "destinationPath: s3://bucket-a/\n      endpointURL: http://minio:9000\n      s3Credentials:\n        accessKeyId: {name: s3, key: id}\n        secretAccessKey: {name: s3, key: secret}";

fn cases() -> Vec<Case> {
    vec![
        Case {
            kind: "Cluster",
            spec: "instances: 0\nstorage: {size: 1Gi}",
            want: &[("spec.instances", "at least 1")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: -2\nstorage: {size: 1Gi}",
            want: &[("spec.instances", "at least 1")],
        },
        Case {
            kind: "ClusterName",
            spec: "instances: 1\nstorage: {size: 1Gi}",
            want: &[("metadata.name", "DNS-1035")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1",
            want: &[("spec.storage", "required")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 10GB}",
            want: &[("spec.storage.size", "not a quantity")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nwalStorage: {size: lots}",
            want: &[("spec.walStorage.size", "not a quantity")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nimageName: pg:15\nimageCatalogRef: {kind: ImageCatalog, name: c, major: 15}",
            want: &[("spec.imageCatalogRef", "mutually exclusive")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nimageCatalogRef: {kind: Catalog, name: c, major: 15}",
            want: &[(
                "spec.imageCatalogRef.kind",
                "ImageCatalog or ClusterImageCatalog",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 2\nstorage: {size: 1Gi}\nreplicationSlots:\n  synchronizeReplicas: {enabled: true, excludePatterns: ['^ok$', '(unclosed']}",
            want: &[(
                "spec.replicationSlots.synchronizeReplicas.excludePatterns[1]",
                "not a regular expression",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 3\nmaxSyncReplicas: 3\nstorage: {size: 1Gi}",
            want: &[("spec.maxSyncReplicas", "less than instances")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 3\nminSyncReplicas: 2\nmaxSyncReplicas: 1\nstorage: {size: 1Gi}",
            want: &[("spec.minSyncReplicas", "must not exceed maxSyncReplicas")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 2\nstorage: {size: 1Gi}\npostgresql:\n  synchronous: {method: any, number: 2}",
            want: &[(
                "spec.postgresql.synchronous.number",
                "need more than 2 candidates",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {port: '5433'}",
            want: &[("spec.postgresql.parameters.port", "managed by pgfed")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {listen_addresses: '*'}",
            want: &[(
                "spec.postgresql.parameters.listen_addresses",
                "managed by pgfed",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {data_directory: /tmp}",
            want: &[(
                "spec.postgresql.parameters.data_directory",
                "managed by pgfed",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {archive_command: /bin/true}",
            want: &[(
                "spec.postgresql.parameters.archive_command",
                "managed by pgfed",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {restore_command: cp}",
            want: &[(
                "spec.postgresql.parameters.restore_command",
                "managed by pgfed",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {primary_conninfo: host=x}",
            want: &[(
                "spec.postgresql.parameters.primary_conninfo",
                "managed by pgfed",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {hot_standby: 'off'}",
            want: &[("spec.postgresql.parameters.hot_standby", "managed by pgfed")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {wal_level: minimal}",
            want: &[("spec.postgresql.parameters.wal_level", "below replica")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {synchronous_standby_names: '*'}",
            want: &[(
                "spec.postgresql.parameters.synchronous_standby_names",
                "spec.postgresql.synchronous",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  pg_hba: ['host all all']",
            want: &[("spec.postgresql.pg_hba[0]", "not a pg_hba rule")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {source: origin}",
            want: &[("spec.replica.source", "not listed in spec.externalClusters")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {primary: b, self: a, source: b}\nexternalClusters:\n  - name: a\n    connectionParameters: {host: a}",
            want: &[
                (
                    "spec.replica.source",
                    "\"b\" is not listed in spec.externalClusters",
                ),
                (
                    "spec.replica.primary",
                    "\"b\" is not listed in spec.externalClusters",
                ),
            ],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica:\n  source: a\n  fencingLease: {objectStore: {destinationPath: 'ftp://x/'}, federation: ' ', key: 'a/', holder: '', leaseDuration: 4s}\nexternalClusters:\n  - name: a\n    connectionParameters: {host: a}",
            want: &[
                (
                    "spec.replica.fencingLease.objectStore.destinationPath",
                    "must start with one of",
                ),
                ("spec.replica.fencingLease.federation", "required"),
                (
                    "spec.replica.fencingLease.key",
                    "must be an object name under objectStore.destinationPath",
                ),
                ("spec.replica.fencingLease.holder", "must not be empty"),
                (
                    "spec.replica.fencingLease.leaseDuration",
                    "4s is below the 5s minimum",
                ),
            ],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica:\n  source: a\n  fencingLease: {objectStore: {destinationPath: 's3://b/'}, federation: f, leaseDuration: soon}\nexternalClusters:\n  - name: a\n    connectionParameters: {host: a}",
            want: &[("spec.replica.fencingLease.leaseDuration", "soon")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {enabled: true, primary: a, source: a}\nexternalClusters:\n  - name: a\n    connectionParameters: {host: a}",
            want: &[(
                "spec.replica.enabled",
                "cannot be combined with replica.primary",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {primary: a, self: b, source: a, promotionToken: eyJ9}\nexternalClusters:\n  - name: a\n    connectionParameters: {host: a}\n  - name: b\n    connectionParameters: {host: b}",
            want: &[
                (
                    "spec.replica.promotionToken",
                    "only valid when this cluster is being promoted",
                ),
                ("spec.replica.promotionToken", "not a JSON demotion token"),
            ],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {enabled: false, source: a, promotionToken: eyJ9, minApplyDelay: 1h}\nexternalClusters:\n  - name: a\n    connectionParameters: {host: a}",
            want: &[
                (
                    "spec.replica.promotionToken",
                    "cannot be combined with minApplyDelay",
                ),
                ("spec.replica.promotionToken", "not a JSON demotion token"),
            ],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {primary: pg, source: a, promotionToken: '%%%'}\nexternalClusters:\n  - name: a\n    connectionParameters: {host: a}\n  - name: pg\n    connectionParameters: {host: pg}",
            want: &[("spec.replica.promotionToken", "not base64")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {enabled: true, source: a, minApplyDelay: 'one hour'}\nexternalClusters:\n  - name: a\n    connectionParameters: {host: a}",
            want: &[("spec.replica.minApplyDelay", "not a duration")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nexternalClusters:\n  - name: a\n    connectionParameters: {host: a}\n  - name: a\n    connectionParameters: {host: b}",
            want: &[("spec.externalClusters[1].name", "duplicate name")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nexternalClusters:\n  - name: empty",
            want: &[(
                "spec.externalClusters[0]",
                "needs connectionParameters, an object store",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbackup:\n  retentionPolicy: 30 days\n  barmanObjectStore: {destinationPath: 's3://b/'}",
            want: &[("spec.backup.retentionPolicy", "not a retention policy")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbackup:\n  barmanObjectStore: {destinationPath: 'ftp://b/'}",
            want: &[(
                "spec.backup.barmanObjectStore.destinationPath",
                "must start with one of",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbackup:\n  barmanObjectStore:\n    destinationPath: 's3://b/'\n    wal: {maxParallel: 0}",
            want: &[(
                "spec.backup.barmanObjectStore.wal.maxParallel",
                "at least 1",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbackup:\n  barmanObjectStore:\n    destinationPath: 's3://b/'\n    s3Credentials: {accessKeyId: {name: s, key: id}}",
            want: &[(
                "spec.backup.barmanObjectStore.s3Credentials",
                "needs accessKeyId and secretAccessKey",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  initdb: {walSegmentSize: 24}",
            want: &[("spec.bootstrap.initdb.walSegmentSize", "power of two")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  initdb: {}\n  pg_basebackup: {source: a}",
            want: &[
                (
                    "spec.bootstrap",
                    "only one of initdb, recovery, pg_basebackup",
                ),
                (
                    "spec.bootstrap.pg_basebackup.source",
                    "not listed in spec.externalClusters",
                ),
            ],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  recovery: {source: nowhere}",
            want: &[(
                "spec.bootstrap.recovery.source",
                "not listed in spec.externalClusters",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  recovery:\n    backup: {name: b}\n    recoveryTarget: {targetLSN: 'zz/1'}",
            want: &[(
                "spec.bootstrap.recovery.recoveryTarget.targetLSN",
                "not an LSN",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  recovery:\n    backup: {name: b}\n    recoveryTarget: {targetTime: 'last tuesday'}",
            want: &[(
                "spec.bootstrap.recovery.recoveryTarget.targetTime",
                "not a timestamp",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  recovery:\n    backup: {name: b}\n    recoveryTarget: {targetXID: '12', targetName: before-migration}",
            want: &[(
                "spec.bootstrap.recovery.recoveryTarget",
                "only one of targetXID",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  recovery:\n    backup: {name: b}\n    recoveryTarget: {targetXID: 'abc'}",
            want: &[(
                "spec.bootstrap.recovery.recoveryTarget.targetXID",
                "not a transaction ID",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  recovery:\n    backup: {name: b}\n    recoveryTarget: {targetTLI: 'newest'}",
            want: &[(
                "spec.bootstrap.recovery.recoveryTarget.targetTLI",
                "latest, current or a positive",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nmanaged:\n  roles:\n    - {name: alice}\n    - {name: alice}",
            want: &[("spec.managed.roles[1].name", "duplicate name")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nmanaged:\n  roles:\n    - {name: streaming_replica}",
            want: &[("spec.managed.roles[0].name", "reserved")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nmanaged:\n  roles:\n    - {name: bob, validUntil: soon}",
            want: &[("spec.managed.roles[0].validUntil", "not a timestamp")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\ntablespaces:\n  - {name: pg_data, storage: {size: 1Gi}}",
            want: &[("spec.tablespaces[0].name", "not starting with pg_")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\ntablespaces:\n  - {name: t1, storage: {size: 1Gi}}\n  - {name: t1, storage: {size: 1Gi}}",
            want: &[("spec.tablespaces[1].name", "duplicate name")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nprimaryLease: {leaseDurationSeconds: 5, renewDeadlineSeconds: 10}",
            want: &[(
                "spec.primaryLease.renewDeadlineSeconds",
                "less than leaseDurationSeconds",
            )],
        },
        // Item 8: fields the instance manager refuses are refused at admission.
        // Synchronous replication: the operator owns synchronous_standby_names; failure domains
        // come from pods or nodes, not both, and not with the legacy election constraint.
        Case {
            kind: "Cluster",
            spec: "instances: 3\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {synchronous_standby_names: '*'}",
            want: &[(
                "spec.postgresql.parameters.synchronous_standby_names",
                "use spec.postgresql.synchronous",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 3\nstorage: {size: 1Gi}\npostgresql:\n  synchronous: {method: any, number: 1, podFailureDomainKeys: [zone], nodeFailureDomainKeys: [zone]}",
            want: &[(
                "spec.postgresql.synchronous.nodeFailureDomainKeys",
                "mutually exclusive",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 3\nstorage: {size: 1Gi}\npostgresql:\n  synchronous: {method: any, number: 1, nodeFailureDomainKeys: [zone]}\n  syncReplicaElectionConstraint: {enabled: true, nodeLabelsAntiAffinity: [zone]}",
            want: &[(
                "spec.postgresql.syncReplicaElectionConstraint",
                "cannot be combined with synchronous podFailureDomainKeys",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nexternalClusters:\n  - {name: a, connectionParameters: {host: a}, password: {name: a-secret, key: password}}",
            want: &[(
                "spec.externalClusters[0].password",
                "pgfed does not support spec.externalClusters[0].password yet; authenticate with sslCert",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nexternalClusters:\n  - name: origin\n    barmanObjectStore:\n      {STORE_A}\nbootstrap:\n  recovery: {source: origin}\nbackup:\n  barmanObjectStore:\n      {STORE_A}\n      serverName: origin",
            want: &[(
                "spec.backup.barmanObjectStore.serverName",
                "would archive into s3://bucket-a/origin, the archive of its source",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  ldap: {server: ldap.example.com}",
            want: &[(
                "spec.postgresql.ldap",
                "pgfed does not support spec.postgresql.ldap yet",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  initdb: {localeProvider: icu}",
            want: &[(
                "spec.bootstrap.initdb.localeProvider",
                "pgfed does not support",
            )],
        },
        // Item 11: CloudNativePG's recovery combinations — snapshots with a source is fine
        // (only not implemented yet), snapshots exclude backup and backupID.
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nexternalClusters:\n  - name: origin\n    barmanObjectStore:\n      {STORE_A}\nbootstrap:\n  recovery:\n    source: origin\n    volumeSnapshots: {storage: {name: snap, kind: VolumeSnapshot, apiGroup: snapshot.storage.k8s.io}}\n    recoveryTarget: {targetTime: '2026-11-20 22:00:00+00'}",
            want: &[(
                "spec.bootstrap.recovery.volumeSnapshots",
                "pgfed does not support spec.bootstrap.recovery.volumeSnapshots yet",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  recovery:\n    backup: {name: nightly}\n    volumeSnapshots: {storage: {name: snap, kind: VolumeSnapshot, apiGroup: snapshot.storage.k8s.io}}",
            want: &[
                (
                    "spec.bootstrap.recovery.backup",
                    "cannot be combined with volumeSnapshots",
                ),
                (
                    "spec.bootstrap.recovery.volumeSnapshots",
                    "pgfed does not support",
                ),
            ],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nexternalClusters:\n  - name: origin\n    barmanObjectStore:\n      {STORE_A}\nbootstrap:\n  recovery:\n    source: origin\n    volumeSnapshots: {storage: {name: snap, kind: VolumeSnapshot, apiGroup: snapshot.storage.k8s.io}}\n    recoveryTarget: {backupID: 20261120T220000}",
            want: &[
                (
                    "spec.bootstrap.recovery.recoveryTarget.backupID",
                    "cannot be combined with volumeSnapshots",
                ),
                (
                    "spec.bootstrap.recovery.volumeSnapshots",
                    "pgfed does not support",
                ),
            ],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  recovery: {}",
            want: &[("spec.bootstrap.recovery", "nothing to recover from")],
        },
        // Item 10: PostgreSQL names are refused only for what PostgreSQL refuses or what breaks.
        Case {
            kind: "Database",
            spec: "cluster: {name: pg}\nname: a-database-name-that-is-far-too-long-for-postgresql-to-keep-it-whole\nowner: app",
            want: &[("spec.name", "PostgreSQL cuts names to 63 bytes")],
        },
        Case {
            kind: "Database",
            spec: "cluster: {name: pg}\nname: shop\nowner: ''",
            want: &[("spec.owner", "must not be empty")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nmanaged:\n  roles:\n    - {name: \"bad\\nrole\"}",
            want: &[("spec.managed.roles[0].name", "control character")],
        },
        // Item 13: DNS rules only where a name becomes a Kubernetes object name.
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nexternalClusters:\n  - {name: ../escape, connectionParameters: {host: a}, sslKey: {name: certs, key: ../../etc/passwd}}",
            want: &[
                ("spec.externalClusters[0].name", "one path component"),
                ("spec.externalClusters[0].sslKey.key", "one path component"),
            ],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbackup:\n  barmanObjectStore: {destinationPath: 's3://b/', serverName: a/b, s3Credentials: {inheritFromIAMRole: true}}",
            want: &[(
                "spec.backup.barmanObjectStore.serverName",
                "one path component",
            )],
        },
        Case {
            kind: "ClusterName1035",
            spec: "instances: 1\nstorage: {size: 1Gi}",
            want: &[("metadata.name", "DNS-1035")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nmanaged:\n  services:\n    additional:\n      - serviceTemplate: {metadata: {name: pg-rw}}\n        updateStrategy: patch\n      - serviceTemplate: {metadata: {name: extra}, spec: {selector: {app: x}}}\n        updateStrategy: patch",
            want: &[
                (
                    "spec.managed.services.additional[0].serviceTemplate.metadata.name",
                    "one of the cluster's own services",
                ),
                (
                    "spec.managed.services.additional[1].serviceTemplate.spec.selector",
                    "set by pgfed",
                ),
            ],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\ntablespaces:\n  - {name: Hot_Data, storage: {size: 1Gi}}\n  - {name: hot_data, storage: {size: 1Gi}}",
            want: &[(
                "spec.tablespaces[1].name",
                "both give the volume name \"hot-data\"",
            )],
        },
        // Item 15: rules CloudNativePG has that pgfed lacked.
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nexternalClusters:\n  - name: origin\n    barmanObjectStore:\n      {STORE_A}\nbootstrap:\n  recovery:\n    source: origin\n    recoveryTarget: {targetXID: '4294967296', backupID: 20261120T220000}",
            want: &[(
                "spec.bootstrap.recovery.recoveryTarget.targetXID",
                "4294967295",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nexternalClusters:\n  - name: origin\n    barmanObjectStore:\n      {STORE_A}\nbootstrap:\n  recovery:\n    source: origin\n    recoveryTarget: {targetName: before-migration}",
            want: &[(
                "spec.bootstrap.recovery.recoveryTarget.backupID",
                "required with targetXID or targetName",
            )],
        },
        Case {
            kind: "NewCluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {enabled: true, source: origin}\nexternalClusters:\n  - name: origin\n    barmanObjectStore:\n      {STORE_A}",
            want: &[(
                "spec.bootstrap",
                "a replica cluster starts from a copy of its source",
            )],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\nprimaryLease: {leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 9}",
            want: &[("spec.primaryLease.retryPeriodSeconds", "1.2")],
        },
        Case {
            kind: "Cluster",
            spec: "instances: 1\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {1abc: '1'}",
            want: &[(
                "spec.postgresql.parameters.1abc",
                "not a PostgreSQL parameter name",
            )],
        },
        Case {
            kind: "ScheduledBackup",
            spec: "cluster: {name: pg}\nschedule: '0 0 * *'",
            want: &[("spec.schedule", "six, seconds first")],
        },
        Case {
            kind: "ScheduledBackup",
            spec: "cluster: {name: pg}\nschedule: '0 0 25 * * *'",
            want: &[("spec.schedule", "not a valid cron schedule")],
        },
        Case {
            kind: "Backup",
            spec: "cluster: {name: ''}",
            want: &[("spec.cluster.name", "required")],
        },
        Case {
            kind: "Backup",
            spec: "cluster: {name: pg}\nonline: false",
            want: &[("spec.online", "volumeSnapshot")],
        },
        Case {
            kind: "Pooler",
            spec: "cluster: {name: pg}\npgbouncer:\n  parameters: {listen_port: '6543'}",
            want: &[("spec.pgbouncer.parameters.listen_port", "managed by pgfed")],
        },
        Case {
            kind: "Database",
            spec: "cluster: {name: pg}\nname: template1\nowner: app",
            want: &[("spec.name", "reserved")],
        },
        Case {
            kind: "Database",
            spec: "cluster: {name: pg}\nname: shop\nowner: app\nconnectionLimit: -5",
            want: &[("spec.connectionLimit", "-1 (unlimited)")],
        },
        Case {
            kind: "Publication",
            spec: "cluster: {name: pg}\nname: pub\ndbname: app\ntarget: {allTables: true, objects: [{tablesInSchema: public}]}",
            want: &[("spec.target", "cannot be combined")],
        },
        Case {
            kind: "Publication",
            spec: "cluster: {name: pg}\nname: pub\ndbname: app\ntarget:\n  objects: [{tablesInSchema: public, table: {name: t}}]",
            want: &[("spec.target.objects[0]", "exactly one of")],
        },
        Case {
            kind: "Subscription",
            spec: "cluster: {name: pg}\nname: sub\ndbname: app\npublicationName: pub\nexternalClusterName: ''",
            want: &[("spec.externalClusterName", "required")],
        },
        Case {
            kind: "ImageCatalog",
            spec: "images:\n  - {image: 'pg:15', major: 15}\n  - {image: 'pg:15.1', major: 15}",
            want: &[("spec.images[1].major", "listed twice")],
        },
        Case {
            kind: "Federation",
            spec: "primary: c\nmembers:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://a/'}}\n  - {name: b, region: us, kubeconfigSecretRef: {name: k, key: b}, barmanObjectStore: {destinationPath: 's3://b/'}}\ntemplate: {instances: 1, storage: {size: 1Gi}}",
            want: &[("spec.primary", "is not a member")],
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu}\ntemplate: {instances: 1, storage: {size: 1Gi}}",
            want: &[("spec.members[0].barmanObjectStore", "required")],
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu, clusterName: x, barmanObjectStore: {destinationPath: 's3://a/'}}\n  - {name: a, region: us, clusterName: y, barmanObjectStore: {destinationPath: 's3://b/'}}\ntemplate: {instances: 1, storage: {size: 1Gi}}",
            want: &[("spec.members[1].name", "duplicate name")],
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu, kubeconfigSecretRef: {name: k, key: a}, barmanObjectStore: {destinationPath: 's3://same/'}}\n  - {name: b, region: us, kubeconfigSecretRef: {name: k, key: b}, barmanObjectStore: {destinationPath: 's3://same/'}}\ntemplate: {instances: 1, storage: {size: 1Gi}}",
            want: &[(
                "spec.members[1].barmanObjectStore.destinationPath",
                "overwrite each other's WAL",
            )],
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://a/'}}\ntemplate: {instances: 0, storage: {size: 1Gi}}",
            want: &[("spec.template.instances", "at least 1")],
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://a/'}}\ntemplate:\n  instances: 1\n  storage: {size: 1Gi}\n  replica: {enabled: true, source: a}",
            want: &[
                ("spec.template.replica", "set by the federation controller"),
                (
                    "spec.template.replica.source",
                    "not listed in spec.externalClusters",
                ),
            ],
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://a/'}}\ntemplate: {instances: 1, storage: {size: 1Gi}}\nfailover: {mode: Automatic, primaryUnreachableTimeout: 30s, leaseDuration: 45s, leaseObjectStore: {destinationPath: 's3://lease/'}}",
            want: &[(
                "spec.failover.leaseDuration",
                "shorter than primaryUnreachableTimeout",
            )],
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://a/'}}\ntemplate: {instances: 1, storage: {size: 1Gi}}\nfailover: {mode: Automatic, leaseDuration: 2s}",
            want: &[
                (
                    "spec.failover.leaseObjectStore",
                    "required when mode is Automatic",
                ),
                ("spec.failover.leaseDuration", "below the 5s minimum"),
            ],
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://a/'}}\ntemplate: {instances: 1, storage: {size: 1Gi}}\nfailover: {maximumDataLoss: {bytes: 'a lot'}}",
            want: &[("spec.failover.maximumDataLoss.bytes", "not a quantity")],
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://a/'}}\ntemplate: {instances: 1, storage: {size: 1Gi}}\nreplication: {partialWalUploadInterval: 100ms}",
            want: &[(
                "spec.replication.partialWalUploadInterval",
                "below the 1s minimum",
            )],
        },
        Case {
            kind: "Federation",
            spec: "primary: a\nmembers:\n  - {name: a, region: eu, barmanObjectStore: {destinationPath: 's3://a/'}}\ntemplate: {instances: 1, storage: {size: 1Gi}}\nreplication: {maxAcceptableLag: soon}",
            want: &[("spec.replication.maxAcceptableLag", "soon")],
        },
    ]
}

/// The differences between the errors a case got and the ones it wants: wanted errors missing
/// (field and rule words) and errors nobody wanted.
fn mismatches(want: &[(&str, &str)], errors: &FieldErrors) -> Vec<String> {
    let mut unexpected: Vec<_> = errors.0.iter().collect();
    let mut problems = Vec::new();
    for (field, rule) in want {
        match unexpected
            .iter()
            .position(|e| e.field == *field && e.rule.contains(rule))
        {
            Some(i) => {
                unexpected.remove(i);
            }
            None => problems.push(format!("missing {field} ~ {rule:?}")),
        }
    }
    problems.extend(unexpected.into_iter().map(|e| format!("unexpected {e}")));
    problems
}

#[test]
fn every_invalid_spec_gets_exactly_its_errors() {
    let cases = cases();
    assert!(
        cases.len() >= 30,
        "the table must hold at least 30 invalid specs"
    );
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        assert!(
            !case.want.is_empty(),
            "case {i} wants no error: it belongs with the valid specs"
        );
        let spec = case.spec.replace("{STORE_A}", STORE_A);
        let errors = validate(case.kind, &spec);
        let problems = mismatches(case.want, &errors);
        if !problems.is_empty() {
            failures.push(format!(
                "case {i} ({}): {}\n    got [{errors}]",
                case.kind,
                problems.join(", ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_comparison_fails_on_missing_and_on_extra_errors() {
    let mut errors = FieldErrors::default();
    errors.push("spec.a", "rule one");
    errors.push("spec.b", "rule two");
    assert_eq!(
        mismatches(&[("spec.a", "one"), ("spec.b", "two")], &errors),
        Vec::<String>::new()
    );
    assert_eq!(
        mismatches(&[("spec.a", "one")], &errors),
        ["unexpected spec.b: rule two"]
    );
    assert_eq!(
        mismatches(
            &[("spec.a", "one"), ("spec.b", "two"), ("spec.a", "one")],
            &errors
        ),
        ["missing spec.a ~ \"one\""]
    );
}

#[test]
fn a_valid_federation_passes() {
    let spec = format!(
        "primary: a\nmembers:\n  - name: a\n    region: eu\n    barmanObjectStore:\n      {STORE_A}\n  - name: b\n    region: us\n    kubeconfigSecretRef: {{name: region-b, key: kubeconfig}}\n    barmanObjectStore: {{destinationPath: 's3://bucket-b/', endpointURL: 'http://minio:9000'}}\ntemplate: {{instances: 2, storage: {{size: 1Gi}}}}\n"
    );
    let errors = validate("Federation", &spec);
    assert!(errors.is_empty(), "{errors}");
}
