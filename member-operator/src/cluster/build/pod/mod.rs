//! The Pod of one PostgreSQL instance, created directly (no StatefulSet) so that the operator
//! decides which serial runs where and on which claims.
//!
//! An init container `bootstrap-controller` runs the operator image and copies the instance
//! manager into the shared `/controller` directory; the `postgres` container runs that copy
//! (`/controller/manager instance run`) in the operand image, so any image with PostgreSQL's
//! binaries works and a new operator version brings its own manager. The manager reads its
//! configuration from `PGFED_CONFIG`; the volume that provides it is the caller's choice
//! ([`PodInput::config_volume`]) so the reconciler decides how configuration reaches the pod.
//!
//! Decisions this builder makes, and why:
//! - One scratch volume (`scratch-data`, an emptyDir, or `spec.ephemeralVolumeSource` when set,
//!   as in CloudNativePG) holds everything a read-only root filesystem needs writable:
//!   `/controller`, `/run` (PostgreSQL's socket directory) and `/tmp`, each a sub-path of it.
//! - Certificates are mounted under `/controller/certificates/<role>/` with mode 0640 (root
//!   owns Secret files; `fsGroup` makes them readable by postgres, and PostgreSQL accepts a
//!   root-owned key readable by its group). From a CA Secret only `ca.crt` is projected: the
//!   CA key never enters an instance pod.
//! - Credentials Secrets (app, superuser), when the caller names them, are mounted under
//!   `/controller/credentials/<secret name>/` (the layout the manager reads selectors from),
//!   never put in the environment.
//! - The operator's environment variables (`PGDATA`, `POD_NAME`, `NAMESPACE`, `PGFED_CONFIG`)
//!   cannot be overridden by `spec.env`: a clash is an error naming the entry, not a silent drop.
//! - The init container gets the postgres container's resources, so a namespace with a
//!   LimitRange or quota admits it, and no pull policy: the operator image is the operator's,
//!   `spec.imagePullPolicy` is about the operand.
//! - The pod runs as ServiceAccount `<cluster>` (the spec has no `serviceAccountName` field;
//!   the ServiceAccount builder names it after the Cluster).
//! - [`pod_spec_hash`] hashes the built `spec` only, so labels the operator changes in place
//!   (the instance role) never trigger a rollout; the rollout compares the hash annotation of
//!   the desired pod with the running pod's, never the running spec, which the API server
//!   defaults.

mod affinity;
mod probes;
mod security;
#[cfg(test)]
mod tests;
mod volumes;

pub use affinity::{DEFAULT_TOPOLOGY_KEY, affinity};
pub use probes::{DEFAULT_PERIOD, DEFAULT_START_DELAY, DEFAULT_TIMEOUT, Probes, probes};
pub use security::{DEFAULT_POSTGRES_ID, container_security_context, pod_security_context};
pub use volumes::{SCRATCH_VOLUME, post_init_sql_file};

use volumes::volumes;

use super::meta::{Owner, content_hash};
use super::service::POD_ROLE_INSTANCE;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EnvVarSource, LocalObjectReference, ObjectFieldSelector, Pod,
    PodSpec, Volume, VolumeMount,
};
use pgfed_api::cluster::Cluster;
use pgfed_api::names::{
    LABEL_INSTANCE_NAME, LABEL_INSTANCE_ROLE, LABEL_POD_ROLE, MANAGER_PROBE_PORT,
    MANAGER_STATUS_PORT, METRICS_PORT, POSTGRES_PORT, ROLE_PRIMARY, ROLE_REPLICA, instance_name,
};
use std::collections::BTreeMap;

/// Annotation: hash of the pod spec the operator built (see [`pod_spec_hash`]).
pub const ANNOTATION_POD_SPEC_HASH: &str = "pgfed.io/podSpecHash";
/// Name of the init container that installs the manager.
pub const BOOTSTRAP_CONTAINER: &str = "bootstrap-controller";
/// Name of the PostgreSQL container.
pub const POSTGRES_CONTAINER: &str = "postgres";
/// Where the manager binary is installed and the shared files live.
pub const CONTROLLER_DIR: &str = "/controller";
/// The manager's configuration file, read through `PGFED_CONFIG`.
pub const CONFIG_FILE: &str = "/controller/config/config.json";
/// Mount point of the data volume.
pub const DATA_MOUNT: &str = "/var/lib/postgresql/data";
/// PGDATA: a directory inside the volume, so `lost+found` at the volume's root is not in it.
pub const PGDATA: &str = "/var/lib/postgresql/data/pgdata";
/// Mount point of the WAL volume.
pub const WAL_MOUNT: &str = "/var/lib/postgresql/wal";
/// Parent of the tablespace mount points.
pub const TABLESPACES_DIR: &str = "/var/lib/postgresql/tablespaces";
/// Mount point of `spec.projectedVolumeTemplate`.
pub const PROJECTED_MOUNT: &str = "/projected";
/// Parent of the certificate mounts.
pub const CERTIFICATES_DIR: &str = "/controller/certificates";
/// Parent of the credentials mounts.
pub const CREDENTIALS_DIR: &str = "/controller/credentials";
/// Where the post-init SQL scripts `bootstrap.initdb` references are mounted.
pub const POST_INIT_SQL_DIR: &str = "/controller/post-init-sql";
/// Environment variables the operator sets and `spec.env` may not.
pub const RESERVED_ENV: [&str; 4] = ["PGDATA", "POD_NAME", "NAMESPACE", "PGFED_CONFIG"];
/// Default of `spec.stopDelay`: seconds a pod may take to stop.
pub const DEFAULT_STOP_DELAY: i64 = 1800;

