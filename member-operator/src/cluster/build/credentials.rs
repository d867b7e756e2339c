//! The credential Secrets a Cluster generates when the user gives none: `<cluster>-app` for the
//! application database owner and, with `enableSuperuserAccess`, `<cluster>-superuser` for
//! `postgres`. Keys are CloudNativePG's, so applications and tools written for it read them
//! unchanged: `username`, `user`, `password`, `host`, `port`, `dbname`, `uri`, `jdbc-uri`,
//! `fqdn-uri`, `fqdn-jdbc-uri`, `pgpass`. The password comes in from the edge (generated once,
//! then read back from the existing Secret: a Secret that exists is never regenerated).

use super::meta::Owner;
use k8s_openapi::api::core::v1::Secret;
use pgfed_api::names::{POSTGRES_PORT, service_rw};
use std::collections::BTreeMap;

/// A database login to publish.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// Role name.
    pub username: String,
    /// Password (never logged: `Debug` hides it).
    pub password: String,
    /// Database the URIs point at; `*` for any (superuser).
    pub dbname: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("dbname", &self.dbname)
            .finish()
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for the user-info and query
/// parts of a URI.
fn uri_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Escapes `:` and `\` for a `.pgpass` field.
fn pgpass_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace(':', "\\:")
}

/// The `kubernetes.io/basic-auth` Secret named `name` holding `login`, pointing at the Cluster's
/// `-rw` Service in `cluster_domain` (usually `cluster.local`).
pub fn build(owner: &Owner, name: &str, login: &Login, cluster_domain: &str) -> Secret {
    let host = service_rw(&owner.name);
    let namespaced = format!("{host}.{}", owner.namespace);
    let fqdn = format!("{namespaced}.svc.{cluster_domain}");
    let port = POSTGRES_PORT;
    let (user, password, db) = (&login.username, &login.password, &login.dbname);
    // `*` (any database) is not a database name a URI can carry: the URIs then name none.
    let path = if db == "*" {
        String::new()
    } else {
        uri_escape(db)
    };
    let uri = |h: &str| {
        format!(
            "postgresql://{}:{}@{h}:{port}/{path}",
            uri_escape(user),
            uri_escape(password)
        )
    };
    let jdbc = |h: &str| {
        format!(
            "jdbc:postgresql://{h}:{port}/{path}?password={}&user={}",
            uri_escape(password),
            uri_escape(user)
        )
    };
    let data = BTreeMap::from([
        ("username".to_string(), user.clone()),
        ("user".to_string(), user.clone()),
        ("password".to_string(), password.clone()),
        ("host".to_string(), host.clone()),
        ("port".to_string(), port.to_string()),
        ("dbname".to_string(), db.clone()),
        ("uri".to_string(), uri(&namespaced)),
        ("jdbc-uri".to_string(), jdbc(&namespaced)),
        ("fqdn-uri".to_string(), uri(&fqdn)),
        ("fqdn-jdbc-uri".to_string(), jdbc(&fqdn)),
        (
            "pgpass".to_string(),
            format!(
                "{host}:{port}:{}:{}:{}\n",
                pgpass_escape(db),
                pgpass_escape(user),
                pgpass_escape(password)
            ),
        ),
    ]);
    Secret {
        metadata: owner.child_meta(name, BTreeMap::new()),
        type_: Some("kubernetes.io/basic-auth".into()),
        string_data: Some(data),
        ..Secret::default()
    }
}

/// A Secret the spec names that does not exist (a managed role's `passwordSecret`, an external
/// cluster's TLS file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingRoleSecret {
    /// The spec field naming it, e.g. `spec.managed.roles[<i>].passwordSecret`.
    pub field: String,
    /// The Secret's name.
    pub name: String,
}

/// The Secrets holding the passwords of `spec.managed.roles`, each named once; the first one of a
/// role to keep present that `exists` does not know is an error naming its field. A role being
/// dropped needs no password: its Secret is listed only while it exists, so turning a role
/// `absent` does not change the pods' volumes (and restart them), nor does deleting its Secret
/// then block the Cluster. The instances mount them so the primary can read `password`. Pure.
pub fn role_password_secrets(
    cluster: &pgfed_api::cluster::Cluster,
    exists: impl Fn(&str) -> bool,
) -> Result<Vec<String>, MissingRoleSecret> {
    let roles = cluster
        .spec
        .managed
        .as_ref()
        .map(|m| m.roles.as_slice())
        .unwrap_or_default();
    let mut names = std::collections::BTreeSet::new();
    for (index, role) in roles.iter().enumerate() {
        let Some(secret) = &role.password_secret else {
            continue;
        };
        let dropped = role.ensure == Some(pgfed_api::common::EnsureOption::Absent);
        if dropped && !exists(&secret.name) {
            continue;
        }
        if !exists(&secret.name) {
            return Err(MissingRoleSecret {
                field: format!("spec.managed.roles[{index}].passwordSecret"),
                name: secret.name.clone(),
            });
        }
        names.insert(secret.name.clone());
    }
    Ok(names.into_iter().collect())
}

/// The Secrets `spec.externalClusters` take their TLS files from (`sslCert`, `sslKey`,
/// `sslRootCert`), each named once, to mount where the manager reads them
/// (`<credentials>/<secret>/<key>`). A missing one is an error, naming its field, only for an
/// external cluster the instances connect to; one for an unused entry is left out. Pure.
pub fn external_cluster_secrets(
    cluster: &pgfed_api::cluster::Cluster,
    exists: impl Fn(&str) -> bool,
) -> Result<Vec<String>, MissingRoleSecret> {
    let used = cluster.spec.external_clusters_in_use();
    let mut names = std::collections::BTreeSet::new();
    for (index, external) in cluster.spec.external_clusters.iter().enumerate() {
        let selectors = [
            ("sslCert", &external.ssl_cert),
            ("sslKey", &external.ssl_key),
            ("sslRootCert", &external.ssl_root_cert),
        ];
        for (field, selector) in selectors {
            let Some(selector) = selector else { continue };
            if exists(&selector.name) {
                names.insert(selector.name.clone());
            } else if used.contains(&external.name.as_str()) {
                return Err(MissingRoleSecret {
                    field: format!("spec.externalClusters[{index}].{field}"),
                    name: selector.name.clone(),
                });
            }
        }
    }
    Ok(names.into_iter().collect())
}

/// The Secrets the object stores read their credentials and CA from — `spec.backup`'s (WAL
/// archiving and base backups), `spec.replica.fencingLease`'s (the federation's fencing lease,
/// which the primary renews) and every `spec.externalClusters[].barmanObjectStore` — each named
/// once, to mount where the manager reads them (`<credentials>/<secret>/<key>`). A missing one
/// is an error naming its field: always for the backup and lease stores, only for an external cluster in use
/// for the others. Pure.
pub fn object_store_secrets(
    cluster: &pgfed_api::cluster::Cluster,
    exists: impl Fn(&str) -> bool,
) -> Result<Vec<String>, MissingRoleSecret> {
    let used = cluster.spec.external_clusters_in_use();
    let backup = cluster
        .spec
        .backup
        .as_ref()
        .and_then(|b| b.barman_object_store.as_ref())
        .map(|store| ("spec.backup.barmanObjectStore".to_string(), store, true));
    let lease = cluster.spec.fencing_lease_store().map(|store| {
        (
            "spec.replica.fencingLease.objectStore".to_string(),
            store,
            true,
        )
    });
    let external = cluster
        .spec
        .external_clusters
        .iter()
        .enumerate()
        .filter_map(|(index, e)| {
            e.barman_object_store.as_ref().map(|store| {
                (
                    format!("spec.externalClusters[{index}].barmanObjectStore"),
                    store,
                    used.contains(&e.name.as_str()),
                )
            })
        });
    let mut names = std::collections::BTreeSet::new();
    for (path, store, required) in backup.into_iter().chain(lease).chain(external) {
        for (field, selector) in store.secret_selectors() {
            if exists(&selector.name) {
                names.insert(selector.name.clone());
            } else if required {
                return Err(MissingRoleSecret {
                    field: format!("{path}.{field}"),
                    name: selector.name.clone(),
                });
            }
        }
    }
    Ok(names.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::build::meta::tests::stored_cluster;

    fn secret_for(password: &str, dbname: &str) -> BTreeMap<String, String> {
        let owner = Owner::of(&stored_cluster(1)).expect("owner");
        let login = Login {
            username: "app".into(),
            password: password.into(),
            dbname: dbname.into(),
        };
        let secret = build(&owner, "pg-app", &login, "cluster.local");
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/basic-auth"));
        secret.string_data.unwrap_or_default()
    }

    #[test]
    fn app_secret_has_cloudnativepg_keys() {
        let data = secret_for("s3cret", "app");
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "dbname",
                "fqdn-jdbc-uri",
                "fqdn-uri",
                "host",
                "jdbc-uri",
                "password",
                "pgpass",
                "port",
                "uri",
                "user",
                "username"
            ]
        );
        assert_eq!(data["uri"], "postgresql://app:s3cret@pg-rw.ns:5432/app");
        assert_eq!(
            data["fqdn-uri"],
            "postgresql://app:s3cret@pg-rw.ns.svc.cluster.local:5432/app"
        );
        assert_eq!(
            data["jdbc-uri"],
            "jdbc:postgresql://pg-rw.ns:5432/app?password=s3cret&user=app"
        );
        assert_eq!(data["pgpass"], "pg-rw:5432:app:app:s3cret\n");
        assert_eq!(data["host"], "pg-rw");
    }

    #[test]
    fn special_characters_are_escaped_per_format() {
        let data = secret_for("p@ss:w/o\\rd?", "app-two");
        assert_eq!(
            data["uri"],
            "postgresql://app:p%40ss%3Aw%2Fo%5Crd%3F@pg-rw.ns:5432/app-two"
        );
        assert_eq!(data["pgpass"], "pg-rw:5432:app-two:app:p@ss\\:w/o\\\\rd?\n");
        assert_eq!(data["password"], "p@ss:w/o\\rd?");
    }

    #[test]
    fn any_database_login_names_no_database_in_uris() {
        let data = secret_for("x", "*");
        assert_eq!(data["uri"], "postgresql://app:x@pg-rw.ns:5432/");
        assert_eq!(data["pgpass"], "pg-rw:5432:*:app:x\n");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let login = Login {
            username: "app".into(),
            password: "hunter2".into(),
            dbname: "app".into(),
        };
        assert!(!format!("{login:?}").contains("hunter2"));
    }

    #[test]
    fn role_password_secrets_are_listed_once_and_a_missing_one_names_its_field() {
        use pgfed_api::cluster::{ManagedConfiguration, RoleConfiguration};
        use pgfed_api::common::{EnsureOption, LocalObjectReference};
        let role = |name: &str, secret: Option<&str>, ensure| RoleConfiguration {
            name: name.into(),
            password_secret: secret.map(|s| LocalObjectReference { name: s.into() }),
            ensure,
            ..RoleConfiguration::default()
        };
        let mut cluster = stored_cluster(1);
        cluster.spec.managed = Some(ManagedConfiguration {
            roles: vec![
                role("reporting", Some("reporting-pw"), None),
                role("nopass", None, None),
                role("gone", Some("gone-pw"), Some(EnsureOption::Absent)),
                role("twin", Some("reporting-pw"), Some(EnsureOption::Present)),
                role("writer", Some("writer-pw"), None),
            ],
            services: None,
        });
        let present = ["reporting-pw", "writer-pw"];
        assert_eq!(
            role_password_secrets(&cluster, |n| present.contains(&n)),
            Ok(vec!["reporting-pw".to_string(), "writer-pw".to_string()])
        );
        assert_eq!(
            role_password_secrets(&cluster, |n| n != "writer-pw"),
            Err(MissingRoleSecret {
                field: "spec.managed.roles[4].passwordSecret".into(),
                name: "writer-pw".into(),
            })
        );
        // A dropped role's Secret stays mounted while it exists.
        assert_eq!(
            role_password_secrets(&cluster, |n| n != "nothing"),
            Ok(vec![
                "gone-pw".to_string(),
                "reporting-pw".to_string(),
                "writer-pw".to_string()
            ])
        );
        assert_eq!(
            role_password_secrets(&stored_cluster(1), |_| false),
            Ok(Vec::new())
        );
    }

    #[test]
    fn external_cluster_tls_secrets_are_mounted_and_required_when_in_use() {
        let mut cluster = crate::cluster::build::meta::tests::stored_cluster(1);
        cluster.spec.external_clusters = serde_json::from_value(serde_json::json!([
            {"name": "src", "connectionParameters": {"host": "src-rw"},
             "sslCert": {"name": "src-replication", "key": "tls.crt"},
             "sslKey": {"name": "src-replication", "key": "tls.key"},
             "sslRootCert": {"name": "src-ca", "key": "ca.crt"}},
            {"name": "unused", "sslRootCert": {"name": "gone", "key": "ca.crt"}}
        ]))
        .expect("external clusters");
        let present = |n: &str| n != "gone" && n != "missing";
        assert_eq!(
            external_cluster_secrets(&cluster, present).expect("secrets"),
            ["src-ca", "src-replication"]
        );
        cluster.spec.bootstrap = serde_json::from_value(serde_json::json!({
            "pg_basebackup": {"source": "unused"}
        }))
        .expect("bootstrap");
        assert_eq!(
            external_cluster_secrets(&cluster, present),
            Err(MissingRoleSecret {
                field: "spec.externalClusters[1].sslRootCert".into(),
                name: "gone".into()
            })
        );
        cluster.spec.bootstrap = serde_json::from_value(serde_json::json!({
            "pg_basebackup": {"source": "src"}
        }))
        .expect("bootstrap");
        let none_of_src = |n: &str| n != "src-ca";
        assert_eq!(
            external_cluster_secrets(&cluster, none_of_src)
                .expect_err("missing")
                .field,
            "spec.externalClusters[0].sslRootCert"
        );
    }

    #[test]
    fn the_object_stores_credentials_are_mounted_and_a_missing_one_is_named() {
        let mut cluster = stored_cluster(1);
        cluster.spec = serde_json::from_value(serde_json::json!({
            "instances": 1,
            "backup": {"barmanObjectStore": {
                "destinationPath": "s3://b/",
                "endpointCA": {"name": "minio-ca", "key": "ca.crt"},
                "s3Credentials": {
                    "accessKeyId": {"name": "s3", "key": "ACCESS_KEY_ID"},
                    "secretAccessKey": {"name": "s3", "key": "ACCESS_SECRET_KEY"}
                }
            }},
            "externalClusters": [{"name": "unused", "barmanObjectStore": {
                "destinationPath": "s3://other/",
                "s3Credentials": {"accessKeyId": {"name": "gone", "key": "k"}}
            }}]
        }))
        .expect("spec");
        let all = ["s3", "minio-ca"];
        assert_eq!(
            object_store_secrets(&cluster, |n| all.contains(&n)),
            Ok(vec!["minio-ca".to_string(), "s3".to_string()])
        );
        let err = object_store_secrets(&cluster, |n| n == "minio-ca").expect_err("missing");
        assert_eq!(
            err.field,
            "spec.backup.barmanObjectStore.s3Credentials.accessKeyId"
        );
        assert_eq!(err.name, "s3");
    }

    #[test]
    fn the_fencing_lease_store_credentials_are_mounted_and_required() {
        let mut cluster = stored_cluster(1);
        cluster.spec = serde_json::from_value(serde_json::json!({
            "instances": 1,
            "replica": {"source": "b", "fencingLease": {
                "federation": "f",
                "objectStore": {
                    "destinationPath": "s3://lease/",
                    "s3Credentials": {
                        "accessKeyId": {"name": "lease-s3", "key": "ACCESS_KEY_ID"},
                        "secretAccessKey": {"name": "lease-s3", "key": "ACCESS_SECRET_KEY"}
                    }
                }
            }}
        }))
        .expect("spec");
        assert_eq!(
            object_store_secrets(&cluster, |_| true),
            Ok(vec!["lease-s3".to_string()])
        );
        let err = object_store_secrets(&cluster, |_| false).expect_err("missing");
        assert_eq!(
            err.field,
            "spec.replica.fencingLease.objectStore.s3Credentials.accessKeyId"
        );
    }
}
