//! The volumes of an instance pod and where the postgres container mounts them: the instance's
//! claims (data, WAL, tablespaces), the scratch volume behind `/controller`, `/run` and `/tmp`,
//! `/dev/shm` in memory, the manager's configuration, `spec.projectedVolumeTemplate`, and the
//! certificate and credentials Secrets (only `ca.crt` of a CA Secret).

use super::{
    CERTIFICATES_DIR, CONTROLLER_DIR, CREDENTIALS_DIR, DATA_MOUNT, PROJECTED_MOUNT, PodError,
    PodInput, TABLESPACES_DIR, WAL_MOUNT,
};
use crate::cluster::build::certs::{CA_CERT, TLS_CERT, TLS_KEY};
use k8s_openapi::api::core::v1::{
    EmptyDirVolumeSource, KeyToPath, PersistentVolumeClaimVolumeSource, SecretVolumeSource, Volume,
    VolumeMount,
};
use pgfed_api::names::{tablespace_pvc_name, wal_pvc_name};

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
    let s = input.secrets;
    let tls: &[&str] = &[TLS_CERT, TLS_KEY];
    let ca_only: &[&str] = &[CA_CERT];
    let mut secrets = vec![
        ("server", CERTIFICATES_DIR, s.server_tls.as_str(), Some(tls)),
        (
            "server-ca",
            CERTIFICATES_DIR,
            s.server_ca.as_str(),
            Some(ca_only),
        ),
        (
            "replication",
            CERTIFICATES_DIR,
            s.replication_tls.as_str(),
            Some(tls),
        ),
        (
            "client-ca",
            CERTIFICATES_DIR,
            s.client_ca.as_str(),
            Some(ca_only),
        ),
    ];
    if let Some(app) = &s.app {
        secrets.push(("app", CREDENTIALS_DIR, app.as_str(), None));
    }
    if let Some(superuser) = &s.superuser {
        secrets.push(("superuser", CREDENTIALS_DIR, superuser.as_str(), None));
    }
    for (role, dir, secret_name, keys) in secrets {
        let volume = format!("{}-{role}", dir.rsplit('/').next().unwrap_or("secret"));
        volumes.push(secret(&volume, secret_name, keys));
        mounts.push(mount(&volume, &format!("{dir}/{role}"), true));
    }
    Ok((volumes, mounts))
}
