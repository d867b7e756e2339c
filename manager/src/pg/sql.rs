//! SQL over the local Unix socket as the `postgres` superuser (peer authentication).

use super::PgError;
use crate::config::ManagerConfig;
use tokio_postgres::{Client, NoTls};

/// Connects to `dbname` on the local instance.
pub async fn connect(cfg: &ManagerConfig, dbname: &str) -> Result<Client, PgError> {
    let (client, connection) = tokio_postgres::Config::new()
        .host_path(&cfg.socket_dir)
        .port(cfg.port)
        .user("postgres")
        .dbname(dbname)
        .application_name("pgfed-manager")
        .connect_timeout(std::time::Duration::from_secs(5))
        .connect(NoTls)
        .await
        .map_err(|source| PgError::Sql {
            context: format!("connecting to {dbname}"),
            source,
        })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "local connection closed");
        }
    });
    Ok(client)
}

/// Runs statements without results.
pub async fn execute(client: &Client, sql: &str) -> Result<(), PgError> {
    client
        .batch_execute(sql)
        .await
        .map_err(|source| PgError::Sql {
            context: sql.chars().take(120).collect(),
            source,
        })
}

/// Quotes an identifier.
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Quotes a string literal.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
