//! SQL over the local Unix socket as the `postgres` superuser (peer authentication), and the
//! quoting every statement the manager builds goes through.
//!
//! A statement may carry a secret (a role's password, or one in the user's post-init SQL), so an
//! error names only the kind of statement (its leading keywords), never its text; passwords are
//! sent as SCRAM-SHA-256 verifiers computed here, never in clear.

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

/// Session settings that keep PostgreSQL from writing this session's statements to its log, even
/// when the user's parameters log every statement (`log_statement: all`) or the ones that fail
/// (`log_min_error_statement`, on by default): the statements may set passwords.
const QUIET_SESSION: &str = "SET log_statement = 'none'; \
     SET log_min_duration_statement = -1; \
     SET log_min_duration_sample = -1; \
     SET log_transaction_sample_rate = 0; \
     SET log_min_error_statement = 'panic'";

/// Connects to `dbname` for statements that may carry secrets (roles with passwords, the user's
/// post-init SQL): PostgreSQL does not log what this session runs.
pub async fn connect_quiet(cfg: &ManagerConfig, dbname: &str) -> Result<Client, PgError> {
    let client = connect(cfg, dbname).await?;
    execute_as(&client, "silencing statement logging", QUIET_SESSION).await?;
    Ok(client)
}

/// Connects to `dbname` as [`connect_quiet`] does, if the local server is the primary: `None` on
/// a standby (in recovery), where declaratively managed objects are the primary's business.
pub async fn connect_primary(cfg: &ManagerConfig, dbname: &str) -> Result<Option<Client>, PgError> {
    let client = connect_quiet(cfg, dbname).await?;
    let in_recovery: bool = client
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .map_err(query_error("checking the role"))?
        .get(0);
    Ok((!in_recovery).then_some(client))
}

/// Runs statements without results. A failure names the statement's leading keywords only.
pub async fn execute(client: &Client, sql: &str) -> Result<(), PgError> {
    execute_as(client, &statement_kind(sql), sql).await
}

/// Runs statements without results; a failure is reported as `what` and PostgreSQL's reason
/// (see [`server_reason`]), never the statement text.
pub async fn execute_as(client: &Client, what: &str, sql: &str) -> Result<(), PgError> {
    client
        .batch_execute(sql)
        .await
        .map_err(|source| PgError::Sql {
            context: match source.as_db_error() {
                Some(db) => format!(
                    "{what}: {} ({})",
                    server_reason(db.code().code(), db.message()),
                    db.code().code()
                ),
                None => what.to_string(),
            },
            source,
        })
}

/// Why `statement` failed, fit for a status shown to users: its kind (see [`statement_kind`]) and
/// PostgreSQL's reason (see [`server_reason`]) with the SQLSTATE, never the statement's text.
pub fn failure(statement: &str, e: &tokio_postgres::Error) -> String {
    let kind = statement_kind(statement);
    match e.as_db_error() {
        Some(db) => format!(
            "{kind}: {} ({})",
            server_reason(db.code().code(), db.message()),
            db.code().code()
        ),
        None => format!("{kind}: the connection failed"),
    }
}

/// A failed query as [`PgError::Sql`] saying what was being done.
pub fn query_error(context: &str) -> impl FnOnce(tokio_postgres::Error) -> PgError + '_ {
    move |source| PgError::Sql {
        context: context.to_string(),
        source,
    }
}

/// PostgreSQL's message for a failed statement, fit for an error: syntax errors (`42601`) and
/// data exceptions (class `22`) quote a piece of the statement (`at or near "…"`, `invalid input
/// syntax for type integer: "…"`), which may be a secret, so their quoted parts are dropped;
/// other messages name objects, not values, and stay whole. Pure.
pub fn server_reason(sqlstate: &str, message: &str) -> String {
    if sqlstate != "42601" && !sqlstate.starts_with("22") {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                quoted = false;
                out.push('"');
            }
            (c, false) => out.push(c),
            (_, true) => {}
        }
    }
    out
}

