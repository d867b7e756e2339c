//! The webhook certificate against an in-memory API server that keeps resourceVersions the way
//! the real one does: replicas racing to create or renew it end up serving one CA, and a running
//! server is switched to the renewed certificate without a restart.

mod common;

use common::status;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pgfed_operator::metrics::Metrics;
use pgfed_operator::webhook::certs::{WebhookCertificate, generate};
use pgfed_operator::webhook::renewal::{CertificateTargets, keep_renewed};
use pgfed_operator::webhook::secret::ensure_certificate;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Barrier;

const NAMESPACE: &str = "pgfed-system";
const SECRET: &str = "pgfed-webhook-cert";
const SERVICE: &str = "pgfed-webhook";

/// The objects of the fake API server and what happened to them.
#[derive(Default)]
struct Objects {
    /// Objects by URL path of the object.
    by_path: BTreeMap<String, Value>,
    /// Last resourceVersion handed out.
    version: u64,
    /// Successful writes to the Secret.
    secret_writes: usize,
}

/// A barrier and how many more reads still stop at it.
type WaitingReads = (Arc<Barrier>, usize);

#[derive(Clone)]
struct Fake {
    objects: Arc<Mutex<Objects>>,
    /// When set, that many first reads of the Secret wait here for one another, so the replicas
    /// all read before any of them writes.
    waiting_reads: Arc<Mutex<Option<WaitingReads>>>,
}

impl Fake {
    fn new() -> Self {
        let fake = Fake {
            objects: Arc::default(),
            waiting_reads: Arc::default(),
        };
        for (kind, name, path) in [
            (
                "MutatingWebhookConfiguration",
                "pgfed-mutating-webhook",
                "mutatingwebhookconfigurations",
            ),
            (
                "ValidatingWebhookConfiguration",
                "pgfed-validating-webhook",
                "validatingwebhookconfigurations",
            ),
        ] {
            let webhook = |n: &str| {
                json!({"name": n, "admissionReviewVersions": ["v1"], "sideEffects": "None",
                    "clientConfig": {"service": {"name": SERVICE, "namespace": NAMESPACE}}})
            };
            fake.store(
                &format!("/apis/admissionregistration.k8s.io/v1/{path}/{name}"),
                json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
                    "metadata": {"name": name}, "webhooks": [webhook("a.pgfed.io"), webhook("b.pgfed.io")]}),
            );
        }
        fake
    }

    /// Makes the next `replicas` reads of the Secret wait for one another.
    fn read_together(&self, replicas: usize) {
        *self.waiting_reads.lock().expect("lock") =
            Some((Arc::new(Barrier::new(replicas)), replicas));
    }

    fn store(&self, path: &str, mut object: Value) -> Value {
        let mut objects = self.objects.lock().expect("lock");
        objects.version += 1;
        object["metadata"]["resourceVersion"] = json!(objects.version.to_string());
        objects.by_path.insert(path.to_string(), object.clone());
        object
    }

    fn get(&self, path: &str) -> Option<Value> {
        self.objects
            .lock()
            .expect("lock")
            .by_path
            .get(path)
            .cloned()
    }

    fn client(&self) -> kube::Client {
        let secrets = "/api/v1/namespaces/{ns}/secrets";
        let router = Router::new()
            .route(secrets, axum::routing::post(create_secret))
            .route(
                &format!("{secrets}/{{name}}"),
                get(read_secret).put(replace_secret).patch(apply_secret),
            )
            .route(
                "/apis/admissionregistration.k8s.io/v1/{resource}/{name}",
                get(read_configuration).patch(patch_configuration),
            )
            .with_state(self.clone());
        kube::Client::new(router, NAMESPACE)
    }

    fn secret_path(name: &str) -> String {
        format!("/api/v1/namespaces/{NAMESPACE}/secrets/{name}")
    }

    fn secret(&self) -> Value {
        self.get(&Fake::secret_path(SECRET))
            .expect("the Secret exists")
    }

    fn secret_text(&self, key: &str) -> String {
        let b64 = self.secret()["data"][key]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let bytes: k8s_openapi::ByteString =
            serde_json::from_value(json!(b64)).expect("base64 data");
        String::from_utf8(bytes.0).expect("utf-8")
    }

    fn ca_bundles(&self) -> Vec<String> {
        let objects = self.objects.lock().expect("lock");
        objects
            .by_path
            .iter()
            .filter(|(p, _)| p.contains("webhookconfigurations"))
            .flat_map(|(_, c)| c["webhooks"].as_array().cloned().unwrap_or_default())
            .map(|w| {
                let bytes: k8s_openapi::ByteString =
                    serde_json::from_value(w["clientConfig"]["caBundle"].clone())
                        .unwrap_or(k8s_openapi::ByteString(Vec::new()));
                String::from_utf8(bytes.0).expect("utf-8")
            })
            .collect()
    }
}

