//! The volumes of an instance pod and where the postgres container mounts them: the instance's
//! claims (data, WAL, tablespaces), the scratch volume behind `/controller`, `/run` and `/tmp`,
//! `/dev/shm` in memory, the manager's configuration, `spec.projectedVolumeTemplate`, the
//! certificate and credentials Secrets (only `ca.crt` of a CA Secret), and the post-init SQL
//! scripts `bootstrap.initdb` references.
//!
//! The post-init scripts (`postInitSQLRefs`, `postInitTemplateSQLRefs`,
//! `postInitApplicationSQLRefs`) are one read-only projected volume at
//! `/controller/post-init-sql`, one file per reference at `<stage>/<secret|configmap>-<index>.sql`
//! (the manager's configuration lists the files in the order they run). Every instance mounts it,
//! so every pod of a cluster has one spec whichever bootstraps; its sources are optional, because
//! only the bootstrap reads them: the reconcile checks they exist before it creates the first
//! instance, and a Secret or ConfigMap removed once the cluster runs must not keep pods from
//! starting.

use super::{
    CERTIFICATES_DIR, CONTROLLER_DIR, CREDENTIALS_DIR, DATA_MOUNT, POST_INIT_SQL_DIR,
    PROJECTED_MOUNT, PodError, PodInput, TABLESPACES_DIR, WAL_MOUNT,
};
use crate::cluster::build::certs::{CA_CERT, TLS_CERT, TLS_KEY};
use k8s_openapi::api::core::v1::{
    ConfigMapProjection, EmptyDirVolumeSource, KeyToPath, PersistentVolumeClaimVolumeSource,
    ProjectedVolumeSource, SecretProjection, SecretVolumeSource, Volume, VolumeMount,
    VolumeProjection,
};
use pgfed_api::cluster::Cluster;
use pgfed_api::names::{tablespace_pvc_name, wal_pvc_name};
use pgfed_api::post_init_sql::{SourceKind, SqlRef, sql_refs};

/// Mode of mounted Secret files: owner root, readable by the `fsGroup`.
const SECRET_MODE: i32 = 0o640;

/// Name of the scratch volume (emptyDir or `spec.ephemeralVolumeSource`).
pub const SCRATCH_VOLUME: &str = "scratch-data";

pub(super) fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

fn claim(name: &str, claim_name: String) -> Volume {
    Volume {
        name: name.into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name,
            read_only: None,
        }),
        ..Volume::default()
    }
}

/// A Secret volume; `keys`, when given, limits it to those keys.
fn secret(name: &str, secret_name: &str, keys: Option<&[&str]>) -> Volume {
    Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret_name.into()),
            default_mode: Some(SECRET_MODE),
            items: keys.map(|keys| {
                keys.iter()
                    .map(|k| KeyToPath {
                        key: (*k).into(),
                        path: (*k).into(),
                        mode: None,
                    })
                    .collect()
            }),
            optional: None,
        }),
        ..Volume::default()
    }
}

/// Name of the volume holding the post-init SQL scripts.
const POST_INIT_SQL_VOLUME: &str = "post-init-sql";

/// The file of a referenced post-init script, relative to [`POST_INIT_SQL_DIR`]:
/// `<stage>/<secret|configmap>-<index>.sql`, so no two references share one. Pure.
pub fn post_init_sql_file(reference: &SqlRef) -> String {
    let kind = match reference.kind {
        SourceKind::Secret => "secret",
        SourceKind::ConfigMap => "configmap",
    };
    format!(
        "{}/{kind}-{}.sql",
        reference.stage.short_name(),
        reference.index
    )
}

/// The projected volume with every post-init script `cluster`'s initdb references (none when
/// it references none): one source per reference, optional (see the module's doc), files 0640
/// like the other Secrets'.
fn post_init_sql_volume(cluster: &Cluster) -> Option<Volume> {
    let initdb = cluster.spec.bootstrap.as_ref()?.initdb.as_ref()?;
    let sources: Vec<VolumeProjection> = sql_refs(initdb)
        .iter()
        .map(|r| {
            let items = Some(vec![KeyToPath {
                key: r.key.to_string(),
                path: post_init_sql_file(r),
                mode: None,
            }]);
            match r.kind {
                SourceKind::Secret => VolumeProjection {
                    secret: Some(SecretProjection {
                        name: r.name.to_string(),
                        items,
                        optional: Some(true),
                    }),
                    ..VolumeProjection::default()
                },
                SourceKind::ConfigMap => VolumeProjection {
                    config_map: Some(ConfigMapProjection {
                        name: r.name.to_string(),
                        items,
                        optional: Some(true),
                    }),
                    ..VolumeProjection::default()
                },
            }
        })
        .collect();
    (!sources.is_empty()).then(|| Volume {
        name: POST_INIT_SQL_VOLUME.into(),
        projected: Some(ProjectedVolumeSource {
            default_mode: Some(SECRET_MODE),
            sources: Some(sources),
        }),
        ..Volume::default()
    })
}

/// A valid volume name for tablespace `name`: `tbs-` and the name with `_` as `-`.
fn tablespace_volume(index: usize, name: &str) -> Result<String, PodError> {
    let volume = format!("tbs-{}", name.replace('_', "-"));
    let valid = volume.len() <= 63
        && !volume.ends_with('-')
        && volume
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(volume)
    } else {
        Err(PodError::TablespaceName {
            index,
            name: name.into(),
        })
    }
}

