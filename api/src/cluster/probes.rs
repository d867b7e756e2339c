//! `spec.probes`: tuning of the kubelet probes of instance pods.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Probe configuration.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct ProbesConfiguration {
    /// Startup probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<ProbeWithStrategy>,
    /// Readiness probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<ProbeWithStrategy>,
    /// Liveness probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<LivenessProbe>,
}

/// Timing fields shared by every probe.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ProbeTimings {
    /// Seconds before the first probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<i32>,
    /// Seconds between probes. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i32>,
    /// Seconds before a probe times out. Default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    /// Consecutive successes to be considered healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<i32>,
    /// Consecutive failures to be considered failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i32>,
    /// Seconds the kubelet waits after a failed liveness probe before killing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
}

/// A startup or readiness probe with a strategy.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProbeWithStrategy {
    /// Timings.
    #[serde(flatten)]
    pub timings: ProbeTimings,
    /// `pg_isready` (default), `query` (runs `;`) or `streaming` (a standby is streaming).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub probe_type: Option<ProbeStrategyType>,
    /// With `streaming`: the standby is ready only when its lag is at most this many bytes (a
    /// number or a quantity such as `16Mi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_lag: Option<k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
}

/// Probe strategy.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum ProbeStrategyType {
    /// The server accepts connections.
    #[serde(rename = "pg_isready")]
    PgIsReady,
    /// The server answers a query.
    #[serde(rename = "query")]
    Query,
    /// The standby is streaming (and within `maximumLag`).
    #[serde(rename = "streaming")]
    Streaming,
}

/// The liveness probe.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LivenessProbe {
    /// Timings.
    #[serde(flatten)]
    pub timings: ProbeTimings,
    /// A primary that can reach neither the API server nor any peer fails its liveness probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation_check: Option<IsolationCheck>,
}

/// Isolation check of the primary.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IsolationCheck {
    /// Turn the check on. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Milliseconds a peer request may take. Default 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<i32>,
    /// Milliseconds a peer connection may take. Default 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_timeout: Option<i32>,
}
