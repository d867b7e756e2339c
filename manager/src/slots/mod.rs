//! Replication slots (`spec.replicationSlots`), as CloudNativePG keeps them.
//!
//! - High-availability slots: the primary keeps a physical slot `<prefix><instance>` for every
//!   other instance of the cluster, and each standby streams through its own, so the primary
//!   recycles no WAL a standby still needs.
//! - Standbys keep copies of the primary's slots (the HA slots of the other instances and, with
//!   `synchronizeReplicas`, the user's physical slots), advanced to where the primary's are but
//!   never past their own replay position: after a failover the new primary already holds a slot
//!   for every standby and for every user of a slot, and no WAL they need is gone.
//! - Logical decoding slots are synchronized by PostgreSQL 17 itself (`sync_replication_slots`);
//!   this module only renders the parameters that turn it on ([`parameters`]).
//!
//! [`plan`] decides (pure); [`store`] reads and changes slots over SQL; `run::slots` runs the
//! rounds.

pub mod plan;
pub mod store;

use crate::config::ManagerConfig;
use pgfed_api::cluster::ReplicationSlotsConfiguration;
use std::path::Path;
use std::time::Duration;

/// The HA slot prefix when the configuration names none (the Cluster's default).
pub const DEFAULT_PREFIX: &str = pgfed_api::names::DEFAULT_HA_SLOT_PREFIX;
/// Seconds between two rounds when the configuration says nothing (the Cluster's default).
const DEFAULT_UPDATE_INTERVAL_SECS: u64 = 30;
/// The first PostgreSQL major that synchronizes logical decoding slots to standbys itself.
pub const LOGICAL_SLOT_SYNC_MAJOR: u32 = 17;

/// A `replicationSlots.synchronizeReplicas.excludePatterns` item that is not a regular
/// expression.
#[derive(Debug, thiserror::Error)]
#[error("replicationSlots.synchronizeReplicas.excludePatterns[{index}]: {source}")]
pub struct InvalidExcludePattern {
    /// Position in the list.
    pub index: usize,
    /// Why it does not compile.
    pub source: regex::Error,
}

/// What `replicationSlots` asks for, with the Cluster's defaults filled in.
#[derive(Clone, Debug)]
pub struct SlotPolicy {
    /// HA slots on (`highAvailability.enabled`).
    pub high_availability: bool,
    /// Prefix of the HA slots' names (`highAvailability.slotPrefix`).
    pub prefix: String,
    /// Copy the primary's user slots to standbys (`synchronizeReplicas.enabled`).
    pub synchronize_user_slots: bool,
    /// User slots never copied (`synchronizeReplicas.excludePatterns`).
    pub exclude: Vec<regex::Regex>,
    /// Keep logical decoding slots for failover (`highAvailability.synchronizeLogicalDecoding`).
    pub synchronize_logical_decoding: bool,
    /// Time between two rounds on a standby (`updateInterval`).
    pub update_interval: Duration,
}

impl SlotPolicy {
    /// The policy of `slots` (unset: every default). An exclude pattern that is not a regular
    /// expression is refused by its position. Pure.
    pub fn of(
        slots: Option<&ReplicationSlotsConfiguration>,
    ) -> Result<Self, InvalidExcludePattern> {
        let exclude = slots
            .and_then(|s| s.synchronize_replicas.as_ref())
            .map(|s| s.exclude_patterns.as_slice())
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(index, p)| {
                regex::Regex::new(p).map_err(|source| InvalidExcludePattern { index, source })
            })
            .collect::<Result<_, _>>()?;
        Ok(SlotPolicy {
            exclude,
            ..Self::without_exclusions(slots)
        })
    }

    /// The policy of `slots` without its exclude patterns (what the server's parameters depend
    /// on). Pure.
    pub fn without_exclusions(slots: Option<&ReplicationSlotsConfiguration>) -> Self {
        let ha = slots.and_then(|s| s.high_availability.as_ref());
        let sync = slots.and_then(|s| s.synchronize_replicas.as_ref());
        let interval = slots
            .and_then(|s| s.update_interval)
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_UPDATE_INTERVAL_SECS);
        SlotPolicy {
            high_availability: ha.and_then(|h| h.enabled).unwrap_or(true),
            prefix: ha
                .and_then(|h| h.slot_prefix.clone())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| DEFAULT_PREFIX.to_string()),
            synchronize_user_slots: sync.and_then(|s| s.enabled).unwrap_or(true),
            exclude: Vec::new(),
            synchronize_logical_decoding: ha
                .and_then(|h| h.synchronize_logical_decoding)
                .unwrap_or(false),
            update_interval: Duration::from_secs(interval),
        }
    }

    /// Whether standbys synchronize logical decoding slots on a server of major `major`. Pure.
    pub fn logical_decoding_synchronized(&self, major: Option<u32>) -> bool {
        self.high_availability
            && self.synchronize_logical_decoding
            && major.is_some_and(|m| m >= LOGICAL_SLOT_SYNC_MAJOR)
    }

    /// The HA slot of `instance`: the prefix, then the instance name with every character a slot
    /// name cannot hold (slot names allow `[a-z0-9_]`) made `_`. Pure.
    pub fn slot_name(&self, instance: &str) -> String {
        slot_name(&self.prefix, instance)
    }

    /// Whether `slot` is an HA slot (carries the prefix). Pure.
    pub fn is_ha(&self, slot: &str) -> bool {
        slot.starts_with(&self.prefix)
    }

    /// Whether the user slot `slot` is left alone (matches an exclude pattern). Pure.
    pub fn excluded(&self, slot: &str) -> bool {
        self.exclude.iter().any(|r| r.is_match(slot))
    }
}

