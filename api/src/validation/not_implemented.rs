//! Cluster fields the API accepts (CloudNativePG has them) but the instance manager refuses at run
//! time because pgfed does not implement them yet. Refusing them at admission, with the field
//! path, means a user never gets a Cluster that is accepted and then fails in a pod. Each entry
//! goes away when its feature lands in the manager.

use super::FieldErrors;
use crate::cluster::{BootstrapInitDb, ClusterSpec};

/// The `bootstrap.initdb` options that are set but not implemented yet, by field name, in field
/// order. The instance manager's `init` refuses the same list.
pub fn initdb_not_implemented(initdb: &BootstrapInitDb) -> Vec<&'static str> {
    [
        ("localeProvider", initdb.locale_provider.is_some()),
        ("icuLocale", initdb.icu_locale.is_some()),
        ("import", initdb.import.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, set)| set.then_some(field))
    .collect()
}

/// Refuses every field of `spec` that the instance manager does not implement yet.
pub fn refuse_not_implemented(errors: &mut FieldErrors, spec: &ClusterSpec) {
    for (path, hint) in not_implemented_fields(spec) {
        errors.push(
            path.clone(),
            format!("pgfed does not support {path} yet{hint}"),
        );
    }
}

/// The set fields pgfed does not implement yet: their path and a hint (empty or starting with
/// "; ") on what to use instead. Pure, in field order.
fn not_implemented_fields(spec: &ClusterSpec) -> Vec<(String, &'static str)> {
    let mut found = Vec::new();
    let mut refuse = |set: bool, path: String, hint: &'static str| {
        if set {
            found.push((path, hint));
        }
    };
    if let Some(pg) = &spec.postgresql {
        refuse(pg.ldap.is_some(), "spec.postgresql.ldap".into(), "");
    }
    for (i, external) in spec.external_clusters.iter().enumerate() {
        refuse(
            external.password.is_some(),
            format!("spec.externalClusters[{i}].password"),
            "; authenticate with sslCert and sslKey",
        );
    }
    let bootstrap = spec.bootstrap.as_ref();
    if let Some(initdb) = bootstrap.and_then(|b| b.initdb.as_ref()) {
        for field in initdb_not_implemented(initdb) {
            refuse(true, format!("spec.bootstrap.initdb.{field}"), "");
        }
    }
    if let Some(recovery) = bootstrap.and_then(|b| b.recovery.as_ref()) {
        const HINT: &str = "; restore from a Backup (bootstrap.recovery.backup) or an external cluster's object store (bootstrap.recovery.source)";
        refuse(
            recovery.volume_snapshots.is_some(),
            "spec.bootstrap.recovery.volumeSnapshots".into(),
            HINT,
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(yaml: &str) -> Vec<String> {
        let spec: ClusterSpec = serde_norway::from_str(yaml).expect("fixture");
        not_implemented_fields(&spec)
            .into_iter()
            .map(|(path, _)| path)
            .collect()
    }

    #[test]
    fn fields_the_manager_refuses_are_refused_at_admission() {
        let base = "instances: 1\nstorage: {size: 1Gi}\n";
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("postgresql: {synchronous: {method: any, number: 1}}", &[]),
            (
                "postgresql: {ldap: {server: ldap.example.com}}",
                &["spec.postgresql.ldap"],
            ),
            // Implemented: a delayed replica cluster.
            (
                "replica: {enabled: true, source: a, minApplyDelay: 1h}",
                &[],
            ),
            (
                "externalClusters:\n  - {name: a, connectionParameters: {host: a}}\n  - {name: b, connectionParameters: {host: b}, password: {name: s, key: p}}",
                &["spec.externalClusters[1].password"],
            ),
            // Implemented: a Backup by name.
            ("bootstrap: {recovery: {backup: {name: b}}}", &[]),
            (
                "bootstrap:\n  recovery:\n    source: a\n    volumeSnapshots: {storage: {name: snap, kind: VolumeSnapshot, apiGroup: snapshot.storage.k8s.io}}",
                &["spec.bootstrap.recovery.volumeSnapshots"],
            ),
            (
                "bootstrap: {initdb: {localeProvider: icu, icuLocale: en}}",
                &[
                    "spec.bootstrap.initdb.localeProvider",
                    "spec.bootstrap.initdb.icuLocale",
                ],
            ),
            (
                "bootstrap:\n  initdb:\n    postInitTemplateSQL: ['select 1']\n    postInitSQLRefs: {secretRefs: [{name: s, key: k}]}\n    postInitTemplateSQLRefs: {configMapRefs: [{name: m, key: k}]}\n    postInitApplicationSQLRefs: {secretRefs: [{name: s, key: k}]}",
                &[],
            ),
            (
                "bootstrap: {initdb: {import: {type: microservice, databases: [a], source: {externalCluster: a}}}}",
                &["spec.bootstrap.initdb.import"],
            ),
        ];
        for (extra, want) in cases {
            assert_eq!(refused(&format!("{base}{extra}")), *want, "{extra}");
        }
    }

    #[test]
    fn the_message_names_the_path_and_the_alternative() {
        let spec: ClusterSpec = serde_norway::from_str(
            "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  recovery:\n    source: a\n    volumeSnapshots: {storage: {name: snap, kind: VolumeSnapshot, apiGroup: snapshot.storage.k8s.io}}",
        )
        .expect("fixture");
        let mut errors = FieldErrors::default();
        refuse_not_implemented(&mut errors, &spec);
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].field, "spec.bootstrap.recovery.volumeSnapshots");
        assert!(
            errors.0[0].rule.starts_with(
                "pgfed does not support spec.bootstrap.recovery.volumeSnapshots yet; restore from a Backup"
            ),
            "{}",
            errors.0[0].rule
        );
    }
}
