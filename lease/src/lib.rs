//! `coordination.k8s.io/v1` Leases as pgfed uses them twice: the operator's replicas elect a
//! leader on one, and each cluster's primary instance holds one that gates every promotion.
//! [`decide`] is the pure rule (who holds it, what to write); [`store`] makes the three calls.

pub mod decide;
pub mod store;
