//! The operator's Prometheus metrics (OpenMetrics text on `/metrics`, plain HTTP on its own port):
//! reconciles counted and timed per controller (the Cluster controller, the webhook certificate's
//! renewal loop) with failures by error label, Clusters by phase, whether this replica leads, and
//! admission reviews by hook, kind and result.

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

/// Which admission webhook answered.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum AdmissionHook {
    /// Defaulting.
    Mutate,
    /// Validation.
    Validate,
}

impl AdmissionHook {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            AdmissionHook::Mutate => "mutate",
            AdmissionHook::Validate => "validate",
        }
    }
}

/// How an admission review ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum AdmissionResult {
    /// Allowed unchanged.
    Allowed,
    /// Allowed with defaults added.
    Patched,
    /// Refused.
    Denied,
}

impl AdmissionResult {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            AdmissionResult::Allowed => "allowed",
            AdmissionResult::Patched => "patched",
            AdmissionResult::Denied => "denied",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AdmissionLabels {
    hook: &'static str,
    kind: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabels {
    controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    controller: &'static str,
    error: &'static str,
}

/// Reconcile durations from 10 ms to about 40 s.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 13))
}

/// The operator's metrics. Shared by reference; every method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ControllerLabels, Counter>,
    reconcile_duration: Family<ControllerLabels, Histogram>,
    reconcile_errors: Family<ErrorLabels, Counter>,
    admissions: Family<AdmissionLabels, Counter>,
    cluster_phases: Family<PhaseLabels, Gauge>,
    leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `pgfed_operator` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("pgfed_operator");
        let reconciles = Family::<ControllerLabels, Counter>::default();
        let reconcile_duration = Family::<ControllerLabels, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        let admissions = Family::<AdmissionLabels, Counter>::default();
        let cluster_phases = Family::<PhaseLabels, Gauge>::default();
        let leader = Gauge::default();
        registry.register(
            "clusters",
            "Clusters this operator reconciles, by phase",
            cluster_phases.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease and runs the controllers",
            leader.clone(),
        );
        registry.register(
            "reconciles",
            "Reconciles run, by controller",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "How long reconciles took, by controller",
            reconcile_duration.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, by controller and error label",
            reconcile_errors.clone(),
        );
        registry.register(
            "admission_reviews",
            "Admission reviews answered, by hook, kind and result",
            admissions.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_duration,
            reconcile_errors,
            admissions,
            cluster_phases,
            leader,
        }
    }

    /// Sets the number of Clusters in each phase (phases absent from `counts` go to zero).
    pub fn set_cluster_phases(&self, counts: &std::collections::HashMap<String, i64>) {
        for phase in pgfed_api::cluster::phase::ALL {
            let labels = PhaseLabels {
                phase: phase.to_string(),
            };
            let n = counts.get(phase).copied().unwrap_or(0);
            if n > 0 || self.cluster_phases.get(&labels).is_some() {
                self.cluster_phases.get_or_create(&labels).set(n);
            }
        }
    }

    /// Records whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Records one reconcile of `controller` that took `duration`, failed with the error whose
    /// label is `error` (None: it succeeded).
    pub fn reconciled(
        &self,
        controller: &'static str,
        duration: Duration,
        error: Option<&'static str>,
    ) {
        let labels = ControllerLabels { controller };
        self.reconciles.get_or_create(&labels).inc();
        self.reconcile_duration
            .get_or_create(&labels)
            .observe(duration.as_secs_f64());
        if let Some(error) = error {
            self.reconcile_errors
                .get_or_create(&ErrorLabels { controller, error })
                .inc();
        }
    }

    /// Records one admission review of an object of `kind`.
    pub fn admitted(&self, hook: AdmissionHook, kind: &str, result: AdmissionResult) {
        self.admissions
            .get_or_create(&AdmissionLabels {
                hook: hook.as_str(),
                kind: kind.to_string(),
                result: result.as_str(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// `GET /metrics`.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || async move {
            match metrics.encode() {
                Ok(text) => (
                    [(
                        CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    text,
                )
                    .into_response(),
                Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }),
    )
}
