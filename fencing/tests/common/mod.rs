//! A real MinIO for the lease tests: its own data directory and port, one bucket made through
//! the S3 API (boto3; object_store cannot create buckets), stopped when dropped.

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USER: &str = "fencingtest";
/// The server's secret key, which no output may show.
pub const PASSWORD: &str = "fencingtest-password";
/// The bucket every test writes in.
pub const BUCKET: &str = "leases";
const HINT: &str = "run `tests/install-deps` from the repository root (it builds MinIO into \
                    /var/cache/pgfed/minio-<version>/minio and installs python3-boto3), or set PGFED_MINIO";

/// The MinIO binary: `$PGFED_MINIO`, else the newest build under /var/cache/pgfed.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PGFED_MINIO") {
        return PathBuf::from(path);
    }
    let mut builds: Vec<PathBuf> = std::fs::read_dir("/var/cache/pgfed")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("minio-"))
        .map(|entry| entry.path().join("minio"))
        .filter(|path| path.is_file())
        .collect();
    builds.sort();
    match builds.pop() {
        Some(path) => path,
        None => panic!("no MinIO binary found; {HINT}"),
    }
}

/// A running MinIO server.
pub struct Minio {
    server: Child,
    endpoint: String,
    _data: tempfile::TempDir,
}

impl Minio {
    /// Starts a server and creates [`BUCKET`] in it.
    pub fn start() -> Minio {
        let data = tempfile::tempdir().expect("temporary directory");
        let port = unused_port();
        let server = Command::new(binary())
            .arg("server")
            .arg(data.path().join("drive"))
            .args(["--address", &format!("127.0.0.1:{port}")])
            .args(["--console-address", &format!("127.0.0.1:{}", unused_port())])
            .env("MINIO_ROOT_USER", USER)
            .env("MINIO_ROOT_PASSWORD", PASSWORD)
            .env("MINIO_BROWSER", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting MinIO: {e}; {HINT}"));
        let mut minio = Minio {
            server,
            endpoint: format!("http://127.0.0.1:{port}"),
            _data: data,
        };
        minio.create_bucket();
        minio
    }

    /// Creates [`BUCKET`], retrying while the server is still starting.
    fn create_bucket(&mut self) {
        let script = format!(
            "import boto3\n\
             s3 = boto3.client('s3', endpoint_url={endpoint:?}, aws_access_key_id={USER:?}, \
             aws_secret_access_key={PASSWORD:?}, region_name='us-east-1')\n\
             s3.create_bucket(Bucket={BUCKET:?})\n",
            endpoint = self.endpoint
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.server.try_wait() {
                panic!("MinIO exited while starting: {status}");
            }
            let out = Command::new("python3")
                .args(["-c", &script])
                .output()
                .unwrap_or_else(|e| panic!("running python3: {e}; {HINT}"));
            if out.status.success() {
                return;
            }
            let why = String::from_utf8_lossy(&out.stderr);
            assert!(
                Instant::now() < deadline,
                "creating bucket {BUCKET} in MinIO at {}: {why}",
                self.endpoint
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A client of [`BUCKET`] as object_store configures one by default (conditional writes as
    /// `If-Match` / `If-None-Match`); each call builds a separate client, as two processes would.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::new(self.builder().build().expect("S3 client"))
    }

    /// A client of [`BUCKET`] with conditional writes set to `conditional`.
    pub fn store_with(&self, conditional: S3ConditionalPut) -> Arc<dyn ObjectStore> {
        let builder = self.builder().with_conditional_put(conditional);
        Arc::new(builder.build().expect("S3 client"))
    }

    /// A client of [`BUCKET`] signing with `secret` instead of the server's secret key.
    pub fn store_with_secret(&self, secret: &str) -> Arc<dyn ObjectStore> {
        let builder = self.builder().with_secret_access_key(secret);
        Arc::new(builder.build().expect("S3 client"))
    }

    fn builder(&self) -> AmazonS3Builder {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_bucket_name(BUCKET)
            .with_region("us-east-1")
            .with_access_key_id(USER)
            .with_secret_access_key(PASSWORD)
    }
}

impl Drop for Minio {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn unused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}
