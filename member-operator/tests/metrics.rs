//! The operator's metrics endpoint, scraped over HTTP after real admission reviews and reconciles.

use pgfed_operator::metrics::{Metrics, router as metrics_router};
use pgfed_operator::webhook::router as webhook_router;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn serve(router: axum::Router) -> SocketAddr {
    let tcp = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let addr = tcp.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(tcp, router).await });
    addr
}

/// One HTTP/1.1 request; returns (status line, headers and body as text).
async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (String, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.expect("read");
    let (status, rest) = response.split_once("\r\n").expect("status line");
    (status.to_string(), rest.to_string())
}

fn review(uid: &str, instances: i64) -> String {
    let object = json!({"apiVersion": "pgfed.io/v1", "kind": "Cluster", "metadata": {"name": "pg"},
        "spec": {"instances": instances, "storage": {"size": "1Gi"}}});
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "pgfed.io", "version": "v1", "kind": "Cluster"},
            "resource": {"group": "pgfed.io", "version": "v1", "resource": "clusters"},
            "name": "pg",
            "namespace": "default",
            "operation": "CREATE",
            "userInfo": {"username": "alice"},
            "object": object,
            "dryRun": false
        }
    })
    .to_string()
}

/// The value of the sample whose name and labels are exactly `series`.
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn a_scrape_shows_admissions_and_reconciles() {
    let metrics = Arc::new(Metrics::new());
    let webhook = serve(webhook_router(metrics.clone())).await;
    let scrape_at = serve(metrics_router(metrics.clone())).await;

    // One valid and two invalid Clusters validated, one defaulted.
    let mut answers = Vec::new();
    for (path, uid, instances) in [
        ("/validate", "00000000-0000-4000-8000-000000000001", 3),
        ("/validate", "00000000-0000-4000-8000-000000000002", 0),
        ("/validate", "00000000-0000-4000-8000-000000000003", -1),
        ("/mutate", "00000000-0000-4000-8000-000000000004", 1),
    ] {
        let (status, body) = http(webhook, "POST", path, Some(&review(uid, instances))).await;
        assert!(status.ends_with("200 OK"), "{status}\n{body}");
        answers.push(body);
    }
    assert!(answers[1].contains("\"allowed\":false"), "{}", answers[1]);

    metrics.reconciled("webhook-certificate", Duration::from_millis(30), None);
    metrics.reconciled(
        "webhook-certificate",
        Duration::from_millis(20),
        Some("kube-api"),
    );

    let (status, scrape) = http(scrape_at, "GET", "/metrics", None).await;
    assert!(status.ends_with("200 OK"), "{status}");
    assert!(
        scrape.contains("application/openmetrics-text"),
        "content type: {scrape}"
    );
    let expect = [
        (
            r#"pgfed_operator_admission_reviews_total{hook="validate",kind="Cluster",result="allowed"}"#,
            1.0,
        ),
        (
            r#"pgfed_operator_admission_reviews_total{hook="validate",kind="Cluster",result="denied"}"#,
            2.0,
        ),
        (
            r#"pgfed_operator_admission_reviews_total{hook="mutate",kind="Cluster",result="patched"}"#,
            1.0,
        ),
        (
            r#"pgfed_operator_reconciles_total{controller="webhook-certificate"}"#,
            2.0,
        ),
        (
            r#"pgfed_operator_reconcile_errors_total{controller="webhook-certificate",error="kube-api"}"#,
            1.0,
        ),
        (
            r#"pgfed_operator_reconcile_duration_seconds_count{controller="webhook-certificate"}"#,
            2.0,
        ),
        (
            r#"pgfed_operator_reconcile_duration_seconds_sum{controller="webhook-certificate"}"#,
            0.05,
        ),
    ];
    for (series, want) in expect {
        let got = sample(&scrape, series);
        assert!(
            got.is_some_and(|v| (v - want).abs() < 1e-9),
            "{series} = {got:?}, expected {want}\n{scrape}"
        );
    }
    assert!(scrape.trim_end().ends_with("# EOF"), "{scrape}");
}
