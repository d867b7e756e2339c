//! The settings the operator pushes while an instance runs (`PUT /pg/config`: the target primary
//! and fencing), how they combine with the configuration file, and where they are kept.
//!
//! Both sources carry a version on one scale: pushed settings carry `version`, the file
//! `dynamicVersion`. The higher one is in effect, so neither a delayed push from a former operator
//! leader nor a ConfigMap that kubelet syncs a minute late can undo a newer decision. A file
//! without `dynamicVersion` applies only while nothing was pushed. Pushed settings are kept in
//! `dynamicConfigFile` so they survive a restart of the manager's container.

use crate::config::ManagerConfig;
use pgfed_api::instance::DynamicConfig;
use std::path::{Path, PathBuf};

/// What becomes of a pushed update, given the settings in effect.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Newer than what is in effect (or nothing versioned is): keep it and act on it.
    Apply,
    /// The version and the content in effect: a retry, nothing to do.
    AlreadyInEffect,
    /// Older than the version in effect: refused, nothing changes.
    Stale {
        /// The version in effect.
        in_effect: u64,
    },
    /// The version in effect with other content: refused, as two decisions cannot share one
    /// version.
    Conflict {
        /// The version in effect.
        in_effect: u64,
    },
}

/// Decides what to do with `update` given the versioned settings `in_effect` (see
/// [`in_effect`]). Pure.
pub fn admit(in_effect: Option<&DynamicConfig>, update: &DynamicConfig) -> Admission {
    let Some(current) = in_effect else {
        return Admission::Apply;
    };
    match update.version.cmp(&current.version) {
        std::cmp::Ordering::Greater => Admission::Apply,
        std::cmp::Ordering::Less => Admission::Stale {
            in_effect: current.version,
        },
        std::cmp::Ordering::Equal if update == current => Admission::AlreadyInEffect,
        std::cmp::Ordering::Equal => Admission::Conflict {
            in_effect: current.version,
        },
    }
}

/// The file's own settings at `version`.
fn from_file(file: &ManagerConfig, version: u64) -> DynamicConfig {
    DynamicConfig {
        version,
        target_primary: file.target_primary.clone(),
        fenced: file.fenced,
        // The file's own `postgresql` is already the base the effective configuration starts from.
        postgresql: None,
        instances: file.instances.clone(),
        synchronous_standby_names: file.synchronous_standby_names.clone(),
        // The file's own `replica` and `databases` are already the base, as for `postgresql`.
        replica: None,
        databases: None,
    }
}

/// The versioned settings in effect: the pushed ones, unless the file carries a higher
/// `dynamicVersion`; the file's when it is versioned and nothing was pushed; none when neither
/// is versioned. Pure.
pub fn in_effect(file: &ManagerConfig, pushed: Option<&DynamicConfig>) -> Option<DynamicConfig> {
    match (file.dynamic_version, pushed) {
        (Some(v), Some(p)) if v > p.version => Some(from_file(file, v)),
        (_, Some(p)) => Some(p.clone()),
        (Some(v), None) => Some(from_file(file, v)),
        (None, None) => None,
    }
}

/// The settings `GET /pg/config` shows: those in effect, or the file's at version 0. Pure.
pub fn shown(file: &ManagerConfig, pushed: Option<&DynamicConfig>) -> DynamicConfig {
    in_effect(file, pushed).unwrap_or_else(|| from_file(file, 0))
}

/// The configuration the supervisor runs with: the file's, with the settings in effect in place
/// of its `targetPrimary`, `fenced` and (when pushed) `postgresql`, `replica` and `databases`.
/// Pure.
pub fn effective(file: &ManagerConfig, pushed: Option<&DynamicConfig>) -> ManagerConfig {
    let mut cfg = file.clone();
    if let Some(d) = in_effect(file, pushed) {
        cfg.target_primary = d.target_primary;
        cfg.fenced = d.fenced;
        cfg.instances = d.instances;
        cfg.synchronous_standby_names = d.synchronous_standby_names;
        if let Some(postgresql) = d.postgresql {
            cfg.postgresql = postgresql;
        }
        if let Some(replica) = d.replica {
            cfg.replica = replica.spec;
        }
        if let Some(databases) = d.databases {
            cfg.databases = databases;
        }
    }
    cfg
}

