//! The environment's object store (MinIO, started by `tests/kind-multi/up`) and Backups: S3
//! requests signed by curl, Backup waits, a Cluster manifest archiving to the store.

use crate::{cluster, pgfed_resource, wait_until};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DynamicObject, PostParams};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The object store `tests/kind-multi/up` started, as it wrote it to `$KM_STATE/s3.env`.
pub struct ObjectStore {
    /// S3 endpoint URL.
    pub endpoint: String,
    /// Access key ID.
    pub user: String,
    /// Secret access key.
    pub password: String,
    /// The bucket of region a.
    pub bucket: String,
    /// The bucket of region b.
    pub bucket_b: String,
}

impl ObjectStore {
    /// Reads `s3.env` (`PGFED_KIND_STATE`, else /var/lib/pgfed-kind).
    pub fn load() -> Self {
        let state =
            std::env::var("PGFED_KIND_STATE").unwrap_or_else(|_| "/var/lib/pgfed-kind".into());
        let path = format!("{state}/s3.env");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (tests/kind-multi/up writes it)"));
        let vars: BTreeMap<&str, &str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
            .collect();
        let get = |k: &str| {
            vars.get(k)
                .map(|v| v.to_string())
                .unwrap_or_else(|| panic!("{path} has no {k}"))
        };
        Self {
            endpoint: get("S3_ENDPOINT"),
            user: get("AWS_ACCESS_KEY_ID"),
            password: get("AWS_SECRET_ACCESS_KEY"),
            bucket: get("S3_BUCKET_A"),
            bucket_b: get("S3_BUCKET_B"),
        }
    }

    /// A signed S3 request with curl (SigV4), as tests/kind-multi/lib/s3.sh makes them; the body.
    pub fn request(&self, method: &str, path_and_query: &str) -> String {
        // The credentials go through curl's configuration on stdin, never its command line
        // (which any process on the machine can read).
        let mut child = Command::new("curl")
            .args(["-sf", "--aws-sigv4", "aws:amz:us-east-1:s3", "-K", "-"])
            .args(["-X", method])
            .arg(format!("{}{path_and_query}", self.endpoint))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("curl");
        let config = format!("user = \"{}:{}\"\n", self.user, self.password);
        child
            .stdin
            .take()
            .expect("curl stdin")
            .write_all(config.as_bytes())
            .expect("curl configuration");
        let out = child.wait_with_output().expect("curl");
        assert!(
            out.status.success(),
            "S3 {method} {path_and_query} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every key under `prefix` (ListObjectsV2, all pages).
    pub fn list(&self, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = format!("/{}?list-type=2&prefix={}", self.bucket, encode(prefix));
            if let Some(t) = &token {
                query.push_str(&format!("&continuation-token={}", encode(t)));
            }
            let xml = self.request("GET", &query);
            keys.extend(xml_values(&xml, "Key"));
            token = xml_values(&xml, "NextContinuationToken").into_iter().next();
            if token.is_none() {
                return keys;
            }
        }
    }

    /// The object `key` of the bucket.
    pub fn get(&self, key: &str) -> String {
        self.request("GET", &format!("/{}/{key}", self.bucket))
    }

    /// Deletes every object under `prefix`.
    pub fn delete_prefix(&self, prefix: &str) {
        for key in self.list(prefix) {
            self.request("DELETE", &format!("/{}/{key}", self.bucket));
        }
    }
}

/// Percent-encodes a query value.
pub fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The text of every `<tag>…</tag>` in `xml`.
pub fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|part| part.split_once(&close).map(|(v, _)| v.to_string()))
        .collect()
}

/// The Backup objects of `ns`.
pub fn backups(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &pgfed_resource("Backup"))
}

/// Waits until Backup `name` is in `phase`; returns its status.
pub async fn wait_backup(client: &Client, ns: &str, name: &str, phase: &str) -> serde_json::Value {
    let api = backups(client, ns);
    wait_until(
        &format!("Backup {ns}/{name} in phase {phase}"),
        Duration::from_secs(420),
        Duration::from_secs(2),
        || {
            let api = api.clone();
            async move {
                let b = api.get(name).await.map_err(|e| e.to_string())?;
                let status = b.data.get("status").cloned().unwrap_or_default();
                if status["phase"] == phase {
                    Ok(status)
                } else if status["phase"] == "failed" {
                    panic!("Backup {name} failed: {status}");
                } else {
                    Err(status.to_string())
                }
            }
        },
    )
    .await
}

/// The condition `type_` of a status.
pub fn condition<'a>(status: &'a serde_json::Value, type_: &str) -> Option<&'a serde_json::Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Creates the credentials Secret `s3` of `store` in `ns` (keys `ACCESS_KEY_ID`,
/// `ACCESS_SECRET_KEY`).
pub async fn s3_secret(client: &Client, ns: &str, store: &ObjectStore) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "s3"},
        "stringData": {"ACCESS_KEY_ID": store.user, "ACCESS_SECRET_KEY": store.password}
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create s3 secret");
}

/// A `barmanObjectStore` in `bucket` of `store` under `prefix`, with the Secret `s3`'s
/// credentials and two WAL uploads at a time.
pub fn store_in(store: &ObjectStore, bucket: &str, prefix: &str) -> serde_json::Value {
    serde_json::json!({
        "destinationPath": format!("s3://{bucket}/{prefix}/"),
        "endpointURL": store.endpoint,
        "s3Credentials": {
            "accessKeyId": {"name": "s3", "key": "ACCESS_KEY_ID"},
            "secretAccessKey": {"name": "s3", "key": "ACCESS_SECRET_KEY"}
        },
        "wal": {"maxParallel": 2}
    })
}

/// A Cluster manifest `name` of `instances` archiving to `store` under `prefix` (target
/// prefer-standby), with the credentials Secret `s3` created in `ns`.
pub async fn with_store(
    client: &Client,
    ns: &str,
    store: &ObjectStore,
    prefix: &str,
    name: &str,
    instances: u32,
) -> serde_json::Value {
    s3_secret(client, ns, store).await;
    let mut manifest = cluster::minimal(name, instances);
    manifest["spec"]["backup"] = serde_json::json!({
        "target": "prefer-standby",
        "barmanObjectStore": {
            "destinationPath": format!("s3://{}/{prefix}", store.bucket),
            "endpointURL": store.endpoint,
            "s3Credentials": {
                "accessKeyId": {"name": "s3", "key": "ACCESS_KEY_ID"},
                "secretAccessKey": {"name": "s3", "key": "ACCESS_SECRET_KEY"}
            }
        }
    });
    manifest
}