async fn read_secret(
    State(fake): State<Fake>,
    Path((_ns, name)): Path<(String, String)>,
) -> Response {
    let barrier = match fake.waiting_reads.lock().expect("lock").as_mut() {
        Some((barrier, remaining)) if *remaining > 0 => {
            *remaining -= 1;
            Some(barrier.clone())
        }
        _ => None,
    };
    // Read first, answer after the others have read too.
    let response = match fake.get(&Fake::secret_path(&name)) {
        Some(secret) => Json(secret).into_response(),
        None => status(StatusCode::NOT_FOUND, "NotFound"),
    };
    if let Some(barrier) = barrier {
        barrier.wait().await;
    }
    response
}

async fn create_secret(
    State(fake): State<Fake>,
    Path(_ns): Path<String>,
    Json(secret): Json<Value>,
) -> Response {
    let name = secret["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let path = Fake::secret_path(&name);
    if fake.get(&path).is_some() {
        return status(StatusCode::CONFLICT, "AlreadyExists");
    }
    fake.objects.lock().expect("lock").secret_writes += 1;
    (StatusCode::CREATED, Json(fake.store(&path, secret))).into_response()
}

async fn replace_secret(
    State(fake): State<Fake>,
    Path((_ns, name)): Path<(String, String)>,
    Json(secret): Json<Value>,
) -> Response {
    let path = Fake::secret_path(&name);
    let Some(current) = fake.get(&path) else {
        return status(StatusCode::NOT_FOUND, "NotFound");
    };
    let asked = &secret["metadata"]["resourceVersion"];
    if !asked.is_null() && *asked != current["metadata"]["resourceVersion"] {
        return status(StatusCode::CONFLICT, "Conflict");
    }
    fake.objects.lock().expect("lock").secret_writes += 1;
    Json(fake.store(&path, secret)).into_response()
}

/// Server-side apply with force, reduced to what it does to a whole object: the last writer wins.
async fn apply_secret(
    State(fake): State<Fake>,
    Path((_ns, name)): Path<(String, String)>,
    body: String,
) -> Response {
    let Ok(secret) = serde_json::from_str::<Value>(&body) else {
        return status(StatusCode::BAD_REQUEST, "BadRequest");
    };
    fake.objects.lock().expect("lock").secret_writes += 1;
    Json(fake.store(&Fake::secret_path(&name), secret)).into_response()
}

async fn read_configuration(State(fake): State<Fake>, uri: axum::http::Uri) -> Response {
    match fake.get(uri.path()) {
        Some(config) => Json(config).into_response(),
        None => status(StatusCode::NOT_FOUND, "NotFound"),
    }
}

async fn patch_configuration(
    State(fake): State<Fake>,
    uri: axum::http::Uri,
    body: String,
) -> Response {
    let Some(mut config) = fake.get(uri.path()) else {
        return status(StatusCode::NOT_FOUND, "NotFound");
    };
    let Ok(patch) = serde_json::from_str::<json_patch::Patch>(&body) else {
        return status(StatusCode::BAD_REQUEST, "BadRequest");
    };
    if json_patch::patch(&mut config, &patch).is_err() {
        return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid");
    }
    Json(fake.store(uri.path(), config)).into_response()
}

fn targets() -> CertificateTargets {
    CertificateTargets {
        namespace: NAMESPACE.into(),
        secret: SECRET.into(),
        service: SERVICE.into(),
        mutating_configuration: "pgfed-mutating-webhook".into(),
        validating_configuration: "pgfed-validating-webhook".into(),
    }
}

/// Stores `cert` in the Secret the way the operator does.
fn seed(fake: &Fake, cert: &WebhookCertificate) {
    let data = |s: &str| {
        serde_json::to_value(k8s_openapi::ByteString(s.as_bytes().to_vec())).expect("json")
    };
    fake.store(
        &Fake::secret_path(SECRET),
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": SECRET, "namespace": NAMESPACE, "annotations": {
                "pgfed.io/certificate-not-before": cert.not_before.to_rfc3339(),
                "pgfed.io/certificate-not-after": cert.not_after.to_rfc3339()}},
            "data": {"ca.crt": data(&cert.ca_pem), "tls.crt": data(&cert.cert_pem), "tls.key": data(&cert.key_pem)}}),
    );
}

/// A certificate issued `days` ago.
fn issued_days_ago(days: i64) -> WebhookCertificate {
    let then = chrono::Utc::now() - chrono::Duration::days(days);
    generate(SERVICE, NAMESPACE, then, None).expect("generate")
}

