//! Host name to address, through hickory-resolver configured like the system resolver
//! (`/etc/resolv.conf`: nameservers, search domains, ndots) but with short timeouts: glibc's
//! getaddrinfo waits 5 s per attempt and tries several, which alone can spend a failover's
//! budget when the DNS server is slow or gone. [`Resolve`] is the seam the pinning logic is
//! tested through.

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{LookupIpStrategy, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the system resolver's configuration lives.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// How long one query may wait for an answer before it is sent again.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(1);
/// How many times a query is sent before the lookup of that name fails.
pub const QUERY_ATTEMPTS: usize = 2;
/// How long one lookup may take in all, search domains included: a name short of `ndots` dots
/// (`pg-rw` in Kubernetes, with ndots:5) is tried under each search domain in turn, and each try
/// may spend [`QUERY_TIMEOUT`] × [`QUERY_ATTEMPTS`] against a silent server.
pub const LOOKUP_BUDGET: Duration = Duration::from_secs(2);
/// Answers hickory keeps. The manager looks up a handful of names (its primary, an external
/// cluster), so a small cache is plenty.
const CACHE_SIZE: u64 = 32;

/// Why a host name could not be turned into an address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The system resolver's configuration could not be read.
    #[error("cannot read {path}: {source}")]
    ReadSystemConfig {
        /// The file (`/etc/resolv.conf`).
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The system resolver's configuration is unusable (no nameserver, an invalid search domain).
    #[error("cannot use {path}: {source}")]
    SystemConfig {
        /// The file (`/etc/resolv.conf`).
        path: PathBuf,
        /// What hickory said.
        source: NetError,
    },
    /// The resolver could not be built from its configuration.
    #[error("cannot build the resolver: {0}")]
    Build(NetError),
    /// The lookup failed (no such name, no answer, a server error).
    #[error("cannot resolve {host}: {source}")]
    Lookup {
        /// The name looked up.
        host: String,
        /// What hickory said.
        source: NetError,
    },
    /// The answer holds no address.
    #[error("{host} has no address")]
    NoAddress {
        /// The name looked up.
        host: String,
    },
    /// No answer within the lookup budget.
    #[error("cannot resolve {host}: no answer within {budget:?}")]
    TimedOut {
        /// The name looked up.
        host: String,
        /// The budget it exceeded.
        budget: Duration,
    },
}

impl ResolveError {
    /// A short, stable name of the cause, for metrics labels and logs.
    pub fn label(&self) -> &'static str {
        match self {
            ResolveError::ReadSystemConfig { .. } => "resolv_conf_read",
            ResolveError::SystemConfig { .. } => "resolv_conf_invalid",
            ResolveError::Build(_) => "resolver_build",
            ResolveError::Lookup { .. } => "dns_lookup",
            ResolveError::NoAddress { .. } => "dns_no_address",
            ResolveError::TimedOut { .. } => "dns_timeout",
        }
    }
}

/// Turns a host name into one address.
pub trait Resolve: Send + Sync + 'static {
    /// One address of `host`; an IP literal is returned as it is, without a lookup.
    fn resolve(&self, host: &str) -> impl Future<Output = Result<IpAddr, ResolveError>> + Send;
}

/// The options of the system configuration with the failover's timeouts and a small cache; what
/// `/etc/resolv.conf` says about ndots, EDNS and the hosts file is kept. A and AAAA are asked
/// for at once and an IPv4 address preferred, as getaddrinfo orders them on a host without
/// global IPv6 (hickory's default puts IPv6 first: `::1` for `localhost`). Pure.
pub fn failover_options(mut system: ResolverOpts) -> ResolverOpts {
    system.timeout = QUERY_TIMEOUT;
    system.attempts = QUERY_ATTEMPTS;
    system.cache_size = CACHE_SIZE;
    system.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    system
}

/// hickory-resolver on the tokio runtime, configured from `/etc/resolv.conf`.
#[derive(Clone)]
pub struct SystemResolver {
    resolver: TokioResolver,
}

impl SystemResolver {
    /// A resolver configured like the system's, from [`RESOLV_CONF`].
    pub fn from_system_conf() -> Result<Self, ResolveError> {
        Self::from_resolv_conf(Path::new(RESOLV_CONF))
    }

    /// A resolver configured from the resolv.conf file at `path`, with the failover's timeouts.
    pub fn from_resolv_conf(path: &Path) -> Result<Self, ResolveError> {
        let text = std::fs::read(path).map_err(|source| ResolveError::ReadSystemConfig {
            path: path.to_path_buf(),
            source,
        })?;
        let (config, options) =
            hickory_resolver::system_conf::parse_resolv_conf(text).map_err(|source| {
                ResolveError::SystemConfig {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        Self::new(config, failover_options(options))
    }

    /// A resolver with this configuration and these options, as they are.
    pub fn new(config: ResolverConfig, options: ResolverOpts) -> Result<Self, ResolveError> {
        let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options)
            .build()
            .map_err(ResolveError::Build)?;
        Ok(Self { resolver })
    }
}

impl Resolve for SystemResolver {
    async fn resolve(&self, host: &str) -> Result<IpAddr, ResolveError> {
        // hickory tries even an IP literal as a name first when ndots > 4 (Kubernetes sets 5).
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(ip);
        }
        let lookup = tokio::time::timeout(LOOKUP_BUDGET, self.resolver.lookup_ip(host))
            .await
            .map_err(|_| ResolveError::TimedOut {
                host: host.to_string(),
                budget: LOOKUP_BUDGET,
            })?
            .map_err(|source| ResolveError::Lookup {
                host: host.to_string(),
                source,
            })?;
        lookup.iter().next().ok_or_else(|| ResolveError::NoAddress {
            host: host.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_systems_search_rules_with_the_failovers_timeouts() {
        let (_, system) = hickory_resolver::system_conf::parse_resolv_conf(
            "nameserver 10.96.0.10\nsearch ns.svc.cluster.local svc.cluster.local\n\
             options ndots:5 timeout:5 attempts:3\n",
        )
        .expect("resolv.conf");
        let opts = failover_options(system);
        assert_eq!(opts.ndots, 5);
        assert_eq!(opts.timeout, QUERY_TIMEOUT);
        assert_eq!(opts.attempts, QUERY_ATTEMPTS);
        assert_eq!(opts.cache_size, CACHE_SIZE);
        assert_eq!(opts.ip_strategy, LookupIpStrategy::Ipv4AndIpv6);
    }

    #[test]
    fn an_unreadable_resolv_conf_is_a_clear_error() {
        let err = SystemResolver::from_resolv_conf(Path::new("/nonexistent/resolv.conf"))
            .err()
            .expect("no such file");
        assert_eq!(err.label(), "resolv_conf_read");
        assert!(
            err.to_string().contains("/nonexistent/resolv.conf"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_ip_literal_is_not_looked_up() {
        // No nameserver listens on this address: a lookup would time out.
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("resolv.conf");
        std::fs::write(&conf, "nameserver 192.0.2.1\n").expect("resolv.conf");
        let resolver = SystemResolver::from_resolv_conf(&conf).expect("resolver");
        for literal in ["10.96.0.12", "fd00::12"] {
            assert_eq!(
                resolver.resolve(literal).await.expect(literal),
                literal.parse::<IpAddr>().expect("literal")
            );
        }
    }
}
