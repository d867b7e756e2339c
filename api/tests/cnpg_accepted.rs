//! Table tests: specs CloudNativePG accepts that pgfed refused, one row per class of rule that was
//! stricter than CloudNativePG's webhook without a reason. Each must validate without any error.

mod common;

use common::validate;

/// One spec that must be admitted: its kind, why (the class of rule), and its YAML.
struct Accepted {
    kind: &'static str,
    class: &'static str,
    spec: &'static str,
}

fn accepted() -> Vec<Accepted> {
    vec![
        // Item 10: PostgreSQL names that need quoting.
        Accepted {
            kind: "Database",
            class: "database and owner names with a hyphen",
            spec: "cluster: {name: pg}\nname: app-two\nowner: app-two",
        },
        Accepted {
            kind: "Database",
            class: "schema names with capitals and spaces",
            spec: "cluster: {name: pg}\nname: shop\nowner: app\nschemas: [{name: Sales EU}, {name: 2024-archive}]",
        },
        Accepted {
            kind: "Cluster",
            class: "initdb database and owner that need quoting",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  initdb: {database: app-two, owner: App-Owner}",
        },
        Accepted {
            kind: "Cluster",
            class: "managed role names that need quoting",
            spec: "instances: 1\nstorage: {size: 1Gi}\nmanaged:\n  roles:\n    - {name: app-two, login: true}\n    - {name: Reporting Team}",
        },
        Accepted {
            kind: "Publication",
            class: "publication and database names with a hyphen",
            spec: "cluster: {name: pg}\nname: pub-one\ndbname: app-two\ntarget: {allTables: true}",
        },
        Accepted {
            kind: "Subscription",
            class: "subscription and database names with a hyphen",
            spec: "cluster: {name: pg}\nname: sub-one\ndbname: app-two\npublicationName: pub-one\nexternalClusterName: origin",
        },
        Accepted {
            kind: "Cluster",
            class: "post-init SQL in template1 and in Secrets and ConfigMaps",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  initdb:\n    postInitTemplateSQL: ['CREATE EXTENSION pg_trgm']\n    postInitSQLRefs: {secretRefs: [{name: init, key: roles.sql}]}\n    postInitTemplateSQLRefs: {configMapRefs: [{name: init, key: template.sql}]}\n    postInitApplicationSQLRefs:\n      secretRefs: [{name: init, key: grants.sql}]\n      configMapRefs: [{name: init, key: schema.sql}]",
        },
        // Item 12: a replica cluster lists the clusters it connects to, not itself.
        Accepted {
            kind: "Cluster",
            class: "distributed replica without its own externalClusters entry",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {primary: eu, source: eu}\nexternalClusters:\n  - {name: eu, connectionParameters: {host: eu-rw}}",
        },
        Accepted {
            kind: "Cluster",
            class: "the primary cluster of a topology, naming only its peers",
            spec: "instances: 1\nstorage: {size: 1Gi}\nreplica: {self: us, primary: us, source: eu}\nexternalClusters:\n  - {name: eu, connectionParameters: {host: eu-rw}}",
        },
        // Item 13: names that are not Kubernetes object names.
        Accepted {
            kind: "Cluster",
            class: "camelCase externalClusters name and a serverName with capitals",
            spec: "instances: 1\nstorage: {size: 1Gi}\nexternalClusters:\n  - name: clusterBackupSas\n    barmanObjectStore: {destinationPath: 's3://bucket/', serverName: pg-backup-Custom-Name, s3Credentials: {inheritFromIAMRole: true}}\nbootstrap:\n  recovery: {source: clusterBackupSas}",
        },
        // Item 15: rules stricter than CloudNativePG's without a reason.
        Accepted {
            kind: "ScheduledBackup",
            class: "a five-field schedule, read as CloudNativePG reads it (seconds first)",
            spec: "cluster: {name: pg}\nschedule: '0 0 0 * *'",
        },
        Accepted {
            kind: "Backup",
            class: "a cluster reference is only required, as in CloudNativePG",
            spec: "cluster: {name: Main_Cluster}",
        },
        Accepted {
            kind: "Cluster",
            class: "smartShutdownTimeout longer than stopDelay",
            spec: "instances: 1\nstorage: {size: 1Gi}\nstopDelay: 30\nsmartShutdownTimeout: 60",
        },
        Accepted {
            kind: "Cluster",
            class: "maximumLag on a probe of another type (ignored, as CloudNativePG does)",
            spec: "instances: 1\nstorage: {size: 1Gi}\nprobes:\n  readiness: {type: query, maximumLag: 16Mi}",
        },
        Accepted {
            kind: "Cluster",
            class: "retentionPolicy without barmanObjectStore",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbackup: {retentionPolicy: 30d}",
        },
        Accepted {
            kind: "Cluster",
            class: "more than 256 parallel WAL uploads and backup jobs",
            spec: "instances: 1\nstorage: {size: 1Gi}\nbackup:\n  barmanObjectStore:\n    destinationPath: 's3://bucket/'\n    s3Credentials: {inheritFromIAMRole: true}\n    wal: {maxParallel: 300}\n    data: {jobs: 400}",
        },
        Accepted {
            kind: "Cluster",
            class: "parameters CloudNativePG accepts: '$' in names, pgfed's own value repeated",
            spec: "instances: 3\nstorage: {size: 1Gi}\npostgresql:\n  parameters: {wal_log_hints: 'on', full_page_writes: 'on', custom.opt$1: x, pg_stat_statements.track: all}",
        },
    ]
}

#[test]
fn specs_cloudnativepg_accepts_are_admitted() {
    let mut failures = Vec::new();
    for case in accepted() {
        let errors = validate(case.kind, case.spec);
        if !errors.is_empty() {
            failures.push(format!("{} ({}): [{errors}]", case.class, case.kind));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