/// Whether the instance is the primary or a standby.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceRole {
    /// The primary (selected by `-rw`).
    Primary,
    /// A standby (selected by `-ro`).
    Replica,
}

impl InstanceRole {
    /// The value of `pgfed.io/instanceRole`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Primary => ROLE_PRIMARY,
            Self::Replica => ROLE_REPLICA,
        }
    }
}

/// Names of the Secrets an instance mounts, resolved by the caller (generated or the user's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSecrets {
    /// `kubernetes.io/tls` Secret with the server certificate.
    pub server_tls: String,
    /// Secret of the CA that signed the server certificate; only `ca.crt` is mounted.
    pub server_ca: String,
    /// `kubernetes.io/tls` Secret with the `streaming_replica` client certificate.
    pub replication_tls: String,
    /// Secret of the CA client certificates are checked against; only `ca.crt` is mounted.
    pub client_ca: String,
    /// Application owner credentials, when the instance needs them (bootstrap).
    pub app: Option<String>,
    /// Superuser credentials, when the instance needs them (`enableSuperuserAccess`).
    pub superuser: Option<String>,
    /// The `passwordSecret`s of `spec.managed.roles`, whose `password` the primary sets.
    pub roles: Vec<String>,
    /// The Secrets of `spec.externalClusters`' TLS files.
    pub external: Vec<String>,
}

/// Everything the Pod of one instance is built from.
#[derive(Clone, Debug)]
pub struct PodInput<'a> {
    /// The Cluster.
    pub cluster: &'a Cluster,
    /// Its identity, checked once.
    pub owner: &'a Owner,
    /// The instance serial; the pod is `<cluster>-<serial>`.
    pub serial: u32,
    /// Its role now.
    pub role: InstanceRole,
    /// The PostgreSQL image: `imageName`, or the catalog entry the caller resolved.
    pub operand_image: &'a str,
    /// The operator's image, which carries the manager binary.
    pub operator_image: &'a str,
    /// Secrets to mount.
    pub secrets: &'a PodSecrets,
    /// Source of the volume mounted at `/controller/config` (it must provide `config.json`).
    pub config_volume: Volume,
}

/// Why the Pod cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PodError {
    /// Serials start at 1.
    #[error("instance serial 0 is not valid (serials start at 1)")]
    NoSerial,
    /// A probe period must be positive.
    #[error("{field} must be positive, got {value}")]
    ProbePeriod {
        /// The field.
        field: String,
        /// Its value.
        value: i32,
    },
    /// `spec.env` sets a variable the operator sets.
    #[error("spec.env[{index}].name: {name} is set by the operator and cannot be overridden")]
    ReservedEnv {
        /// Index in `spec.env`.
        index: usize,
        /// The variable.
        name: String,
    },
    /// A tablespace name does not give a valid volume name.
    #[error(
        "spec.tablespaces[{index}].name: {name:?} does not make a valid volume name (lowercase letters, digits and _ , at most 59 characters)"
    )]
    TablespaceName {
        /// Index in `spec.tablespaces`.
        index: usize,
        /// The name.
        name: String,
    },
}

/// A stable hash of what the builder sets in `pod.spec` (see [`content_hash`]). Only equality
/// matters: a rollout compares the annotation of the desired pod with the running pod's.
///
/// The image of the bootstrap container is left out: it only carries the manager, which a new
/// operator rolls out to running instances in place (`decide::upgrade`), so a new operator
/// version alone restarts no PostgreSQL. A pod whose manager cannot be upgraded in place is
/// replaced on that account by the reconcile ([`bootstrap_image`] tells it apart).
pub fn pod_spec_hash(pod: &Pod) -> String {
    let mut spec = pod.spec.clone();
    if let Some(bootstrap) = spec
        .as_mut()
        .and_then(|s| s.init_containers.as_mut())
        .and_then(|c| c.iter_mut().find(|c| c.name == BOOTSTRAP_CONTAINER))
    {
        bootstrap.image = None;
    }
    content_hash(&spec)
}

/// The image the pod's bootstrap container copied the manager from.
pub fn bootstrap_image(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()?
        .init_containers
        .as_ref()?
        .iter()
        .find(|c| c.name == BOOTSTRAP_CONTAINER)?
        .image
        .as_deref()
}