/// The pod's volumes and the postgres container's mounts.
pub(super) fn volumes(
    input: &PodInput,
    instance: &str,
) -> Result<(Vec<Volume>, Vec<VolumeMount>), PodError> {
    let spec = &input.cluster.spec;
    let mut volumes = vec![claim("pgdata", instance.to_string())];
    let mut mounts = vec![mount("pgdata", DATA_MOUNT, false)];
    if spec.wal_storage.is_some() {
        volumes.push(claim("pg-wal", wal_pvc_name(instance)));
        mounts.push(mount("pg-wal", WAL_MOUNT, false));
    }
    for (index, tablespace) in spec.tablespaces.iter().enumerate() {
        let volume = tablespace_volume(index, &tablespace.name)?;
        volumes.push(claim(
            &volume,
            tablespace_pvc_name(instance, &tablespace.name),
        ));
        mounts.push(mount(
            &volume,
            &format!("{TABLESPACES_DIR}/{}", tablespace.name),
            false,
        ));
    }
    volumes.push(Volume {
        name: SCRATCH_VOLUME.into(),
        ephemeral: spec.ephemeral_volume_source.clone(),
        empty_dir: spec
            .ephemeral_volume_source
            .is_none()
            .then(EmptyDirVolumeSource::default),
        ..Volume::default()
    });
    for (sub_path, path) in [
        ("controller", CONTROLLER_DIR),
        ("run", "/run"),
        ("tmp", "/tmp"),
    ] {
        mounts.push(VolumeMount {
            sub_path: Some(sub_path.into()),
            ..mount(SCRATCH_VOLUME, path, false)
        });
    }
    volumes.push(Volume {
        name: "shm".into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".into()),
            size_limit: None,
        }),
        ..Volume::default()
    });
    mounts.push(mount("shm", "/dev/shm", false));
    volumes.push(Volume {
        name: "config".into(),
        ..input.config_volume.clone()
    });
    mounts.push(mount("config", &format!("{CONTROLLER_DIR}/config"), true));
    if let Some(projected) = &spec.projected_volume_template {
        volumes.push(Volume {
            name: "projected".into(),
            projected: Some(projected.clone()),
            ..Volume::default()
        });
        mounts.push(mount("projected", PROJECTED_MOUNT, true));
    }
    if let Some(scripts) = post_init_sql_volume(input.cluster) {
        volumes.push(scripts);
        mounts.push(mount(POST_INIT_SQL_VOLUME, POST_INIT_SQL_DIR, true));
    }
    for mounted in secret_mounts(input.secrets) {
        volumes.push(secret(
            &mounted.volume,
            mounted.secret,
            mounted.keys.items(),
        ));
        mounts.push(mount(&mounted.volume, &mounted.path, true));
    }
    Ok((volumes, mounts))
}

/// Which keys of a Secret an instance sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keys {
    /// `tls.crt` and `tls.key` of a `kubernetes.io/tls` Secret.
    Tls,
    /// `ca.crt` only: never the CA's key.
    CaCertOnly,
    /// Every key (credentials Secrets).
    All,
}

impl Keys {
    fn items(self) -> Option<&'static [&'static str]> {
        match self {
            Self::Tls => Some(&[TLS_CERT, TLS_KEY]),
            Self::CaCertOnly => Some(&[CA_CERT]),
            Self::All => None,
        }
    }
}

/// A Secret mounted read-only in the postgres container.
struct MountedSecret<'a> {
    volume: String,
    path: String,
    secret: &'a str,
    keys: Keys,
}

/// Certificates under `/controller/certificates/<role>`, credentials (when the caller names
/// them) under `/controller/credentials/<secret name>`.
fn secret_mounts(secrets: &super::PodSecrets) -> Vec<MountedSecret<'_>> {
    let mut out = vec![
        MountedSecret {
            volume: "cert-server".into(),
            path: format!("{CERTIFICATES_DIR}/server"),
            secret: &secrets.server_tls,
            keys: Keys::Tls,
        },
        MountedSecret {
            volume: "cert-server-ca".into(),
            path: format!("{CERTIFICATES_DIR}/server-ca"),
            secret: &secrets.server_ca,
            keys: Keys::CaCertOnly,
        },
        MountedSecret {
            volume: "cert-replication".into(),
            path: format!("{CERTIFICATES_DIR}/replication"),
            secret: &secrets.replication_tls,
            keys: Keys::Tls,
        },
        MountedSecret {
            volume: "cert-client-ca".into(),
            path: format!("{CERTIFICATES_DIR}/client-ca"),
            secret: &secrets.client_ca,
            keys: Keys::CaCertOnly,
        },
    ];
    // Mounted by Secret name, `<credentials dir>/<secret>/<key>`, the layout the manager reads
    // `bootstrap.initdb.secret`, the superuser's and the managed roles' passwords, the external
    // clusters' TLS files and other selectors from; one Secret named twice is mounted once.
    let credentials: std::collections::BTreeSet<&str> = [&secrets.app, &secrets.superuser]
        .into_iter()
        .flatten()
        .chain(&secrets.roles)
        .chain(&secrets.external)
        .map(String::as_str)
        .collect();
    for (index, secret) in credentials.into_iter().enumerate() {
        out.push(MountedSecret {
            volume: format!("cred-{index}"),
            path: format!("{CREDENTIALS_DIR}/{secret}"),
            secret,
            keys: Keys::All,
        });
    }
    out
}
