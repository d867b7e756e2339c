//! `instance init`: initdb with the Cluster's initdb options, configuration files, the application
//! database and owner (password from the mounted secret), the `streaming_replica` role and the
//! post-init SQL. Leaves postgres stopped. Runs only through `instance::bootstrap`, which keeps a
//! half-made directory from ever starting.

use super::bootstrap::error::BootstrapError;
use super::{InstanceError, configure};
use crate::config::{ConfigError, ManagerConfig, refuse_unsupported};
use crate::pg::conf::{Role, render_parameters};
use crate::pg::hba::REPLICATION_USER;
use crate::pg::{PgError, ctl, sql};
use crate::secrets::read_secret;
use pgfed_api::cluster::BootstrapInitDb;
use pgfed_api::validation::not_implemented::initdb_not_implemented;
use std::path::Path;
use std::process::Command;

/// Refuses the initdb options `instance init` does not implement, by name (the list admission
/// refuses too). Pure.
pub fn refuse_unsupported_options(initdb: &BootstrapInitDb) -> Result<(), ConfigError> {
    let set: Vec<(&str, bool)> = initdb_not_implemented(initdb)
        .into_iter()
        .map(|field| (field, true))
        .collect();
    refuse_unsupported("bootstrap.initdb", &set, "not implemented yet; remove it")
}

/// initdb's arguments for the Cluster's options. Pure.
pub fn initdb_args(initdb: &BootstrapInitDb, pgdata: &Path) -> Vec<String> {
    let mut args = vec![
        "-D".to_string(),
        pgdata.display().to_string(),
        "--username=postgres".to_string(),
        "--auth-local=peer".to_string(),
        "--auth-host=scram-sha-256".to_string(),
        format!(
            "--encoding={}",
            initdb.encoding.as_deref().unwrap_or("UTF8")
        ),
    ];
    match (&initdb.locale, &initdb.locale_collate, &initdb.locale_ctype) {
        (Some(l), _, _) => args.push(format!("--locale={l}")),
        (None, None, None) => args.push("--locale=C".to_string()),
        (None, collate, ctype) => {
            args.push(format!(
                "--lc-collate={}",
                collate.as_deref().unwrap_or("C")
            ));
            args.push(format!("--lc-ctype={}", ctype.as_deref().unwrap_or("C")));
        }
    }
    if initdb.data_checksums == Some(true) {
        args.push("--data-checksums".to_string());
    }
    if let Some(size) = initdb.wal_segment_size {
        args.push(format!("--wal-segsize={size}"));
    }
    args.extend(initdb.options.iter().cloned());
    args
}

/// Creates a new primary's data directory in an empty PGDATA; run through
/// `instance::bootstrap::bootstrap`, which records it complete only when this returned.
pub(super) async fn init(cfg: &ManagerConfig, config_file: &Path) -> Result<(), InstanceError> {
    let initdb = cfg
        .bootstrap
        .as_ref()
        .and_then(|b| b.initdb.clone())
        .unwrap_or_default();
    refuse_unsupported_options(&initdb)?;
    // Refuse bad parameters before spending time on initdb.
    render_parameters(cfg, &configure::manager_exe(), config_file).map_err(PgError::from)?;
    let database = initdb.database.clone().unwrap_or_else(|| "app".to_string());
    let owner = initdb.owner.clone().unwrap_or_else(|| database.clone());
    let password = match &initdb.secret {
        Some(secret) => {
            if let Ok(user) = read_secret(&cfg.secrets_dir, &secret.name, "username")
                && user != owner
            {
                return Err(BootstrapError::SecretForAnotherUser {
                    secret: secret.name.clone(),
                    user,
                    owner,
                }
                .into());
            }
            Some(read_secret(&cfg.secrets_dir, &secret.name, "password")?)
        }
        None => None,
    };

    let mut cmd = Command::new(ctl::program(cfg, "initdb"));
    cmd.args(initdb_args(&initdb, &cfg.pgdata))
        .env("LC_ALL", "C");
    ctl::run(cmd)?;
    configure::write_all(cfg, config_file, &Role::Primary)?;

    ctl::start(cfg, 120)?;
    let result = create_objects(cfg, &initdb, &database, &owner, password.as_deref()).await;
    ctl::stop(cfg, ctl::StopMode::Fast, 120)?;
    result
}

