//! Pins the addresses of the hosts a generated libpq connection string names: `host` stays (TLS
//! `verify-full` checks the server certificate against it) and `hostaddr` is added, so libpq —
//! the WAL receiver, pg_rewind — connects without a lookup of its own. Rendering connection
//! strings stays pure ([`pinned_parameters`]); the lookup is the side effect at the edge
//! ([`Pinner`]).
//!
//! The addresses looked up are remembered: a step of the supervisor gets the last known address
//! at once and a stale one is looked up again in the background, so a slow or absent DNS server
//! never holds up a promotion, and a failed lookup keeps the last address that worked (a
//! Service's ClusterIP outlives its DNS server's hiccups). Only a name never resolved is looked up
//! inline, within the resolver's budget. When there is no address at all the connection string is
//! left as it is and libpq resolves the name itself: a standby never fails to start because this
//! resolver failed.

use super::resolve::{Resolve, ResolveError, SystemResolver};
use crate::pg::conf::Role;
use crate::pg::conninfo;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// How long a remembered address is used before it is looked up again (in the background).
/// Kubernetes' DNS answers with a TTL of 5 s for Services; a recreated Service is picked up
/// within about this long, and the hickory cache absorbs lookups of an unchanged one.
pub const REFRESH_AFTER: Duration = Duration::from_secs(5);

/// The host names of a connection string that need a lookup for `hostaddr`: none when it
/// already sets `hostaddr` (the user pinned it); else the entries of `host` (a comma-separated
/// list) that are neither IP literals nor Unix-socket directories. Pure.
pub fn names_to_resolve(params: &[(String, String)]) -> Vec<&str> {
    if params.iter().any(|(k, _)| k == "hostaddr") {
        return Vec::new();
    }
    params
        .iter()
        .filter(|(k, _)| k == "host")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|h| is_name(h))
        .collect()
}

/// Whether a `host` entry is a name to look up: not empty, not an IP literal, not a Unix-socket
/// directory (absolute, or `@` for an abstract socket).
fn is_name(host: &str) -> bool {
    !host.is_empty()
        && !host.starts_with('/')
        && !host.starts_with('@')
        && host.parse::<IpAddr>().is_err()
}

/// `params` with `hostaddr` set right after `host` to the addresses in `addresses`, one entry per
/// `host` entry as libpq wants them; an entry with no address (a literal, a socket, a name that
/// could not be resolved) is left empty, which makes libpq use the host name for it. Unchanged
/// when `params` already has `hostaddr`, has no `host`, or no entry has an address. The order of
/// the other parameters is kept, so the same inputs always render the same string. Pure.
pub fn pinned_parameters(
    params: Vec<(String, String)>,
    addresses: &BTreeMap<String, IpAddr>,
) -> Vec<(String, String)> {
    if params.iter().any(|(k, _)| k == "hostaddr") {
        return params;
    }
    let Some(at) = params.iter().position(|(k, _)| k == "host") else {
        return params;
    };
    let entries: Vec<String> = params[at]
        .1
        .split(',')
        .map(|h| {
            addresses
                .get(h.trim())
                .filter(|_| is_name(h.trim()))
                .map(IpAddr::to_string)
                .unwrap_or_default()
        })
        .collect();
    if entries.iter().all(String::is_empty) {
        return params;
    }
    let mut params = params;
    params.insert(at + 1, ("hostaddr".to_string(), entries.join(",")));
    params
}

/// What is known of one name.
#[derive(Debug)]
struct Known {
    /// The last address that was found, if any ever was.
    address: Option<IpAddr>,
    /// When it was last looked up.
    checked: Instant,
    /// Whether a lookup in the background is under way.
    refreshing: bool,
    /// Whether the last lookup failed (its failure was logged once).
    failing: bool,
}

struct Inner<R> {
    /// `None` when the system configuration could not be read: nothing is pinned.
    resolver: Option<R>,
    known: Mutex<BTreeMap<String, Known>>,
    refresh_after: Duration,
}

impl<R> Inner<R> {
    fn known(&self) -> MutexGuard<'_, BTreeMap<String, Known>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the outcome of a lookup of `host` and returns the address now known; failures
    /// and changes are logged once, not on every step.
    fn record(&self, host: &str, outcome: Result<IpAddr, ResolveError>) -> Option<IpAddr> {
        let mut known = self.known();
        let entry = known.entry(host.to_string()).or_insert(Known {
            address: None,
            checked: Instant::now(),
            refreshing: false,
            failing: false,
        });
        entry.checked = Instant::now();
        entry.refreshing = false;
        match outcome {
            Ok(address) => {
                if entry.address.is_some_and(|a| a != address) {
                    tracing::info!(%host, from = ?entry.address, to = %address, "the address of a host changed");
                }
                entry.address = Some(address);
                entry.failing = false;
            }
            Err(e) if !entry.failing => {
                entry.failing = true;
                match entry.address {
                    Some(last) => tracing::warn!(
                        error = %e, label = e.label(), %host, %last,
                        "cannot resolve a host name: keeping its last known address"
                    ),
                    None => tracing::warn!(
                        error = %e, label = e.label(), %host,
                        "cannot resolve a host name: libpq resolves it itself"
                    ),
                }
            }
            Err(_) => {}
        }
        entry.address
    }
}