/// `prefix` and `instance` with every character outside `[a-z0-9_]` (after lower-casing) made
/// `_`: `pg-2` → `_pgfed_pg_2`. Pure.
pub fn slot_name(prefix: &str, instance: &str) -> String {
    let tail: String = instance
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}{tail}")
}

/// The PostgreSQL major version of the data directory (`PG_VERSION`); `None` when unreadable.
pub fn data_major_version(pgdata: &Path) -> Option<u32> {
    std::fs::read_to_string(pgdata.join("PG_VERSION"))
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

/// The postgresql.conf parameters the slots need, for a server of major version `major`. Pure.
///
/// - `primary_slot_name` on a standby of another instance of this cluster, when HA slots are on
///   and the list of instances is known and names this one (the primary then creates the slot;
///   naming one it will never create would stop streaming).
/// - With `synchronizeLogicalDecoding` on PostgreSQL 17 or later: `sync_replication_slots` and
///   `hot_standby_feedback` on standbys, and on the primary `synchronized_standby_slots` (the
///   other instances' HA slots), so no logical consumer gets ahead of a standby that could be
///   promoted. Earlier majors get none of them (the keeper warns).
pub fn parameters(cfg: &ManagerConfig, major: Option<u32>) -> Vec<(&'static str, String)> {
    let policy = SlotPolicy::without_exclusions(cfg.replication_slots.as_ref());
    let mut out = Vec::new();
    let me = cfg.me();
    let listed = cfg.instances.iter().any(|i| i == me);
    // A standby just named the target keeps its slot until it promotes (standby.signal goes):
    // changing `primary_slot_name` restarts the WAL receiver, which would cut it off from the
    // former primary before its last WAL arrived.
    let following = cfg.other_target_primary().is_some()
        || (!cfg.is_replica_cluster() && cfg.pgdata.join("standby.signal").exists());
    let standby_of_peer = following && cfg.primary_connection.is_some();
    if policy.high_availability && listed && standby_of_peer {
        out.push(("primary_slot_name", policy.slot_name(me)));
    }
    let logical = policy.logical_decoding_synchronized(major);
    if logical && standby_of_peer {
        out.push(("sync_replication_slots", "on".to_string()));
        out.push(("hot_standby_feedback", "on".to_string()));
    } else if logical && cfg.other_target_primary().is_none() && !cfg.instances.is_empty() {
        let slots: Vec<String> = cfg
            .instances
            .iter()
            .filter(|i| *i != me)
            .map(|i| policy.slot_name(i))
            .collect();
        out.push(("synchronized_standby_slots", slots.join(",")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(yaml: &str) -> ManagerConfig {
        let base = "clusterName: pg\ninstanceName: pg-b\npgdata: /nonexistent/pgdata\n\
                    primaryConnection:\n  connectionParameters: {host: '{primary}.pg', user: streaming_replica}\n";
        ManagerConfig::parse(&format!("{base}{yaml}")).expect("valid test configuration")
    }

    #[test]
    fn slot_parameters_follow_the_role_the_list_and_the_major() {
        let logical = "replicationSlots: {highAvailability: {synchronizeLogicalDecoding: true}}\n";
        let listed = "instances: [pg-a, pg-b, pg-c]\n";
        let standby = "targetPrimary: pg-a\n";
        let primary = "targetPrimary: pg-b\n";
        let owned = |v: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
            v.iter().map(|(k, v)| (*k, v.to_string())).collect()
        };
        // (configuration, major, parameters)
        type Case = (String, Option<u32>, Vec<(&'static str, String)>);
        let cases: Vec<Case> = vec![
            (
                format!("{standby}{listed}"),
                Some(15),
                owned(&[("primary_slot_name", "_pgfed_pg_b")]),
            ),
            // The list is not known (or does not name this instance): no slot to stream through.
            (standby.to_string(), Some(15), vec![]),
            (format!("{standby}instances: [pg-a]\n"), Some(15), vec![]),
            // HA slots off.
            (
                format!(
                    "{standby}{listed}replicationSlots: {{highAvailability: {{enabled: false}}}}\n"
                ),
                Some(15),
                vec![],
            ),
            (format!("{primary}{listed}"), Some(15), vec![]),
            // Logical decoding slots: only from PostgreSQL 17.
            (
                format!("{standby}{listed}{logical}"),
                Some(15),
                owned(&[("primary_slot_name", "_pgfed_pg_b")]),
            ),
            (format!("{primary}{listed}{logical}"), None, vec![]),
            (
                format!("{standby}{listed}{logical}"),
                Some(17),
                owned(&[
                    ("primary_slot_name", "_pgfed_pg_b"),
                    ("sync_replication_slots", "on"),
                    ("hot_standby_feedback", "on"),
                ]),
            ),
            (
                format!("{primary}{listed}{logical}"),
                Some(18),
                owned(&[("synchronized_standby_slots", "_pgfed_pg_a,_pgfed_pg_c")]),
            ),
        ];
        for (yaml, major, want) in cases {
            assert_eq!(parameters(&cfg(&yaml), major), want, "{yaml} {major:?}");
        }
    }

    #[test]
    fn a_standby_named_the_target_keeps_its_slot_until_it_promotes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let yaml = |pgdata: &Path| {
            format!(
                "clusterName: pg\ninstanceName: pg-b\npgdata: {}\ntargetPrimary: pg-b\ninstances: [pg-a, pg-b]\n\
                 primaryConnection:\n  connectionParameters: {{host: pg-rw, user: streaming_replica}}\n",
                pgdata.display()
            )
        };
        let c = ManagerConfig::parse(&yaml(dir.path())).expect("configuration");
        assert_eq!(parameters(&c, Some(15)), vec![], "a primary names no slot");
        std::fs::write(dir.path().join("standby.signal"), "").expect("standby.signal");
        assert_eq!(
            parameters(&c, Some(15)),
            vec![("primary_slot_name", "_pgfed_pg_b".to_string())],
            "still in recovery: the WAL receiver keeps streaming through its slot"
        );
    }

    #[test]
    fn postgresql_conf_names_the_standbys_slot() {
        let c = cfg("targetPrimary: pg-a\ninstances: [pg-a, pg-b]\n");
        let p = crate::pg::conf::render_parameters(&c, Path::new("/m"), Path::new("/c"))
            .expect("renders");
        assert_eq!(p["primary_slot_name"], "_pgfed_pg_b");
        let p = crate::pg::conf::render_parameters(
            &cfg("targetPrimary: pg-b\ninstances: [pg-a, pg-b]\n"),
            Path::new("/m"),
            Path::new("/c"),
        )
        .expect("renders");
        assert!(!p.contains_key("primary_slot_name"), "{p:?}");
    }

    #[test]
    fn logical_decoding_slot_sync_connects_to_a_database() {
        let plain = cfg("targetPrimary: pg-a\n");
        assert!(
            !plain
                .target_primary_conninfo()
                .unwrap_or_default()
                .contains("dbname"),
        );
        let logical = cfg(
            "targetPrimary: pg-a\nreplicationSlots: {highAvailability: {synchronizeLogicalDecoding: true}}\n",
        );
        assert_eq!(
            logical.target_primary_conninfo().as_deref(),
            Some("application_name=pg-b dbname=postgres host=pg-a.pg user=streaming_replica")
        );
    }

    #[test]
    fn defaults_are_the_clusters() {
        let p = SlotPolicy::of(None).expect("no patterns");
        assert!(p.high_availability && p.synchronize_user_slots);
        assert!(!p.synchronize_logical_decoding);
        assert_eq!(p.prefix, "_pgfed_");
        assert_eq!(p.update_interval, Duration::from_secs(30));
        assert!(p.is_ha("_pgfed_pg_1") && !p.is_ha("pgfed_pg_1"));
    }
}
