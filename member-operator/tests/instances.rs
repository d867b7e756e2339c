//! The operator's mTLS client against a real TLS server built as the instance manager builds its
//! status API (pgfed-tls acceptor requiring a client certificate from the cluster's client CA):
//! the status is read, settings are pushed, a refusal is told apart, the wrong certificates on
//! either side fail, and a manager that does not answer costs no more than the timeout.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use chrono::{Duration, Utc};
use pgfed_api::instance::{
    BACKUP_PATH, BackupPhase, BackupProgress, BackupRefusal, BackupRequest, CONFIG_PATH,
    DynamicConfig, InstanceStatus, STATUS_PATH, WAL_SWITCH_PATH,
};
use pgfed_operator::instances::{
    ClientCertificates, ClientIdentity, InstanceClient, InstanceClientError, Timeouts,
};
use pgfed_operator::pki::{
    CaSigner, KeyedCertificate, LeafRequest, LeafUsage, Validity, self_signed_ca, service_dns_names,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

const SERVER_NAME: &str = "pg-rw.ns.svc";
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn validity() -> Validity {
    Validity::from_now(Utc::now(), Duration::minutes(5), Duration::days(30))
}

/// A cluster's PKI: server CA and the server certificate the managers serve, client CA.
struct ClusterPki {
    server_ca: KeyedCertificate,
    server: KeyedCertificate,
    client_ca: KeyedCertificate,
}

fn cluster_pki(name: &str) -> ClusterPki {
    let server_ca = self_signed_ca(&format!("{name} CA"), None, validity()).expect("server CA");
    let signer = CaSigner::from_pem(&server_ca.cert_pem, &server_ca.key_pem).expect("signer");
    let mut dns_names = service_dns_names("pg-rw", "ns", "cluster.local");
    dns_names.extend(service_dns_names("pg-r", "ns", "cluster.local"));
    let server = signer
        .sign(
            &LeafRequest {
                common_name: "pg-rw".into(),
                dns_names,
                usage: LeafUsage::Server,
            },
            None,
            validity(),
        )
        .expect("server certificate");
    let client_ca =
        self_signed_ca(&format!("{name} client CA"), None, validity()).expect("client CA");
    ClusterPki {
        server_ca,
        server,
        client_ca,
    }
}

fn operator_identity(client_ca: &KeyedCertificate) -> Arc<ClientIdentity> {
    ClientCertificates::default()
        .for_ca(&client_ca.cert_pem, &client_ca.key_pem, Utc::now())
        .expect("operator client certificate")
}

/// What the fake manager holds: the settings version it accepted last and the bodies it got.
#[derive(Default)]
struct Manager {
    version: u64,
    pushed: Vec<DynamicConfig>,
}

type Shared = Arc<Mutex<Manager>>;

fn canned_status() -> InstanceStatus {
    InstanceStatus {
        instance_name: "pg-1".into(),
        postgres_running: true,
        is_primary: true,
        timeline_id: Some(3),
        current_lsn: Some("0/5000060".into()),
        ..InstanceStatus::default()
    }
}

async fn status() -> Json<InstanceStatus> {
    Json(canned_status())
}

/// As the manager: an older version than the one held is refused with 409.
async fn config(State(manager): State<Shared>, Json(pushed): Json<DynamicConfig>) -> Response {
    let mut manager = manager.lock().expect("lock");
    if pushed.version < manager.version {
        return StatusCode::CONFLICT.into_response();
    }
    manager.version = pushed.version;
    manager.pushed.push(pushed);
    StatusCode::NO_CONTENT.into_response()
}

/// As the manager: the settings in effect (the last accepted push).
async fn config_in_effect(State(manager): State<Shared>) -> Response {
    let manager = manager.lock().expect("lock");
    Json(manager.pushed.last().cloned().unwrap_or_default()).into_response()
}

/// As the manager: `busy` is refused (another backup runs), anything else is started.
async fn start_backup(Json(request): Json<BackupRequest>) -> Response {
    if request.name == "busy" {
        let refusal = BackupRefusal {
            error: "backup other is running on this instance".into(),
            session_id: "s1".into(),
            running: Some("other".into()),
        };
        return (StatusCode::CONFLICT, Json(refusal)).into_response();
    }
    let progress = BackupProgress {
        name: request.name,
        instance: "pg-1".into(),
        session_id: "s1".into(),
        ..BackupProgress::default()
    };
    (StatusCode::ACCEPTED, Json(progress)).into_response()
}

/// As the manager: `known` is running; anything else is unknown to this session.
async fn backup_progress(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    if name == "known" {
        let progress = BackupProgress {
            name,
            phase: BackupPhase::Running,
            session_id: "s1".into(),
            ..BackupProgress::default()
        };
        return Json(progress).into_response();
    }
    let refusal = BackupRefusal {
        error: format!("no backup {name} in this session of the instance manager"),
        session_id: "s2".into(),
        running: None,
    };
    (StatusCode::NOT_FOUND, Json(refusal)).into_response()
}

async fn never_answers() -> StatusCode {
    std::future::pending::<()>().await;
    StatusCode::OK
}

/// Serves the manager's status API with `pki`'s server certificate, requiring client
/// certificates from `pki`'s client CA. Returns its address and state.
async fn serve(pki: &ClusterPki) -> (SocketAddr, Shared) {
    serve_on(pki, LOCALHOST, 0).await
}

/// [`serve`] on a chosen address (port 0: any free port).
async fn serve_on(pki: &ClusterPki, ip: IpAddr, port: u16) -> (SocketAddr, Shared) {
    let acceptor = pgfed_tls::acceptor(
        pki.server.cert_pem.as_bytes(),
        pki.server.key_pem.as_bytes(),
        Some(pki.client_ca.cert_pem.as_bytes()),
    )
    .expect("acceptor");
    let tcp = TcpListener::bind((ip, port)).await.expect("bind");
    let addr = tcp.local_addr().expect("addr");
    let shared = Shared::default();
    let router = Router::new()
        .route(STATUS_PATH, get(status))
        .route(
            CONFIG_PATH,
            axum::routing::put(config).get(config_in_effect),
        )
        .route(BACKUP_PATH, axum::routing::post(start_backup))
        .route(&format!("{BACKUP_PATH}/{{name}}"), get(backup_progress))
        .route(
            WAL_SWITCH_PATH,
            axum::routing::post(|| async { StatusCode::OK }),
        )
        .with_state(shared.clone());
    let listener = pgfed_tls::TlsListener {
        tcp,
        acceptor,
        name: "test manager",
    };
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, shared)
}

