//! Dereferences the post-init SQL `bootstrap.initdb` keeps in Secrets and ConfigMaps
//! (`postInitSQLRefs`, `postInitTemplateSQLRefs`, `postInitApplicationSQLRefs`) before the first
//! instance is created: a missing object or key is reported, naming the field, and no pod is
//! created. The pods mount these keys optionally (see `build::pod`'s volumes), so this check is
//! what keeps a bootstrap from running without a script.
//!
//! They are read only then, not on every reconcile: the scripts matter only to the bootstrap,
//! and a running cluster should not read (nor depend on) objects it no longer needs.

use super::error::ReconcileError;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client};
use pgfed_api::cluster::Cluster;
use pgfed_api::post_init_sql::{SourceKind, SqlRef, sql_refs};
use std::collections::{BTreeMap, BTreeSet};

/// The keys each referenced object holds, by kind and name; absent: it does not exist.
pub type Sources = BTreeMap<(&'static str, String), BTreeSet<String>>;

/// The first reference of `cluster`'s initdb (in the order the scripts run) whose object or key
/// `sources` does not have, as the error the reconcile reports. Pure.
pub fn first_missing(cluster: &Cluster, sources: &Sources) -> Option<ReconcileError> {
    let initdb = cluster.spec.bootstrap.as_ref()?.initdb.as_ref()?;
    sql_refs(initdb).iter().find_map(|r| {
        let field = format!("spec.{}", r.field());
        let kind = r.kind.kind();
        match sources.get(&(kind, r.name.to_string())) {
            None => Some(ReconcileError::MissingReference {
                kind,
                name: r.name.to_string(),
                field,
            }),
            Some(keys) if !keys.contains(r.key) => Some(ReconcileError::MissingKey {
                kind,
                name: r.name.to_string(),
                key: r.key.to_string(),
                field,
            }),
            Some(_) => None,
        }
    })
}

/// Reads the keys of the objects `references` name (each once).
async fn read_sources(
    client: &Client,
    namespace: &str,
    references: &[SqlRef<'_>],
) -> Result<Sources, ReconcileError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let wanted: BTreeSet<(SourceKind, &str)> =
        references.iter().map(|r| (r.kind, r.name)).collect();
    let mut sources = Sources::new();
    for (kind, name) in wanted {
        let action = || format!("reading {} {namespace}/{name}", kind.kind());
        let keys: Option<BTreeSet<String>> = match kind {
            SourceKind::Secret => secrets
                .get_opt(name)
                .await
                .map_err(ReconcileError::kube(action()))?
                .map(|s| s.data.unwrap_or_default().into_keys().collect()),
            SourceKind::ConfigMap => config_maps
                .get_opt(name)
                .await
                .map_err(ReconcileError::kube(action()))?
                .map(|c| {
                    let text = c.data.unwrap_or_default().into_keys();
                    text.chain(c.binary_data.unwrap_or_default().into_keys())
                        .collect()
                }),
        };
        if let Some(keys) = keys {
            sources.insert((kind.kind(), name.to_string()), keys);
        }
    }
    Ok(sources)
}

/// Fails with the first post-init SQL reference of `cluster` whose Secret, ConfigMap or key does
/// not exist; reads nothing when there is none.
pub async fn check(client: &Client, cluster: &Cluster) -> Result<(), ReconcileError> {
    let Some(initdb) = cluster
        .spec
        .bootstrap
        .as_ref()
        .and_then(|b| b.initdb.as_ref())
    else {
        return Ok(());
    };
    let references = sql_refs(initdb);
    if references.is_empty() {
        return Ok(());
    }
    let namespace = cluster.metadata.namespace.clone().unwrap_or_default();
    let sources = read_sources(client, &namespace, &references).await?;
    first_missing(cluster, &sources).map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::build::meta::tests::stored_cluster;

    #[test]
    fn the_first_missing_object_or_key_is_reported_with_its_field() {
        let mut cluster = stored_cluster(1);
        cluster.spec.bootstrap = Some(
            serde_norway::from_str(
                "initdb:\n  postInitSQLRefs: {secretRefs: [{name: s, key: a}]}\n  postInitApplicationSQLRefs:\n    secretRefs: [{name: s, key: b}]\n    configMapRefs: [{name: m, key: c}, {name: m, key: d}]\n",
            )
            .expect("bootstrap"),
        );
        let keys = |k: &[&str]| k.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>();
        let all = Sources::from([
            (("Secret", "s".to_string()), keys(&["a", "b"])),
            (("ConfigMap", "m".to_string()), keys(&["c", "d"])),
        ]);
        let with = |kind: &'static str, name: &str, k: Option<&[&str]>| {
            let mut sources = all.clone();
            match k {
                Some(k) => sources.insert((kind, name.to_string()), keys(k)),
                None => sources.remove(&(kind, name.to_string())),
            };
            sources
        };
        let cases: Vec<(&str, Sources, Option<&str>)> = vec![
            ("everything there", all.clone(), None),
            (
                "the Secret is missing: its first use is named",
                with("Secret", "s", None),
                Some(
                    "Secret s referenced by spec.bootstrap.initdb.postInitSQLRefs.secretRefs[0] does not exist",
                ),
            ),
            (
                "a ConfigMap key is missing",
                with("ConfigMap", "m", Some(&["c"])),
                Some(
                    "ConfigMap m referenced by spec.bootstrap.initdb.postInitApplicationSQLRefs.configMapRefs[1] has no key d",
                ),
            ),
            (
                "the ConfigMap is missing",
                with("ConfigMap", "m", None),
                Some(
                    "ConfigMap m referenced by spec.bootstrap.initdb.postInitApplicationSQLRefs.configMapRefs[0] does not exist",
                ),
            ),
            (
                "a Secret key is missing",
                with("Secret", "s", Some(&["a"])),
                Some(
                    "Secret s referenced by spec.bootstrap.initdb.postInitApplicationSQLRefs.secretRefs[0] has no key b",
                ),
            ),
        ];
        for (what, sources, want) in cases {
            let got = first_missing(&cluster, &sources).map(|e| e.to_string());
            assert_eq!(got.as_deref(), want, "{what}");
        }
        let got = first_missing(&cluster, &Sources::new()).map(|e| e.label());
        assert_eq!(got, Some("missing_reference"));
        assert!(first_missing(&stored_cluster(1), &Sources::new()).is_none());
    }
}
