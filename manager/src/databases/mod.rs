//! Databases the primary keeps as the cluster's Database objects say (CloudNativePG's
//! declarative databases): present or absent, owner, creation options, connection settings and
//! tablespace, and inside each database its schemas, extensions, foreign data wrappers and
//! foreign servers.
//!
//! `decide` screens the objects and plans the statements on the databases themselves and builds
//! each object's report; `contents` plans the statements inside one database (both pure);
//! `apply` reads what PostgreSQL has, runs the plans and reports. A database, schema, extension,
//! wrapper or server no object names is never touched, nor are `postgres`, `template0` and
//! `template1`; a database is dropped only for `ensure: absent`, or for an object deleted with
//! `databaseReclaimPolicy: delete` (the operator says so with `reclaim`). `run::managed` calls
//! this on the primary when it starts, when the configuration changes and every minute.

pub mod apply;
pub mod contents;
pub mod decide;