fn client(pki: &ClusterPki, identity: &ClientIdentity, port: u16) -> InstanceClient {
    InstanceClient::new(pki.server_ca.cert_pem.as_bytes(), SERVER_NAME, identity)
        .expect("client")
        .with_port(port)
}

#[tokio::test]
async fn the_status_is_read_over_mutual_tls() {
    let pki = cluster_pki("pg");
    let (addr, _) = serve(&pki).await;
    let client = client(&pki, &operator_identity(&pki.client_ca), addr.port());
    assert_eq!(
        client.status(LOCALHOST).await.expect("status"),
        canned_status()
    );
}

#[tokio::test]
async fn backups_are_started_and_read_and_a_refusal_or_a_lost_one_is_told_apart() {
    let pki = cluster_pki("pg");
    let (addr, _) = serve(&pki).await;
    let client = client(&pki, &operator_identity(&pki.client_ca), addr.port());
    let request = |name: &str| BackupRequest { name: name.into() };
    let started = client
        .start_backup(LOCALHOST, &request("nightly"))
        .await
        .expect("asked")
        .expect("started");
    assert_eq!(
        (started.name.as_str(), started.session_id.as_str()),
        ("nightly", "s1")
    );
    let busy = client
        .start_backup(LOCALHOST, &request("busy"))
        .await
        .expect("asked")
        .expect_err("refused");
    assert_eq!(busy.running.as_deref(), Some("other"));
    let known = client
        .backup_progress(LOCALHOST, "known")
        .await
        .expect("asked")
        .expect("known");
    assert_eq!(known.phase, BackupPhase::Running);
    let lost = client
        .backup_progress(LOCALHOST, "lost")
        .await
        .expect("asked")
        .expect_err("unknown");
    assert_eq!(lost.session_id, "s2");
    client.switch_wal(LOCALHOST).await.expect("switched");
}

