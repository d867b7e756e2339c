//! Fields pgfed's schemas accept, so that CloudNativePG manifests decode under strict field
//! validation, but whose behaviour pgfed does not implement yet. Admission refuses each one that is
//! in use with "pgfed does not support <field path> yet", so a user never gets an object that is
//! accepted and then silently ignored.
//!
//! The lists are data: paths relative to the structure they live in, with `[]` for every item of an
//! array. A field counts as in use when it holds anything but null, `false`, `""`, `[]` or `{}`
//! (recursively), so a manifest that spells out CloudNativePG's "off" value is still accepted.

use super::FieldErrors;
use serde_json::Value;

/// A field pgfed does not implement yet, relative to the structure it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsupported {
    /// Path from the structure, e.g. `externalClusters[].plugin`.
    pub path: &'static str,
    /// Only this value is unsupported (e.g. `method: plugin`); `None`: any value in use.
    pub value: Option<&'static str>,
}

const fn any(path: &'static str) -> Unsupported {
    Unsupported { path, value: None }
}

/// In a Cluster spec (and so in a Federation's `spec.template`).
pub const CLUSTER_SPEC: &[Unsupported] = &[
    any("serviceAccountName"),
    any("serviceAccountTemplate.metadata.name"),
    any("podSelectorRefs"),
    any("ephemeralVolumesSizeLimit"),
    any("primaryLease.releasedLeaseDurationSeconds"),
    any("postgresql.extensions"),
    any("bootstrap.initdb.icuRules"),
    any("bootstrap.initdb.builtinLocale"),
    any("bootstrap.initdb.import.pgRestorePredataOptions"),
    any("bootstrap.initdb.import.pgRestoreDataOptions"),
    any("bootstrap.initdb.import.pgRestorePostdataOptions"),
    any("backup.volumeSnapshot.tablespaceClassName"),
    any("monitoring.metricsQueriesTTL"),
    any("monitoring.podMonitorRelabelings"),
    any("monitoring.podMonitorMetricRelabelings"),
];

/// In a `barmanObjectStore` block, wherever it appears. pgfed moves WAL and base backups itself
/// instead of running the barman-cloud commands, so their extra arguments have nothing to go to.
pub const OBJECT_STORE: &[Unsupported] = &[
    any("data.additionalCommandArgs"),
    any("data.restoreAdditionalCommandArgs"),
    any("wal.archiveAdditionalCommandArgs"),
    any("wal.restoreAdditionalCommandArgs"),
    any("azureCredentials.useDefaultAzureCredentials"),
];

/// Where a Cluster spec holds object stores.
const CLUSTER_OBJECT_STORES: &[&str] = &[
    "backup.barmanObjectStore",
    "externalClusters[].barmanObjectStore",
];

/// In a Federation's `spec.template`, besides [`CLUSTER_SPEC`]: the federation gives each member
/// its object stores (`spec.members[].barmanObjectStore`), so plugin-backed stores in the
/// template would compete with them.
pub const FEDERATION_TEMPLATE: &[Unsupported] = &[any("plugins"), any("externalClusters[].plugin")];

/// In a Backup or ScheduledBackup spec.
pub const BACKUP_SPEC: &[Unsupported] = &[any("onlineConfiguration")];

/// In a Pooler spec.
pub const POOLER_SPEC: &[Unsupported] = &[
    any("deploymentStrategy"),
    any("serviceAccountName"),
    any("monitoring.tls"),
    any("monitoring.podMonitorRelabelings"),
    any("monitoring.podMonitorMetricRelabelings"),
    any("pgbouncer.image"),
    any("pgbouncer.imageCatalogRef"),
    any("pgbouncer.serverCASecret"),
    any("pgbouncer.clientTLSSecret"),
    any("pgbouncer.clientCASecret"),
];

/// In a Database spec: options of CREATE DATABASE that PostgreSQL 15, the operand, does not have
/// (`ICU_RULES` came with 16, `BUILTIN_LOCALE` with 17).
pub const DATABASE_SPEC: &[Unsupported] = &[any("icuRules"), any("builtinLocale")];

/// In an ImageCatalog or ClusterImageCatalog spec.
pub const IMAGE_CATALOG_SPEC: &[Unsupported] =
    &[any("componentImages"), any("images[].extensions")];

/// In a DatabaseRole spec.
pub const DATABASE_ROLE_SPEC: &[Unsupported] = &[any("clientCertificate")];

