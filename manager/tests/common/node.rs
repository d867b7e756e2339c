//! One PostgreSQL instance in a temporary directory owned by the `postgres` user, configured by a
//! manager configuration file and driven through the `manager` binary.

use super::certs::Pair;
use super::minio::{ACCESS_KEY, Minio, SECRET_KEY};
use super::{as_postgres, chown_pg, free_port, manager_bin, pg_bindir, wait_for};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

pub struct Node {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub cfg: Value,
}

/// A `barmanObjectStore` for `bucket` on `minio`, credentials from the mounted secret `s3`.
pub fn s3_store(minio: &Minio, bucket: &str, extra: Value) -> Value {
    let mut store = json!({
        "destinationPath": format!("s3://{bucket}/"),
        "endpointURL": minio.endpoint(),
        "s3Credentials": {
            "accessKeyId": {"name": "s3", "key": "ACCESS_KEY_ID"},
            "secretAccessKey": {"name": "s3", "key": "ACCESS_SECRET_KEY"},
        },
    });
    if let (Some(s), Some(e)) = (store.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    store
}

/// `base` with the keys of the JSON object `extra` added (replacing same-named ones).
pub fn merged(mut base: Value, extra: &Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

impl Node {
    pub fn new(name: &str, cluster: &str) -> Node {
        let dir = tempfile::Builder::new()
            .prefix(&format!("pgfed-{name}-"))
            .tempdir()
            .expect("tempdir");
        for sub in ["", "run", "secrets", "secrets/s3", "secrets/app"] {
            let p = dir.path().join(sub);
            std::fs::create_dir_all(&p).expect("mkdir");
            chown_pg(&p);
        }
        for (file, value) in [
            ("secrets/s3/ACCESS_KEY_ID", ACCESS_KEY),
            ("secrets/s3/ACCESS_SECRET_KEY", SECRET_KEY),
            ("secrets/app/username", "app"),
            ("secrets/app/password", "app-password"),
        ] {
            let p = dir.path().join(file);
            std::fs::write(&p, value).expect("secret");
            chown_pg(&p);
        }
        let port = free_port();
        let root = dir.path().to_path_buf();
        let cfg = json!({
            "clusterName": cluster,
            "instanceName": name,
            "pgdata": root.join("pgdata"),
            "port": port,
            "socketDir": root.join("run"),
            "pgBindir": pg_bindir(),
            "secretsDir": root.join("secrets"),
            "dynamicConfigFile": root.join("dynamic-config.json"),
            "bootstrap": {"initdb": {"database": "app", "owner": "app", "secret": {"name": "app"}, "dataChecksums": true}},
            "postgresql": {"parameters": {
                "shared_buffers": "32MB",
                "max_connections": "30",
                "fsync": "off",
                "log_min_messages": "info"
            }},
        });
        let node = Node {
            name: name.to_string(),
            dir,
            port,
            cfg,
        };
        node.write_config();
        node
    }

    /// Writes `<secretsDir>/<secret>/<key>` (as a projected secret volume would), readable by
    /// the PostgreSQL user.
    pub fn write_secret(&self, secret: &str, key: &str, value: &str) {
        let dir = self.dir.path().join("secrets").join(secret);
        std::fs::create_dir_all(&dir).expect("mkdir");
        chown_pg(&dir);
        let p = dir.join(key);
        std::fs::write(&p, value).expect("secret");
        chown_pg(&p);
    }

    pub fn pgdata(&self) -> PathBuf {
        self.dir.path().join("pgdata")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    pub fn write_config(&self) {
        let p = self.config_path();
        std::fs::write(&p, serde_json::to_vec_pretty(&self.cfg).expect("json"))
            .expect("write config");
        chown_pg(&p);
    }

    /// Mounts a client certificate, its key and a CA as the secret `secret` (`tls.crt`,
    /// `tls.key`, `ca.crt`, as a `kubernetes.io/tls` Secret holds them, the key at 0600) and returns
    /// the `sslCert`, `sslKey` and `sslRootCert` selectors of an external cluster pointing at them.
    pub fn mount_tls_secret(&self, secret: &str, pair: &Pair, ca: &Path) -> Value {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.dir.path().join("secrets").join(secret);
        std::fs::create_dir_all(&dir).expect("mkdir");
        chown_pg(&dir);
        for (from, key, mode) in [
            (pair.cert.as_path(), "tls.crt", 0o644),
            (pair.key.as_path(), "tls.key", 0o600),
            (ca, "ca.crt", 0o644),
        ] {
            let to = dir.join(key);
            std::fs::copy(from, &to).expect("copy into the secret");
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode)).expect("chmod");
            chown_pg(&to);
        }
        json!({
            "sslCert": {"name": secret, "key": "tls.crt"},
            "sslKey": {"name": secret, "key": "tls.key"},
            "sslRootCert": {"name": secret, "key": "ca.crt"},
        })
    }

    /// Makes this node a standby cloned from and streaming from `primary` (its instance name is
    /// the external cluster's name) with the replication certificate `replica` signed by `ca`:
    /// `bootstrap.pg_basebackup`, the external cluster and `primaryConnection`, over verified TLS.
    pub fn stream_from(&mut self, primary: &Node, replica: &Pair, ca: &Path) {
        let connection = json!({"host": "127.0.0.1", "port": primary.port.to_string(),
                                "user": "streaming_replica", "sslmode": "verify-full"});
        let source = merged(
            json!({"name": primary.name, "connectionParameters": connection}),
            &self.mount_tls_secret("streaming-replica", replica, ca),
        );
        self.set("externalClusters", json!([source]));
        self.set(
            "bootstrap",
            json!({"pg_basebackup": {"source": primary.name}}),
        );
        self.set(
            "primaryConnection",
            json!({"connectionParameters": connection,
                   "sslCert": replica.cert, "sslKey": replica.key, "sslRootCert": ca}),
        );
        self.write_config();
    }

    /// Sets a top-level configuration key and rewrites the file.
    pub fn set(&mut self, key: &str, value: Value) {
        if let Some(o) = self.cfg.as_object_mut() {
            o.insert(key.to_string(), value);
        }
        self.write_config();
    }

    pub fn manager(&self, args: &[&str]) -> Output {
        let mut cmd = as_postgres(manager_bin());
        cmd.args(args)
            .arg("--config")
            .arg(self.config_path())
            .current_dir(self.dir.path());
        cmd.output().expect("run manager")
    }

    /// `manager <args> --config <file>`; the subcommand's positional arguments come via `tail`.
    pub fn manager_with(&self, args: &[&str], tail: &[&str]) -> Output {
        let mut cmd = as_postgres(manager_bin());
        cmd.args(args)
            .arg("--config")
            .arg(self.config_path())
            .args(tail)
            .current_dir(self.pgdata());
        cmd.output().expect("run manager")
    }

    pub fn manager_ok(&self, args: &[&str]) -> String {
        let out = self.manager(args);
        assert!(
            out.status.success(),
            "[{}] manager {args:?} failed:\n{}\n{}",
            self.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let socket = self.dir.path().join("run");
        let socket = socket.to_string_lossy();
        self.run_psql(&["-h", &socket, "-U", "postgres", "-d", db], None, sql)
    }

    /// Logs in as `user` over TCP with `password` (SCRAM, as a client outside the pod would) and
    /// runs `sql` in the `postgres` database.
    pub fn try_login(&self, user: &str, password: &str, sql: &str) -> Result<String, String> {
        let args = ["-w", "-h", "127.0.0.1", "-U", user, "-d", "postgres"];
        self.run_psql(&args, Some(password), sql)
    }

    /// `psql` on this node's port with the connection options `conn`: the trimmed output, or
    /// the error it printed.
    fn run_psql(&self, conn: &[&str], password: Option<&str>, sql: &str) -> Result<String, String> {
        let mut cmd = as_postgres(pg_bindir().join("psql"));
        cmd.args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-p"])
            .arg(self.port.to_string())
            .args(conn)
            .args(["-c", sql]);
        if let Some(password) = password {
            cmd.env("PGPASSWORD", password);
        }
        let out = cmd.output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.try_psql(db, sql)
            .unwrap_or_else(|e| panic!("[{}] {sql}: {e}", self.name))
    }

    /// Waits until a query returns `want`.
    pub fn wait_query(&self, db: &str, sql: &str, want: &str, deadline: Duration) {
        wait_for(
            &format!("[{}] {sql} = {want}", self.name),
            deadline,
            || match self.try_psql(db, sql) {
                Ok(v) if v == want => Ok(()),
                Ok(v) => Err(v),
                Err(e) => Err(e),
            },
        );
    }

    pub fn init_and_start(&self) {
        self.manager_ok(&["instance", "init"]);
        self.manager_ok(&["instance", "start"]);
    }

    /// Creates tablespace `name` in a directory of this node's own, and returns that directory.
    pub fn create_tablespace(&self, name: &str) -> PathBuf {
        let dir = self.dir.path().join(format!("tbs-{name}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        chown_pg(&dir);
        self.psql(
            "app",
            &format!("CREATE TABLESPACE {name} LOCATION '{}'", dir.display()),
        );
        dir
    }

    /// The postmaster's PID from `postmaster.pid`, while there is one.
    pub fn postmaster_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.pgdata().join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()))
    }

    /// SIGKILLs the postmaster, as when its container dies with the manager (PID 1), and proves
    /// it: the kill succeeded and the process is gone. Returns its PID.
    pub fn kill_postmaster(&self) -> u32 {
        let pid = self
            .postmaster_pid()
            .unwrap_or_else(|| panic!("[{}] no postmaster.pid to kill", self.name));
        let status = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(
            status.success(),
            "[{}] kill -KILL {pid}: {status}",
            self.name
        );
        wait_for(
            &format!("[{}] postmaster {pid} to die", self.name),
            Duration::from_secs(30),
            || {
                if process_gone(pid) {
                    Ok(())
                } else {
                    Err("alive".into())
                }
            },
        );
        pid
    }

    /// `instance run` on this node, its output in `manager.log` of the node's directory.
    pub fn run_manager(&self) -> super::ChildGuard {
        let log = std::fs::File::create(self.dir.path().join("manager.log")).expect("log file");
        as_postgres(manager_bin())
            .args(["instance", "run", "--config"])
            .arg(self.config_path())
            .stdout(std::process::Stdio::from(log.try_clone().expect("log")))
            .stderr(std::process::Stdio::from(log))
            .spawn()
            .map(super::ChildGuard)
            .expect("spawn manager")
    }

    /// The PostgreSQL log (jsonlog), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.pgdata().join("log/postgres.json")).unwrap_or_default()
    }
}

