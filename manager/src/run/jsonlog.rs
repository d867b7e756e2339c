//! PostgreSQL's log turned into the manager's JSON lines on stdout: `{ts, level, logger, msg,
//! record}`. jsonlog records keep every field under `record`; other lines (stderr of child
//! processes such as archive_command) become `logger: "postgres-stderr"` entries.

use serde_json::{Value, json};
use std::io::{BufRead, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

/// Maps a PostgreSQL severity to the manager's levels. Pure.
pub fn level(severity: &str) -> &'static str {
    match severity {
        s if s.starts_with("DEBUG") => "debug",
        "LOG" | "INFO" | "NOTICE" => "info",
        "WARNING" => "warning",
        "ERROR" => "error",
        "FATAL" | "PANIC" => "fatal",
        _ => "info",
    }
}

/// Converts one log line. Pure apart from the timestamp of non-JSON lines.
pub fn convert(line: &str, logger: &str) -> Option<Value> {
    let line = line.trim_end();
    if line.is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(line) {
        Ok(record @ Value::Object(_)) => Some(json!({
            "ts": record.get("timestamp").cloned().unwrap_or(Value::Null),
            "level": level(record.get("error_severity").and_then(Value::as_str).unwrap_or("LOG")),
            "logger": logger,
            "msg": record.get("message").cloned().unwrap_or(Value::Null),
            "record": record,
        })),
        _ => Some(json!({
            "ts": chrono::Utc::now().to_rfc3339(),
            "level": "info",
            "logger": format!("{logger}-stderr"),
            "msg": line,
        })),
    }
}

/// Follows `path` from byte `forwarded` (0 on a fresh start; where the previous image stopped
/// after an in-place upgrade), printing converted lines and advancing `forwarded`, until `stop` is
/// set. Survives the file not existing yet and being truncated.
pub async fn follow(
    path: PathBuf,
    logger: &'static str,
    stop: tokio::sync::watch::Receiver<bool>,
    forwarded: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    let mut offset = forwarded.load(std::sync::atomic::Ordering::SeqCst);
    loop {
        if *stop.borrow() {
            return;
        }
        if let Ok(mut file) = std::fs::File::open(&path) {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            if len < offset {
                offset = 0;
            }
            if file.seek(SeekFrom::Start(offset)).is_ok() {
                let mut reader = std::io::BufReader::new(file);
                let mut line = String::new();
                while let Ok(n) = reader.read_line(&mut line) {
                    // Only complete lines; a partial one is read again next time.
                    if n == 0 || !line.ends_with('\n') {
                        break;
                    }
                    offset += n as u64;
                    if let Some(v) = convert(&line, logger) {
                        println!("{v}");
                    }
                    forwarded.store(offset, std::sync::atomic::Ordering::SeqCst);
                    line.clear();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_jsonlog_records_and_plain_lines() {
        let rec = r#"{"timestamp":"2026-11-20 22:00:00.123 UTC","pid":42,"error_severity":"FATAL","message":"the database system is starting up","backend_type":"client backend"}"#;
        let v = convert(rec, "postgres").expect("line");
        assert_eq!(v["level"], "fatal");
        assert_eq!(v["logger"], "postgres");
        assert_eq!(v["msg"], "the database system is starting up");
        assert_eq!(v["ts"], "2026-11-20 22:00:00.123 UTC");
        assert_eq!(v["record"]["pid"], 42);
        let plain = convert("archive command failed\n", "postgres").expect("line");
        assert_eq!(plain["logger"], "postgres-stderr");
        assert_eq!(plain["msg"], "archive command failed");
        assert!(convert("  \n", "postgres").is_none());
        for (s, l) in [
            ("DEBUG2", "debug"),
            ("LOG", "info"),
            ("WARNING", "warning"),
            ("ERROR", "error"),
            ("PANIC", "fatal"),
        ] {
            assert_eq!(level(s), l);
        }
    }
}
