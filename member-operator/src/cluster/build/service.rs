//! The Services of a Cluster: `-rw` (the primary only), `-ro` (the standbys), `-r` (any
//! instance), minus the defaults listed in `managed.services.disabledDefaultServices`, plus the
//! user's `managed.services.additional` templates (any type: ClusterIP, NodePort, LoadBalancer)
//! with their selector set by the operator, never by the template.

use super::meta::Owner;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use pgfed_api::cluster::{Cluster, ServiceSelectorType};
use pgfed_api::names::{
    LABEL_INSTANCE_ROLE, LABEL_POD_ROLE, POSTGRES_PORT, ROLE_PRIMARY, ROLE_REPLICA, service_r,
    service_ro, service_rw,
};
use std::collections::{BTreeMap, BTreeSet};

/// Value of the pod-role label on PostgreSQL instance pods.
pub const POD_ROLE_INSTANCE: &str = "instance";

/// How a changed Service is brought to its desired form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateStrategy {
    /// Server-side apply over the existing object (the default).
    Patch,
    /// Delete and recreate: for changes the API server refuses in place (e.g. the Service type
    /// from LoadBalancer to ClusterIP with allocated node ports).
    Replace,
}

/// A Service to apply and how to update it.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredService {
    /// The Service.
    pub service: Service,
    /// How to update it when it differs.
    pub update: UpdateStrategy,
}

/// Why the Services cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ServiceError {
    /// An additional Service template has no `metadata.name`.
    #[error("spec.managed.services.additional[{index}].serviceTemplate.metadata.name is required")]
    Unnamed {
        /// Index in `additional`.
        index: usize,
    },
    /// Two Services would have the same name.
    #[error(
        "spec.managed.services.additional[{index}].serviceTemplate.metadata.name: {name:?} is already the name of another Service of this cluster"
    )]
    NameClash {
        /// Index in `additional`.
        index: usize,
        /// The name used twice.
        name: String,
    },
    /// An unknown update strategy.
    #[error(
        "spec.managed.services.additional[{index}].updateStrategy: {value:?} is not one of patch, replace"
    )]
    UpdateStrategy {
        /// Index in `additional`.
        index: usize,
        /// The value given.
        value: String,
    },
}

/// The pod labels a Service of `selector` type selects, within the cluster's instances.
pub fn selector(owner: &Owner, selector: ServiceSelectorType) -> BTreeMap<String, String> {
    let mut labels = owner.selector_labels();
    labels.insert(LABEL_POD_ROLE.into(), POD_ROLE_INSTANCE.into());
    match selector {
        ServiceSelectorType::Rw => {
            labels.insert(LABEL_INSTANCE_ROLE.into(), ROLE_PRIMARY.into());
        }
        ServiceSelectorType::Ro => {
            labels.insert(LABEL_INSTANCE_ROLE.into(), ROLE_REPLICA.into());
        }
        ServiceSelectorType::R => {}
    }
    labels
}

fn postgres_port() -> ServicePort {
    ServicePort {
        name: Some("postgres".into()),
        port: i32::from(POSTGRES_PORT),
        target_port: Some(IntOrString::Int(i32::from(POSTGRES_PORT))),
        protocol: Some("TCP".into()),
        ..ServicePort::default()
    }
}

