//! Requests to a manager's mutual-TLS status port with curl, as the operator makes them: the
//! cluster CA to verify the server, a client certificate to be let in.

use super::certs::{Pair, Pki};
use super::node::Node;
use super::{curl_status, free_port, wait_for};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// Gives `n` a status API over mutual TLS, as the operator reaches it: a new PKI under the node's
/// directory, a server certificate for `<cluster>-rw`, the status, probe and metrics ports.
/// Returns the PKI, the operator's client certificate and the status port.
pub fn serve_status_over_tls(n: &mut Node) -> (Pki, Pair, u16) {
    let pki = Pki::new(&n.dir.path().join("pki"));
    let server = pki.issue("alpha-rw", &["localhost", "127.0.0.1"]);
    let operator = pki.issue("pgfed-operator", &[]);
    let status_port = free_port();
    n.set(
        "certificates",
        json!({"serverCert": server.cert, "serverKey": server.key, "clientCa": pki.ca}),
    );
    n.set("statusPort", json!(status_port));
    n.set("probePort", json!(free_port()));
    n.set("metricsPort", json!(free_port()));
    (pki, operator, status_port)
}

/// A client of one status port.
pub struct StatusClient<'a> {
    pub base: String,
    pub ca: &'a Path,
    pub client: &'a Pair,
}

impl StatusClient<'_> {
    /// `method path` with an optional JSON body; the HTTP status and the body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<(u16, String), String> {
        let mut args: Vec<std::ffi::OsString> = vec!["-X".into(), method.into()];
        for (flag, file) in [
            ("--cacert", self.ca),
            ("--cert", &self.client.cert),
            ("--key", &self.client.key),
        ] {
            args.push(flag.into());
            args.push(file.into());
        }
        if let Some(b) = body {
            for a in ["-H", "content-type: application/json", "--data-binary", b] {
                args.push(a.into());
            }
        }
        args.push(format!("{}{path}", self.base).into());
        curl_status(args)
    }

    /// Waits until the port answers `GET path` with 200, and returns the body.
    pub fn wait_get(&self, path: &str, deadline: Duration) -> String {
        wait_for(
            &format!("GET {path} over mutual TLS"),
            deadline,
            || match self.request("GET", path, None)? {
                (200, body) => Ok(body),
                (code, body) => Err(format!("{code}: {body}")),
            },
        )
    }

    /// `PUT path` with `body`, panicking unless it answers `want`; returns the body.
    pub fn put_expect(&self, path: &str, body: &str, want: u16) -> String {
        let (code, answer) = self
            .request("PUT", path, Some(body))
            .unwrap_or_else(|e| panic!("PUT {path} {body}: {e}"));
        assert_eq!(code, want, "PUT {path} {body}: {answer}");
        answer
    }
}

/// How long after `since` `check` first holds, polling every 20 ms (a measurement to print, never
/// to assert on); panics with `what` after `deadline`.
pub fn time_until(
    what: &str,
    since: Instant,
    deadline: Duration,
    check: impl Fn() -> bool,
) -> Duration {
    while since.elapsed() < deadline {
        if check() {
            return since.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out after {deadline:?} waiting for {what}");
}
