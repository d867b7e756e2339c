use super::*;
use crate::cluster::build::meta::tests::stored_cluster;
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, PodAffinityTerm, PodSecurityContext, ResourceRequirements,
    SeccompProfile, SecurityContext, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use pgfed_api::cluster::{
    AffinityConfiguration, LivenessProbe, PodAffinityTerms, PodAntiAffinityType, ProbeTimings,
    ProbeWithStrategy, ProbesConfiguration, StorageConfiguration, TablespaceConfiguration,
};

fn secrets() -> PodSecrets {
    PodSecrets {
        server_tls: "pg-server".into(),
        server_ca: "pg-ca".into(),
        replication_tls: "pg-replication".into(),
        client_ca: "pg-ca".into(),
        app: None,
        superuser: None,
    }
}

fn config_volume() -> Volume {
    Volume {
        name: "ignored".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: "pg-config".into(),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// Builds the pod of serial 2 of `cluster` as `role` with `image`.
fn pod_of(cluster: &Cluster, role: InstanceRole, image: &str) -> Result<Pod, PodError> {
    let owner = Owner::of(cluster).expect("stored cluster");
    let secrets = secrets();
    build(&PodInput {
        cluster,
        owner: &owner,
        serial: 2,
        role,
        operand_image: image,
        operator_image: "pgfed/operator:1",
        secrets: &secrets,
        config_volume: config_volume(),
    })
}

fn pod(cluster: &Cluster) -> Pod {
    pod_of(cluster, InstanceRole::Replica, "pgfed/postgresql:15").expect("pod")
}

fn spec(pod: &Pod) -> PodSpec {
    pod.spec.clone().expect("spec")
}

fn postgres(pod: &Pod) -> Container {
    spec(pod)
        .containers
        .into_iter()
        .find(|c| c.name == POSTGRES_CONTAINER)
        .expect("postgres container")
}

fn mounts(pod: &Pod) -> BTreeMap<String, (String, Option<String>)> {
    postgres(pod)
        .volume_mounts
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.mount_path, (m.name, m.sub_path)))
        .collect()
}

fn volume<'a>(spec: &'a PodSpec, name: &str) -> &'a Volume {
    spec.volumes
        .iter()
        .flatten()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("volume {name}"))
}

fn hash(pod: &Pod) -> String {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_POD_SPEC_HASH).cloned())
        .expect("hash annotation")
}

#[test]
fn identity_labels_and_containers() {
    let pod = pod_of(&stored_cluster(3), InstanceRole::Primary, "img:15").expect("pod");
    assert_eq!(pod.metadata.name.as_deref(), Some("pg-2"));
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels[LABEL_INSTANCE_NAME], "pg-2");
    assert_eq!(labels[LABEL_INSTANCE_ROLE], "primary");
    assert_eq!(labels[LABEL_POD_ROLE], "instance");
    assert_eq!(labels[pgfed_api::names::LABEL_CLUSTER], "pg");
    let spec = spec(&pod);
    assert_eq!(spec.hostname.as_deref(), Some("pg-2"));
    assert_eq!(spec.service_account_name.as_deref(), Some("pg"));
    assert_eq!(spec.termination_grace_period_seconds, Some(1800));
    let init = &spec.init_containers.clone().unwrap_or_default()[0];
    assert_eq!(init.name, "bootstrap-controller");
    assert_eq!(init.image.as_deref(), Some("pgfed/operator:1"));
    assert_eq!(
        init.command.clone().unwrap_or_default(),
        ["/usr/local/bin/manager", "bootstrap", "/controller/manager"]
    );
    let c = postgres(&pod);
    assert_eq!(c.image.as_deref(), Some("img:15"));
    assert_eq!(
        c.command.clone().unwrap_or_default(),
        ["/controller/manager", "instance", "run"]
    );
    let ports: Vec<(String, i32)> = c
        .ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.name.unwrap_or_default(), p.container_port))
        .collect();
    let p = |n: &str, v: i32| (n.to_string(), v);
    assert_eq!(
        ports,
        [
            p("postgresql", 5432),
            p("probe", 8000),
            p("status", 8001),
            p("metrics", 9187)
        ]
    );
    // the init container shares /controller with postgres
    let init_mount = &init.volume_mounts.clone().unwrap_or_default()[0];
    assert_eq!(
        mounts(&pod).get("/controller"),
        Some(&(init_mount.name.clone(), init_mount.sub_path.clone()))
    );
}