#[tokio::test]
async fn settings_are_pushed_and_an_older_version_is_refused() {
    let pki = cluster_pki("pg");
    let (addr, manager) = serve(&pki).await;
    let client = client(&pki, &operator_identity(&pki.client_ca), addr.port());
    let newer = DynamicConfig {
        version: 7,
        target_primary: Some("pg-2".into()),
        fenced: false,
        ..DynamicConfig::default()
    };
    client.push_config(LOCALHOST, &newer).await.expect("push");
    assert_eq!(
        manager.lock().expect("lock").pushed,
        std::slice::from_ref(&newer)
    );
    assert_eq!(client.config(LOCALHOST).await.expect("read back"), newer);

    let stale = DynamicConfig {
        version: 6,
        target_primary: Some("pg-1".into()),
        fenced: true,
        ..DynamicConfig::default()
    };
    let refused = client.push_config(LOCALHOST, &stale).await;
    assert!(
        matches!(refused, Err(InstanceClientError::Refused(_))),
        "{refused:?}"
    );
    assert_eq!(refused.err().map(|e| e.label()), Some("refused"));
    assert_eq!(manager.lock().expect("lock").pushed, [newer]);
}

#[tokio::test]
async fn a_manager_with_a_certificate_from_another_ca_is_not_trusted() {
    let pki = cluster_pki("pg");
    let impostor = cluster_pki("impostor");
    // The impostor serves a certificate for the same names, signed by its own CA, and would
    // accept our client certificate.
    let impostor = ClusterPki {
        client_ca: pki.client_ca.clone(),
        ..impostor
    };
    let (addr, _) = serve(&impostor).await;
    let client = client(&pki, &operator_identity(&pki.client_ca), addr.port());
    let error = client
        .status(LOCALHOST)
        .await
        .expect_err("impostor trusted");
    assert_eq!(error.label(), "tls", "{error}");
}

#[tokio::test]
async fn a_manager_is_verified_under_the_name_the_caller_gives() {
    let pki = cluster_pki("pg");
    let (addr, _) = serve(&pki).await;
    let identity = operator_identity(&pki.client_ca);
    let wrong_name = InstanceClient::new(
        pki.server_ca.cert_pem.as_bytes(),
        "other-rw.ns.svc",
        &identity,
    )
    .expect("client")
    .with_port(addr.port());
    let error = wrong_name
        .status(LOCALHOST)
        .await
        .expect_err("name not checked");
    assert_eq!(error.label(), "tls", "{error}");
}

#[tokio::test]
async fn only_a_certificate_from_the_cluster_client_ca_is_accepted_by_the_manager() {
    let pki = cluster_pki("pg");
    let (addr, _) = serve(&pki).await;
    let other_ca = cluster_pki("other").client_ca;
    let foreign = client(&pki, &operator_identity(&other_ca), addr.port());
    let error = foreign
        .status(LOCALHOST)
        .await
        .expect_err("foreign client accepted");
    assert_eq!(error.label(), "tls", "{error}");
    // The same client with the certificate issued from the cluster's client CA gets through.
    let ours = client(&pki, &operator_identity(&pki.client_ca), addr.port());
    assert!(ours.status(LOCALHOST).await.is_ok());
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let pki = cluster_pki("pg");
    let port = {
        let tcp = TcpListener::bind((LOCALHOST, 0)).await.expect("bind");
        tcp.local_addr().expect("addr").port()
    };
    let client = client(&pki, &operator_identity(&pki.client_ca), port);
    let error = client.status(LOCALHOST).await.expect_err("nobody listens");
    assert_eq!(error.label(), "connect", "{error}");
}

