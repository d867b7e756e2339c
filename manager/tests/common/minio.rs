//! A MinIO server on a random port in a temporary directory, killed on drop; buckets are created
//! with boto3 (the library barman-cli-cloud itself uses).

use super::{INSTALL_HINT, free_port, require_program, run_ok, wait_http_ok};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub const ACCESS_KEY: &str = "pgfedtest";
pub const SECRET_KEY: &str = "pgfedtest-secret-key";

pub fn minio_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PGFED_MINIO") {
        return PathBuf::from(p);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/var/cache/pgfed")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("minio"))
                .filter(|p| {
                    p.is_file()
                        && p.parent()
                            .is_some_and(|d| d.to_string_lossy().contains("minio-"))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("MinIO not found (set PGFED_MINIO or build it into /var/cache/pgfed/minio-*/minio); {INSTALL_HINT}")
    })
}

pub struct Minio {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Minio {
    pub fn start() -> Minio {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut m = Minio {
            child: None,
            dir,
            port: free_port(),
        };
        m.launch();
        m
    }

    fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("minio.log")).expect("log");
        let child = Command::new(minio_bin())
            .arg("server")
            .arg(self.dir.path().join("data"))
            .arg("--address")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--console-address")
            .arg(format!("127.0.0.1:{}", free_port()))
            .env("MINIO_ROOT_USER", ACCESS_KEY)
            .env("MINIO_ROOT_PASSWORD", SECRET_KEY)
            .env("MINIO_BROWSER", "off")
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start minio");
        let url = format!("http://127.0.0.1:{}/minio/health/live", self.port);
        let mut child = child;
        let log_file = self.dir.path().join("minio.log");
        wait_http_ok("MinIO to answer", &url, &mut child, || {
            std::fs::read_to_string(&log_file).unwrap_or_default()
        });
        self.child = Some(child);
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server (object store outage); `restart` brings it back with its data.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.boto(&format!("s3.create_bucket(Bucket={bucket:?})"));
    }

    /// Runs a Python snippet with `s3` bound to a boto3 client for this server.
    pub fn boto(&self, code: &str) -> String {
        let python = require_program("python3", "python3-boto3");
        let script = format!(
            "import boto3\ns3 = boto3.client('s3', endpoint_url={:?}, aws_access_key_id={ACCESS_KEY:?}, \
             aws_secret_access_key={SECRET_KEY:?}, region_name='us-east-1')\n{code}\n",
            self.endpoint()
        );
        run_ok(Command::new(python).arg("-c").arg(script))
    }

    /// Keys under `prefix` in `bucket`.
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let out = self.boto(&format!(
            "p = s3.get_paginator('list_objects_v2')\nfor page in p.paginate(Bucket={bucket:?}, Prefix={prefix:?}):\n    for o in page.get('Contents', []):\n        print(o['Key'])"
        ));
        out.lines().map(str::to_string).collect()
    }

    /// Overwrites an object with raw bytes from a file.
    pub fn put_file(&self, bucket: &str, key: &str, file: &std::path::Path) {
        self.boto(&format!(
            "s3.upload_file({:?}, {bucket:?}, {key:?})",
            file.display().to_string()
        ));
    }

    pub fn get_file(&self, bucket: &str, key: &str, file: &std::path::Path) {
        self.boto(&format!(
            "s3.download_file({bucket:?}, {key:?}, {:?})",
            file.display().to_string()
        ));
    }

    /// A barman-cli-cloud command (`tool`, e.g. barman-cloud-wal-restore) pointed at this server,
    /// run as the postgres user with this server's credentials.
    pub fn barman_cloud(&self, tool: &str) -> std::process::Command {
        let mut cmd = super::as_postgres(super::require_program(tool, "barman-cli-cloud"));
        for (k, v) in self.aws_env() {
            cmd.env(k, v);
        }
        cmd.args([
            "--cloud-provider",
            "aws-s3",
            "--endpoint-url",
            &self.endpoint(),
        ]);
        cmd
    }

    /// Environment for barman-cli-cloud.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_string()),
        ]
    }
}

impl Drop for Minio {
    fn drop(&mut self) {
        self.stop();
    }
}