#[test]
fn security_defaults_and_overrides() {
    struct Case {
        name: &'static str,
        uid: Option<i64>,
        pod: Option<PodSecurityContext>,
        container: Option<SecurityContext>,
        seccomp: Option<&'static str>,
        // expected: run_as_user, fs_group, seccomp type, read-only root, privilege escalation
        want: (i64, i64, &'static str, bool, bool),
    }
    let cases = [
        Case {
            name: "defaults",
            uid: None,
            pod: None,
            container: None,
            seccomp: None,
            want: (26, 26, "RuntimeDefault", true, false),
        },
        Case {
            name: "postgresUID and seccompProfile",
            uid: Some(1001),
            pod: None,
            container: None,
            seccomp: Some("Unconfined"),
            want: (1001, 26, "Unconfined", true, false),
        },
        Case {
            name: "user contexts win field by field",
            uid: None,
            pod: Some(PodSecurityContext {
                run_as_user: Some(5000),
                supplemental_groups: Some(vec![7]),
                ..PodSecurityContext::default()
            }),
            container: Some(SecurityContext {
                read_only_root_filesystem: Some(false),
                ..SecurityContext::default()
            }),
            seccomp: None,
            want: (5000, 26, "RuntimeDefault", false, false),
        },
    ];
    for case in cases {
        let mut cluster = stored_cluster(1);
        cluster.spec.postgres_uid = case.uid;
        cluster.spec.pod_security_context = case.pod;
        cluster.spec.security_context = case.container;
        cluster.spec.seccomp_profile = case.seccomp.map(|t| SeccompProfile {
            type_: t.into(),
            localhost_profile: None,
        });
        let built = pod(&cluster);
        let pod_ctx = spec(&built).security_context.expect("pod context");
        let c = postgres(&built)
            .security_context
            .expect("container context");
        let got = (
            pod_ctx.run_as_user.unwrap_or_default(),
            pod_ctx.fs_group.unwrap_or_default(),
            c.seccomp_profile.map(|s| s.type_).unwrap_or_default(),
            c.read_only_root_filesystem.unwrap_or_default(),
            c.allow_privilege_escalation.unwrap_or(true),
        );
        let w = case.want;
        assert_eq!(
            got,
            (w.0, w.1, w.2.to_string(), w.3, w.4),
            "case {}",
            case.name
        );
        assert_eq!(pod_ctx.run_as_non_root, Some(true), "case {}", case.name);
        assert_eq!(
            c.capabilities.and_then(|c| c.drop),
            Some(vec!["ALL".to_string()]),
            "case {}",
            case.name
        );
        let init = &spec(&built).init_containers.unwrap_or_default()[0];
        assert_eq!(
            init.security_context,
            postgres(&built).security_context,
            "case {}",
            case.name
        );
    }
}

#[test]
fn anti_affinity_preferred_required_disabled() {
    let term = |key: &str| PodAffinityTerm {
        topology_key: key.into(),
        ..PodAffinityTerm::default()
    };
    // (name, config, want required topology keys, want preferred topology keys)
    type Case = (
        &'static str,
        Option<AffinityConfiguration>,
        Vec<&'static str>,
        Vec<&'static str>,
    );
    let cases: [Case; 4] = [
        ("default", None, vec![], vec!["kubernetes.io/hostname"]),
        (
            "required with topologyKey",
            Some(AffinityConfiguration {
                pod_anti_affinity_type: Some(PodAntiAffinityType::Required),
                topology_key: Some("topology.kubernetes.io/zone".into()),
                ..AffinityConfiguration::default()
            }),
            vec!["topology.kubernetes.io/zone"],
            vec![],
        ),
        (
            "disabled",
            Some(AffinityConfiguration {
                enable_pod_anti_affinity: Some(false),
                ..AffinityConfiguration::default()
            }),
            vec![],
            vec![],
        ),
        (
            "additional terms appended",
            Some(AffinityConfiguration {
                additional_pod_anti_affinity: Some(PodAffinityTerms {
                    required: vec![term("rack")],
                    preferred: vec![WeightedPodAffinityTerm {
                        weight: 1,
                        pod_affinity_term: term("room"),
                    }],
                }),
                ..AffinityConfiguration::default()
            }),
            vec!["rack"],
            vec!["kubernetes.io/hostname", "room"],
        ),
    ];
    for (name, config, required, preferred) in cases {
        let mut cluster = stored_cluster(3);
        cluster.spec.affinity = config;
        let anti = spec(&pod(&cluster))
            .affinity
            .and_then(|a| a.pod_anti_affinity)
            .unwrap_or_default();
        let got_required: Vec<String> = anti
            .required_during_scheduling_ignored_during_execution
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.topology_key)
            .collect();
        let got_preferred: Vec<String> = anti
            .preferred_during_scheduling_ignored_during_execution
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.pod_affinity_term.topology_key)
            .collect();
        assert_eq!(got_required, required, "case {name}");
        assert_eq!(got_preferred, preferred, "case {name}");
    }
}