/// The statements that give a fresh cluster its roles and application database. Every name is
/// quoted (any name PostgreSQL accepts works, `app-two` included) and the owner's password is a
/// SCRAM verifier, never the password itself. Pure.
pub fn bootstrap_statements(database: &str, owner: &str, password: Option<&str>) -> Vec<String> {
    let replication = sql::ident(REPLICATION_USER);
    let mut statements = vec![format!("CREATE ROLE {replication} LOGIN REPLICATION")];
    // pg_rewind connects as the replication user; it needs these file functions on the source.
    for function in [
        "pg_ls_dir(text, boolean, boolean)",
        "pg_stat_file(text, boolean)",
        "pg_read_binary_file(text)",
        "pg_read_binary_file(text, bigint, bigint, boolean)",
    ] {
        statements.push(format!(
            "GRANT EXECUTE ON FUNCTION pg_catalog.{function} TO {replication}"
        ));
    }
    let password = password
        .map(|p| format!(" {}", sql::password_clause(p)))
        .unwrap_or_default();
    statements.push(format!("CREATE ROLE {} LOGIN{password}", sql::ident(owner)));
    statements.push(format!(
        "CREATE DATABASE {} OWNER {}",
        sql::ident(database),
        sql::ident(owner)
    ));
    statements
}

async fn create_objects(
    cfg: &ManagerConfig,
    initdb: &BootstrapInitDb,
    database: &str,
    owner: &str,
    password: Option<&str>,
) -> Result<(), InstanceError> {
    // Quiet sessions: a role's verifier, and whatever secrets the user's post-init SQL holds,
    // stay out of PostgreSQL's log even when a statement fails.
    let client = sql::connect_quiet(cfg, "postgres").await?;
    for statement in bootstrap_statements(database, owner, password) {
        sql::execute(&client, &statement).await?;
    }
    for (i, statement) in initdb.post_init_sql.iter().enumerate() {
        let what = format!("bootstrap.initdb.postInitSQL[{i}]");
        sql::execute_as(&client, &what, statement).await?;
    }
    if !initdb.post_init_application_sql.is_empty() {
        let app = sql::connect_quiet(cfg, database).await?;
        for (i, statement) in initdb.post_init_application_sql.iter().enumerate() {
            let what = format!("bootstrap.initdb.postInitApplicationSQL[{i}]");
            sql::execute_as(&app, &what, statement).await?;
        }
    }
    // Make the first WAL segments archivable right away so a base backup can start from them.
    sql::execute(&client, "CHECKPOINT").await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initdb_arguments() {
        let d = Path::new("/d");
        let base = initdb_args(&BootstrapInitDb::default(), d);
        assert!(base.contains(&"--locale=C".to_string()));
        assert!(base.contains(&"--encoding=UTF8".to_string()));
        assert!(!base.contains(&"--data-checksums".to_string()));
        let full = initdb_args(
            &BootstrapInitDb {
                encoding: Some("LATIN1".into()),
                locale_collate: Some("C".into()),
                locale_ctype: Some("POSIX".into()),
                data_checksums: Some(true),
                wal_segment_size: Some(32),
                options: vec!["--no-sync".into()],
                ..Default::default()
            },
            d,
        );
        for want in [
            "--encoding=LATIN1",
            "--lc-collate=C",
            "--lc-ctype=POSIX",
            "--data-checksums",
            "--wal-segsize=32",
            "--no-sync",
        ] {
            assert!(full.contains(&want.to_string()), "{want} in {full:?}");
        }
    }

    #[test]
    fn bootstrap_statements_quote_names_and_hide_the_password() {
        let statements = bootstrap_statements("app-two", "app-two", Some("pa'ss"));
        let owner = statements
            .iter()
            .find(|s| s.starts_with("CREATE ROLE \"app-two\" LOGIN PASSWORD 'SCRAM-SHA-256$"))
            .expect("owner role with a verifier");
        assert!(
            !owner.contains("pa'ss") && !owner.contains("pa''ss"),
            "{owner}"
        );
        assert!(statements.contains(&"CREATE DATABASE \"app-two\" OWNER \"app-two\"".to_string()));
        assert!(
            statements.contains(&"CREATE ROLE \"streaming_replica\" LOGIN REPLICATION".to_string())
        );
        let no_password = bootstrap_statements("a\"b", "o", None);
        assert!(no_password.contains(&"CREATE ROLE \"o\" LOGIN".to_string()));
        assert!(no_password.contains(&"CREATE DATABASE \"a\"\"b\" OWNER \"o\"".to_string()));
    }

    #[test]
    fn unimplemented_options_are_refused_by_name() {
        assert!(refuse_unsupported_options(&BootstrapInitDb::default()).is_ok());
        let import = BootstrapInitDb {
            import: Some(Default::default()),
            ..Default::default()
        };
        let err = refuse_unsupported_options(&import).expect_err("import refused");
        assert!(err.to_string().contains("bootstrap.initdb.import"), "{err}");
        let icu = BootstrapInitDb {
            locale_provider: Some("icu".into()),
            ..Default::default()
        };
        let err = refuse_unsupported_options(&icu).expect_err("provider refused");
        assert!(
            err.to_string().contains("bootstrap.initdb.localeProvider"),
            "{err}"
        );
    }
}