/// Two replicas ensuring the certificate at once, both reading the Secret before either writes.
async fn two_replicas_read_then_write(fake: &Fake) -> (WebhookCertificate, WebhookCertificate) {
    fake.read_together(2);
    let (a, b) = (fake.client(), fake.client());
    let (a, b) = tokio::join!(
        ensure_certificate(&a, NAMESPACE, SECRET, SERVICE),
        ensure_certificate(&b, NAMESPACE, SECRET, SERVICE),
    );
    (a.expect("replica a"), b.expect("replica b"))
}

#[tokio::test]
async fn replicas_starting_together_serve_the_one_ca_that_was_written() {
    let fake = Fake::new();
    let (a, b) = two_replicas_read_then_write(&fake).await;
    assert_eq!(a, b, "both replicas serve the same certificate");
    assert_eq!(fake.secret_text("ca.crt"), a.ca_pem);
    assert_eq!(
        fake.objects.lock().expect("lock").secret_writes,
        1,
        "the second writer did not overwrite the first"
    );
}

#[tokio::test]
async fn replicas_renewing_together_keep_one_new_ca_and_trust_the_old_one() {
    let fake = Fake::new();
    let old = issued_days_ago(61);
    seed(&fake, &old);
    let (a, b) = two_replicas_read_then_write(&fake).await;
    assert_eq!(a, b, "both replicas serve the same renewed certificate");
    assert_ne!(a.cert_pem, old.cert_pem, "renewed");
    assert_eq!(fake.secret_text("tls.crt"), a.cert_pem);
    assert_eq!(fake.objects.lock().expect("lock").secret_writes, 1);
    assert!(
        a.ca_pem.contains(old.ca_pem.trim()),
        "the previous CA stays trusted while replicas still serve its certificate"
    );
}

/// The DER of the certificate a TLS client trusting `bundle` is served at `addr` under the
/// webhook Service's name (the handshake fails unless `bundle` verifies it).
async fn served(addr: std::net::SocketAddr, bundle: &str) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut bundle.as_bytes()) {
        roots.add(c.expect("pem")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name =
        rustls::pki_types::ServerName::try_from("pgfed-webhook.pgfed-system.svc").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("handshake verified by the caBundle");
    tls.get_ref().1.peer_certificates().expect("certificate")[0].to_vec()
}

fn der(pem: &str) -> Vec<u8> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .expect("a certificate")
        .expect("pem")
        .to_vec()
}

#[tokio::test]
async fn a_running_webhook_is_switched_to_the_renewed_certificate() {
    let fake = Fake::new();
    let client = fake.client();
    // Serving a certificate issued 61 days ago: past two thirds of its 90 days.
    let old = issued_days_ago(61);
    seed(&fake, &old);
    let (acceptor, reloader) =
        pgfed_tls::reloadable_acceptor(old.cert_pem.as_bytes(), old.key_pem.as_bytes(), None)
            .expect("acceptor");
    let tcp = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let addr = tcp.local_addr().expect("addr");
    let listener = pgfed_tls::TlsListener {
        tcp,
        acceptor,
        name: "webhook",
    };
    let metrics = Arc::new(Metrics::new());
    let router = pgfed_operator::webhook::router(metrics.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    assert_eq!(served(addr, &old.ca_pem).await, der(&old.cert_pem));

    let renewal = tokio::spawn(keep_renewed(
        client,
        targets(),
        old.clone(),
        reloader,
        metrics.clone(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    // The first round is due at once; it is counted when it has finished.
    while !metrics
        .encode()
        .expect("metrics")
        .contains("reconciles_total{")
    {
        assert!(tokio::time::Instant::now() < deadline, "no renewal");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let renewed = fake.secret_text("tls.crt");
    assert_ne!(renewed, old.cert_pem, "renewed");
    let bundles = fake.ca_bundles();
    assert_eq!(bundles.len(), 4, "two webhooks in each configuration");
    for bundle in &bundles {
        assert_eq!(
            bundle,
            &fake.secret_text("ca.crt"),
            "every caBundle trusts the new CA"
        );
        // What the API server now trusts verifies the new certificate, served by the same
        // server without a restart, and still the old one a slower replica may serve.
        assert_eq!(served(addr, bundle).await, der(&renewed));
        assert!(bundle.contains(old.ca_pem.trim()));
    }
    assert!(!server.is_finished(), "the server kept running");
    let scrape = metrics.encode().expect("metrics");
    assert!(
        scrape.contains(r#"pgfed_operator_reconciles_total{controller="webhook-certificate"} 1"#),
        "{scrape}"
    );
    renewal.abort();
    server.abort();
}
