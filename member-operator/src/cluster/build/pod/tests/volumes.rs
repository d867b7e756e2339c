//! Pod builder: claims, scratch and projected volumes, certificate mounts.

use super::*;

#[test]
fn storage_mounts_follow_wal_storage_and_tablespaces() {
    let sized = || StorageConfiguration {
        size: Some("1Gi".into()),
        ..StorageConfiguration::default()
    };
    // (name, walStorage, tablespaces, want mount path → claim)
    type Case = (
        &'static str,
        bool,
        Vec<&'static str>,
        Vec<(&'static str, &'static str)>,
    );
    let cases: Vec<Case> = vec![
        (
            "data only",
            false,
            vec![],
            vec![("/var/lib/postgresql/data", "pg-2")],
        ),
        (
            "wal and tablespaces",
            true,
            vec!["hot_data", "archive"],
            vec![
                ("/var/lib/postgresql/data", "pg-2"),
                (
                    "/var/lib/postgresql/tablespaces/archive",
                    "pg-2-tbs-archive",
                ),
                (
                    "/var/lib/postgresql/tablespaces/hot_data",
                    "pg-2-tbs-hot-data",
                ),
                ("/var/lib/postgresql/wal", "pg-2-wal"),
            ],
        ),
    ];
    for (name, wal, tablespaces, want) in cases {
        let mut cluster = stored_cluster(3);
        cluster.spec.storage = Some(sized());
        cluster.spec.wal_storage = wal.then(sized);
        cluster.spec.tablespaces = tablespaces
            .iter()
            .map(|t| TablespaceConfiguration {
                name: (*t).into(),
                storage: sized(),
                owner: None,
                temporary: None,
            })
            .collect();
        let built = pod(&cluster);
        let s = spec(&built);
        let got: Vec<(String, String)> = mounts(&built)
            .into_iter()
            .filter_map(|(path, (volume, _))| {
                let claim = volume_claim(&s, &volume)?;
                Some((path, claim))
            })
            .collect();
        let want: Vec<(String, String)> = want
            .into_iter()
            .map(|(p, c)| (p.to_string(), c.to_string()))
            .collect();
        assert_eq!(got, want, "case {name}");
        // the claims are the ones the PVC builder creates
        let owner = Owner::of(&cluster).expect("owner");
        let mut claims: Vec<String> = crate::cluster::build::pvc::build(&cluster, &owner, "pg-2")
            .expect("claims")
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect();
        claims.sort();
        let mut mounted: Vec<String> = got.into_iter().map(|(_, c)| c).collect();
        mounted.sort();
        assert_eq!(mounted, claims, "case {name}");
    }
}

fn volume_claim(spec: &PodSpec, volume_name: &str) -> Option<String> {
    volume(spec, volume_name)
        .persistent_volume_claim
        .as_ref()
        .map(|c| c.claim_name.clone())
}

#[test]
fn a_tablespace_name_that_makes_no_volume_name_is_refused() {
    let mut cluster = stored_cluster(1);
    cluster.spec.tablespaces = vec![TablespaceConfiguration {
        name: "Hot".into(),
        storage: StorageConfiguration::default(),
        owner: None,
        temporary: None,
    }];
    assert_eq!(
        pod_of(&cluster, InstanceRole::Replica, "img"),
        Err(PodError::TablespaceName {
            index: 0,
            name: "Hot".into()
        })
    );
}

#[test]
fn scratch_shm_config_and_projected_volumes() {
    let mut cluster = stored_cluster(1);
    let built = pod(&cluster);
    let s = spec(&built);
    let m = mounts(&built);
    for (path, sub) in [
        ("/controller", "controller"),
        ("/run", "run"),
        ("/tmp", "tmp"),
    ] {
        assert_eq!(
            m.get(path),
            Some(&(SCRATCH_VOLUME.to_string(), Some(sub.to_string()))),
            "{path}"
        );
    }
    assert!(volume(&s, SCRATCH_VOLUME).empty_dir.is_some());
    assert_eq!(
        volume(&s, "shm")
            .empty_dir
            .as_ref()
            .and_then(|e| e.medium.clone())
            .as_deref(),
        Some("Memory")
    );
    assert_eq!(m.get("/dev/shm").map(|v| v.0.as_str()), Some("shm"));
    assert_eq!(
        volume(&s, "config")
            .config_map
            .as_ref()
            .map(|c| c.name.clone()),
        Some("pg-config".to_string())
    );
    assert_eq!(
        m.get("/controller/config").map(|v| v.0.as_str()),
        Some("config")
    );
    assert!(!m.contains_key("/projected"));

    cluster.spec.projected_volume_template = Some(Default::default());
    cluster.spec.ephemeral_volume_source = Some(Default::default());
    let built = pod(&cluster);
    let s = spec(&built);
    assert!(volume(&s, "projected").projected.is_some());
    assert_eq!(
        mounts(&built).get("/projected").map(|v| v.0.as_str()),
        Some("projected")
    );
    let scratch = volume(&s, SCRATCH_VOLUME);
    assert!(scratch.ephemeral.is_some() && scratch.empty_dir.is_none());
}

