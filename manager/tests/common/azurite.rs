//! An Azurite blob service (the Azure Storage emulator) on a random port in a temporary directory,
//! killed on drop. Containers are created and listed over the Blob REST API with curl and an
//! account SAS signed here (Python's hmac), not with the object_store client under test.

use super::{INSTALL_HINT, free_port, require_program, run_ok, wait_for};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Azurite's well-known development account and key.
pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// `azurite-blob`: `$PGFED_AZURITE`, else the newest `/var/cache/pgfed/azurite-*` npm install.
pub fn azurite_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PGFED_AZURITE") {
        return PathBuf::from(p);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/var/cache/pgfed")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("azurite-"))
                .map(|e| e.path().join("node_modules/.bin/azurite-blob"))
                .filter(|p| p.exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "Azurite not found (set PGFED_AZURITE to azurite-blob or install it into \
             /var/cache/pgfed/azurite-<version>/ with tests/kind-multi/lib/build.sh install_azurite); {INSTALL_HINT}"
        )
    })
}

pub struct Azurite {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
    /// An account SAS (blob service; read, write, delete, list, add, create) as a query string.
    pub sas: String,
}

impl Azurite {
    pub fn start() -> Azurite {
        let node = require_program("node", "nodejs");
        let bin = azurite_bin();
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("azurite.log")).expect("log");
        let child = Command::new(node)
            .arg(&bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(dir.path().join("data"))
            .arg("--disableTelemetry")
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let mut a = Azurite {
            child,
            dir,
            port,
            sas: String::new(),
        };
        a.sas = account_sas();
        let url = format!("{}?comp=list&{}", a.account_url(), a.sas);
        wait_for("Azurite to answer", Duration::from_secs(60), || {
            if let Ok(Some(status)) = a.child.try_wait() {
                return Err(format!("azurite exited: {status}: {}", a.log()));
            }
            let code = a.curl_status(&["-X", "GET", &url]);
            if code == "200" {
                Ok(())
            } else {
                Err(format!("HTTP {code}"))
            }
        });
        a
    }

    /// `http://127.0.0.1:<port>/devstoreaccount1`, the blob endpoint with the account in the path.
    pub fn account_url(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// The emulator's connection string, as CloudNativePG documents it for Azurite.
    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={};",
            self.account_url()
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("azurite.log")).unwrap_or_default()
    }

    fn curl_status(&self, args: &[&str]) -> String {
        Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    pub fn create_container(&self, container: &str) {
        let url = format!(
            "{}/{container}?restype=container&{}",
            self.account_url(),
            self.sas
        );
        let code = self.curl_status(&["-X", "PUT", "-H", "Content-Length: 0", &url]);
        assert_eq!(
            code,
            "201",
            "creating container {container}: {}",
            self.log()
        );
    }

    /// Blob names under `prefix` in `container`.
    pub fn list(&self, container: &str, prefix: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut marker = String::new();
        loop {
            let url = format!(
                "{}/{container}?restype=container&comp=list&prefix={prefix}&marker={marker}&{}",
                self.account_url(),
                self.sas
            );
            let xml = run_ok(Command::new("curl").args(["-sf", &url]));
            names.extend(xml_values(&xml, "Name"));
            marker = xml_values(&xml, "NextMarker").pop().unwrap_or_default();
            if marker.is_empty() {
                return names;
            }
        }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of every `<tag>…</tag>` in `xml` (no nesting inside; enough for blob listings).
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|s| s.split_once(&close).map(|(v, _)| v.to_string()))
        .collect()
}

/// An account SAS for the well-known key, signed as the Azure Storage docs specify for
/// service version 2020-08-04 (string-to-sign without the encryption scope line).
fn account_sas() -> String {
    let python = require_program("python3", "python3");
    let script = format!(
        r#"import base64, hmac, hashlib, urllib.parse
f = dict(sp="rwdlac", ss="b", srt="sco", st="2020-01-01T00:00:00Z", se="2099-01-01T00:00:00Z", spr="https,http", sv="2020-08-04")
to_sign = "\n".join(["{ACCOUNT}", f["sp"], f["ss"], f["srt"], f["st"], f["se"], "", f["spr"], f["sv"], ""])
sig = base64.b64encode(hmac.new(base64.b64decode("{KEY}"), to_sign.encode(), hashlib.sha256).digest()).decode()
f["sig"] = sig
print(urllib.parse.urlencode(f))
"#
    );
    run_ok(Command::new(python).arg("-c").arg(script))
        .trim()
        .to_string()
}