#[test]
fn generated_anti_affinity_selects_this_clusters_instances() {
    let anti = spec(&pod(&stored_cluster(2)))
        .affinity
        .and_then(|a| a.pod_anti_affinity)
        .and_then(|a| a.preferred_during_scheduling_ignored_during_execution)
        .expect("preferred term");
    assert_eq!(anti[0].weight, 100);
    let selector: Vec<(String, Vec<String>)> = anti[0]
        .pod_affinity_term
        .label_selector
        .clone()
        .and_then(|s| s.match_expressions)
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.key, e.values.unwrap_or_default()))
        .collect();
    assert_eq!(
        selector,
        [
            ("pgfed.io/cluster".to_string(), vec!["pg".to_string()]),
            ("pgfed.io/podRole".to_string(), vec!["instance".to_string()]),
        ]
    );
}

#[test]
fn scheduling_fields_pass_through() {
    let mut cluster = stored_cluster(1);
    cluster.spec.affinity = Some(AffinityConfiguration {
        node_selector: BTreeMap::from([("disk".to_string(), "ssd".to_string())]),
        tolerations: vec![k8s_openapi::api::core::v1::Toleration {
            key: Some("dedicated".into()),
            ..Default::default()
        }],
        ..AffinityConfiguration::default()
    });
    cluster.spec.priority_class_name = Some("db".into());
    cluster.spec.scheduler_name = Some("custom".into());
    cluster.spec.image_pull_policy = Some("Always".into());
    cluster.spec.image_pull_secrets = vec![pgfed_api::common::LocalObjectReference {
        name: "regcred".into(),
    }];
    cluster.spec.stop_delay = Some(60);
    let built = pod(&cluster);
    let s = spec(&built);
    assert_eq!(s.node_selector.unwrap_or_default()["disk"], "ssd");
    assert_eq!(s.tolerations.unwrap_or_default().len(), 1);
    assert_eq!(s.priority_class_name.as_deref(), Some("db"));
    assert_eq!(s.scheduler_name.as_deref(), Some("custom"));
    assert_eq!(s.termination_grace_period_seconds, Some(60));
    assert_eq!(
        s.image_pull_secrets.unwrap_or_default()[0].name,
        "regcred".to_string()
    );
    assert_eq!(
        postgres(&built).image_pull_policy.as_deref(),
        Some("Always")
    );
}