/// Every unsupported field in use in a document of `kind`, as field errors.
pub fn unsupported_fields(kind: &str, doc: &Value) -> FieldErrors {
    let mut errors = FieldErrors::default();
    let spec = |rel: &str| format!("spec{}{rel}", if rel.is_empty() { "" } else { "." });
    let mut found = Vec::new();
    let cluster = |prefix: &str, found: &mut Vec<String>| {
        report(doc, &spec(prefix), CLUSTER_SPEC, found);
        for store in CLUSTER_OBJECT_STORES {
            let at = if prefix.is_empty() {
                store.to_string()
            } else {
                format!("{prefix}.{store}")
            };
            report(doc, &spec(&at), OBJECT_STORE, found);
        }
    };
    match kind {
        "Cluster" => cluster("", &mut found),
        "Federation" => {
            cluster("template", &mut found);
            report(doc, "spec.template", FEDERATION_TEMPLATE, &mut found);
            report(
                doc,
                "spec.members[].barmanObjectStore",
                OBJECT_STORE,
                &mut found,
            );
        }
        "Backup" | "ScheduledBackup" => report(doc, "spec", BACKUP_SPEC, &mut found),
        "Pooler" => report(doc, "spec", POOLER_SPEC, &mut found),
        "Database" => report(doc, "spec", DATABASE_SPEC, &mut found),
        "DatabaseRole" => report(doc, "spec", DATABASE_ROLE_SPEC, &mut found),
        "ImageCatalog" | "ClusterImageCatalog" => {
            report(doc, "spec", IMAGE_CATALOG_SPEC, &mut found)
        }
        "ObjectStore" => report(doc, "spec.configuration", OBJECT_STORE, &mut found),
        _ => {}
    }
    for path in found {
        let rule = format!("pgfed does not support {path} yet");
        errors.push(path, rule);
    }
    errors
}

/// Appends the concrete path (array indices filled in) of every entry of `table` in use under
/// `base` of `doc`.
fn report(doc: &Value, base: &str, table: &[Unsupported], found: &mut Vec<String>) {
    for entry in table {
        let full = format!("{base}.{}", entry.path);
        for (path, value) in resolve(doc, &full) {
            let unsupported = match entry.value {
                Some(wanted) => value.as_str() == Some(wanted),
                None => in_use(value),
            };
            if unsupported {
                found.push(path);
            }
        }
    }
}

/// Every value at `path` (dot-separated, `name[]` for each item of an array) with its concrete
/// path.
fn resolve<'a>(doc: &'a Value, path: &str) -> Vec<(String, &'a Value)> {
    let mut at: Vec<(String, &Value)> = vec![(String::new(), doc)];
    for step in path.split('.') {
        let (name, each) = match step.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (step, false),
        };
        let mut next = Vec::new();
        for (prefix, value) in at {
            let Some(child) = value.get(name) else {
                continue;
            };
            let here = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            };
            if each {
                for (i, item) in child.as_array().into_iter().flatten().enumerate() {
                    next.push((format!("{here}[{i}]"), item));
                }
            } else {
                next.push((here, child));
            }
        }
        at = next;
    }
    at
}

