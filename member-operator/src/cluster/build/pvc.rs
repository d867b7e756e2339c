//! The PersistentVolumeClaims of one instance: `<instance>` for PGDATA (`spec.storage`),
//! `<instance>-wal` for pg_wal (`spec.walStorage`) and `<instance>-tbs-<name>` per tablespace.
//! Each starts from the user's `pvcTemplate`; `size` and `storageClass` take precedence over it,
//! as in CloudNativePG. Labels say which instance and which role a claim has, so the reconciler
//! can reattach a deleted pod's claims to its replacement instead of cloning again.

use super::meta::Owner;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use pgfed_api::cluster::{Cluster, StorageConfiguration};
use pgfed_api::names::{LABEL_INSTANCE_NAME, tablespace_pvc_name, wal_pvc_name};
use std::collections::BTreeMap;

/// Label: what a claim holds (`PG_DATA`, `PG_WAL`, `PG_TABLESPACE`).
pub const LABEL_PVC_ROLE: &str = "pgfed.io/pvcRole";
/// Label: the tablespace a `PG_TABLESPACE` claim holds.
pub const LABEL_TABLESPACE: &str = "pgfed.io/tablespaceName";

/// What a claim holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PvcRole {
    /// The data directory.
    Data,
    /// pg_wal.
    Wal,
    /// A tablespace, by name.
    Tablespace(String),
}

impl PvcRole {
    /// The label value.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Data => "PG_DATA",
            Self::Wal => "PG_WAL",
            Self::Tablespace(_) => "PG_TABLESPACE",
        }
    }
}

/// Why a claim cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PvcError {
    /// Neither `size` nor the template's requests give a size.
    #[error("{field}.size is required (or {field}.pvcTemplate.resources.requests.storage)")]
    NoSize {
        /// The storage field (`spec.storage`, `spec.walStorage`, `spec.tablespaces[i].storage`).
        field: String,
    },
}

fn claim(
    owner: &Owner,
    instance: &str,
    name: String,
    role: PvcRole,
    storage: &StorageConfiguration,
    field: &str,
) -> Result<PersistentVolumeClaim, PvcError> {
    let mut spec: PersistentVolumeClaimSpec = storage.pvc_template.clone().unwrap_or_default();
    if spec.access_modes.as_ref().is_none_or(Vec::is_empty) {
        spec.access_modes = Some(vec!["ReadWriteOnce".into()]);
    }
    let mut resources: VolumeResourceRequirements = spec.resources.clone().unwrap_or_default();
    let mut requests = resources.requests.clone().unwrap_or_default();
    if let Some(size) = storage.size.as_ref().filter(|s| !s.is_empty()) {
        requests.insert("storage".into(), Quantity(size.clone()));
    }
    if !requests.contains_key("storage") {
        return Err(PvcError::NoSize {
            field: field.to_string(),
        });
    }
    resources.requests = Some(requests);
    spec.resources = Some(resources);
    if let Some(class) = &storage.storage_class {
        spec.storage_class_name = Some(class.clone());
    }
    let mut labels = BTreeMap::from([
        (LABEL_INSTANCE_NAME.to_string(), instance.to_string()),
        (LABEL_PVC_ROLE.to_string(), role.label().to_string()),
    ]);
    if let PvcRole::Tablespace(tablespace) = &role {
        labels.insert(LABEL_TABLESPACE.into(), tablespace.clone());
    }
    Ok(PersistentVolumeClaim {
        metadata: owner.child_meta(&name, labels),
        spec: Some(spec),
        status: None,
    })
}