#[test]
fn probes_defaults_overrides_and_delays() {
    type Want = (i32, i32, Option<i32>); // period, timeout, failure threshold
    struct Case {
        name: &'static str,
        probes: Option<ProbesConfiguration>,
        start_delay: Option<i32>,
        liveness_timeout: Option<i32>,
        want: [Want; 3], // startup, readiness, liveness
    }
    let timings = |period, failure| ProbeTimings {
        period_seconds: Some(period),
        failure_threshold: failure,
        ..ProbeTimings::default()
    };
    let cases = [
        Case {
            name: "defaults: startDelay 3600 / 10",
            probes: None,
            start_delay: None,
            liveness_timeout: None,
            want: [(10, 5, Some(360)), (10, 5, None), (10, 5, None)],
        },
        Case {
            name: "startDelay rounds up, livenessProbeTimeout",
            probes: None,
            start_delay: Some(95),
            liveness_timeout: Some(30),
            want: [(10, 5, Some(10)), (10, 5, None), (10, 5, Some(3))],
        },
        Case {
            name: "spec.probes override, explicit thresholds win",
            probes: Some(ProbesConfiguration {
                startup: Some(ProbeWithStrategy {
                    timings: timings(20, None),
                    ..ProbeWithStrategy::default()
                }),
                readiness: Some(ProbeWithStrategy {
                    timings: timings(3, Some(2)),
                    ..ProbeWithStrategy::default()
                }),
                liveness: Some(LivenessProbe {
                    timings: timings(7, Some(9)),
                    isolation_check: None,
                }),
            }),
            start_delay: Some(100),
            liveness_timeout: Some(30),
            want: [(20, 5, Some(5)), (3, 5, Some(2)), (7, 5, Some(9))],
        },
        Case {
            name: "a delay shorter than the period still allows one failure",
            probes: None,
            start_delay: Some(1),
            liveness_timeout: None,
            want: [(10, 5, Some(1)), (10, 5, None), (10, 5, None)],
        },
    ];
    for case in cases {
        let mut cluster = stored_cluster(1);
        cluster.spec.probes = case.probes;
        cluster.spec.start_delay = case.start_delay;
        cluster.spec.liveness_probe_timeout = case.liveness_timeout;
        let c = postgres(&pod(&cluster));
        let got: Vec<(Want, String)> = [c.startup_probe, c.readiness_probe, c.liveness_probe]
            .into_iter()
            .map(|p| {
                let p = p.expect("probe");
                let get = p.http_get.expect("http get");
                assert_eq!(get.port, IntOrString::Int(8000), "case {}", case.name);
                (
                    (
                        p.period_seconds.unwrap_or_default(),
                        p.timeout_seconds.unwrap_or_default(),
                        p.failure_threshold,
                    ),
                    get.path.unwrap_or_default(),
                )
            })
            .collect();
        let want: Vec<(Want, String)> = case
            .want
            .into_iter()
            .zip(["/startupz", "/readyz", "/healthz"])
            .map(|(w, path)| (w, path.to_string()))
            .collect();
        assert_eq!(got, want, "case {}", case.name);
    }
}

