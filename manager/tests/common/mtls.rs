//! Requests to a manager's mutual-TLS status port with curl, as the operator makes them: the
//! cluster CA to verify the server, a client certificate to be let in.

use super::certs::Pair;
use super::wait_for;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

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
        let mut cmd = Command::new("curl");
        cmd.args([
            "-s",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "--max-time",
            "10",
            "-X",
            method,
        ])
        .arg("--cacert")
        .arg(self.ca)
        .arg("--cert")
        .arg(&self.client.cert)
        .arg("--key")
        .arg(&self.client.key);
        if let Some(b) = body {
            cmd.args(["-H", "content-type: application/json", "--data-binary", b]);
        }
        let out = cmd
            .arg(format!("{}{path}", self.base))
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').ok_or("no status")?;
        let code = code
            .trim()
            .parse()
            .map_err(|_| format!("bad status {code:?} (curl {})", out.status))?;
        if code == 0 {
            return Err(format!("no answer (curl {})", out.status));
        }
        Ok((code, body.to_string()))
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