/// True when `pid` no longer runs (gone, or a zombie waiting to be reaped).
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // `pid (comm) S ...`: the state follows the last parenthesis.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.pgdata().join("postmaster.pid").exists() {
            let _ = as_postgres(pg_bindir().join("pg_ctl"))
                .arg("-D")
                .arg(self.pgdata())
                .args(["stop", "-m", "immediate", "-w"])
                .output();
        }
    }
}

impl Node {
    /// Writes an alternative configuration (same instance, other settings) and returns its path.
    pub fn alt_config(&self, file: &str, patch: Value) -> PathBuf {
        let mut cfg = self.cfg.clone();
        if let (Some(o), Some(p)) = (cfg.as_object_mut(), patch.as_object()) {
            for (k, v) in p {
                o.insert(k.clone(), v.clone());
            }
        }
        let path = self.dir.path().join(file);
        std::fs::write(&path, serde_json::to_vec_pretty(&cfg).expect("json")).expect("write");
        chown_pg(&path);
        path
    }

    /// Runs the manager with an explicit configuration file, from PGDATA (like PostgreSQL does).
    pub fn manager_cfg(&self, config: &std::path::Path, args: &[&str]) -> Output {
        let mut cmd = as_postgres(manager_bin());
        cmd.arg(args[0])
            .arg("--config")
            .arg(config)
            .args(&args[1..])
            .current_dir(self.pgdata());
        cmd.output().expect("run manager")
    }

