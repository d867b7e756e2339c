//! The SQL scripts `bootstrap.initdb` names in Secrets and ConfigMaps (`postInitSQLRefs`,
//! `postInitTemplateSQLRefs`, `postInitApplicationSQLRefs`): in which order they run, which
//! field names each, and how the operator tells the instance manager where it mounted them.
//!
//! The instance manager cannot read Secrets or ConfigMaps (its pod has no API token), so the
//! operator mounts every referenced key as a file and lists the files in the manager's
//! configuration ([`PostInitSqlFiles`]). Both sides derive the order and the field names from
//! [`sql_refs`], so they cannot disagree on them. Pure.

use crate::cluster::BootstrapInitDb;
use crate::common::SqlRefs;
use serde::{Deserialize, Serialize};

/// Where a post-init script runs, in the order the stages run (CloudNativePG's): the `postgres`
/// database, then `template1`, then the application database, which is created from
/// `template1` after the template stage so it inherits what that stage made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// `postInitSQL` and `postInitSQLRefs`, in `postgres`.
    Postgres,
    /// `postInitTemplateSQL` and `postInitTemplateSQLRefs`, in `template1`.
    Template,
    /// `postInitApplicationSQL` and `postInitApplicationSQLRefs`, in the application database.
    Application,
}

impl Stage {
    /// Every stage, in the order they run.
    pub const ALL: [Stage; 3] = [Stage::Postgres, Stage::Template, Stage::Application];

    /// The `bootstrap.initdb` field holding this stage's references.
    pub fn refs_field(self) -> &'static str {
        match self {
            Stage::Postgres => "postInitSQLRefs",
            Stage::Template => "postInitTemplateSQLRefs",
            Stage::Application => "postInitApplicationSQLRefs",
        }
    }

    /// The `bootstrap.initdb` field holding this stage's inline statements.
    pub fn statements_field(self) -> &'static str {
        match self {
            Stage::Postgres => "postInitSQL",
            Stage::Template => "postInitTemplateSQL",
            Stage::Application => "postInitApplicationSQL",
        }
    }

    /// This stage's inline statements, which run before its references.
    pub fn statements(self, initdb: &BootstrapInitDb) -> &[String] {
        match self {
            Stage::Postgres => &initdb.post_init_sql,
            Stage::Template => &initdb.post_init_template_sql,
            Stage::Application => &initdb.post_init_application_sql,
        }
    }

    /// A short name, for file and directory names (`sql`, `template`, `application`).
    pub fn short_name(self) -> &'static str {
        match self {
            Stage::Postgres => "sql",
            Stage::Template => "template",
            Stage::Application => "application",
        }
    }

    fn refs(self, initdb: &BootstrapInitDb) -> Option<&SqlRefs> {
        match self {
            Stage::Postgres => initdb.post_init_sql_refs.as_ref(),
            Stage::Template => initdb.post_init_template_sql_refs.as_ref(),
            Stage::Application => initdb.post_init_application_sql_refs.as_ref(),
        }
    }
}

/// The kind of object a script is kept in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SourceKind {
    /// A key of a Secret (`secretRefs`).
    Secret,
    /// A key of a ConfigMap (`configMapRefs`).
    ConfigMap,
}

impl SourceKind {
    /// The Kubernetes kind.
    pub fn kind(self) -> &'static str {
        match self {
            SourceKind::Secret => "Secret",
            SourceKind::ConfigMap => "ConfigMap",
        }
    }

    /// The `SQLRefs` list naming objects of this kind.
    pub fn list_field(self) -> &'static str {
        match self {
            SourceKind::Secret => "secretRefs",
            SourceKind::ConfigMap => "configMapRefs",
        }
    }
}

/// One referenced key holding one SQL script (which may hold several statements).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqlRef<'a> {
    /// Where it runs.
    pub stage: Stage,
    /// Secret or ConfigMap.
    pub kind: SourceKind,
    /// Its index in `secretRefs` or `configMapRefs`.
    pub index: usize,
    /// The object's name.
    pub name: &'a str,
    /// The key holding the script.
    pub key: &'a str,
}

impl SqlRef<'_> {
    /// The field naming it, as a path under the Cluster's spec and the manager's configuration:
    /// `bootstrap.initdb.postInitApplicationSQLRefs.configMapRefs[1]`.
    pub fn field(&self) -> String {
        format!(
            "bootstrap.initdb.{}.{}[{}]",
            self.stage.refs_field(),
            self.kind.list_field(),
            self.index
        )
    }
}

/// Every referenced script of `initdb`, in the order they run: stage by stage, and within a
/// stage `secretRefs` before `configMapRefs`, each in list order.
pub fn sql_refs(initdb: &BootstrapInitDb) -> Vec<SqlRef<'_>> {
    let mut out = Vec::new();
    for stage in Stage::ALL {
        let Some(refs) = stage.refs(initdb) else {
            continue;
        };
        let secrets = refs
            .secret_refs
            .iter()
            .map(|s| (SourceKind::Secret, s.name.as_str(), s.key.as_str()));
        let maps = refs
            .config_map_refs
            .iter()
            .map(|c| (SourceKind::ConfigMap, c.name.as_str(), c.key.as_str()));
        for (index, (kind, name, key)) in secrets.enumerate().chain(maps.enumerate()) {
            out.push(SqlRef {
                stage,
                kind,
                index,
                name,
                key,
            });
        }
    }
    out
}

