//! A fake-gcs-server (Google Cloud Storage emulator) on a random port in a temporary directory,
//! killed on drop. fake-gcs-server serves object_store's XML API reads and listings but takes
//! writes only on its JSON API (no XML PUT, fsouza/fake-gcs-server#331; no XML multipart upload,
//! #852), so clients talk to it through `gcs_xml_writes.py`, which turns each XML write into one
//! JSON API upload and passes everything else through. Buckets are created and listed over the
//! JSON API with curl, directly.

use super::{INSTALL_HINT, free_port, require_program, run_ok, wait_http_ok};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// `fake-gcs-server`: `$PGFED_FAKE_GCS`, else the newest `/var/cache/pgfed/fake-gcs-server-*`.
pub fn fake_gcs_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PGFED_FAKE_GCS") {
        return PathBuf::from(p);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/var/cache/pgfed")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("fake-gcs-server-")
                })
                .map(|e| e.path().join("fake-gcs-server"))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "fake-gcs-server not found (set PGFED_FAKE_GCS or build it into \
             /var/cache/pgfed/fake-gcs-server-<version>/ with tests/kind-multi/lib/build.sh build_fake_gcs); {INSTALL_HINT}"
        )
    })
}

pub struct FakeGcs {
    server: Child,
    shim: Child,
    dir: tempfile::TempDir,
    /// fake-gcs-server itself.
    pub port: u16,
    /// The XML write shim in front of it: what clients use.
    pub shim_port: u16,
}

impl FakeGcs {
    pub fn start() -> FakeGcs {
        let python = require_program("python3", "python3");
        let bin = fake_gcs_bin();
        let dir = tempfile::tempdir().expect("tempdir");
        let (port, shim_port) = (free_port(), free_port());
        let log = std::fs::File::create(dir.path().join("fake-gcs.log")).expect("log");
        let server = Command::new(&bin)
            .args([
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-port",
                &port.to_string(),
            ])
            .args(["-backend", "filesystem", "-filesystem-root"])
            .arg(dir.path().join("data"))
            .args(["-public-host", &format!("127.0.0.1:{port}")])
            .args(["-log-level", "warn"])
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let shim_log = std::fs::File::create(dir.path().join("shim.log")).expect("log");
        let shim = Command::new(python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/common/gcs_xml_writes.py"
            ))
            .args([shim_port.to_string(), port.to_string()])
            .stdout(Stdio::from(shim_log.try_clone().expect("log")))
            .stderr(Stdio::from(shim_log))
            .spawn()
            .expect("start the XML write shim");
        let mut g = FakeGcs {
            server,
            shim,
            dir,
            port,
            shim_port,
        };
        let url = format!("{}/storage/v1/b", g.endpoint());
        let log_dir = g.dir.path().to_path_buf();
        wait_http_ok("fake-gcs-server to answer", &url, &mut g.server, || {
            std::fs::read_to_string(log_dir.join("fake-gcs.log")).unwrap_or_default()
        });
        g
    }

    /// What a client's `gcs_base_url` / `endpointURL` points at.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.shim_port)
    }

    pub fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!(
            "fake-gcs-server:\n{}\nshim:\n{}",
            read("fake-gcs.log"),
            read("shim.log")
        )
    }

    /// A service-account key as fake-gcs-server users write it: the emulator's URL and no OAuth.
    pub fn emulator_key(&self) -> String {
        json!({
            "type": "service_account",
            "project_id": "pgfed-test",
            "private_key_id": "emulator",
            "private_key": "unused with disable_oauth",
            "client_email": "pgfed@pgfed-test.iam.gserviceaccount.com",
            "gcs_base_url": self.endpoint(),
            "disable_oauth": true,
        })
        .to_string()
    }

    pub fn create_bucket(&self, bucket: &str) {
        run_ok(Command::new("curl").args([
            "-sf",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            &json!({"name": bucket}).to_string(),
            &format!(
                "http://127.0.0.1:{}/storage/v1/b?project=pgfed-test",
                self.port
            ),
        ]));
    }

    /// Object names under `prefix` in `bucket`, read from fake-gcs-server directly.
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut token = String::new();
        loop {
            let out = run_ok(Command::new("curl").args([
                "-sf",
                "-G",
                &format!("http://127.0.0.1:{}/storage/v1/b/{bucket}/o", self.port),
                "--data-urlencode",
                &format!("prefix={prefix}"),
                "--data-urlencode",
                &format!("pageToken={token}"),
            ]));
            let page: Value = serde_json::from_str(&out).expect("object list JSON");
            for item in page["items"].as_array().into_iter().flatten() {
                if let Some(n) = item["name"].as_str() {
                    names.push(n.to_string());
                }
            }
            match page["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => token = t.to_string(),
                _ => return names,
            }
        }
    }
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        for c in [&mut self.shim, &mut self.server] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
