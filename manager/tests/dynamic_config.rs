//! `PUT /pg/config` as the operator drives it: over mutual TLS only, fencing and unfencing a real
//! instance at once (the time from the 200 to the effect is printed), versions ordering the
//! updates (an older or conflicting one refused with 409, changing nothing), the settings kept
//! across a restart of the manager, and a configuration file with a higher `dynamicVersion`
//! winning over them.

mod common;

use common::certs::Pki;
use common::mtls::{StatusClient, time_until};
use common::node::Node;
use common::{ChildGuard, as_postgres, free_port, manager_bin};
use pgfed_api::instance::{CONFIG_PATH, DynamicConfig, STATUS_PATH};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(120);

fn start_run(n: &Node) -> ChildGuard {
    let log = std::fs::File::create(n.dir.path().join("manager.log")).expect("log file");
    as_postgres(manager_bin())
        .args(["instance", "run", "--config"])
        .arg(n.config_path())
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .map(ChildGuard)
        .expect("spawn manager")
}

fn settings(body: &str) -> DynamicConfig {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{body}: {e}"))
}

fn status(client: &StatusClient) -> Value {
    serde_json::from_str(&client.wait_get(STATUS_PATH, LONG)).expect("status JSON")
}

fn stopped(n: &Node) -> bool {
    !n.pgdata().join("postmaster.pid").exists()
}

fn serving(n: &Node) -> bool {
    n.try_psql("postgres", "SELECT 1").is_ok()
}

#[test]
fn pushed_settings_fence_at_once_are_ordered_by_version_and_survive_a_restart() {
    let mut n = Node::new("dyn", "alpha");
    let pki = Pki::new(&n.dir.path().join("pki"));
    let server = pki.issue("alpha-rw", &["localhost", "127.0.0.1"]);
    let operator = pki.issue("pgfed-operator", &[]);
    let (probe, status_port) = (free_port(), free_port());
    n.set(
        "certificates",
        json!({"serverCert": server.cert, "serverKey": server.key, "clientCa": pki.ca}),
    );
    n.set("statusPort", json!(status_port));
    n.set("probePort", json!(probe));
    n.set("metricsPort", json!(free_port()));
    n.manager_ok(&["instance", "init"]);
    let mut run = start_run(&n);
    let client = StatusClient {
        base: format!("https://127.0.0.1:{status_port}"),
        ca: &pki.ca,
        client: &operator,
    };
    n.wait_query("postgres", "SELECT 1", "1", LONG);
    let kept = n.dir.path().join("dynamic-config.json");

    // Nothing pushed yet: the file's settings, unversioned.
    assert_eq!(
        settings(&client.wait_get(CONFIG_PATH, LONG)),
        DynamicConfig::default()
    );
    // The plain probe port never takes settings.
    let plain = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT"])
        .args(["-H", "content-type: application/json", "--data-binary"])
        .arg(r#"{"version":1,"fenced":true}"#)
        .arg(format!("http://127.0.0.1:{probe}{CONFIG_PATH}"))
        .output()
        .expect("curl");
    let plain = String::from_utf8_lossy(&plain.stdout).into_owned();
    assert!(
        plain == "404" || plain == "405",
        "probe port answered {plain}"
    );
    assert!(serving(&n), "a PUT on the probe port changed something");

    // Fence: postgres stops at once; the manager stays.
    let fence = r#"{"version":2,"fenced":true}"#;
    let answered = Instant::now();
    client.put_expect(CONFIG_PATH, fence, 200);
    let took = time_until("fenced → postgres stopped", answered, LONG, || {
        stopped(&n)
    });
    println!(
        "PUT fenced:true answered 200 → postgres stopped: {} ms",
        took.as_millis()
    );
    assert_eq!(status(&client)["fenced"], true);
    assert_eq!(
        std::fs::read_to_string(&kept).map(|t| settings(&t)).ok(),
        Some(settings(fence))
    );

    // The same push again is fine; an older one, or another at the same version, is refused and
    // changes nothing.
    client.put_expect(CONFIG_PATH, fence, 200);
    let stale = client.put_expect(CONFIG_PATH, r#"{"version":1,"fenced":false}"#, 409);
    assert!(stale.contains("\"versionInEffect\":2"), "{stale}");
    client.put_expect(CONFIG_PATH, r#"{"version":2,"fenced":false}"#, 409);
    std::thread::sleep(Duration::from_secs(2));
    assert!(stopped(&n), "a refused push unfenced the instance");
    assert_eq!(
        settings(&client.wait_get(CONFIG_PATH, LONG)),
        settings(fence)
    );

    // A restart of the manager keeps the pushed settings over the (unfenced) file.
    assert!(run.terminate().success());
    let mut run = start_run(&n);
    assert_eq!(
        settings(&client.wait_get(CONFIG_PATH, LONG)),
        settings(fence)
    );
    let st = status(&client);
    assert_eq!(st["fenced"], true, "{st}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        stopped(&n),
        "postgres started after a restart although fenced"
    );

    // Unfence: postgres starts at once.
    let answered = Instant::now();
    client.put_expect(CONFIG_PATH, r#"{"version":3,"fenced":false}"#, 200);
    let took = time_until("unfenced → postgres serving", answered, LONG, || {
        serving(&n)
    });
    println!(
        "PUT fenced:false answered 200 → postgres serving: {} ms",
        took.as_millis()
    );

    // The operator rewrote the file at a higher version: the file wins over the older push…
    n.cfg["dynamicVersion"] = json!(4);
    n.cfg["fenced"] = json!(true);
    n.write_config();
    time_until("the file's newer fencing", Instant::now(), LONG, || {
        stopped(&n)
    });
    assert_eq!(
        settings(&client.wait_get(CONFIG_PATH, LONG)),
        settings(r#"{"version":4,"fenced":true}"#)
    );
    // …and a push has to be newer than the file to win again.
    client.put_expect(CONFIG_PATH, r#"{"version":4,"fenced":false}"#, 409);
    client.put_expect(CONFIG_PATH, r#"{"version":5,"fenced":false}"#, 200);
    time_until("unfenced again", Instant::now(), LONG, || serving(&n));
    assert!(run.terminate().success());
}
