//! Roles the primary keeps as the Cluster says: `spec.managed.roles` (CloudNativePG's managed
//! roles: present or absent, attributes, connection limit, expiry, memberships, comment, a
//! password from a mounted Secret sent as a SCRAM verifier, or none) and the `postgres`
//! superuser's password (`enableSuperuserAccess`, `superuserSecret`).
//!
//! `decide` compares the spec with the roles PostgreSQL has and plans the statements (pure);
//! `apply` reads both sides, runs the plan and reports each role. Reserved roles (`postgres`,
//! `streaming_replica`, the application owner, `pg_*`) and roles the spec does not name are never
//! touched. `run::managed` calls this on the primary when it starts, when the configuration
//! changes and every minute.

pub mod apply;
pub mod decide;