/// Every Service the Cluster should have, in a stable order (defaults, then additional ones).
pub fn build(cluster: &Cluster, owner: &Owner) -> Result<Vec<DesiredService>, ServiceError> {
    let managed = cluster
        .spec
        .managed
        .as_ref()
        .and_then(|m| m.services.clone())
        .unwrap_or_default();
    let disabled = &managed.disabled_default_services;
    let defaults = [
        (ServiceSelectorType::Rw, service_rw(&owner.name)),
        (ServiceSelectorType::Ro, service_ro(&owner.name)),
        (ServiceSelectorType::R, service_r(&owner.name)),
    ];
    let mut out = Vec::new();
    for (kind, name) in defaults {
        // `rw` cannot be disabled: clients and standbys need the primary's address.
        if kind != ServiceSelectorType::Rw && disabled.contains(&kind) {
            continue;
        }
        out.push(DesiredService {
            service: Service {
                metadata: owner.child_meta(&name, BTreeMap::new()),
                spec: Some(ServiceSpec {
                    type_: Some("ClusterIP".into()),
                    selector: Some(selector(owner, kind)),
                    ports: Some(vec![postgres_port()]),
                    ..ServiceSpec::default()
                }),
                status: None,
            },
            update: UpdateStrategy::Patch,
        });
    }
    let mut names: BTreeSet<String> = out
        .iter()
        .filter_map(|s| s.service.metadata.name.clone())
        .collect();
    for (index, extra) in managed.additional.iter().enumerate() {
        let template = &extra.service_template;
        let meta = template.metadata.clone().unwrap_or_default();
        let name = meta
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or(ServiceError::Unnamed { index })?;
        if !names.insert(name.clone()) {
            return Err(ServiceError::NameClash { index, name });
        }
        let update = match extra.update_strategy.as_deref() {
            None | Some("patch") => UpdateStrategy::Patch,
            Some("replace") => UpdateStrategy::Replace,
            Some(other) => {
                return Err(ServiceError::UpdateStrategy {
                    index,
                    value: other.to_string(),
                });
            }
        };
        let mut metadata = owner.child_meta(&name, meta.labels);
        if !meta.annotations.is_empty() {
            metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .extend(meta.annotations);
        }
        let mut spec = template.spec.clone().unwrap_or_default();
        spec.selector = Some(selector(
            owner,
            extra.selector_type.unwrap_or(ServiceSelectorType::Rw),
        ));
        if spec.ports.as_ref().is_none_or(Vec::is_empty) {
            spec.ports = Some(vec![postgres_port()]);
        }
        out.push(DesiredService {
            service: Service {
                metadata,
                spec: Some(spec),
                status: None,
            },
            update,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::build::meta::tests::stored_cluster;
    use pgfed_api::cluster::{
        ManagedConfiguration, ManagedService, ManagedServices, ServiceTemplateMetadata,
        ServiceTemplateSpec,
    };

    fn names(services: &[DesiredService]) -> Vec<String> {
        services
            .iter()
            .filter_map(|s| s.service.metadata.name.clone())
            .collect()
    }

    fn with_services(services: ManagedServices) -> Cluster {
        let mut cluster = stored_cluster(3);
        cluster.spec.managed = Some(ManagedConfiguration {
            roles: vec![],
            services: Some(services),
        });
        cluster
    }

    fn additional(name: Option<&str>, kind: ServiceSelectorType) -> ManagedService {
        ManagedService {
            selector_type: Some(kind),
            update_strategy: None,
            service_template: ServiceTemplateSpec {
                metadata: Some(ServiceTemplateMetadata {
                    name: name.map(str::to_string),
                    ..ServiceTemplateMetadata::default()
                }),
                spec: Some(ServiceSpec {
                    type_: Some("LoadBalancer".into()),
                    selector: Some(BTreeMap::from([("evil".into(), "x".into())])),
                    ..ServiceSpec::default()
                }),
            },
        }
    }

    #[test]
    fn default_services_select_by_role() {
        let cluster = stored_cluster(3);
        let owner = Owner::of(&cluster).expect("owner");
        let services = build(&cluster, &owner).expect("services");
        assert_eq!(names(&services), ["pg-rw", "pg-ro", "pg-r"]);
        let sel = |i: usize| {
            services[i]
                .service
                .spec
                .as_ref()
                .and_then(|s| s.selector.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            sel(0).get(LABEL_INSTANCE_ROLE).map(String::as_str),
            Some("primary")
        );
        assert_eq!(
            sel(1).get(LABEL_INSTANCE_ROLE).map(String::as_str),
            Some("replica")
        );
        assert_eq!(sel(2).get(LABEL_INSTANCE_ROLE), None);
        for i in 0..3 {
            assert_eq!(
                sel(i).get("pgfed.io/cluster").map(String::as_str),
                Some("pg")
            );
            assert_eq!(
                sel(i).get(LABEL_POD_ROLE).map(String::as_str),
                Some("instance")
            );
        }
    }

    #[test]
    fn disabled_defaults_are_left_out_but_rw_stays() {
        let cluster = with_services(ManagedServices {
            disabled_default_services: vec![
                ServiceSelectorType::R,
                ServiceSelectorType::Ro,
                ServiceSelectorType::Rw,
            ],
            additional: vec![],
        });
        let owner = Owner::of(&cluster).expect("owner");
        assert_eq!(
            names(&build(&cluster, &owner).expect("services")),
            ["pg-rw"]
        );
    }

    #[test]
    fn additional_services_get_the_operators_selector_and_a_port() {
        let mut extra = additional(Some("pg-lb"), ServiceSelectorType::Ro);
        extra.update_strategy = Some("replace".into());
        let cluster = with_services(ManagedServices {
            disabled_default_services: vec![],
            additional: vec![extra],
        });
        let owner = Owner::of(&cluster).expect("owner");
        let services = build(&cluster, &owner).expect("services");
        let lb = &services[3];
        assert_eq!(lb.update, UpdateStrategy::Replace);
        let spec = lb.service.spec.as_ref().expect("spec");
        assert_eq!(spec.type_.as_deref(), Some("LoadBalancer"));
        let selector = spec.selector.clone().unwrap_or_default();
        assert_eq!(selector.get("evil"), None);
        assert_eq!(
            selector.get(LABEL_INSTANCE_ROLE).map(String::as_str),
            Some("replica")
        );
        assert_eq!(spec.ports.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn bad_additional_services_are_refused_with_the_field() {
        let cases = [
            (
                vec![additional(None, ServiceSelectorType::Rw)],
                ServiceError::Unnamed { index: 0 },
            ),
            (
                vec![additional(Some("pg-rw"), ServiceSelectorType::Rw)],
                ServiceError::NameClash {
                    index: 0,
                    name: "pg-rw".into(),
                },
            ),
            (
                vec![
                    additional(Some("a"), ServiceSelectorType::Rw),
                    additional(Some("a"), ServiceSelectorType::R),
                ],
                ServiceError::NameClash {
                    index: 1,
                    name: "a".into(),
                },
            ),
        ];
        for (extra, expected) in cases {
            let cluster = with_services(ManagedServices {
                disabled_default_services: vec![],
                additional: extra,
            });
            let owner = Owner::of(&cluster).expect("owner");
            assert_eq!(build(&cluster, &owner), Err(expected));
        }
        let mut bad = additional(Some("x"), ServiceSelectorType::Rw);
        bad.update_strategy = Some("recreate".into());
        let cluster = with_services(ManagedServices {
            disabled_default_services: vec![],
            additional: vec![bad],
        });
        let owner = Owner::of(&cluster).expect("owner");
        let err = build(&cluster, &owner).expect_err("refused");
        assert!(err.to_string().contains("additional[0].updateStrategy"));
    }
}