/// Whether a value asks for anything: not null, `false`, `""`, or only such values inside.
fn in_use(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(in_use),
        Value::Object(fields) => fields.values().any(in_use),
        Value::Bool(true) | Value::Number(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(kind: &str, spec: Value) -> Vec<String> {
        unsupported_fields(kind, &json!({ "spec": spec }))
            .0
            .into_iter()
            .map(|e| {
                assert_eq!(e.rule, format!("pgfed does not support {} yet", e.field));
                e.field
            })
            .collect()
    }

    #[test]
    fn each_unsupported_field_in_use_is_refused_with_its_path() {
        let cases: &[(&str, Value, &[&str])] = &[
            (
                "Federation",
                json!({"template": {"plugins": [{"name": "barman-cloud.cloudnative-pg.io"}],
                "externalClusters": [
                    {"name": "a"},
                    {"name": "b", "plugin": {"name": "barman-cloud.cloudnative-pg.io"}}
                ]}}),
                &[
                    "spec.template.plugins",
                    "spec.template.externalClusters[1].plugin",
                ],
            ),
            (
                "Cluster",
                json!({"backup": {"barmanObjectStore": {"destinationPath": "s3://b",
                    "data": {"additionalCommandArgs": ["--min-chunk-size=5MB"]}}}}),
                &["spec.backup.barmanObjectStore.data.additionalCommandArgs"],
            ),
            (
                "Cluster",
                json!({"externalClusters": [{"name": "o", "barmanObjectStore": {
                    "destinationPath": "s3://b",
                    "wal": {"restoreAdditionalCommandArgs": ["--read-timeout=60"]}}}]}),
                &["spec.externalClusters[0].barmanObjectStore.wal.restoreAdditionalCommandArgs"],
            ),
            (
                "Cluster",
                json!({"primaryLease": {"releasedLeaseDurationSeconds": 1},
                       "bootstrap": {"initdb": {"icuRules": "&a < b"}}}),
                &[
                    "spec.primaryLease.releasedLeaseDurationSeconds",
                    "spec.bootstrap.initdb.icuRules",
                ],
            ),
            (
                "Federation",
                json!({"template": {"serviceAccountName": "shared"},
                       "members": [{"name": "eu", "barmanObjectStore": {
                           "destinationPath": "s3://b",
                           "wal": {"archiveAdditionalCommandArgs": ["-v"]}}}]}),
                &[
                    "spec.template.serviceAccountName",
                    "spec.members[0].barmanObjectStore.wal.archiveAdditionalCommandArgs",
                ],
            ),
            (
                "ScheduledBackup",
                json!({"schedule": "0 0 0 * * *", "cluster": {"name": "c"},
                       "onlineConfiguration": {"immediateCheckpoint": true}}),
                &["spec.onlineConfiguration"],
            ),
            (
                "Pooler",
                json!({"cluster": {"name": "c"}, "deploymentStrategy": {"type": "Recreate"},
                       "pgbouncer": {"image": "pgbouncer:1.24", "clientTLSSecret": {"name": "t"}}}),
                &[
                    "spec.deploymentStrategy",
                    "spec.pgbouncer.image",
                    "spec.pgbouncer.clientTLSSecret",
                ],
            ),
            (
                "Database",
                json!({"name": "app", "owner": "app", "cluster": {"name": "c"},
                       "builtinLocale": "C.UTF-8", "icuRules": "&a < b"}),
                &["spec.icuRules", "spec.builtinLocale"],
            ),
            (
                "ClusterImageCatalog",
                json!({"images": [{"major": 17, "image": "pg:17",
                    "extensions": [{"name": "postgis"}]}],
                    "componentImages": [{"key": "pgbouncer", "image": "pgbouncer:1"}]}),
                &["spec.componentImages", "spec.images[0].extensions"],
            ),
            (
                "DatabaseRole",
                json!({"name": "r", "cluster": {"name": "c"}, "login": true,
                       "clientCertificate": {"enabled": true}}),
                &["spec.clientCertificate"],
            ),
            (
                "ObjectStore",
                json!({"configuration": {"destinationPath": "s3://b",
                    "data": {"restoreAdditionalCommandArgs": ["x"]}},
                    "retentionPolicy": "30d"}),
                &["spec.configuration.data.restoreAdditionalCommandArgs"],
            ),
        ];
        for (kind, spec, want) in cases {
            assert_eq!(fields(kind, spec.clone()), *want, "{kind} {spec}");
        }
    }

    #[test]
    fn off_values_and_supported_fields_are_accepted() {
        let cases: &[(&str, Value)] = &[
            (
                "Cluster",
                json!({"instances": 3, "plugins": [], "podSelectorRefs": null,
                       "replicationSlots": {"highAvailability": {"enabled": true,
                           "synchronizeLogicalDecoding": false}},
                       "monitoring": {"podMonitorRelabelings": []},
                       "backup": {"barmanObjectStore": {"destinationPath": "s3://b",
                           "data": {"compression": "gzip", "additionalCommandArgs": []}}}}),
            ),
            (
                "Backup",
                json!({"cluster": {"name": "c"}, "method": "barmanObjectStore"}),
            ),
            (
                "Backup",
                json!({"cluster": {"name": "c"}, "method": "plugin",
                       "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"}}),
            ),
            (
                "Cluster",
                json!({"plugins": [{"name": "barman-cloud.cloudnative-pg.io", "isWALArchiver": true,
                                    "parameters": {"barmanObjectName": "s"}}],
                       "externalClusters": [{"name": "o", "plugin": {
                           "name": "barman-cloud.cloudnative-pg.io",
                           "parameters": {"barmanObjectName": "s", "serverName": "o"}}}]}),
            ),
            (
                "Pooler",
                json!({"cluster": {"name": "c"}, "monitoring": {"tls": {"enabled": false}}}),
            ),
            (
                "Database",
                json!({"name": "app", "owner": "app", "icuRules": "", "collationVersion": "1",
                       "fdws": [{"name": "postgres_fdw"}],
                       "servers": [{"name": "remote", "fdw": "postgres_fdw"}]}),
            ),
            (
                "Publication",
                json!({"name": "p", "plugins": ["not a pgfed field"]}),
            ),
        ];
        for (kind, spec) in cases {
            assert_eq!(
                fields(kind, spec.clone()),
                Vec::<String>::new(),
                "{kind} {spec}"
            );
        }
    }
}