#[test]
fn a_zero_probe_period_is_refused_by_field() {
    let mut cluster = stored_cluster(1);
    cluster.spec.probes = Some(ProbesConfiguration {
        liveness: Some(LivenessProbe {
            timings: ProbeTimings {
                period_seconds: Some(0),
                ..ProbeTimings::default()
            },
            isolation_check: None,
        }),
        ..ProbesConfiguration::default()
    });
    assert_eq!(
        pod_of(&cluster, InstanceRole::Replica, "img"),
        Err(PodError::ProbePeriod {
            field: "spec.probes.liveness.periodSeconds".into(),
            value: 0
        })
    );
}

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
            "/controller/credentials/app".to_string(),
            ("pg-app".to_string(), None),
        ),
        (
            "/controller/credentials/superuser".to_string(),
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

#[test]
fn env_resources_and_reserved_names() {
    let mut cluster = stored_cluster(1);
    cluster.spec.env = vec![EnvVar {
        name: "TZ".into(),
        value: Some("UTC".into()),
        value_from: None,
    }];
    cluster.spec.resources = Some(ResourceRequirements {
        limits: Some(BTreeMap::from([(
            "memory".to_string(),
            Quantity("1Gi".into()),
        )])),
        ..ResourceRequirements::default()
    });
    let built = pod(&cluster);
    let c = postgres(&built);
    let env: Vec<(String, Option<String>, Option<String>)> = c
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            (
                e.name,
                e.value,
                e.value_from.and_then(|f| f.field_ref).map(|f| f.field_path),
            )
        })
        .collect();
    let v = |n: &str, val: Option<&str>, f: Option<&str>| {
        (n.to_string(), val.map(String::from), f.map(String::from))
    };
    assert_eq!(
        env,
        [
            v("PGDATA", Some("/var/lib/postgresql/data/pgdata"), None),
            v("POD_NAME", None, Some("metadata.name")),
            v("NAMESPACE", None, Some("metadata.namespace")),
            v("PGFED_CONFIG", Some("/controller/config/config.json"), None),
            v("TZ", Some("UTC"), None),
        ]
    );
    assert_eq!(c.resources, cluster.spec.resources);
    assert_eq!(
        spec(&built).init_containers.unwrap_or_default()[0].resources,
        cluster.spec.resources
    );

    cluster.spec.env.push(EnvVar {
        name: "PGDATA".into(),
        value: Some("/elsewhere".into()),
        value_from: None,
    });
    assert_eq!(
        pod_of(&cluster, InstanceRole::Replica, "img"),
        Err(PodError::ReservedEnv {
            index: 1,
            name: "PGDATA".into()
        })
    );
}

#[test]
fn inherited_metadata_reaches_the_pod() {
    let mut cluster = stored_cluster(1);
    cluster.spec.inherited_metadata = Some(pgfed_api::common::EmbeddedObjectMetadata {
        labels: BTreeMap::from([("team".to_string(), "shop".to_string())]),
        annotations: BTreeMap::from([("note".to_string(), "x".to_string())]),
    });
    let built = pod(&cluster);
    assert_eq!(built.metadata.labels.unwrap_or_default()["team"], "shop");
    let annotations = built.metadata.annotations.unwrap_or_default();
    assert_eq!(annotations["note"], "x");
    assert!(annotations.contains_key(ANNOTATION_POD_SPEC_HASH));
}

#[test]
fn spec_hash_is_stable_follows_the_image_and_ignores_the_role() {
    let cluster = stored_cluster(3);
    let first = pod_of(&cluster, InstanceRole::Replica, "img:15.1").expect("pod");
    let again = pod_of(&cluster, InstanceRole::Replica, "img:15.1").expect("pod");
    let promoted = pod_of(&cluster, InstanceRole::Primary, "img:15.1").expect("pod");
    let upgraded = pod_of(&cluster, InstanceRole::Replica, "img:15.2").expect("pod");
    assert_eq!(hash(&first).len(), 16);
    assert_eq!(hash(&first), hash(&again));
    assert_eq!(hash(&first), pod_spec_hash(&first));
    assert_eq!(hash(&first), hash(&promoted));
    assert_ne!(hash(&first), hash(&upgraded));
    let mut tuned = cluster.clone();
    tuned.spec.stop_delay = Some(10);
    assert_ne!(
        hash(&first),
        hash(&pod_of(&tuned, InstanceRole::Replica, "img:15.1").expect("pod"))
    );
}

#[test]
fn serial_zero_is_refused() {
    let cluster = stored_cluster(1);
    let owner = Owner::of(&cluster).expect("owner");
    let secrets = secrets();
    let input = PodInput {
        cluster: &cluster,
        owner: &owner,
        serial: 0,
        role: InstanceRole::Primary,
        operand_image: "img",
        operator_image: "op",
        secrets: &secrets,
        config_volume: config_volume(),
    };
    assert_eq!(build(&input), Err(PodError::NoSerial));
}