const SHORT: Timeouts = Timeouts {
    connect: std::time::Duration::from_millis(200),
    request: std::time::Duration::from_millis(500),
};

/// A TCP server that accepts connections and never says a word (not even TLS).
async fn silent_server(ip: IpAddr, port: u16) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let tcp = TcpListener::bind((ip, port)).await.expect("bind");
    let addr = tcp.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = tcp.accept().await {
            held.push(stream);
        }
    });
    (addr, task)
}

#[tokio::test]
async fn a_manager_that_accepts_but_never_answers_times_out_within_the_bound() {
    let pki = cluster_pki("pg");
    let (addr, _task) = silent_server(LOCALHOST, 0).await;
    let client = client(&pki, &operator_identity(&pki.client_ca), addr.port()).with_timeouts(SHORT);
    let started = std::time::Instant::now();
    let error = client
        .status(LOCALHOST)
        .await
        .expect_err("silence answered");
    assert_eq!(error.label(), "timeout", "{error}");
    let took = started.elapsed();
    assert!(took >= SHORT.request, "{took:?}");
    assert!(took < SHORT.request * 4, "{took:?}");
}

/// Three instances on one port, each its own loopback address (as pods have their own IPs).
#[tokio::test]
async fn silent_instances_do_not_delay_the_others_nor_each_other() {
    let pki = cluster_pki("pg");
    let (good, _) = serve(&pki).await;
    let silent = [
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)),
    ];
    let mut tasks = Vec::new();
    for ip in silent {
        tasks.push(silent_server(ip, good.port()).await.1);
    }
    let timeouts = Timeouts {
        connect: std::time::Duration::from_millis(500),
        request: std::time::Duration::from_secs(1),
    };
    let client =
        client(&pki, &operator_identity(&pki.client_ca), good.port()).with_timeouts(timeouts);
    let started = std::time::Instant::now();
    let results = client
        .fetch_all(&[
            ("pg-1", LOCALHOST),
            ("pg-2", silent[0]),
            ("pg-3", silent[1]),
        ])
        .await;
    let took = started.elapsed();
    // Asked one after the other, the two silent ones alone would take two timeouts.
    assert!(took < timeouts.request * 2, "{took:?}");
    let outcomes: Vec<_> = results
        .into_iter()
        .map(|(name, result)| (name, result.map_err(|e| e.label())))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("pg-1", Ok(canned_status())),
            ("pg-2", Err("timeout")),
            ("pg-3", Err("timeout")),
        ]
    );
}

#[tokio::test]
async fn a_handler_that_never_answers_times_out_within_the_bound() {
    // TLS completes, the HTTP answer never comes: the request timeout still holds.
    let pki = cluster_pki("pg");
    let acceptor = pgfed_tls::acceptor(
        pki.server.cert_pem.as_bytes(),
        pki.server.key_pem.as_bytes(),
        Some(pki.client_ca.cert_pem.as_bytes()),
    )
    .expect("acceptor");
    let tcp = TcpListener::bind((LOCALHOST, 0)).await.expect("bind");
    let addr = tcp.local_addr().expect("addr");
    let router = Router::new().route(STATUS_PATH, get(never_answers));
    let listener = pgfed_tls::TlsListener {
        tcp,
        acceptor,
        name: "stuck manager",
    };
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = client(&pki, &operator_identity(&pki.client_ca), addr.port()).with_timeouts(SHORT);
    let started = std::time::Instant::now();
    let error = client.status(LOCALHOST).await.expect_err("answered");
    assert_eq!(error.label(), "timeout", "{error}");
    assert!(started.elapsed() < SHORT.request * 4);
}