/// Every claim instance `instance` needs, data first.
pub fn build(
    cluster: &Cluster,
    owner: &Owner,
    instance: &str,
) -> Result<Vec<PersistentVolumeClaim>, PvcError> {
    let spec = &cluster.spec;
    let data = spec.storage.clone().unwrap_or_default();
    let mut out = vec![claim(
        owner,
        instance,
        instance.to_string(),
        PvcRole::Data,
        &data,
        "spec.storage",
    )?];
    if let Some(wal) = &spec.wal_storage {
        out.push(claim(
            owner,
            instance,
            wal_pvc_name(instance),
            PvcRole::Wal,
            wal,
            "spec.walStorage",
        )?);
    }
    for (i, tablespace) in spec.tablespaces.iter().enumerate() {
        out.push(claim(
            owner,
            instance,
            tablespace_pvc_name(instance, &tablespace.name),
            PvcRole::Tablespace(tablespace.name.clone()),
            &tablespace.storage,
            &format!("spec.tablespaces[{i}].storage"),
        )?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::build::meta::tests::stored_cluster;
    use pgfed_api::cluster::TablespaceConfiguration;

    fn sized(size: &str) -> StorageConfiguration {
        StorageConfiguration {
            size: Some(size.into()),
            ..StorageConfiguration::default()
        }
    }

    fn summary(claims: &[PersistentVolumeClaim]) -> Vec<(String, String, String)> {
        claims
            .iter()
            .map(|c| {
                let spec = c.spec.clone().unwrap_or_default();
                let size = spec
                    .resources
                    .and_then(|r| r.requests)
                    .and_then(|r| r.get("storage").cloned())
                    .map(|q| q.0)
                    .unwrap_or_default();
                let role = c
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(LABEL_PVC_ROLE).cloned())
                    .unwrap_or_default();
                (c.metadata.name.clone().unwrap_or_default(), role, size)
            })
            .collect()
    }

    #[test]
    fn data_wal_and_tablespace_claims() {
        let mut cluster = stored_cluster(3);
        cluster.spec.storage = Some(sized("1Gi"));
        cluster.spec.wal_storage = Some(sized("512Mi"));
        cluster.spec.tablespaces = vec![TablespaceConfiguration {
            name: "hot_data".into(),
            storage: sized("2Gi"),
            owner: None,
            temporary: None,
        }];
        let owner = Owner::of(&cluster).expect("owner");
        let claims = build(&cluster, &owner, "pg-2").expect("claims");
        let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            summary(&claims),
            [
                s("pg-2", "PG_DATA", "1Gi"),
                s("pg-2-wal", "PG_WAL", "512Mi"),
                s("pg-2-tbs-hot-data", "PG_TABLESPACE", "2Gi"),
            ]
        );
        let labels = claims[2].metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels[LABEL_INSTANCE_NAME], "pg-2");
        assert_eq!(labels[LABEL_TABLESPACE], "hot_data");
        assert_eq!(
            claims[0].spec.as_ref().and_then(|s| s.access_modes.clone()),
            Some(vec!["ReadWriteOnce".to_string()])
        );
    }

    #[test]
    fn size_and_class_override_the_template() {
        let mut cluster = stored_cluster(1);
        cluster.spec.storage = Some(StorageConfiguration {
            storage_class: Some("fast".into()),
            size: Some("5Gi".into()),
            resize_in_use_volumes: None,
            pvc_template: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOncePod".into()]),
                storage_class_name: Some("slow".into()),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".to_string(),
                        Quantity("1Gi".into()),
                    )])),
                    limits: None,
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
        });
        let owner = Owner::of(&cluster).expect("owner");
        let claims = build(&cluster, &owner, "pg-1").expect("claims");
        let spec = claims[0].spec.clone().unwrap_or_default();
        assert_eq!(spec.storage_class_name.as_deref(), Some("fast"));
        assert_eq!(
            spec.access_modes,
            Some(vec!["ReadWriteOncePod".to_string()])
        );
        assert_eq!(summary(&claims)[0].2, "5Gi");
    }

    #[test]
    fn a_template_size_is_enough_and_no_size_is_refused_by_field() {
        let mut cluster = stored_cluster(1);
        cluster.spec.storage = Some(StorageConfiguration {
            pvc_template: Some(PersistentVolumeClaimSpec {
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".to_string(),
                        Quantity("3Gi".into()),
                    )])),
                    limits: None,
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..StorageConfiguration::default()
        });
        let owner = Owner::of(&cluster).expect("owner");
        assert_eq!(
            summary(&build(&cluster, &owner, "pg-1").expect("claims"))[0].2,
            "3Gi"
        );
        cluster.spec.wal_storage = Some(StorageConfiguration::default());
        assert_eq!(
            build(&cluster, &owner, "pg-1"),
            Err(PvcError::NoSize {
                field: "spec.walStorage".into()
            })
        );
    }
}

/// The storage request of a claim.
fn requested(claim: &PersistentVolumeClaim) -> Option<&str> {
    claim
        .spec
        .as_ref()?
        .resources
        .as_ref()?
        .requests
        .as_ref()?
        .get("storage")
        .map(|q| q.0.as_str())
}

/// The size an existing claim must grow to, when the spec asks for more than it has and
/// resizing claims in use is allowed (`resizeInUseVolumes`, default true). Never a smaller size:
/// Kubernetes cannot shrink a volume, and admission refuses a smaller `size`. Pure.
pub fn grow_to(
    desired: &PersistentVolumeClaim,
    live: &PersistentVolumeClaim,
    resize_in_use: bool,
) -> Option<String> {
    let want = requested(desired)?;
    let have = requested(live)?;
    let parse = |s: &str| pgfed_api::validation::formats::parse_quantity(s).ok();
    match (parse(want), parse(have)) {
        (Some(w), Some(h)) if w > h && resize_in_use => Some(want.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod resize_tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PersistentVolumeClaimSpec, VolumeResourceRequirements};

    fn claim(size: &str) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            spec: Some(PersistentVolumeClaimSpec {
                resources: Some(VolumeResourceRequirements {
                    requests: Some(std::collections::BTreeMap::from([(
                        "storage".to_string(),
                        Quantity(size.to_string()),
                    )])),
                    limits: None,
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..PersistentVolumeClaim::default()
        }
    }

    #[test]
    fn claims_only_grow_and_only_when_allowed() {
        let cases = [
            ("2Gi", "1Gi", true, Some("2Gi")),
            ("1536Mi", "1Gi", true, Some("1536Mi")),
            ("1Gi", "1Gi", true, None),
            ("1024Mi", "1Gi", true, None),
            ("512Mi", "1Gi", true, None),
            ("2Gi", "1Gi", false, None),
        ];
        for (want, have, allowed, grow) in cases {
            assert_eq!(
                grow_to(&claim(want), &claim(have), allowed).as_deref(),
                grow,
                "{want} over {have}, allowed {allowed}"
            );
        }
    }
}
