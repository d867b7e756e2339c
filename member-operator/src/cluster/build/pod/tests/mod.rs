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

pub(super) fn secrets() -> PodSecrets {
    PodSecrets {
        server_tls: "pg-server".into(),
        server_ca: "pg-ca".into(),
        replication_tls: "pg-replication".into(),
        client_ca: "pg-ca".into(),
        app: None,
        superuser: None,
        roles: Vec::new(),
        external: Vec::new(),
    }
}

pub(super) fn config_volume() -> Volume {
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
pub(super) fn pod_of(cluster: &Cluster, role: InstanceRole, image: &str) -> Result<Pod, PodError> {
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

pub(super) fn pod(cluster: &Cluster) -> Pod {
    pod_of(cluster, InstanceRole::Replica, "pgfed/postgresql:15").expect("pod")
}

pub(super) fn spec(pod: &Pod) -> PodSpec {
    pod.spec.clone().expect("spec")
}

pub(super) fn postgres(pod: &Pod) -> Container {
    spec(pod)
        .containers
        .into_iter()
        .find(|c| c.name == POSTGRES_CONTAINER)
        .expect("postgres container")
}

pub(super) fn mounts(pod: &Pod) -> BTreeMap<String, (String, Option<String>)> {
    postgres(pod)
        .volume_mounts
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.mount_path, (m.name, m.sub_path)))
        .collect()
}

pub(super) fn volume<'a>(spec: &'a PodSpec, name: &str) -> &'a Volume {
    spec.volumes
        .iter()
        .flatten()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("volume {name}"))
}

pub(super) fn hash(pod: &Pod) -> String {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_POD_SPEC_HASH).cloned())
        .expect("hash annotation")
}

mod probes;
mod scheduling;
mod volumes;

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
fn spec_hash_ignores_the_operator_image_which_only_carries_the_manager() {
    let cluster = stored_cluster(3);
    let owner = Owner::of(&cluster).expect("owner");
    let secrets = secrets();
    let with_operator = |operator_image| {
        build(&PodInput {
            cluster: &cluster,
            owner: &owner,
            serial: 2,
            role: InstanceRole::Replica,
            operand_image: "img",
            operator_image,
            secrets: &secrets,
            config_volume: config_volume(),
        })
        .expect("pod")
    };
    let (old, new) = (
        with_operator("pgfed/pgfed:1"),
        with_operator("pgfed/pgfed:2"),
    );
    assert_eq!(pod_spec_hash(&old), pod_spec_hash(&new));
    assert_eq!(bootstrap_image(&old), Some("pgfed/pgfed:1"));
    assert_eq!(bootstrap_image(&new), Some("pgfed/pgfed:2"));
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
