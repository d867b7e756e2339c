//! `instance init`: initdb with the Cluster's initdb options, configuration files, the application
//! database and owner (password from the mounted secret), the `streaming_replica` role and the
//! post-init SQL. Leaves postgres stopped. Runs only through `instance::bootstrap`, which keeps a
//! half-made directory from ever starting.
//!
//! The order is CloudNativePG's: roles; `postInitSQL` then `postInitSQLRefs` in `postgres`;
//! `postInitTemplateSQL` then `postInitTemplateSQLRefs` in `template1`; then the application
//! database, created from `template1` so it inherits what the template stage made;
//! `postInitApplicationSQL` then `postInitApplicationSQLRefs` in it. Each referenced script is a
//! file the operator mounted (`postInitSqlFiles`) and runs whole, so it may hold several
//! statements; an error names its field, never its text (it may hold secrets).

use super::bootstrap::error::BootstrapError;
use super::{InstanceError, configure};
use crate::config::{ConfigError, ManagerConfig, refuse_unsupported};
use crate::pg::conf::{Role, render_parameters};
use crate::pg::hba::REPLICATION_USER;
use crate::pg::{PgError, ctl, sql};
use crate::secrets::read_secret;
use pgfed_api::cluster::BootstrapInitDb;
use pgfed_api::post_init_sql::{PostInitSqlFiles, SqlFile, Stage, sql_refs};
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

/// Checks that `files` lists a mounted file for every `*SQLRefs` reference of `initdb`, in the
/// order they run, and nothing else: the manager cannot read Secrets or ConfigMaps, so a
/// reference without its file would otherwise be skipped in silence. Pure.
pub fn check_post_init_files(
    initdb: &BootstrapInitDb,
    files: &PostInitSqlFiles,
) -> Result<(), ConfigError> {
    let referenced: Vec<(Stage, String)> = sql_refs(initdb)
        .iter()
        .map(|r| (r.stage, r.field()))
        .collect();
    let listed: Vec<(Stage, String)> = Stage::ALL
        .iter()
        .flat_map(|stage| {
            files
                .stage(*stage)
                .iter()
                .map(|f| (*stage, f.field.clone()))
        })
        .collect();
    let Some(i) =
        (0..referenced.len().max(listed.len())).find(|i| referenced.get(*i) != listed.get(*i))
    else {
        return Ok(());
    };
    let (field, reason) = match (referenced.get(i), listed.get(i)) {
        (_, Some((_, extra))) if !referenced.iter().any(|(_, r)| r == extra) => (
            "postInitSqlFiles".to_string(),
            format!("lists a file for {extra}, which bootstrap.initdb does not reference"),
        ),
        (Some((stage, field)), _) => (
            field.clone(),
            format!(
                "postInitSqlFiles.{} does not list its mounted file in this place; the instance \
                 manager runs referenced SQL only from the files the operator mounts and lists \
                 there",
                stage.short_name()
            ),
        ),
        (None, listed) => (
            "postInitSqlFiles".to_string(),
            format!(
                "lists a file for {} twice",
                listed.map(|(_, f)| f.as_str()).unwrap_or_default()
            ),
        ),
    };
    Err(ConfigError::Unsupported { field, reason })
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
    check_post_init_files(&initdb, &cfg.post_init_sql_files)?;
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
    // No standby exists yet: the bootstrap's own statements must not wait for synchronous ones
    // (the operator already lists them). `instance run` rewrites the files with the real value.
    let bootstrapping = ManagerConfig {
        synchronous_standby_names: None,
        ..cfg.clone()
    };
    let cfg = &bootstrapping;
    configure::write_all(cfg, config_file, &Role::Primary)?;

    ctl::start(cfg, 120)?;
    let result = create_objects(cfg, &initdb, &database, &owner, password.as_deref()).await;
    ctl::stop(cfg, ctl::StopMode::Fast, 120)?;
    result
}

/// The statements that give a fresh cluster its roles: `streaming_replica` and the application
/// database's owner. Every name is quoted (any name PostgreSQL accepts works, `app-two` included)
/// and the owner's password is a SCRAM verifier, never the password itself. Pure.
pub fn role_statements(owner: &str, password: Option<&str>) -> Vec<String> {
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
    statements
}

/// The statement creating the application database (from `template1`, the default). Pure.
pub fn create_database_statement(database: &str, owner: &str) -> String {
    format!(
        "CREATE DATABASE {} OWNER {}",
        sql::ident(database),
        sql::ident(owner)
    )
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
    for statement in role_statements(owner, password) {
        sql::execute(&client, &statement).await?;
    }
    run_stage(&client, initdb, Stage::Postgres, &cfg.post_init_sql_files).await?;
    if has_work(initdb, Stage::Template, &cfg.post_init_sql_files) {
        // Its own session, closed before CREATE DATABASE copies template1 (which refuses while
        // another session is connected to it).
        let template = sql::connect_quiet(cfg, "template1").await?;
        run_stage(&template, initdb, Stage::Template, &cfg.post_init_sql_files).await?;
    }
    sql::execute(&client, &create_database_statement(database, owner)).await?;
    if has_work(initdb, Stage::Application, &cfg.post_init_sql_files) {
        let app = sql::connect_quiet(cfg, database).await?;
        run_stage(&app, initdb, Stage::Application, &cfg.post_init_sql_files).await?;
    }
    // Make the first WAL segments archivable right away so a base backup can start from them.
    sql::execute(&client, "CHECKPOINT").await?;
    Ok(())
}