    /// Generates `n` WAL segments and returns their names (archived once complete).
    pub fn make_segments(&self, n: usize) -> Vec<String> {
        self.psql(
            "postgres",
            "CREATE TABLE IF NOT EXISTS walgen(i int, pad text)",
        );
        let mut names = Vec::new();
        for _ in 0..n {
            self.psql(
                "postgres",
                "INSERT INTO walgen SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g",
            );
            names.push(self.psql("postgres", "SELECT pg_walfile_name(pg_current_wal_lsn())"));
            self.psql("postgres", "SELECT pg_switch_wal()");
        }
        names
    }

    /// Closes the current WAL segment and waits until it is archived; returns its name.
    pub fn switch_and_wait_archived(&self, deadline: Duration) -> String {
        let segment = self.psql("postgres", "SELECT pg_walfile_name(pg_current_wal_lsn())");
        self.psql("postgres", "SELECT pg_switch_wal()");
        self.wait_archived(&segment, deadline);
        segment
    }

    /// Waits until PostgreSQL reports `name` (or a later segment) archived.
    pub fn wait_archived(&self, name: &str, deadline: Duration) {
        wait_for(
            &format!("[{}] {name} archived", self.name),
            deadline,
            || {
                let last = self.try_psql(
                    "postgres",
                    "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver",
                )?;
                if last.len() >= 24 && last[..24] >= *name {
                    Ok(())
                } else {
                    Err(format!("last archived {last:?}"))
                }
            },
        );
    }
}