/// One mounted script: the field that names it and the file holding it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct SqlFile {
    /// The field naming the reference ([`SqlRef::field`]), for errors.
    pub field: String,
    /// The file the operator mounted the referenced key at.
    pub path: String,
}

/// The mounted scripts of each stage, in the order they run (the manager's
/// `postInitSqlFiles`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct PostInitSqlFiles {
    /// `postInitSQLRefs`, run in `postgres` after `postInitSQL`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sql: Vec<SqlFile>,
    /// `postInitTemplateSQLRefs`, run in `template1` after `postInitTemplateSQL`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub template: Vec<SqlFile>,
    /// `postInitApplicationSQLRefs`, run in the application database after
    /// `postInitApplicationSQL`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub application: Vec<SqlFile>,
}

impl PostInitSqlFiles {
    /// The files of every reference of `initdb`, each at `path(reference)`.
    pub fn of(initdb: &BootstrapInitDb, path: impl Fn(&SqlRef) -> String) -> Self {
        let mut files = PostInitSqlFiles::default();
        for r in sql_refs(initdb) {
            files.stage_mut(r.stage).push(SqlFile {
                field: r.field(),
                path: path(&r),
            });
        }
        files
    }

    /// No file at all.
    pub fn is_empty(&self) -> bool {
        Stage::ALL.iter().all(|s| self.stage(*s).is_empty())
    }

    /// The files of `stage`, in order.
    pub fn stage(&self, stage: Stage) -> &[SqlFile] {
        match stage {
            Stage::Postgres => &self.sql,
            Stage::Template => &self.template,
            Stage::Application => &self.application,
        }
    }

    fn stage_mut(&mut self, stage: Stage) -> &mut Vec<SqlFile> {
        match stage {
            Stage::Postgres => &mut self.sql,
            Stage::Template => &mut self.template,
            Stage::Application => &mut self.application,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initdb(yaml: &str) -> BootstrapInitDb {
        serde_norway::from_str(yaml).expect("fixture")
    }

    #[test]
    fn references_run_stage_by_stage_secrets_first_in_list_order() {
        let initdb = initdb(
            "postInitApplicationSQLRefs:\n  configMapRefs: [{name: m, key: a}, {name: m, key: b}]\n  secretRefs: [{name: s, key: c}]\n\
             postInitTemplateSQLRefs: {configMapRefs: [{name: t, key: d}]}\n\
             postInitSQLRefs: {secretRefs: [{name: s, key: e}, {name: s2, key: f}]}\n",
        );
        let got: Vec<(String, &str, &str, &str)> = sql_refs(&initdb)
            .iter()
            .map(|r| (r.field(), r.kind.kind(), r.name, r.key))
            .collect();
        let want = [
            (
                "bootstrap.initdb.postInitSQLRefs.secretRefs[0]",
                "Secret",
                "s",
                "e",
            ),
            (
                "bootstrap.initdb.postInitSQLRefs.secretRefs[1]",
                "Secret",
                "s2",
                "f",
            ),
            (
                "bootstrap.initdb.postInitTemplateSQLRefs.configMapRefs[0]",
                "ConfigMap",
                "t",
                "d",
            ),
            (
                "bootstrap.initdb.postInitApplicationSQLRefs.secretRefs[0]",
                "Secret",
                "s",
                "c",
            ),
            (
                "bootstrap.initdb.postInitApplicationSQLRefs.configMapRefs[0]",
                "ConfigMap",
                "m",
                "a",
            ),
            (
                "bootstrap.initdb.postInitApplicationSQLRefs.configMapRefs[1]",
                "ConfigMap",
                "m",
                "b",
            ),
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0.as_str(), g.1, g.2, g.3), w);
        }
        assert!(sql_refs(&BootstrapInitDb::default()).is_empty());
    }

    #[test]
    fn files_are_listed_per_stage_at_the_given_paths() {
        let initdb = initdb(
            "postInitApplicationSQLRefs: {configMapRefs: [{name: m, key: a}], secretRefs: [{name: s, key: b}]}\n\
             postInitSQLRefs: {configMapRefs: [{name: m, key: c}]}\n",
        );
        let files = PostInitSqlFiles::of(&initdb, |r| {
            format!(
                "/d/{}/{}-{}",
                r.stage.short_name(),
                r.kind.list_field(),
                r.index
            )
        });
        let paths = |stage| {
            files
                .stage(stage)
                .iter()
                .map(|f| f.path.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(paths(Stage::Postgres), ["/d/sql/configMapRefs-0"]);
        assert!(paths(Stage::Template).is_empty());
        assert_eq!(
            paths(Stage::Application),
            [
                "/d/application/secretRefs-0",
                "/d/application/configMapRefs-0"
            ]
        );
        assert_eq!(
            files.application[1].field,
            "bootstrap.initdb.postInitApplicationSQLRefs.configMapRefs[0]"
        );
        assert!(!files.is_empty());
        assert!(PostInitSqlFiles::of(&BootstrapInitDb::default(), |_| String::new()).is_empty());
        let json = serde_json::to_value(&files).expect("json");
        assert!(json.get("template").is_none(), "{json}");
    }
}
