//! The edge of role management: reads the roles the primary has and the mounted password
//! Secrets, runs what [`super::decide`] planned in a session that logs no statement, and returns
//! the status. A statement that fails is reported against its role by PostgreSQL's reason, never
//! its text (it may carry a verifier).

use super::decide::{self, AppliedPasswords, DesiredRole, ObservedRole, Reserved, WantedPassword};
use crate::config::ManagerConfig;
use crate::pg::{PgError, sql};
use crate::secrets::read_secret;
use pgfed_api::cluster::ManagedRolesStatus;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use tokio_postgres::Client;

/// One row per role except PostgreSQL's own `pg_*` roles: attributes, verifier, expiry as epoch
/// seconds, comment and direct memberships.
const OBSERVE: &str = "SELECT r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, \
     r.rolcanlogin, r.rolreplication, r.rolbypassrls, r.rolconnlimit::int8, \
     extract(epoch FROM r.rolvaliduntil)::float8, r.rolpassword, \
     shobj_description(r.oid, 'pg_authid'), \
     ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_authid g ON g.oid = m.roleid \
           WHERE m.member = r.oid ORDER BY 1) \
     FROM pg_authid r WHERE r.rolname NOT LIKE 'pg\\_%' ORDER BY 1";

/// What one pass found and did.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// The server is a standby: nothing done; roles are the primary's business.
    Standby,
    /// The primary's roles were reconciled (as far as each could be).
    Primary(ManagedRolesStatus),
}

/// Why a pass could not run at all (per-role failures are in the status instead).
#[derive(Debug, thiserror::Error)]
pub enum RolesError {
    /// The local server cannot be reached or queried.
    #[error(transparent)]
    Pg(#[from] PgError),
    /// `enableSuperuserAccess` is true but no `superuserSecret` names where the password is.
    #[error("enableSuperuserAccess is true but superuserSecret is not set")]
    NoSuperuserSecret,
    /// The superuser password Secret cannot be read.
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
}

impl RolesError {
    /// A short, stable name of the cause, for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            RolesError::Pg(e) => e.label(),
            RolesError::NoSuperuserSecret => "superuser_secret_unset",
            RolesError::Secret(_) => "superuser_secret_unreadable",
        }
    }
}

/// The application owner, whom the manager created at bootstrap and never touches after.
pub fn reserved(cfg: &ManagerConfig) -> Reserved {
    let initdb = cfg.bootstrap.as_ref().and_then(|b| b.initdb.as_ref());
    let database = initdb.and_then(|i| i.database.clone());
    Reserved {
        app_owner: initdb
            .and_then(|i| i.owner.clone())
            .or(database)
            .unwrap_or_else(|| "app".to_string()),
    }
}

/// Reconciles `postgres`' password and the managed roles on the local server, if it is the
/// primary. `applied` remembers the passwords set, across passes.
pub async fn reconcile(
    cfg: &ManagerConfig,
    applied: &mut AppliedPasswords,
) -> Result<Outcome, RolesError> {
    let Some(client) = sql::connect_primary(cfg, "postgres").await? else {
        return Ok(Outcome::Standby);
    };
    let observed = observe(&client).await?;
    // The superuser first: its failure is the whole pass's error, after the roles went on.
    let superuser = superuser_password(cfg, &client, &observed, applied).await;
    let desired: Vec<DesiredRole> = cfg
        .managed
        .iter()
        .flat_map(|m| m.roles.iter())
        .map(|spec| DesiredRole {
            password: wanted_password(cfg, spec),
            spec: spec.clone(),
        })
        .collect();
    let plan = decide::plan(&desired, &observed, &reserved(cfg), applied);
    let mut failed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for action in &plan.actions {
        if failed.contains_key(&action.role) {
            continue;
        }
        match client.batch_execute(&action.sql).await {
            Ok(()) => {
                if let Some(set) = &action.sets_password {
                    applied.insert(action.role.clone(), set.clone());
                }
                tracing::info!(role = %action.role, statement = %sql::statement_kind(&action.sql), "managed role changed");
            }
            Err(e) => {
                let reason = sql::failure(&action.sql, &e);
                tracing::warn!(role = %action.role, %reason, "managed role cannot be reconciled");
                failed.entry(action.role.clone()).or_default().push(reason);
            }
        }
    }
    superuser?;
    Ok(Outcome::Primary(decide::status(&plan, &failed)))
}

async fn observe(client: &Client) -> Result<Vec<ObservedRole>, PgError> {
    let rows = client
        .query(OBSERVE, &[])
        .await
        .map_err(sql::query_error("reading pg_authid"))?;
    Ok(rows
        .into_iter()
        .map(|r| ObservedRole {
            name: r.get(0),
            superuser: r.get(1),
            inherit: r.get(2),
            createrole: r.get(3),
            createdb: r.get(4),
            login: r.get(5),
            replication: r.get(6),
            bypassrls: r.get(7),
            connection_limit: r.get(8),
            valid_until: r.get(9),
            password: r.get(10),
            comment: r.get(11),
            in_roles: r.get(12),
        })
        .collect())
}

/// A password read from a Secret, ready to send: a fresh verifier and a fingerprint.
fn set_password(password: &str) -> WantedPassword {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    password.hash(&mut hasher);
    WantedPassword::Set {
        verifier: postgres_protocol::password::scram_sha_256(password.as_bytes()),
        fingerprint: hasher.finish(),
    }
}

fn wanted_password(
    cfg: &ManagerConfig,
    spec: &pgfed_api::cluster::RoleConfiguration,
) -> WantedPassword {
    match (&spec.password_secret, spec.disable_password) {
        (Some(secret), _) => match read_secret(&cfg.secrets_dir, &secret.name, "password") {
            Ok(password) => set_password(&password),
            Err(e) => WantedPassword::Unavailable(format!(
                "passwordSecret {}: cannot read {}: {}",
                secret.name,
                e.path.display(),
                e.source
            )),
        },
        (None, Some(true)) => WantedPassword::Null,
        (None, _) => WantedPassword::Keep,
    }
}

/// `enableSuperuserAccess`: `postgres` gets the Secret's password, or none at all.
async fn superuser_password(
    cfg: &ManagerConfig,
    client: &Client,
    observed: &[ObservedRole],
    applied: &mut AppliedPasswords,
) -> Result<(), RolesError> {
    let wanted = if cfg.enable_superuser_access {
        let secret = cfg
            .superuser_secret
            .as_deref()
            .ok_or(RolesError::NoSuperuserSecret)?;
        set_password(&read_secret(&cfg.secrets_dir, secret, "password")?)
    } else {
        WantedPassword::Null
    };
    let have = observed
        .iter()
        .find(|r| r.name == "postgres")
        .map(|r| &r.password);
    if let Some((clause, set)) = decide::password_change("postgres", &wanted, have, applied) {
        sql::execute(client, &format!("ALTER ROLE postgres WITH {clause}")).await?;
        match set {
            Some(set) => {
                tracing::info!("superuser password set from superuserSecret");
                applied.insert("postgres".to_string(), set);
            }
            None => {
                tracing::info!("superuser password removed (enableSuperuserAccess is false)");
                applied.remove("postgres");
            }
        }
    }
    Ok(())
}
