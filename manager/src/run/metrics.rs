//! Prometheus metrics on port 9187: pgfed's default queries plus user queries, both in
//! postgres_exporter's YAML format (`name: {query, metrics: [{column: {usage, description}}]}`).
//! Rendering the exposition text from query rows is pure and table-tested.

use serde::Deserialize;
use std::collections::BTreeMap;

/// One column of a custom query.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct MetricColumn {
    /// LABEL, GAUGE, COUNTER or DISCARD.
    pub usage: String,
    /// HELP text.
    #[serde(default)]
    pub description: String,
}

/// One custom query.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct CustomQuery {
    /// SQL.
    pub query: String,
    /// Columns, in order.
    pub metrics: Vec<BTreeMap<String, MetricColumn>>,
    /// Run only on the primary (CloudNativePG extension).
    #[serde(default)]
    pub primary: bool,
}

/// The queries pgfed always exports.
pub const DEFAULT_QUERIES: &str = r#"
pg_postmaster:
  query: "SELECT extract(epoch FROM pg_postmaster_start_time())::float8 AS start_time"
  metrics:
    - start_time: {usage: GAUGE, description: "Time at which the postmaster started"}
pg_replication:
  query: "SELECT CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END AS in_recovery, CASE WHEN NOT pg_is_in_recovery() THEN 0 ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8 AS lag, (SELECT count(*) FROM pg_stat_replication) AS streaming_replicas"
  metrics:
    - in_recovery: {usage: GAUGE, description: "Whether the instance is in recovery"}
    - lag: {usage: GAUGE, description: "Replication lag behind the primary in seconds"}
    - streaming_replicas: {usage: GAUGE, description: "Number of streaming standbys connected"}
pg_stat_archiver:
  query: "SELECT archived_count, failed_count, coalesce(extract(epoch FROM now() - last_archived_time), -1)::float8 AS seconds_since_last_archival FROM pg_stat_archiver"
  metrics:
    - archived_count: {usage: COUNTER, description: "WAL files archived"}
    - failed_count: {usage: COUNTER, description: "Failed archive attempts"}
    - seconds_since_last_archival: {usage: GAUGE, description: "Seconds since the last successful archival"}
pg_database:
  query: "SELECT datname, pg_database_size(datname) AS size_bytes FROM pg_database WHERE datallowconn"
  metrics:
    - datname: {usage: LABEL, description: "Database"}
    - size_bytes: {usage: GAUGE, description: "Disk space used by the database"}
pg_stat_database:
  query: "SELECT datname, xact_commit, xact_rollback, deadlocks, numbackends FROM pg_stat_database WHERE datname IS NOT NULL"
  metrics:
    - datname: {usage: LABEL, description: "Database"}
    - xact_commit: {usage: COUNTER, description: "Transactions committed"}
    - xact_rollback: {usage: COUNTER, description: "Transactions rolled back"}
    - deadlocks: {usage: COUNTER, description: "Deadlocks detected"}
    - numbackends: {usage: GAUGE, description: "Backends connected"}
"#;

