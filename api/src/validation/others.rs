//! Validation of the smaller kinds: Backup, ScheduledBackup, Pooler, Database, Publication,
//! Subscription and the image catalogs.

use super::formats::{check_cron_schedule, check_pg_name};
use super::{FieldErrors, check_unique};
use crate::backup::{BackupSpec, ScheduledBackupSpec};
use crate::common::LocalObjectReference;
use crate::database::{DatabaseSpec, PublicationSpec, SubscriptionSpec};
use crate::image_catalog::CatalogImage;
use crate::pooler::PoolerSpec;

/// PgBouncer settings pgfed sets itself.
const OWNED_PGBOUNCER_PARAMETERS: &[&str] = &[
    "listen_addr",
    "listen_port",
    "unix_socket_dir",
    "auth_type",
    "auth_file",
    "auth_query",
    "auth_user",
    "auth_hba_file",
    "client_tls_sslmode",
    "client_tls_ca_file",
    "client_tls_cert_file",
    "client_tls_key_file",
    "server_tls_sslmode",
    "server_tls_ca_file",
    "server_tls_cert_file",
    "server_tls_key_file",
    "logfile",
    "pidfile",
];

/// The Cluster reference is only required, as in CloudNativePG: a name no Cluster has simply
/// finds nothing, and the object waits until such a Cluster exists.
fn check_cluster_ref(errors: &mut FieldErrors, cluster: &LocalObjectReference) {
    if cluster.name.is_empty() {
        errors.push("spec.cluster.name", "required");
    }
}

/// Validates a Backup.
pub fn validate_backup(spec: &BackupSpec) -> FieldErrors {
    let mut errors = FieldErrors::default();
    check_cluster_ref(&mut errors, &spec.cluster);
    let plugin = spec.plugin_configuration.as_ref();
    check_method(&mut errors, spec.online, spec.method, plugin);
    errors
}

/// The rules on how a Backup or ScheduledBackup takes its backups.
fn check_method(
    errors: &mut FieldErrors,
    online: Option<bool>,
    method: Option<crate::common::BackupMethod>,
    plugin: Option<&crate::common::BackupPluginConfiguration>,
) {
    if online == Some(false) && method != Some(crate::common::BackupMethod::VolumeSnapshot) {
        errors.push(
            "spec.online",
            "offline backups are only possible with method volumeSnapshot",
        );
    }
    super::plugins::check_backup_plugin(errors, method, plugin);
}

/// A Backup's spec never changes: it records what was taken.
pub fn validate_backup_update(old: &BackupSpec, new: &BackupSpec) -> FieldErrors {
    let mut errors = validate_backup(new);
    if old != new {
        errors.push("spec", "is immutable: create a new Backup instead");
    }
    errors
}

/// Validates a ScheduledBackup.
pub fn validate_scheduled_backup(spec: &ScheduledBackupSpec) -> FieldErrors {
    let mut errors = FieldErrors::default();
    check_cluster_ref(&mut errors, &spec.cluster);
    errors.check("spec.schedule", check_cron_schedule(&spec.schedule));
    let plugin = spec.plugin_configuration.as_ref();
    check_method(&mut errors, spec.online, spec.method, plugin);
    errors
}

/// Validates a Pooler.
pub fn validate_pooler(spec: &PoolerSpec) -> FieldErrors {
    let mut errors = FieldErrors::default();
    check_cluster_ref(&mut errors, &spec.cluster);
    if let Some(n) = spec.instances
        && n < 0
    {
        errors.push("spec.instances", format!("{n} must not be negative"));
    }
    for key in spec.pgbouncer.parameters.keys() {
        if OWNED_PGBOUNCER_PARAMETERS.contains(&key.as_str()) {
            errors.push(
                format!("spec.pgbouncer.parameters.{key}"),
                format!("{key} is managed by pgfed and cannot be set"),
            );
        }
    }
    if spec.pgbouncer.auth_query.is_some() != spec.pgbouncer.auth_query_secret.is_some() {
        errors.push(
            "spec.pgbouncer.authQuery",
            "authQuery and authQuerySecret go together (or leave both empty for the generated ones)",
        );
    }
    errors
}

fn check_db_name(errors: &mut FieldErrors, field: &str, name: &str) {
    errors.check(field, check_pg_name(name));
}