#[test]
fn certificates_are_mounted_and_the_ca_key_never_is() {
    let mut cluster = stored_cluster(1);
    cluster.spec.enable_superuser_access = Some(true);
    let owner = Owner::of(&cluster).expect("owner");
    let mut secrets = secrets();
    secrets.app = Some("pg-app".into());
    secrets.superuser = Some("pg-superuser".into());
    let built = build(&PodInput {
        cluster: &cluster,
        owner: &owner,
        serial: 1,
        role: InstanceRole::Primary,
        operand_image: "img",
        operator_image: "op",
        secrets: &secrets,
        config_volume: config_volume(),
    })
    .expect("pod");
    let s = spec(&built);
    // mount path → (secret, keys projected; None = all)
    let mut got: BTreeMap<String, (String, Option<Vec<String>>)> = BTreeMap::new();
    for (path, (volume_name, _)) in mounts(&built) {
        if let Some(secret) = &volume(&s, &volume_name).secret {
            assert_eq!(secret.default_mode, Some(0o640));
            got.insert(
                path,
                (
                    secret.secret_name.clone().unwrap_or_default(),
                    secret
                        .items
                        .as_ref()
                        .map(|i| i.iter().map(|k| k.key.clone()).collect()),
                ),
            );
        }
    }
    let keys = |k: &[&str]| Some(k.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let want = BTreeMap::from([
        (
            "/controller/certificates/client-ca".to_string(),
            ("pg-ca".to_string(), keys(&["ca.crt"])),
        ),
        (
            "/controller/certificates/replication".to_string(),
            ("pg-replication".to_string(), keys(&["tls.crt", "tls.key"])),
        ),
        (
            "/controller/certificates/server".to_string(),
            ("pg-server".to_string(), keys(&["tls.crt", "tls.key"])),
        ),
        (
            "/controller/certificates/server-ca".to_string(),
            ("pg-ca".to_string(), keys(&["ca.crt"])),
        ),
        (
            "/controller/credentials/pg-app".to_string(),
            ("pg-app".to_string(), None),
        ),
        (
            "/controller/credentials/pg-superuser".to_string(),
            ("pg-superuser".to_string(), None),
        ),
    ]);
    assert_eq!(got, want);
    // no volume of the pod mounts a CA Secret whole
    for v in s.volumes.iter().flatten() {
        if let Some(secret) = &v.secret
            && secret.secret_name.as_deref() == Some("pg-ca")
        {
            let items = secret.items.clone().unwrap_or_default();
            assert!(!items.is_empty() && items.iter().all(|k| k.key != CA_KEY_NAME));
        }
    }
}

const CA_KEY_NAME: &str = crate::cluster::build::certs::CA_KEY;

/// The primary pod of a one-instance cluster mounting `secrets`.
fn primary_mounting(secrets: &PodSecrets) -> Pod {
    let cluster = stored_cluster(1);
    let owner = Owner::of(&cluster).expect("stored cluster");
    build(&PodInput {
        cluster: &cluster,
        owner: &owner,
        serial: 1,
        role: InstanceRole::Primary,
        operand_image: "pgfed/postgresql:15",
        operator_image: "pgfed/operator:1",
        secrets,
        config_volume: config_volume(),
    })
    .expect("pod")
}

#[test]
fn one_secret_used_for_both_logins_is_mounted_once() {
    let pod = primary_mounting(&PodSecrets {
        app: Some("shared".into()),
        superuser: Some("shared".into()),
        ..secrets()
    });
    let mounts: Vec<String> = postgres(&pod)
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| m.mount_path.clone())
        .filter(|p| p.starts_with("/controller/credentials/"))
        .collect();
    assert_eq!(mounts, vec!["/controller/credentials/shared".to_string()]);
}

#[test]
fn role_and_external_cluster_secrets_are_mounted_by_name_once_beside_the_logins() {
    let pod = primary_mounting(&PodSecrets {
        app: Some("pg-app".into()),
        superuser: Some("shared".into()),
        roles: vec!["reporting".into(), "shared".into(), "reporting".into()],
        external: vec!["src-replication".into(), "shared".into()],
        ..secrets()
    });
    let mounts: Vec<(String, String)> = postgres(&pod)
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| m.mount_path.starts_with("/controller/credentials/"))
        .map(|m| (m.name.clone(), m.mount_path.clone()))
        .collect();
    assert_eq!(
        mounts,
        vec![
            (
                "cred-0".to_string(),
                "/controller/credentials/pg-app".to_string()
            ),
            (
                "cred-1".to_string(),
                "/controller/credentials/reporting".to_string()
            ),
            (
                "cred-2".to_string(),
                "/controller/credentials/shared".to_string()
            ),
            (
                "cred-3".to_string(),
                "/controller/credentials/src-replication".to_string()
            ),
        ]
    );
    let volumes = pod.spec.expect("spec").volumes.unwrap_or_default();
    let reporting = volumes
        .iter()
        .find(|v| v.name == "cred-1")
        .and_then(|v| v.secret.as_ref())
        .expect("secret volume");
    assert_eq!(reporting.secret_name.as_deref(), Some("reporting"));
    // Every key: the manager reads `password`.
    assert!(reporting.items.is_none());
}

