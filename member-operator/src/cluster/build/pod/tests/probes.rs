//! Pod builder: startup, readiness and liveness probes.

use super::*;

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