/// Pins host addresses into connection strings, remembering them between calls. Cheap to clone;
/// clones share what they remember.
pub struct Pinner<R> {
    inner: Arc<Inner<R>>,
}

impl<R> Clone for Pinner<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl Pinner<SystemResolver> {
    /// A pinner using hickory configured from `/etc/resolv.conf`; when that cannot be read, a
    /// pinner that pins nothing (libpq resolves names itself), after a warning.
    pub fn system() -> Self {
        match SystemResolver::from_system_conf() {
            Ok(resolver) => Self::new(resolver),
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    label = e.label(),
                    "no resolver of our own: libpq resolves host names itself"
                );
                Self::with_resolver(None, REFRESH_AFTER)
            }
        }
    }
}

impl<R: Resolve> Pinner<R> {
    /// A pinner looking names up with `resolver`, again every [`REFRESH_AFTER`].
    pub fn new(resolver: R) -> Self {
        Self::with_resolver(Some(resolver), REFRESH_AFTER)
    }

    /// A pinner looking names up with `resolver` (none: pins nothing), again every
    /// `refresh_after`.
    pub fn with_resolver(resolver: Option<R>, refresh_after: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                resolver,
                known: Mutex::new(BTreeMap::new()),
                refresh_after,
            }),
        }
    }

    /// `role` with the host of its `primary_conninfo` pinned; other roles as they are.
    pub async fn pin_role(&self, role: Role) -> Role {
        match role {
            Role::Standby {
                restore_from,
                primary_conninfo: Some(conninfo),
            } => Role::Standby {
                restore_from,
                primary_conninfo: Some(self.pin_conninfo(&conninfo).await),
            },
            other => other,
        }
    }

    /// `conninfo` with `hostaddr` added for its host names (see [`pinned_parameters`]); as it is
    /// when it cannot be read, sets `hostaddr` already, or no name has an address.
    pub async fn pin_conninfo(&self, conninfo: &str) -> String {
        let params = match conninfo::parse(conninfo) {
            Ok(params) => params,
            Err(e) => {
                tracing::warn!(error = %e, "not pinning the host address of a connection string");
                return conninfo.to_string();
            }
        };
        let mut addresses = BTreeMap::new();
        for name in names_to_resolve(&params) {
            if let Some(address) = self.address(name).await {
                addresses.insert(name.to_string(), address);
            }
        }
        if addresses.is_empty() {
            return conninfo.to_string();
        }
        conninfo::render(pinned_parameters(params, &addresses))
    }

    /// The address of `name`: the remembered one (looked up again in the background once
    /// stale), else looked up now.
    async fn address(&self, name: &str) -> Option<IpAddr> {
        let resolver = self.inner.resolver.as_ref()?;
        let remembered = {
            let mut known = self.inner.known();
            known.get_mut(name).map(|k| {
                let refresh = !k.refreshing && k.checked.elapsed() >= self.inner.refresh_after;
                k.refreshing |= refresh;
                (k.address, refresh)
            })
        };
        match remembered {
            Some((address, refresh)) => {
                if refresh {
                    self.refresh_in_background(name);
                }
                address
            }
            None => {
                let outcome = resolver.resolve(name).await;
                self.inner.record(name, outcome)
            }
        }
    }

    fn refresh_in_background(&self, name: &str) {
        let inner = self.inner.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            if let Some(resolver) = &inner.resolver {
                let outcome = resolver.resolve(&name).await;
                inner.record(&name, outcome);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers from a table; a name missing from it does not resolve. Counts lookups.
    #[derive(Default)]
    struct Table {
        answers: Mutex<BTreeMap<String, IpAddr>>,
        lookups: std::sync::atomic::AtomicUsize,
    }

    impl Table {
        fn with(entries: &[(&str, &str)]) -> Arc<Table> {
            let t = Table::default();
            for (name, ip) in entries {
                t.set(name, Some(ip));
            }
            Arc::new(t)
        }
        fn set(&self, name: &str, ip: Option<&str>) {
            let mut answers = self.answers.lock().expect("table");
            match ip {
                Some(ip) => answers.insert(name.to_string(), ip.parse().expect("test address")),
                None => answers.remove(name),
            };
        }
        fn lookups(&self) -> usize {
            self.lookups.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    impl Resolve for Arc<Table> {
        async fn resolve(&self, host: &str) -> Result<IpAddr, ResolveError> {
            self.lookups
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let found = self.answers.lock().expect("table").get(host).copied();
            found.ok_or_else(|| ResolveError::NoAddress {
                host: host.to_string(),
            })
        }
    }

    #[tokio::test]
    async fn pins_names_and_leaves_the_rest_alone() {
        let table = Table::with(&[("pg-rw", "10.96.0.12"), ("pg-2.pg", "10.244.1.7")]);
        let pins = Pinner::new(table.clone());
        for (conninfo, want) in [
            // A name: pinned right after host; sslmode verify-full still checks `pg-rw`.
            (
                "application_name=pg-1 host=pg-rw user=streaming_replica sslmode=verify-full",
                "application_name=pg-1 host=pg-rw hostaddr=10.96.0.12 user=streaming_replica sslmode=verify-full",
            ),
            // IP literals and sockets need no lookup.
            ("host=10.0.0.1 port=5432", "host=10.0.0.1 port=5432"),
            ("host=fd00::1", "host=fd00::1"),
            ("host=/controller/run", "host=/controller/run"),
            // The user's own hostaddr is kept as it is.
            (
                "host=pg-rw hostaddr=192.0.2.9",
                "host=pg-rw hostaddr=192.0.2.9",
            ),
            // A name that does not resolve: libpq resolves it itself.
            ("host=gone.example user=u", "host=gone.example user=u"),
            // One entry per host, empty where libpq should use the name.
            (
                "host=pg-rw,10.0.0.1,gone.example,pg-2.pg",
                "host=pg-rw,10.0.0.1,gone.example,pg-2.pg hostaddr=10.96.0.12,,,10.244.1.7",
            ),
            // No host: nothing to pin (libpq's default socket).
            ("user=u dbname=postgres", "user=u dbname=postgres"),
            // Not a connection string the manager writes: left alone.
            ("host pg-rw", "host pg-rw"),
            (
                "host='pg-rw' sslrootcert='/c/ca dir/ca.crt'",
                "host=pg-rw hostaddr=10.96.0.12 sslrootcert='/c/ca dir/ca.crt'",
            ),
        ] {
            assert_eq!(pins.pin_conninfo(conninfo).await, want, "{conninfo}");
        }
    }

    #[tokio::test]
    async fn only_standby_roles_with_a_connection_are_pinned() {
        let pins = Pinner::new(Table::with(&[("pg-rw", "10.96.0.12")]));
        let standby = |c: Option<&str>| Role::Standby {
            restore_from: Some("far".into()),
            primary_conninfo: c.map(str::to_string),
        };
        for (role, want) in [
            (Role::Primary, Role::Primary),
            (standby(None), standby(None)),
            (
                standby(Some("host=pg-rw")),
                standby(Some("host=pg-rw hostaddr=10.96.0.12")),
            ),
        ] {
            assert_eq!(pins.pin_role(role.clone()).await, want, "{role:?}");
        }
    }

    #[tokio::test]
    async fn without_a_resolver_nothing_is_pinned() {
        let pins = Pinner::<Arc<Table>>::with_resolver(None, REFRESH_AFTER);
        assert_eq!(pins.pin_conninfo("host=pg-rw").await, "host=pg-rw");
    }

    #[tokio::test]
    async fn remembered_addresses_are_served_at_once_and_refreshed_in_the_background() {
        let table = Table::with(&[("pg-rw", "10.96.0.12")]);
        let fresh = Pinner::new(table.clone());
        for _ in 0..3 {
            assert_eq!(
                fresh.pin_conninfo("host=pg-rw").await,
                "host=pg-rw hostaddr=10.96.0.12"
            );
        }
        assert_eq!(table.lookups(), 1, "looked up once while fresh");

        // Always stale: every call serves what is known and looks up again behind it.
        let table = Table::with(&[("pg-rw", "10.96.0.12")]);
        let pins = Pinner::with_resolver(Some(table.clone()), Duration::ZERO);
        let pin = || pins.pin_conninfo("host=pg-rw");
        assert_eq!(pin().await, "host=pg-rw hostaddr=10.96.0.12");
        // The Service is recreated with another ClusterIP.
        table.set("pg-rw", Some("10.96.0.99"));
        assert_eq!(
            pin().await,
            "host=pg-rw hostaddr=10.96.0.12",
            "served at once"
        );
        settle(&table, 2).await;
        assert_eq!(
            pin().await,
            "host=pg-rw hostaddr=10.96.0.99",
            "then the new one"
        );
        // The DNS server goes away: the last address that worked is kept.
        table.set("pg-rw", None);
        settle(&table, 3).await;
        assert_eq!(pin().await, "host=pg-rw hostaddr=10.96.0.99");
        settle(&table, 4).await;
        assert_eq!(pin().await, "host=pg-rw hostaddr=10.96.0.99");
    }

    /// Waits until the background lookups reached `lookups` and were recorded.
    async fn settle(table: &Table, lookups: usize) {
        for _ in 0..1000 {
            if table.lookups() >= lookups {
                break;
            }
            tokio::task::yield_now().await;
        }
        // Recording follows the lookup within the same task.
        tokio::task::yield_now().await;
    }
}