/// `bootstrap.initdb` of a one-instance cluster from YAML.
fn cluster_with_initdb(initdb: &str) -> Cluster {
    let mut cluster = stored_cluster(1);
    cluster.spec.bootstrap = Some(pgfed_api::cluster::BootstrapConfiguration {
        initdb: Some(serde_norway::from_str(initdb).expect("initdb")),
        ..Default::default()
    });
    cluster
}

#[test]
fn post_init_sql_references_are_one_optional_read_only_projected_volume() {
    // (case, initdb, want: (kind, object, key, file) in source order)
    type Case = (
        &'static str,
        &'static str,
        Vec<(&'static str, &'static str, &'static str, &'static str)>,
    );
    let cases: Vec<Case> = vec![
        ("no references", "postInitSQL: ['select 1']", vec![]),
        (
            "every stage, secrets before config maps, list order kept",
            "postInitApplicationSQLRefs:\n  configMapRefs: [{name: m, key: a.sql}, {name: m, key: b.sql}]\n  secretRefs: [{name: s, key: c.sql}]\n\
             postInitTemplateSQLRefs: {configMapRefs: [{name: t, key: ext.sql}]}\n\
             postInitSQLRefs: {secretRefs: [{name: s, key: roles.sql}, {name: s2, key: roles.sql}]}\n",
            vec![
                ("Secret", "s", "roles.sql", "sql/secret-0.sql"),
                ("Secret", "s2", "roles.sql", "sql/secret-1.sql"),
                ("ConfigMap", "t", "ext.sql", "template/configmap-0.sql"),
                ("Secret", "s", "c.sql", "application/secret-0.sql"),
                ("ConfigMap", "m", "a.sql", "application/configmap-0.sql"),
                ("ConfigMap", "m", "b.sql", "application/configmap-1.sql"),
            ],
        ),
    ];
    for (name, initdb, want) in cases {
        let built = pod(&cluster_with_initdb(initdb));
        let s = spec(&built);
        let mounted = mounts(&built).get(POST_INIT_SQL_DIR).cloned();
        let scripts = s
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == "post-init-sql");
        if want.is_empty() {
            assert!(mounted.is_none() && scripts.is_none(), "case {name}");
            continue;
        }
        assert_eq!(
            mounted,
            Some(("post-init-sql".to_string(), None)),
            "case {name}"
        );
        let mount = postgres(&built)
            .volume_mounts
            .unwrap_or_default()
            .into_iter()
            .find(|m| m.mount_path == POST_INIT_SQL_DIR)
            .expect("mount");
        assert_eq!(mount.read_only, Some(true), "case {name}");
        let projected = scripts
            .and_then(|v| v.projected.clone())
            .expect("projected volume");
        assert_eq!(projected.default_mode, Some(0o640), "case {name}");
        let mut got = Vec::new();
        for source in projected.sources.unwrap_or_default() {
            let (kind, object, items, optional) = match (source.secret, source.config_map) {
                (Some(s), None) => ("Secret", s.name, s.items, s.optional),
                (None, Some(c)) => ("ConfigMap", c.name, c.items, c.optional),
                other => panic!("case {name}: unexpected source {other:?}"),
            };
            assert_eq!(
                optional,
                Some(true),
                "case {name}: only the bootstrap reads them"
            );
            let items = items.unwrap_or_default();
            assert_eq!(items.len(), 1, "case {name}: one key per source");
            got.push((
                kind.to_string(),
                object,
                items[0].key.clone(),
                items[0].path.clone(),
            ));
        }
        let want: Vec<(String, String, String, String)> = want
            .into_iter()
            .map(|(k, o, key, f)| (k.into(), o.into(), key.into(), f.into()))
            .collect();
        assert_eq!(got, want, "case {name}");
    }
}

#[test]
fn a_standby_mounts_the_post_init_sql_like_the_primary_so_their_specs_match() {
    let cluster = cluster_with_initdb("postInitSQLRefs: {configMapRefs: [{name: m, key: k}]}");
    let primary = pod_of(&cluster, InstanceRole::Primary, "img").expect("pod");
    let standby = pod_of(&cluster, InstanceRole::Replica, "img").expect("pod");
    assert_eq!(hash(&primary), hash(&standby));
    assert!(mounts(&standby).contains_key(POST_INIT_SQL_DIR));
}
