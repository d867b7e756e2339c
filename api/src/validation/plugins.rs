//! Validation of CloudNativePG-I plugin entries: `spec.plugins`, `spec.externalClusters[].plugin`
//! and a Backup's `pluginConfiguration`. pgfed serves one plugin, Barman Cloud, in-process (see
//! [`crate::plugins`]); any other is refused by name, and so is what the Barman Cloud plugin
//! cannot be given in pgfed (a second store to archive to, parameters it does not read).

use super::FieldErrors;
use super::formats::check_path_component;
use crate::cluster::ClusterSpec;
use crate::common::{BackupMethod, BackupPluginConfiguration, PluginConfiguration};
use crate::plugins::{BARMAN_CLOUD, BARMAN_OBJECT_NAME, PARAMETERS, SERVER_NAME, is_enabled};

/// The rule broken by naming a plugin pgfed does not serve.
fn not_served(name: &str) -> String {
    format!("plugin {name:?} is not served by pgfed; pgfed serves {BARMAN_CLOUD}")
}

/// Checks the plugin entries of a Cluster spec.
pub fn check_cluster_plugins(errors: &mut FieldErrors, spec: &ClusterSpec) {
    super::check_unique(
        errors,
        "spec.plugins",
        spec.plugins.iter().map(|p| p.name.as_str()),
    );
    let mut archiver: Option<usize> = None;
    for (i, plugin) in spec.plugins.iter().enumerate() {
        let path = format!("spec.plugins[{i}]");
        const STORE: &str = "the ObjectStore this cluster archives WAL and takes backups to";
        if !check_entry(errors, &path, plugin, STORE) || !is_enabled(plugin) {
            continue;
        }
        if plugin.is_wal_archiver == Some(true) {
            match archiver {
                Some(first) => errors.push(
                    format!("{path}.isWALArchiver"),
                    format!("at most one plugin archives WAL, and spec.plugins[{first}] does"),
                ),
                None => archiver = Some(i),
            }
        }
        let backup = spec.backup.as_ref();
        if backup.is_some_and(|b| b.barman_object_store.is_some()) {
            // CloudNativePG archives to both during a migration; pgfed's manager archives to
            // one store, so one of the two must go.
            errors.push(
                path.clone(),
                format!(
                    "{BARMAN_CLOUD} cannot be combined with spec.backup.barmanObjectStore: pgfed archives WAL to one object store; keep one of the two"
                ),
            );
        }
        if backup.is_some_and(|b| b.retention_policy.is_some()) {
            errors.push(
                "spec.backup.retentionPolicy",
                format!(
                    "with the {BARMAN_CLOUD} plugin the retention policy is the ObjectStore's spec.retentionPolicy; remove it here"
                ),
            );
        }
    }
    for (i, external) in spec.external_clusters.iter().enumerate() {
        let Some(plugin) = &external.plugin else {
            continue;
        };
        let path = format!("spec.externalClusters[{i}].plugin");
        const STORE: &str = "the ObjectStore this external cluster's backups and WAL are read from";
        if !check_entry(errors, &path, plugin, STORE) {
            continue;
        }
        if external.barman_object_store.is_some() {
            errors.push(
                path.clone(),
                "cannot be combined with barmanObjectStore: an external cluster has one object store",
            );
        }
        if plugin.is_wal_archiver == Some(true) {
            errors.push(
                format!("{path}.isWALArchiver"),
                "an external cluster's store is only read; the entry of spec.plugins archives WAL",
            );
        }
    }
}

/// Checks the plugin entry at `path`: its name, and the parameters of a Barman Cloud entry
/// (`store_is` says what the named ObjectStore is for, in the error). Whether it is a Barman Cloud
/// entry, the one kind the other rules apply to.
fn check_entry(
    errors: &mut FieldErrors,
    path: &str,
    plugin: &PluginConfiguration,
    store_is: &str,
) -> bool {
    if plugin.name != BARMAN_CLOUD {
        errors.push(format!("{path}.name"), not_served(&plugin.name));
        return false;
    }
    let parameters = &plugin.parameters;
    if parameters
        .get(BARMAN_OBJECT_NAME)
        .is_none_or(|n| n.is_empty())
    {
        errors.push(
            format!("{path}.parameters.{BARMAN_OBJECT_NAME}"),
            format!("required: the name of {store_is}"),
        );
    }
    if let Some(server) = parameters.get(SERVER_NAME) {
        // One folder of the Barman layout, like an in-tree store's serverName.
        errors.check(
            format!("{path}.parameters.{SERVER_NAME}"),
            check_path_component(server),
        );
    }
    for key in parameters.keys() {
        if !PARAMETERS.contains(&key.as_str()) {
            errors.push(
                format!("{path}.parameters.{key}"),
                format!(
                    "{BARMAN_CLOUD} has no parameter {key:?}; it reads {}",
                    PARAMETERS.join(" and ")
                ),
            );
        }
    }
    true
}

