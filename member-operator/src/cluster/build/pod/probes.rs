//! The kubelet probes of the postgres container, all against the instance manager's plain-HTTP
//! probe port: `/startupz`, `/readyz`, `/healthz`. Timings are CloudNativePG's (period 10 s,
//! timeout 5 s), overridden field by field by `spec.probes`. The startup probe fails only after
//! `startDelay` (default 3600 s): its failure threshold is `ceil(startDelay / period)`, at least
//! 1, unless the user set one; `livenessProbeTimeout` sets the liveness failure threshold the
//! same way. What a probe checks (`type`, `maximumLag`, `isolationCheck`) is the manager's
//! business and reaches it through its configuration file, not through the pod.

use super::PodError;
use k8s_openapi::api::core::v1::{HTTPGetAction, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use pgfed_api::cluster::{Cluster, ProbeTimings};

/// Seconds between two probes unless `spec.probes` says otherwise.
pub const DEFAULT_PERIOD: i32 = 10;
/// Seconds a probe may take unless `spec.probes` says otherwise.
pub const DEFAULT_TIMEOUT: i32 = 5;
/// `spec.startDelay` default.
pub const DEFAULT_START_DELAY: i32 = 3600;

/// Startup, readiness and liveness probes.
#[derive(Clone, Debug, PartialEq)]
pub struct Probes {
    /// Until it succeeds, the other probes do not run.
    pub startup: Probe,
    /// Whether the instance receives traffic.
    pub readiness: Probe,
    /// Whether the kubelet restarts the container.
    pub liveness: Probe,
}

fn probe(
    path: &str,
    port: u16,
    timings: Option<&ProbeTimings>,
    field: &str,
) -> Result<Probe, PodError> {
    let t = timings.cloned().unwrap_or_default();
    let period = t.period_seconds.unwrap_or(DEFAULT_PERIOD);
    if period <= 0 {
        return Err(PodError::ProbePeriod {
            field: format!("{field}.periodSeconds"),
            value: period,
        });
    }
    Ok(Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(i32::from(port)),
            scheme: Some("HTTP".into()),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: t.initial_delay_seconds,
        period_seconds: Some(period),
        timeout_seconds: Some(t.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT)),
        success_threshold: t.success_threshold,
        failure_threshold: t.failure_threshold,
        termination_grace_period_seconds: t.termination_grace_period_seconds,
        ..Probe::default()
    })
}

/// Probes that fail `seconds` after the last success: `ceil(seconds / period)`, at least 1.
fn failures_within(seconds: i32, period: i32) -> i32 {
    if seconds <= period {
        1
    } else {
        let (seconds, period) = (i64::from(seconds), i64::from(period));
        i32::try_from((seconds + period - 1) / period).unwrap_or(i32::MAX)
    }
}

/// The probes of the postgres container of `cluster`, on the manager's probe `port`.
pub fn probes(cluster: &Cluster, port: u16) -> Result<Probes, PodError> {
    let config = cluster.spec.probes.clone().unwrap_or_default();
    let mut startup = probe(
        "/startupz",
        port,
        config.startup.as_ref().map(|p| &p.timings),
        "spec.probes.startup",
    )?;
    let readiness = probe(
        "/readyz",
        port,
        config.readiness.as_ref().map(|p| &p.timings),
        "spec.probes.readiness",
    )?;
    let mut liveness = probe(
        "/healthz",
        port,
        config.liveness.as_ref().map(|p| &p.timings),
        "spec.probes.liveness",
    )?;
    if startup.failure_threshold.is_none() {
        let delay = cluster.spec.start_delay.unwrap_or(DEFAULT_START_DELAY);
        startup.failure_threshold = Some(failures_within(
            delay,
            startup.period_seconds.unwrap_or(DEFAULT_PERIOD),
        ));
    }
    if let (Some(timeout), None) = (
        cluster.spec.liveness_probe_timeout,
        liveness.failure_threshold,
    ) {
        liveness.failure_threshold = Some(failures_within(
            timeout,
            liveness.period_seconds.unwrap_or(DEFAULT_PERIOD),
        ));
    }
    Ok(Probes {
        startup,
        readiness,
        liveness,
    })
}