fn has_work(initdb: &BootstrapInitDb, stage: Stage, files: &PostInitSqlFiles) -> bool {
    !stage.statements(initdb).is_empty() || !files.stage(stage).is_empty()
}

/// Runs the inline statements of `stage`, then its mounted scripts, each whole, on `client`.
async fn run_stage(
    client: &tokio_postgres::Client,
    initdb: &BootstrapInitDb,
    stage: Stage,
    files: &PostInitSqlFiles,
) -> Result<(), InstanceError> {
    for (i, statement) in stage.statements(initdb).iter().enumerate() {
        let what = format!("bootstrap.initdb.{}[{i}]", stage.statements_field());
        sql::execute_as(client, &what, statement).await?;
    }
    for SqlFile { field, path } in files.stage(stage) {
        let script =
            std::fs::read_to_string(path).map_err(|source| BootstrapError::PostInitScript {
                field: field.clone(),
                path: path.into(),
                source,
            })?;
        sql::execute_as(client, field, &script).await?;
    }
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
        let statements = role_statements("app-two", Some("pa'ss"));
        let owner = statements
            .iter()
            .find(|s| s.starts_with("CREATE ROLE \"app-two\" LOGIN PASSWORD 'SCRAM-SHA-256$"))
            .expect("owner role with a verifier");
        assert!(
            !owner.contains("pa'ss") && !owner.contains("pa''ss"),
            "{owner}"
        );
        assert_eq!(
            create_database_statement("app-two", "app-two"),
            "CREATE DATABASE \"app-two\" OWNER \"app-two\""
        );
        assert!(
            statements.contains(&"CREATE ROLE \"streaming_replica\" LOGIN REPLICATION".to_string())
        );
        let no_password = role_statements("o", None);
        assert!(no_password.contains(&"CREATE ROLE \"o\" LOGIN".to_string()));
        assert_eq!(
            create_database_statement("a\"b", "o"),
            "CREATE DATABASE \"a\"\"b\" OWNER \"o\""
        );
    }

    #[test]
    fn every_sql_reference_needs_its_mounted_file_in_order() {
        let initdb: BootstrapInitDb = serde_json::from_value(serde_json::json!({
            "postInitSQLRefs": {"secretRefs": [{"name": "s", "key": "a"}]},
            "postInitApplicationSQLRefs": {
                "secretRefs": [{"name": "s", "key": "b"}],
                "configMapRefs": [{"name": "m", "key": "c"}],
            },
        }))
        .expect("initdb");
        let mounted = PostInitSqlFiles::of(&initdb, |r| format!("/f/{}", r.field()));
        let field = |f: &str| format!("bootstrap.initdb.{f}");
        let without = |stage: Stage, index: usize| {
            let mut files = mounted.clone();
            let list = match stage {
                Stage::Postgres => &mut files.sql,
                Stage::Template => &mut files.template,
                Stage::Application => &mut files.application,
            };
            list.remove(index);
            files
        };
        let mut swapped = mounted.clone();
        swapped.application.swap(0, 1);
        let mut extra = mounted.clone();
        extra.template.push(SqlFile {
            field: field("postInitTemplateSQLRefs.secretRefs[0]"),
            path: "/f/x".into(),
        });
        let mut wrong_stage = mounted.clone();
        let moved = wrong_stage.application.remove(0);
        wrong_stage.template.push(moved);
        let mut twice = mounted.clone();
        twice.application.push(twice.application[1].clone());
        let nothing = BootstrapInitDb::default();
        let cases: Vec<(&str, &BootstrapInitDb, PostInitSqlFiles, Option<String>)> = vec![
            ("all mounted", &initdb, mounted.clone(), None),
            (
                "nothing referenced",
                &nothing,
                PostInitSqlFiles::default(),
                None,
            ),
            (
                "one not mounted",
                &initdb,
                without(Stage::Application, 1),
                Some(field("postInitApplicationSQLRefs.configMapRefs[0]")),
            ),
            (
                "the first not mounted",
                &initdb,
                without(Stage::Postgres, 0),
                Some(field("postInitSQLRefs.secretRefs[0]")),
            ),
            (
                "out of order",
                &initdb,
                swapped,
                Some(field("postInitApplicationSQLRefs.secretRefs[0]")),
            ),
            (
                "a file nothing references",
                &initdb,
                extra,
                Some("postInitSqlFiles".into()),
            ),
            (
                "a file in another stage's list",
                &initdb,
                wrong_stage,
                Some(field("postInitApplicationSQLRefs.secretRefs[0]")),
            ),
            (
                "a file listed twice",
                &initdb,
                twice,
                Some("postInitSqlFiles".into()),
            ),
        ];
        for (what, initdb, files, want) in cases {
            let got = check_post_init_files(initdb, &files)
                .err()
                .map(|e| match e {
                    ConfigError::Unsupported { field, .. } => field,
                    other => other.to_string(),
                });
            assert_eq!(got, want, "{what}");
        }
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