/// Checks the plugin of a Backup or ScheduledBackup: `method: plugin` takes a base backup into
/// the store of the Cluster's Barman Cloud plugin, like `method: barmanObjectStore`.
pub fn check_backup_plugin(
    errors: &mut FieldErrors,
    method: Option<BackupMethod>,
    plugin: Option<&BackupPluginConfiguration>,
) {
    const PATH: &str = "spec.pluginConfiguration";
    match (method, plugin) {
        (Some(BackupMethod::Plugin), None) => errors.push(
            PATH,
            format!("required with method plugin: name the plugin, {BARMAN_CLOUD}"),
        ),
        (Some(BackupMethod::Plugin), Some(plugin)) => {
            if plugin.name != BARMAN_CLOUD {
                errors.push(format!("{PATH}.name"), not_served(&plugin.name));
            }
            if !plugin.parameters.is_empty() {
                errors.push(
                    format!("{PATH}.parameters"),
                    format!(
                        "{BARMAN_CLOUD} takes no backup parameters: the Cluster's plugin entry and its ObjectStore say where and how"
                    ),
                );
            }
        }
        (_, Some(_)) => errors.push(PATH, "is only read with method plugin"),
        (_, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn cluster_errors(spec: Value) -> Vec<String> {
        let spec: ClusterSpec = serde_json::from_value(spec).expect("cluster spec");
        let mut errors = FieldErrors::default();
        check_cluster_plugins(&mut errors, &spec);
        errors.0.iter().map(ToString::to_string).collect()
    }

    fn barman(parameters: Value) -> Value {
        json!({"name": BARMAN_CLOUD, "isWALArchiver": true, "parameters": parameters})
    }

    #[test]
    fn cluster_plugin_entries() {
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            (
                "the plugin's own example",
                json!({"plugins": [barman(json!({"barmanObjectName": "minio-store"}))]}),
                vec![],
            ),
            (
                "a backup target and a serverName go with it",
                json!({"backup": {"target": "primary"},
                       "plugins": [barman(json!({"barmanObjectName": "s", "serverName": "pg-v2"}))]}),
                vec![],
            ),
            (
                "another plugin",
                json!({"plugins": [{"name": "cnpg-i-pgbackrest.example", "isWALArchiver": true}]}),
                vec![
                    "spec.plugins[0].name: plugin \"cnpg-i-pgbackrest.example\" is not served by pgfed; pgfed serves barman-cloud.cloudnative-pg.io",
                ],
            ),
            (
                "no barmanObjectName",
                json!({"plugins": [barman(json!({"serverName": "pg"}))]}),
                vec![
                    "spec.plugins[0].parameters.barmanObjectName: required: the name of the ObjectStore this cluster archives WAL and takes backups to",
                ],
            ),
            (
                "an empty barmanObjectName, a serverName that leaves its folder, a parameter the plugin does not read",
                json!({"plugins": [barman(json!({"barmanObjectName": "", "serverName": "../x", "bucket": "b"}))]}),
                vec![
                    "spec.plugins[0].parameters.barmanObjectName: required: the name of the ObjectStore this cluster archives WAL and takes backups to",
                    "spec.plugins[0].parameters.serverName: \"../x\" cannot be used: it is one path component, so it cannot be empty, '.' or '..' or contain '/' or '\\'",
                    "spec.plugins[0].parameters.bucket: barman-cloud.cloudnative-pg.io has no parameter \"bucket\"; it reads barmanObjectName and serverName",
                ],
            ),
            (
                "plugins together with the in-tree store and its retention policy",
                json!({"backup": {"barmanObjectStore": {"destinationPath": "s3://b/"}, "retentionPolicy": "30d"},
                       "plugins": [barman(json!({"barmanObjectName": "s"}))]}),
                vec![
                    "spec.plugins[0]: barman-cloud.cloudnative-pg.io cannot be combined with spec.backup.barmanObjectStore: pgfed archives WAL to one object store; keep one of the two",
                    "spec.backup.retentionPolicy: with the barman-cloud.cloudnative-pg.io plugin the retention policy is the ObjectStore's spec.retentionPolicy; remove it here",
                ],
            ),
            (
                "a disabled entry beside the in-tree store is off",
                json!({"backup": {"barmanObjectStore": {"destinationPath": "s3://b/"}},
                       "plugins": [{"name": BARMAN_CLOUD, "enabled": false,
                                    "parameters": {"barmanObjectName": "s"}}]}),
                vec![],
            ),
            (
                "two WAL archivers",
                json!({"plugins": [barman(json!({"barmanObjectName": "a"})),
                                   barman(json!({"barmanObjectName": "b"}))]}),
                vec![
                    "spec.plugins[1].name: duplicate name \"barman-cloud.cloudnative-pg.io\"",
                    "spec.plugins[1].isWALArchiver: at most one plugin archives WAL, and spec.plugins[0] does",
                ],
            ),
            (
                "external clusters",
                json!({"externalClusters": [
                    {"name": "ok", "plugin": {"name": BARMAN_CLOUD,
                        "parameters": {"barmanObjectName": "s", "serverName": "origin"}}},
                    {"name": "other", "plugin": {"name": "wal-g.example"}},
                    {"name": "no-store", "plugin": {"name": BARMAN_CLOUD, "isWALArchiver": true}},
                    {"name": "both", "barmanObjectStore": {"destinationPath": "s3://b/"},
                     "plugin": {"name": BARMAN_CLOUD, "parameters": {"barmanObjectName": "s"}}}
                ]}),
                vec![
                    "spec.externalClusters[1].plugin.name: plugin \"wal-g.example\" is not served by pgfed; pgfed serves barman-cloud.cloudnative-pg.io",
                    "spec.externalClusters[2].plugin.parameters.barmanObjectName: required: the name of the ObjectStore this external cluster's backups and WAL are read from",
                    "spec.externalClusters[2].plugin.isWALArchiver: an external cluster's store is only read; the entry of spec.plugins archives WAL",
                    "spec.externalClusters[3].plugin: cannot be combined with barmanObjectStore: an external cluster has one object store",
                ],
            ),
        ];
        for (why, spec, want) in cases {
            assert_eq!(cluster_errors(spec), want, "{why}");
        }
    }

    #[test]
    fn backup_plugin_configuration() {
        let plugin = |name: &str, parameters: Value| -> BackupPluginConfiguration {
            serde_json::from_value(json!({"name": name, "parameters": parameters}))
                .expect("plugin configuration")
        };
        let cases: Vec<(
            Option<BackupMethod>,
            Option<BackupPluginConfiguration>,
            Vec<&str>,
        )> = vec![
            (
                Some(BackupMethod::Plugin),
                Some(plugin(BARMAN_CLOUD, json!({}))),
                vec![],
            ),
            (None, None, vec![]),
            (
                Some(BackupMethod::Plugin),
                None,
                vec![
                    "spec.pluginConfiguration: required with method plugin: name the plugin, barman-cloud.cloudnative-pg.io",
                ],
            ),
            (
                Some(BackupMethod::Plugin),
                Some(plugin("pgbackrest.example", json!({"type": "full"}))),
                vec![
                    "spec.pluginConfiguration.name: plugin \"pgbackrest.example\" is not served by pgfed; pgfed serves barman-cloud.cloudnative-pg.io",
                    "spec.pluginConfiguration.parameters: barman-cloud.cloudnative-pg.io takes no backup parameters: the Cluster's plugin entry and its ObjectStore say where and how",
                ],
            ),
            (
                Some(BackupMethod::BarmanObjectStore),
                Some(plugin(BARMAN_CLOUD, json!({}))),
                vec!["spec.pluginConfiguration: is only read with method plugin"],
            ),
        ];
        for (method, configuration, want) in cases {
            let mut errors = FieldErrors::default();
            check_backup_plugin(&mut errors, method, configuration.as_ref());
            let got: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
            assert_eq!(got, want, "{method:?} {configuration:?}");
        }
    }
}