/// A custom queries document that is not postgres_exporter's format.
#[derive(Debug, thiserror::Error)]
#[error("invalid custom queries: {0}")]
pub struct QueriesError(#[from] serde_norway::Error);

/// Parses a queries YAML document.
pub fn parse_queries(yaml: &str) -> Result<BTreeMap<String, CustomQuery>, QueriesError> {
    Ok(serde_norway::from_str(yaml)?)
}

/// Escapes a label value.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders one query's rows (column → value as text) in the exposition format. Pure.
pub fn render(name: &str, q: &CustomQuery, rows: &[BTreeMap<String, Option<String>>]) -> String {
    let mut out = String::new();
    let labels: Vec<&String> = q
        .metrics
        .iter()
        .flat_map(|m| m.iter())
        .filter(|(_, c)| c.usage.eq_ignore_ascii_case("LABEL"))
        .map(|(k, _)| k)
        .collect();
    for m in &q.metrics {
        for (col, spec) in m {
            let kind = match spec.usage.to_ascii_uppercase().as_str() {
                "GAUGE" => "gauge",
                "COUNTER" => "counter",
                _ => continue,
            };
            let metric = format!("{name}_{col}");
            out.push_str(&format!(
                "# HELP {metric} {}\n# TYPE {metric} {kind}\n",
                spec.description
            ));
            for row in rows {
                let Some(Some(value)) = row.get(col) else {
                    continue;
                };
                let Ok(v) = value.parse::<f64>() else {
                    continue;
                };
                let ls: Vec<String> = labels
                    .iter()
                    .filter_map(|l| {
                        row.get(*l)
                            .and_then(|v| v.as_ref())
                            .map(|v| format!("{l}=\"{}\"", escape(v)))
                    })
                    .collect();
                let ls = if ls.is_empty() {
                    String::new()
                } else {
                    format!("{{{}}}", ls.join(","))
                };
                out.push_str(&format!("{metric}{ls} {v}\n"));
            }
        }
    }
    out
}

/// Runs every query against the local instance and renders the page.
pub async fn scrape(
    cfg: &crate::config::ManagerConfig,
    custom: &BTreeMap<String, CustomQuery>,
) -> String {
    let mut out = String::new();
    let client = match crate::pg::sql::connect(cfg, "postgres").await {
        Ok(c) => c,
        Err(_) => return "# TYPE pg_up gauge\npg_up 0\n".to_string(),
    };
    out.push_str("# HELP pg_up Whether PostgreSQL answers\n# TYPE pg_up gauge\npg_up 1\n");
    let is_primary = client
        .query_one("SELECT NOT pg_is_in_recovery()", &[])
        .await
        .map(|r| r.get::<_, bool>(0))
        .unwrap_or(false);
    let defaults = parse_queries(DEFAULT_QUERIES).unwrap_or_default();
    for (name, q) in defaults.iter().chain(custom.iter()) {
        if q.primary && !is_primary {
            continue;
        }
        match client.simple_query(&q.query).await {
            Ok(messages) => {
                let rows: Vec<BTreeMap<String, Option<String>>> = messages
                    .into_iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                            r.columns()
                                .iter()
                                .enumerate()
                                .map(|(i, c)| (c.name().to_string(), r.get(i).map(str::to_string)))
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect();
                out.push_str(&render(name, q, &rows));
            }
            Err(e) => tracing::warn!(query = %name, error = %e, "metrics query failed"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_render_with_labels() {
        let q = parse_queries(DEFAULT_QUERIES).expect("defaults");
        assert!(q.contains_key("pg_stat_archiver"));
        let db = &q["pg_database"];
        let row = |n: &str, s: &str| {
            BTreeMap::from([
                ("datname".to_string(), Some(n.to_string())),
                ("size_bytes".to_string(), Some(s.to_string())),
            ])
        };
        let text = render(
            "pg_database",
            db,
            &[row("app", "8000"), row("we\"ird", "1")],
        );
        assert!(
            text.contains("# TYPE pg_database_size_bytes gauge"),
            "{text}"
        );
        assert!(
            text.contains("pg_database_size_bytes{datname=\"app\"} 8000"),
            "{text}"
        );
        assert!(
            text.contains("pg_database_size_bytes{datname=\"we\\\"ird\"} 1"),
            "{text}"
        );
        assert!(!text.contains("pg_database_datname"));
    }

    #[test]
    fn custom_queries_in_postgres_exporter_format() {
        let yaml = "app_rows:\n  query: SELECT 1\n  primary: true\n  metrics:\n    - total: {usage: COUNTER, description: rows}\n    - skipped: {usage: DISCARD}\n";
        let q = parse_queries(yaml).expect("yaml");
        assert!(q["app_rows"].primary);
        let rows = vec![BTreeMap::from([
            ("total".to_string(), Some("42".to_string())),
            ("skipped".to_string(), Some("x".to_string())),
        ])];
        assert_eq!(
            render("app_rows", &q["app_rows"], &rows),
            "# HELP app_rows_total rows\n# TYPE app_rows_total counter\napp_rows_total 42\n"
        );
        assert!(parse_queries("x: [").is_err());
    }
}
