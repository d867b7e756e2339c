//! A client that keeps writing across role changes: each round it inserts one uniquely named row
//! into the first of its targets that accepts a write, and remembers every row a server
//! acknowledged, so a test can check afterwards that none of them was lost.

use super::{as_postgres, pg_bindir};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where a server listens: its socket directory and port.
pub type Target = (PathBuf, u16);

pub struct Writer {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// `INSERT INTO ... VALUES (<label>)`: the statement with `{}` where the row's label goes.
fn insert(template: &str, label: &str) -> String {
    template.replace("{}", &format!("'{label}'"))
}

impl Writer {
    /// Starts writing `template` (an INSERT with `{}` for the row's label) to database `db`.
    pub fn start(targets: Vec<Target>, db: &str, template: &str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let (s, a, db, template) = (
            stop.clone(),
            acked.clone(),
            db.to_string(),
            template.to_string(),
        );
        let handle = std::thread::spawn(move || {
            let mut n = 0u64;
            while !s.load(Ordering::SeqCst) {
                let label = format!("w{n}");
                n += 1;
                for (dir, port) in &targets {
                    let ok = as_postgres(pg_bindir().join("psql"))
                        .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
                        .arg(dir)
                        .args(["-p", &port.to_string(), "-U", "postgres", "-d", &db, "-c"])
                        .arg(insert(&template, &label))
                        .output()
                        .is_ok_and(|o| o.status.success());
                    if ok {
                        a.lock().expect("acked rows").push(label.clone());
                        break;
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Writer {
            stop,
            acked,
            handle: Some(handle),
        }
    }

    /// How many rows were acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acked.lock().expect("acked rows").len()
    }

    /// Waits until `more` rows beyond `since` were acknowledged.
    pub fn wait_for_more(&self, since: usize, more: usize, what: &str) {
        super::wait_for(what, Duration::from_secs(300), || {
            let now = self.acked();
            if now >= since + more {
                Ok(())
            } else {
                Err(format!("{now} acknowledged"))
            }
        });
    }

    /// Stops writing and returns the labels of every acknowledged row.
    pub fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().expect("writer thread");
        }
        self.acked.lock().expect("acked rows").clone()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The acknowledged labels missing from `present` (the labels a server holds).
pub fn missing(acked: &[String], present: &str) -> Vec<String> {
    let present: std::collections::BTreeSet<&str> = present.lines().collect();
    acked
        .iter()
        .filter(|l| !present.contains(l.as_str()))
        .cloned()
        .collect()
}