/// The Pod of instance `input.serial`, with its spec hash annotation.
pub fn build(input: &PodInput) -> Result<Pod, PodError> {
    if input.serial == 0 {
        return Err(PodError::NoSerial);
    }
    let cluster = input.cluster;
    let spec = &cluster.spec;
    let name = instance_name(&input.owner.name, input.serial);
    let (volumes, mounts) = volumes(input, &name)?;
    let container_security = container_security_context(cluster);
    let controller_mount = VolumeMount {
        name: SCRATCH_VOLUME.into(),
        mount_path: CONTROLLER_DIR.into(),
        sub_path: Some("controller".into()),
        ..VolumeMount::default()
    };
    let bootstrap = Container {
        name: BOOTSTRAP_CONTAINER.into(),
        image: Some(input.operator_image.into()),
        command: Some(vec![
            "/usr/local/bin/manager".into(),
            "bootstrap".into(),
            format!("{CONTROLLER_DIR}/manager"),
        ]),
        resources: spec.resources.clone(),
        security_context: Some(container_security.clone()),
        volume_mounts: Some(vec![controller_mount]),
        ..Container::default()
    };
    let probes = probes(cluster, MANAGER_PROBE_PORT)?;
    let postgres = Container {
        name: POSTGRES_CONTAINER.into(),
        image: Some(input.operand_image.into()),
        image_pull_policy: spec.image_pull_policy.clone(),
        command: Some(vec![
            format!("{CONTROLLER_DIR}/manager"),
            "instance".into(),
            "run".into(),
        ]),
        env: Some(env(cluster)?),
        env_from: (!spec.env_from.is_empty()).then(|| spec.env_from.clone()),
        ports: Some(vec![
            port("postgresql", POSTGRES_PORT),
            port("probe", MANAGER_PROBE_PORT),
            port("status", MANAGER_STATUS_PORT),
            port("metrics", METRICS_PORT),
        ]),
        startup_probe: Some(probes.startup),
        readiness_probe: Some(probes.readiness),
        liveness_probe: Some(probes.liveness),
        resources: spec.resources.clone(),
        security_context: Some(container_security),
        volume_mounts: Some(mounts),
        ..Container::default()
    };
    let scheduling = spec.affinity.clone().unwrap_or_default();
    let pod_spec = PodSpec {
        hostname: Some(name.clone()),
        init_containers: Some(vec![bootstrap]),
        containers: vec![postgres],
        volumes: Some(volumes),
        security_context: Some(pod_security_context(cluster)),
        affinity: affinity(&input.owner.name, &scheduling),
        node_selector: (!scheduling.node_selector.is_empty())
            .then(|| scheduling.node_selector.clone()),
        tolerations: (!scheduling.tolerations.is_empty()).then(|| scheduling.tolerations.clone()),
        topology_spread_constraints: (!spec.topology_spread_constraints.is_empty())
            .then(|| spec.topology_spread_constraints.clone()),
        priority_class_name: spec.priority_class_name.clone(),
        scheduler_name: spec.scheduler_name.clone(),
        image_pull_secrets: (!spec.image_pull_secrets.is_empty()).then(|| {
            spec.image_pull_secrets
                .iter()
                .map(|s| LocalObjectReference {
                    name: s.name.clone(),
                })
                .collect()
        }),
        service_account_name: Some(input.owner.name.clone()),
        // The manager reads and renews the primary Lease with this account's token.
        automount_service_account_token: Some(true),
        termination_grace_period_seconds: Some(
            spec.stop_delay.map_or(DEFAULT_STOP_DELAY, i64::from),
        ),
        ..PodSpec::default()
    };
    let labels = BTreeMap::from([
        (LABEL_INSTANCE_NAME.to_string(), name.clone()),
        (
            LABEL_INSTANCE_ROLE.to_string(),
            input.role.label().to_string(),
        ),
        (LABEL_POD_ROLE.to_string(), POD_ROLE_INSTANCE.to_string()),
    ]);
    let mut pod = Pod {
        metadata: input.owner.child_meta(&name, labels),
        spec: Some(pod_spec),
        status: None,
    };
    let hash = pod_spec_hash(&pod);
    pod.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(ANNOTATION_POD_SPEC_HASH.into(), hash);
    Ok(pod)
}

fn port(name: &str, number: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: i32::from(number),
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    }
}

fn field_ref(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                api_version: None,
            }),
            ..EnvVarSource::default()
        }),
        value: None,
    }
}

fn plain(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// The operator's variables, then the user's.
fn env(cluster: &Cluster) -> Result<Vec<EnvVar>, PodError> {
    let mut env = vec![
        plain("PGDATA", PGDATA),
        field_ref("POD_NAME", "metadata.name"),
        field_ref("NAMESPACE", "metadata.namespace"),
        plain("PGFED_CONFIG", CONFIG_FILE),
    ];
    for (index, var) in cluster.spec.env.iter().enumerate() {
        if RESERVED_ENV.contains(&var.name.as_str()) {
            return Err(PodError::ReservedEnv {
                index,
                name: var.name.clone(),
            });
        }
        env.push(var.clone());
    }
    Ok(env)
}
