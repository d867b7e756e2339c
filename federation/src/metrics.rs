//! The federation controller's Prometheus metrics, served on `/metrics`: per member whether it
//! answered, whether it holds the primary and how far it lags; per Federation whether a switchover
//! runs, how many completed and how long they took; reconcile failures; leadership.

use crate::counted::ApiServer;
use pgfed_api::federation::FederationStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Labels of a Federation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FederationLabels {
    /// Its namespace in the hub.
    pub namespace: String,
    /// Its name.
    pub federation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemberLabels {
    namespace: String,
    federation: String,
    member: String,
    region: String,
}

/// Switchover durations from 5 s to about 20 min.
fn switchover_histogram() -> Histogram {
    Histogram::new(exponential_buckets(5.0, 2.0, 9))
}

/// The controller's metrics; every method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    reachable: Family<MemberLabels, Gauge>,
    primary: Family<MemberLabels, Gauge>,
    lag_seconds: Family<MemberLabels, Gauge<f64, AtomicU64>>,
    lag_bytes: Family<MemberLabels, Gauge>,
    switchover_running: Family<FederationLabels, Gauge>,
    switchovers: Family<FederationLabels, Counter>,
    switchover_duration: Family<FederationLabels, Histogram, fn() -> Histogram>,
    reconcile_errors: Family<FederationLabels, Counter>,
    /// 1 while this replica runs the controller.
    pub leader: Gauge,
    /// Requests sent to each API server (the hub's, every member's).
    pub api_requests: Family<ApiServer, Counter>,
}

impl Metrics {
    /// Registers every metric in `registry` under the `pgfed_federation` prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Metrics {
            reachable: Family::default(),
            primary: Family::default(),
            lag_seconds: Family::default(),
            lag_bytes: Family::default(),
            switchover_running: Family::default(),
            switchovers: Family::default(),
            switchover_duration: Family::new_with_constructor(
                switchover_histogram as fn() -> Histogram,
            ),
            reconcile_errors: Family::default(),
            leader: Gauge::default(),
            api_requests: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("pgfed_federation");
        r.register(
            "leader",
            "1 while this replica runs the federation controller",
            metrics.leader.clone(),
        );
        r.register(
            "member_reachable",
            "1 when the member's API server answered the last poll and its Cluster exists",
            metrics.reachable.clone(),
        );
        r.register(
            "member_primary",
            "1 for the member holding the federation's primary",
            metrics.primary.clone(),
        );
        r.register(
            "member_lag_seconds",
            "How far a replica member is behind the primary, seconds",
            metrics.lag_seconds.clone(),
        );
        r.register(
            "member_lag_bytes",
            "WAL bytes the primary wrote that a replica member has not replayed",
            metrics.lag_bytes.clone(),
        );
        r.register(
            "switchover_in_progress",
            "1 while a planned switchover runs",
            metrics.switchover_running.clone(),
        );
        r.register(
            "switchovers",
            "Planned switchovers completed",
            metrics.switchovers.clone(),
        );
        r.register(
            "switchover_duration_seconds",
            "Duration of completed planned switchovers",
            metrics.switchover_duration.clone(),
        );
        r.register(
            "api_requests",
            "Requests the controller sent to each API server (hub, or a member's name)",
            metrics.api_requests.clone(),
        );
        r.register(
            "reconcile_errors",
            "Federation reconciles that failed (retried)",
            metrics.reconcile_errors.clone(),
        );
        metrics
    }

    /// Sets the gauges of a Federation from its new status; members that left it are dropped
    /// from every family.
    pub fn observe(&self, fed: &FederationLabels, old: &FederationStatus, new: &FederationStatus) {
        let labels = |m: &pgfed_api::federation::MemberStatus| MemberLabels {
            namespace: fed.namespace.clone(),
            federation: fed.federation.clone(),
            member: m.name.clone(),
            region: m.region.clone().unwrap_or_default(),
        };
        for gone in old.members.iter().filter(|o| {
            !new.members
                .iter()
                .any(|m| m.name == o.name && m.region == o.region)
        }) {
            let l = labels(gone);
            self.reachable.remove(&l);
            self.primary.remove(&l);
            self.lag_seconds.remove(&l);
            self.lag_bytes.remove(&l);
        }
        for m in &new.members {
            let l = labels(m);
            self.reachable.get_or_create(&l).set(i64::from(m.reachable));
            let holds = new.current_primary.as_deref() == Some(m.name.as_str());
            self.primary.get_or_create(&l).set(i64::from(holds));
            match m.lag_seconds {
                Some(s) => {
                    self.lag_seconds.get_or_create(&l).set(s);
                }
                None => {
                    self.lag_seconds.remove(&l);
                }
            }
            match m.lag_bytes {
                Some(b) => {
                    self.lag_bytes.get_or_create(&l).set(b);
                }
                None => {
                    self.lag_bytes.remove(&l);
                }
            }
        }
        self.switchover_running
            .get_or_create(fed)
            .set(i64::from(new.switchover.is_some()));
    }

    /// Counts a completed switchover that took `seconds`.
    pub fn switchover_completed(&self, fed: &FederationLabels, seconds: f64) {
        self.switchovers.get_or_create(fed).inc();
        self.switchover_duration.get_or_create(fed).observe(seconds);
    }

    /// Counts a failed reconcile.
    pub fn reconcile_failed(&self, fed: &FederationLabels) {
        self.reconcile_errors.get_or_create(fed).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgfed_api::federation::MemberStatus;
    use prometheus_client::encoding::text::encode;

    fn member(name: &str, lag: Option<f64>) -> MemberStatus {
        MemberStatus {
            name: name.into(),
            region: Some(format!("region-{name}")),
            reachable: true,
            lag_seconds: lag,
            lag_bytes: lag.map(|l| (l * 1000.0) as i64),
            ..MemberStatus::default()
        }
    }

    #[test]
    fn gauges_follow_the_status_and_forget_removed_members() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let fed = FederationLabels {
            namespace: "demo".into(),
            federation: "shop".into(),
        };
        let first = FederationStatus {
            current_primary: Some("a".into()),
            members: vec![
                member("a", None),
                member("b", Some(2.5)),
                member("c", Some(1.0)),
            ],
            ..FederationStatus::default()
        };
        metrics.observe(&fed, &FederationStatus::default(), &first);
        metrics.switchover_completed(&fed, 12.0);
        let mut text = String::new();
        encode(&mut text, &registry).expect("encode");
        assert!(text.contains(r#"pgfed_federation_member_lag_seconds{namespace="demo",federation="shop",member="b",region="region-b"} 2.5"#), "{text}");
        assert!(text.contains(r#"pgfed_federation_member_primary{namespace="demo",federation="shop",member="a",region="region-a"} 1"#), "{text}");
        assert!(
            text.contains(
                r#"pgfed_federation_switchovers_total{namespace="demo",federation="shop"} 1"#
            ),
            "{text}"
        );
        assert!(
            !text.contains(r#"member_lag_seconds{namespace="demo",federation="shop",member="a""#),
            "{text}"
        );

        let second = FederationStatus {
            members: vec![member("a", None), member("b", Some(0.0))],
            ..first
        };
        metrics.observe(
            &fed,
            &FederationStatus {
                members: vec![
                    member("a", None),
                    member("b", Some(2.5)),
                    member("c", Some(1.0)),
                ],
                ..FederationStatus::default()
            },
            &second,
        );
        let mut text = String::new();
        encode(&mut text, &registry).expect("encode");
        assert!(!text.contains(r#"member="c""#), "{text}");
    }
}
