//! Pod builder: security contexts, anti-affinity and the scheduling fields.

use super::*;

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
            pod_ctx.fs_group_change_policy.as_deref(),
            Some("OnRootMismatch"),
            "case {}",
            case.name
        );
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