/// Validates a Database.
pub fn validate_database(spec: &DatabaseSpec) -> FieldErrors {
    let mut errors = FieldErrors::default();
    check_cluster_ref(&mut errors, &spec.cluster);
    check_db_name(&mut errors, "spec.name", &spec.name);
    if matches!(spec.name.as_str(), "postgres" | "template0" | "template1") {
        errors.push("spec.name", format!("{:?} is reserved", spec.name));
    }
    check_db_name(&mut errors, "spec.owner", &spec.owner);
    if let Some(limit) = spec.connection_limit
        && limit < -1
    {
        errors.push("spec.connectionLimit", "must be -1 (unlimited) or more");
    }
    if spec.locale.is_some() && (spec.locale_collate.is_some() || spec.locale_ctype.is_some()) {
        errors.push(
            "spec.locale",
            "cannot be combined with localeCollate/localeCType",
        );
    }
    check_unique(
        &mut errors,
        "spec.schemas",
        spec.schemas.iter().map(|s| s.name.as_str()),
    );
    check_unique(
        &mut errors,
        "spec.extensions",
        spec.extensions.iter().map(|e| e.name.as_str()),
    );
    check_unique(
        &mut errors,
        "spec.fdws",
        spec.fdws.iter().map(|f| f.name.as_str()),
    );
    check_unique(
        &mut errors,
        "spec.servers",
        spec.servers.iter().map(|s| s.name.as_str()),
    );
    for (i, schema) in spec.schemas.iter().enumerate() {
        check_db_name(
            &mut errors,
            &format!("spec.schemas[{i}].name"),
            &schema.name,
        );
    }
    errors
}

/// A Database's identity and creation options are fixed once created.
pub fn validate_database_update(old: &DatabaseSpec, new: &DatabaseSpec) -> FieldErrors {
    let mut errors = validate_database(new);
    let fixed: [(&str, bool); 7] = [
        ("spec.name", old.name != new.name),
        ("spec.template", old.template != new.template),
        ("spec.encoding", old.encoding != new.encoding),
        ("spec.locale", old.locale != new.locale),
        (
            "spec.localeCollate",
            old.locale_collate != new.locale_collate,
        ),
        ("spec.localeCType", old.locale_ctype != new.locale_ctype),
        (
            "spec.localeProvider",
            old.locale_provider != new.locale_provider,
        ),
    ];
    for (field, changed) in fixed {
        if changed {
            errors.push(field, "is immutable once the database exists");
        }
    }
    errors
}

/// Validates a Publication.
pub fn validate_publication(spec: &PublicationSpec) -> FieldErrors {
    let mut errors = FieldErrors::default();
    check_cluster_ref(&mut errors, &spec.cluster);
    check_db_name(&mut errors, "spec.name", &spec.name);
    check_db_name(&mut errors, "spec.dbname", &spec.dbname);
    let all = spec.target.all_tables == Some(true);
    match (all, spec.target.objects.is_empty()) {
        (true, false) => errors.push("spec.target", "allTables cannot be combined with objects"),
        (false, true) => errors.push(
            "spec.target",
            "needs allTables: true or at least one object",
        ),
        _ => {}
    }
    for (i, object) in spec.target.objects.iter().enumerate() {
        if object.tables_in_schema.is_some() == object.table.is_some() {
            errors.push(
                format!("spec.target.objects[{i}]"),
                "exactly one of tablesInSchema, table",
            );
        }
    }
    errors
}

/// Validates a Subscription.
pub fn validate_subscription(spec: &SubscriptionSpec) -> FieldErrors {
    let mut errors = FieldErrors::default();
    check_cluster_ref(&mut errors, &spec.cluster);
    check_db_name(&mut errors, "spec.name", &spec.name);
    check_db_name(&mut errors, "spec.dbname", &spec.dbname);
    if spec.publication_name.is_empty() {
        errors.push("spec.publicationName", "required");
    }
    if spec.external_cluster_name.is_empty() {
        errors.push(
            "spec.externalClusterName",
            "required: an entry of the cluster's externalClusters",
        );
    }
    errors
}

fn check_catalog(images: &[CatalogImage]) -> FieldErrors {
    let mut errors = FieldErrors::default();
    if images.is_empty() {
        errors.push("spec.images", "at least one image");
    }
    let mut majors = std::collections::BTreeSet::new();
    for (i, image) in images.iter().enumerate() {
        if image.major < 10 {
            errors.push(
                format!("spec.images[{i}].major"),
                format!("{} is not a supported major version", image.major),
            );
        }
        if !majors.insert(image.major) {
            errors.push(
                format!("spec.images[{i}].major"),
                format!("major {} is listed twice", image.major),
            );
        }
        if image.image.trim().is_empty() {
            errors.push(format!("spec.images[{i}].image"), "required");
        }
    }
    errors
}

/// Validates an ImageCatalog.
pub fn validate_image_catalog(spec: &crate::image_catalog::ImageCatalogSpec) -> FieldErrors {
    check_catalog(&spec.images)
}

/// Validates a ClusterImageCatalog.
pub fn validate_cluster_image_catalog(
    spec: &crate::image_catalog::ClusterImageCatalogSpec,
) -> FieldErrors {
    check_catalog(&spec.images)
}