/// Why the kept settings cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DynamicFileError {
    /// The file cannot be read or written.
    #[error("dynamic settings {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not what the manager writes.
    #[error("dynamic settings {path} are unreadable: {source}")]
    Garbled {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: serde_json::Error,
    },
}

impl DynamicFileError {
    /// A short, stable name of the cause, for metrics labels and Events.
    pub fn label(&self) -> &'static str {
        match self {
            DynamicFileError::Io { .. } => "dynamic_config_io",
            DynamicFileError::Garbled { .. } => "dynamic_config_garbled",
        }
    }
}

/// Reads the kept settings; `None` when nothing was pushed since the pod started.
pub fn load(path: &Path) -> Result<Option<DynamicConfig>, DynamicFileError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| DynamicFileError::Garbled {
                    path: path.to_path_buf(),
                    source,
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DynamicFileError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Keeps `settings` atomically and durably (a crash leaves the previous ones or these).
pub fn store(path: &Path, settings: &DynamicConfig) -> Result<(), DynamicFileError> {
    let io = |source| DynamicFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let text = serde_json::to_vec(settings).map_err(|e| io(std::io::Error::other(e)))?;
    crate::durable::replace(path, &text).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(version: u64, target: Option<&str>, fenced: bool) -> DynamicConfig {
        DynamicConfig {
            version,
            target_primary: target.map(str::to_string),
            fenced,
            postgresql: None,
            ..DynamicConfig::default()
        }
    }

    #[test]
    fn versions_order_the_updates() {
        let current = settings(5, Some("pg-1"), false);
        let cases = [
            (None, settings(0, None, true), Admission::Apply),
            (
                Some(&current),
                settings(6, Some("pg-2"), false),
                Admission::Apply,
            ),
            (
                Some(&current),
                settings(5, Some("pg-1"), false),
                Admission::AlreadyInEffect,
            ),
            (
                Some(&current),
                settings(5, Some("pg-1"), true),
                Admission::Conflict { in_effect: 5 },
            ),
            (
                Some(&current),
                settings(5, None, false),
                Admission::Conflict { in_effect: 5 },
            ),
            (
                Some(&current),
                settings(4, Some("pg-1"), false),
                Admission::Stale { in_effect: 5 },
            ),
            (
                Some(&current),
                settings(0, Some("pg-9"), true),
                Admission::Stale { in_effect: 5 },
            ),
        ];
        for (in_effect, update, want) in cases {
            assert_eq!(
                admit(in_effect, &update),
                want,
                "{in_effect:?} <- {update:?}"
            );
        }
    }

    fn file(extra: &str) -> ManagerConfig {
        ManagerConfig::parse(&format!(
            "clusterName: pg\ninstanceName: pg-2\npgdata: /d\ntargetPrimary: pg-1\n{extra}"
        ))
        .expect("config")
    }

    #[test]
    fn the_higher_version_of_file_and_push_is_in_effect() {
        let pushed = settings(3, Some("pg-3"), true);
        let cases = [
            // Nothing pushed: the file's, versioned when it says so.
            ("", None, None),
            (
                "dynamicVersion: 2\n",
                None,
                Some(settings(2, Some("pg-1"), false)),
            ),
            // Pushed: wins over an unversioned file and over an older or equal file version.
            ("fenced: false\n", Some(&pushed), Some(pushed.clone())),
            ("dynamicVersion: 2\n", Some(&pushed), Some(pushed.clone())),
            ("dynamicVersion: 3\n", Some(&pushed), Some(pushed.clone())),
            // A newer file (the operator rewrote the ConfigMap) wins over an older push.
            (
                "dynamicVersion: 4\nfenced: true\n",
                Some(&pushed),
                Some(settings(4, Some("pg-1"), true)),
            ),
        ];
        for (extra, pushed, want) in cases {
            assert_eq!(
                in_effect(&file(extra), pushed),
                want,
                "{extra:?} {pushed:?}"
            );
            // The HTTP handlers only see the effective configuration; it yields the same.
            let running = effective(&file(extra), pushed);
            assert_eq!(in_effect(&running, pushed), want, "{extra:?} {pushed:?}");
        }
    }

    #[test]
    fn the_effective_configuration_takes_the_settings_in_effect() {
        let pushed = settings(3, Some("pg-2"), true);
        let c = effective(&file(""), Some(&pushed));
        assert_eq!(
            (c.target_primary.as_deref(), c.fenced),
            (Some("pg-2"), true)
        );
        let c = effective(&file("dynamicVersion: 9\n"), Some(&pushed));
        assert_eq!(
            (c.target_primary.as_deref(), c.fenced),
            (Some("pg-1"), false)
        );
        assert_eq!(effective(&file(""), None), file(""));
        // pushed PostgreSQL settings replace the file's
        let mut with_parameters = settings(4, Some("pg-1"), false);
        let mut postgresql = pgfed_api::cluster::PostgresConfiguration::default();
        postgresql
            .parameters
            .insert("work_mem".to_string(), "8MB".to_string());
        with_parameters.postgresql = Some(postgresql.clone());
        assert_eq!(
            effective(&file(""), Some(&with_parameters)).postgresql,
            postgresql
        );
        // pushed replica settings replace the file's, and a pushed absence removes them
        let topology = pgfed_api::cluster::ReplicaClusterConfiguration {
            primary: Some("region-b".into()),
            source: "region-b".into(),
            ..Default::default()
        };
        let with_replica = DynamicConfig {
            replica: Some(pgfed_api::instance::PushedReplica {
                spec: Some(topology.clone()),
            }),
            ..settings(5, Some("pg-1"), false)
        };
        let c = effective(&file(""), Some(&with_replica));
        assert_eq!(c.replica, Some(topology));
        assert!(c.is_replica_cluster());
        let removed = DynamicConfig {
            replica: Some(pgfed_api::instance::PushedReplica { spec: None }),
            ..settings(6, Some("pg-1"), false)
        };
        let replica_file = "replica:\n  source: region-b\n  enabled: true\n";
        assert!(effective(&file(replica_file), None).is_replica_cluster());
        assert!(!effective(&file(replica_file), Some(&removed)).is_replica_cluster());
        // nothing about replica pushed: the file's stays
        assert!(effective(&file(replica_file), Some(&pushed)).is_replica_cluster());
        // pushed Database objects replace the file's; none pushed: the file's stay
        let shop = pgfed_api::database::ManagedDatabase {
            object: "shop".into(),
            ..Default::default()
        };
        let with_databases = DynamicConfig {
            databases: Some(vec![shop.clone()]),
            ..settings(7, Some("pg-1"), false)
        };
        assert_eq!(
            effective(&file(""), Some(&with_databases)).databases,
            vec![shop]
        );
        let none_pushed = DynamicConfig {
            databases: Some(Vec::new()),
            ..settings(8, Some("pg-1"), false)
        };
        assert!(
            effective(&file(""), Some(&none_pushed))
                .databases
                .is_empty()
        );
        assert!(!with_databases.same_settings(&none_pushed.clone()));
        assert_eq!(shown(&file(""), None), settings(0, Some("pg-1"), false));
        assert_eq!(shown(&file(""), Some(&pushed)), pushed);
    }

    #[test]
    fn kept_settings_round_trip_and_garbage_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dynamic-config.json");
        assert_eq!(load(&path).expect("absent"), None);
        let s = settings(7, Some("pg-3"), true);
        store(&path, &s).expect("store");
        assert_eq!(load(&path).expect("load"), Some(s));
        std::fs::write(&path, "{").expect("write");
        assert!(matches!(load(&path), Err(DynamicFileError::Garbled { .. })));
    }
}
