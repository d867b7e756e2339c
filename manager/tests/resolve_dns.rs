//! The manager's resolver against a real DNS server (CoreDNS on a random local port, no internet):
//! search domains and ndots read from resolv.conf text as in a Kubernetes pod, the lookup budget
//! against a server that never answers, and a changed record reaching a pinned connection string.
//! Also the system configuration path itself (`/etc/resolv.conf` and `/etc/hosts`).

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::system_conf::parse_resolv_conf;
use pgfed_manager::net::pin::Pinner;
use pgfed_manager::net::resolve::{LOOKUP_BUDGET, Resolve, SystemResolver, failover_options};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// CoreDNS: `PGFED_COREDNS`, else the newest `/var/cache/pgfed/coredns-*/coredns` (what
/// `tests/kind-multi/lib/build.sh` builds), else `coredns` on PATH.
fn coredns_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PGFED_COREDNS") {
        return PathBuf::from(p);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/var/cache/pgfed")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("coredns-"))
                .map(|e| e.path().join("coredns"))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
        .pop()
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join("coredns"))
                    .find(|p| p.is_file())
            })
        })
        .unwrap_or_else(|| {
            panic!(
                "CoreDNS not found (set PGFED_COREDNS, or build it with tests/kind-multi/lib/build.sh \
                 into /var/cache/pgfed/coredns-*/coredns)"
            )
        })
}

/// A free UDP port on 127.0.0.1 (CoreDNS serves UDP and TCP on it; a TCP port is checked too).
fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp port");
        let port = udp.local_addr().expect("address").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// CoreDNS answering from a hosts file (reread every 100 ms, TTL 1 s), killed on drop.
struct CoreDns {
    child: Child,
    port: u16,
    hosts: PathBuf,
    _dir: tempfile::TempDir,
}

impl CoreDns {
    fn start(hosts: &str) -> CoreDns {
        let dir = tempfile::tempdir().expect("tempdir");
        let hosts_file = dir.path().join("hosts");
        std::fs::write(&hosts_file, hosts).expect("hosts file");
        let port = free_port();
        let corefile = dir.path().join("Corefile");
        std::fs::write(
            &corefile,
            format!(
                ".:{port} {{\n  bind 127.0.0.1\n  hosts {} {{\n    ttl 1\n    reload 100ms\n  }}\n}}\n",
                hosts_file.display()
            ),
        )
        .expect("Corefile");
        let child = Command::new(coredns_bin())
            .arg("-conf")
            .arg(&corefile)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start CoreDNS");
        let dns = CoreDns {
            child,
            port,
            hosts: hosts_file,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "CoreDNS did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        dns
    }
}

impl Drop for CoreDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The resolver the manager builds from `resolv_conf` (as in a pod), its nameservers moved to
/// `port` on 127.0.0.1 since resolv.conf cannot name a port.
fn resolver(resolv_conf: &str, port: u16, tcp: bool) -> SystemResolver {
    let (config, options) = parse_resolv_conf(resolv_conf).expect("resolv.conf");
    let mut connections = vec![ConnectionConfig::udp()];
    if tcp {
        connections.push(ConnectionConfig::tcp());
    }
    for c in &mut connections {
        c.port = port;
    }
    let server = NameServerConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), true, connections);
    let config = ResolverConfig::from_parts(
        config.domain().cloned(),
        config.search().to_vec(),
        vec![server],
    );
    SystemResolver::new(config, failover_options(options)).expect("resolver")
}

const POD_RESOLV_CONF: &str = "nameserver 10.96.0.10\n\
     search ns.svc.cluster.local svc.cluster.local cluster.local\n\
     options ndots:5\n";

#[tokio::test]
async fn resolves_short_and_cross_region_names_through_the_search_domains() {
    let dns = CoreDns::start(
        "10.96.0.12 pg-rw.ns.svc.cluster.local\n10.100.3.4 far-rw.far.svc.region-b.pgfed\n",
    );
    let r = resolver(POD_RESOLV_CONF, dns.port, true);
    for (name, want) in [
        // Found under the first search domain, as glibc would.
        ("pg-rw", "10.96.0.12"),
        ("pg-rw.ns", "10.96.0.12"),
        // Found as it is once the search domains gave nothing.
        ("far-rw.far.svc.region-b.pgfed", "10.100.3.4"),
        ("10.1.2.3", "10.1.2.3"),
    ] {
        let got = r
            .resolve(name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want.parse::<IpAddr>().expect("address"), "{name}");
    }
    let missing = r.resolve("nothing-here").await.expect_err("no such name");
    assert_eq!(missing.label(), "dns_lookup", "{missing}");
}

#[tokio::test]
async fn a_silent_server_costs_the_lookup_budget_not_glibcs_timeouts() {
    // Takes queries and never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    let port = silent.local_addr().expect("address").port();
    let r = resolver(POD_RESOLV_CONF, port, false);
    let started = Instant::now();
    let err = r.resolve("pg-rw").await.expect_err("no answer");
    let took = started.elapsed();
    assert!(matches!(err.label(), "dns_timeout" | "dns_lookup"), "{err}");
    assert!(
        took < LOOKUP_BUDGET + Duration::from_millis(500),
        "took {took:?}: {err}"
    );
}

#[tokio::test]
async fn a_changed_record_reaches_the_pinned_connection_string() {
    let dns = CoreDns::start("10.96.0.12 pg-rw.ns.svc.cluster.local\n");
    // Looked up again on every call, so the test waits on the record's TTL only.
    let pins = Pinner::with_resolver(
        Some(resolver(POD_RESOLV_CONF, dns.port, true)),
        Duration::ZERO,
    );
    let conninfo = "host=pg-rw user=streaming_replica sslmode=verify-full";
    assert_eq!(
        pins.pin_conninfo(conninfo).await,
        "host=pg-rw hostaddr=10.96.0.12 user=streaming_replica sslmode=verify-full"
    );
    // The Service is recreated with another ClusterIP.
    std::fs::write(&dns.hosts, "10.96.0.99 pg-rw.ns.svc.cluster.local\n").expect("hosts file");
    let want = "host=pg-rw hostaddr=10.96.0.99 user=streaming_replica sslmode=verify-full";
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = pins.pin_conninfo(conninfo).await;
        if got == want {
            break;
        }
        assert!(Instant::now() < deadline, "still {got}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The DNS server goes away: the last address that worked is kept.
    drop(dns);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(pins.pin_conninfo(conninfo).await, want);
    }
}

#[tokio::test]
async fn the_system_configuration_resolves_names_of_the_hosts_file() {
    if !Path::new("/etc/resolv.conf").exists() {
        // The error path, then: clear, and nothing is pinned.
        let err = SystemResolver::from_system_conf()
            .err()
            .expect("no resolv.conf");
        assert_eq!(err.label(), "resolv_conf_read");
        return;
    }
    let r = SystemResolver::from_system_conf().expect("system resolver");
    let localhost = r.resolve("localhost").await.expect("localhost");
    // IPv4 first, as getaddrinfo would answer on a host without global IPv6.
    assert_eq!(localhost, IpAddr::V4(Ipv4Addr::LOCALHOST));
}
