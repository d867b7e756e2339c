//! Shared harness for the manager's integration tests: a real MinIO per test (Azurite and
//! fake-gcs-server for the Azure and Google tests), real PostgreSQL 15 instances driven through the
//! `manager` binary (run as the `postgres` user when tests run as root), and barman-cli-cloud for
//! compatibility checks. Missing binaries fail with how to install.
#![allow(dead_code)]

pub mod azurite;
pub mod certs;
pub mod fake_gcs;
pub mod faults;
pub mod minio;
pub mod mtls;
pub mod node;
pub mod writer;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub const INSTALL_HINT: &str =
    "run `tests/install-deps` from the repository root (Debian 12) to install it";

/// PostgreSQL's binaries.
pub fn pg_bindir() -> PathBuf {
    let dir = std::env::var_os("PG_BINDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"));
    assert!(
        dir.join("initdb").exists(),
        "PostgreSQL 15 not found in {} (set PG_BINDIR); {INSTALL_HINT}",
        dir.display()
    );
    dir
}

/// A Debian program on PATH (barman-cloud-*, pgbackrest, python3).
pub fn require_program(name: &str, package: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = PathBuf::from(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} not found on PATH (Debian package {package}); {INSTALL_HINT}");
}

/// The manager binary under test.
pub fn manager_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_manager"))
}

/// uid/gid to run PostgreSQL as: the `postgres` user when we are root, else ourselves.
pub fn pg_ids() -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let me = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    if me != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 3 && f[0] == "postgres" {
            return Some((f[2].parse().expect("uid"), f[3].parse().expect("gid")));
        }
    }
    panic!("tests run as root need a `postgres` OS user to run PostgreSQL; {INSTALL_HINT}");
}

/// A command that runs as the PostgreSQL user.
pub fn as_postgres(program: impl AsRef<std::ffi::OsStr>) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = pg_ids() {
        cmd.uid(uid).gid(gid);
        cmd.env("HOME", "/tmp");
    }
    cmd.env("LC_ALL", "C");
    cmd
}

/// Gives `path` to the PostgreSQL user.
pub fn chown_pg(path: &std::path::Path) {
    if let Some((uid, gid)) = pg_ids() {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
    }
}

/// Where [`free_port`] reserves ports machine-wide: one file per port, naming the test process
/// that holds it (test binaries run side by side).
const PORT_RESERVATIONS: &str = "/tmp/pgfed-test-ports";
/// Below the kernel's ephemeral range (32768–60999 by default): a port chosen here is not taken
/// by some process's outgoing connection between its choice and the server's bind.
const PORT_RANGE: std::ops::Range<u16> = 20000..32000;

/// A TCP port free on every address, reserved for this test process until it exits: a test may
/// choose a port long before a server binds it, or restart a server on it, while other test
/// binaries run.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let dir = std::path::Path::new(PORT_RESERVATIONS);
    std::fs::create_dir_all(dir).expect("port reservation directory");
    let _ = std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o1777));
    let span = u64::from(PORT_RANGE.end - PORT_RANGE.start);
    let start = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        % span;
    let me = std::process::id();
    for i in 0..span {
        let port = PORT_RANGE.start + u16::try_from((start + i) % span).unwrap_or(0);
        let file = dir.join(port.to_string());
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&file);
        if created.is_err() {
            // Held, unless by a process that is gone: then taken over.
            let holder = std::fs::read_to_string(&file).unwrap_or_default();
            let alive = holder
                .trim()
                .parse::<u32>()
                .is_ok_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
            if alive || holder.trim().is_empty() {
                continue;
            }
            // Taken over by removing it and creating it anew: of two takers, one creates it.
            let _ = std::fs::remove_file(&file);
            if std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&file)
                .is_err()
            {
                continue;
            }
        }
        if std::fs::write(&file, me.to_string()).is_err() {
            continue;
        }
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {PORT_RANGE:?}")
}

/// Runs a command and returns stdout, panicking with its output on failure.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `curl <args>` (options and a URL) within 10 s: the HTTP status and the body; an error when
/// nothing answered.
pub fn curl_status<I, S>(args: I) -> Result<(u16, String), String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10"])
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').ok_or("no status")?;
    match code.trim().parse() {
        Ok(0) | Err(_) => Err(format!("no answer {code:?} (curl {})", out.status)),
        Ok(code) => Ok((code, body.to_string())),
    }
}

/// Polls `check` until it returns Some or `deadline` passes (generous deadlines: a noisy machine
/// is slow, not wrong); panics with `what` and the last observation.
pub fn wait_for<T>(
    what: &str,
    deadline: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < deadline {
        match check() {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("timed out after {deadline:?} waiting for {what}; last: {last}");
}

/// Waits until `url` answers with a 2xx status (curl -f), failing at once with `log()` when
/// `server` has exited: how every emulator and object store in the harness is started.
pub fn wait_http_ok(
    what: &str,
    url: &str,
    server: &mut std::process::Child,
    log: impl Fn() -> String,
) {
    wait_for(what, Duration::from_secs(60), || {
        if let Ok(Some(status)) = server.try_wait() {
            return Err(format!("exited: {status}: {}", log()));
        }
        let out = Command::new("curl")
            .args(["-sf", url])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("{url} not answering"))
        }
    });
}

/// A child process (an `instance run` manager) killed when the test ends, even by a panic, so no
/// manager outlives its test; the Node's own drop then stops postgres.
pub struct ChildGuard(pub std::process::Child);

impl ChildGuard {
    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        self.0.wait().expect("wait for the manager")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `/pg/status` of the manager whose probe port is `probe`, as JSON.
pub fn pg_status(probe: u16) -> Result<serde_json::Value, String> {
    let (code, body) = curl_status([format!("http://127.0.0.1:{probe}/pg/status")])?;
    if code != 200 {
        return Err(format!("{code}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))
}

/// The demotion token in the status document of the manager at `probe`; `Err` while there is none.
pub fn published_token(probe: u16) -> Result<String, String> {
    let st = pg_status(probe)?;
    st["demotionToken"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| st.to_string())
}

/// Waits until the manager at `probe` reports its instance primary (`what` names it).
pub fn wait_primary(what: &str, probe: u16, deadline: Duration) {
    wait_for(what, deadline, || {
        let st = pg_status(probe)?;
        if st["isPrimary"] == true {
            Ok(())
        } else {
            Err(st.to_string())
        }
    });
}