/// What a statement is, for an error message: its leading keywords (`CREATE ROLE`, `GRANT
/// EXECUTE`), upper-cased, stopping at the first word that is not plain letters and after two
/// words, so no name, literal or secret of the statement is repeated. Pure.
pub fn statement_kind(sql: &str) -> String {
    let words: Vec<String> = sql
        .split_whitespace()
        .take_while(|w| w.chars().all(|c| c.is_ascii_alphabetic()))
        .take(2)
        .map(str::to_ascii_uppercase)
        .collect();
    if words.is_empty() {
        "statement".to_string()
    } else {
        words.join(" ")
    }
}

/// Quotes an identifier (a database, role, schema or publication name) the way PostgreSQL's
/// `quote_ident` does when quoting is needed: in double quotes, a double quote doubled. Any name
/// PostgreSQL accepts (`app-two`, `Mixed Case`, `a"b`) stays one identifier. Pure.
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Quotes a string literal: single quotes doubled, and in the `E''` form with backslashes doubled
/// when it holds one, so the value is the same whatever `standard_conforming_strings` says. Pure.
pub fn literal(s: &str) -> String {
    let quoted = s.replace('\'', "''");
    if s.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

/// The `PASSWORD '…'` clause of CREATE/ALTER ROLE with a SCRAM-SHA-256 verifier computed here
/// (random salt, PostgreSQL's iteration count, SASLprep as libpq does): PostgreSQL stores it as
/// is, so the password itself never reaches the server, its logs or its statistics. Utility
/// statements take no bind parameters; this is how a password stays out of SQL text.
pub fn password_clause(password: &str) -> String {
    let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
    format!("PASSWORD {}", literal(&verifier))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_whole() {
        for (name, want) in [
            ("app", r#""app""#),
            ("app-two", r#""app-two""#),
            ("Mixed Case", r#""Mixed Case""#),
            (r#"a"b"#, r#""a""b""#),
            (
                r#"x"; DROP DATABASE app; --"#,
                r#""x""; DROP DATABASE app; --""#,
            ),
        ] {
            assert_eq!(ident(name), want, "{name}");
        }
    }

    #[test]
    fn literals_are_quoted_whole() {
        for (value, want) in [
            ("plain", "'plain'"),
            ("it's", "'it''s'"),
            (r"back\slash", r"E'back\\slash'"),
            (r"'\", r"E'''\\'"),
        ] {
            assert_eq!(literal(value), want, "{value}");
        }
    }

    #[test]
    fn statement_kind_never_repeats_names_or_values() {
        for (sql, want) in [
            ("CREATE ROLE \"app\" LOGIN PASSWORD 'x'", "CREATE ROLE"),
            ("create role app login password 'hunter2'", "CREATE ROLE"),
            ("ALTER USER hunter2 PASSWORD 'hunter2'", "ALTER USER"),
            ("  GRANT EXECUTE ON FUNCTION f() TO x", "GRANT EXECUTE"),
            ("SELECT 1/0", "SELECT"),
            ("CHECKPOINT", "CHECKPOINT"),
            ("-- comment\nSELECT 'hunter2'", "statement"),
            ("", "statement"),
        ] {
            let kind = statement_kind(sql);
            assert_eq!(kind, want, "{sql}");
            assert!(!kind.to_lowercase().contains("hunter2"), "{kind}");
        }
    }

    #[test]
    fn server_reasons_drop_quoted_statement_pieces() {
        for (state, message, want) in [
            (
                "42710",
                r#"role "postgres" already exists"#,
                r#"role "postgres" already exists"#,
            ),
            ("22012", "division by zero", "division by zero"),
            (
                "42601",
                r#"syntax error at or near "'hunter2'""#,
                r#"syntax error at or near "…""#,
            ),
            (
                "22P02",
                r#"invalid input syntax for type integer: "hunter2""#,
                r#"invalid input syntax for type integer: "…""#,
            ),
        ] {
            assert_eq!(server_reason(state, message), want, "{state} {message}");
        }
    }

    #[test]
    fn password_clause_holds_a_verifier_not_the_password() {
        let clause = password_clause("s3cr'et\\pw");
        assert!(
            clause.starts_with("PASSWORD 'SCRAM-SHA-256$4096:"),
            "{clause}"
        );
        assert!(!clause.contains("s3cr"), "{clause}");
        // A fresh salt each time: two verifiers of one password differ.
        assert_ne!(clause, password_clause("s3cr'et\\pw"));
    }
}
