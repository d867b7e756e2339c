//! Defaulting and validation of any pgfed.io/v1 document by kind: exactly what the admission
//! webhook answers, usable without a cluster (tests, `kubectl pgfed`, examples).

use crate::validation::{self, FieldErrors};
use crate::{
    backup, database, database_role, defaults, federation, image_catalog, object_store, pooler,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The API group and version every pgfed document carries.
pub const API_VERSION: &str = "pgfed.io/v1";

/// Why a document could not be reviewed at all.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// `apiVersion` is not pgfed.io/v1.
    #[error("apiVersion {0:?} is not {API_VERSION}")]
    ApiVersion(String),
    /// `kind` is not one of ours.
    #[error("kind {0:?} is not a pgfed.io/v1 kind")]
    UnknownKind(String),
    /// The document does not match the schema of its kind.
    #[error("{kind} does not match its schema: {source}")]
    Schema {
        /// The kind.
        kind: String,
        /// The deserialization error, which names the offending field.
        source: serde_json::Error,
    },
}

fn parse<T: DeserializeOwned>(kind: &str, doc: &Value) -> Result<T, AdmissionError> {
    serde_json::from_value(doc.clone()).map_err(|source| AdmissionError::Schema {
        kind: kind.to_string(),
        source,
    })
}

fn header(doc: &Value) -> Result<(String, String), AdmissionError> {
    let api_version = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if api_version != API_VERSION {
        return Err(AdmissionError::ApiVersion(api_version.to_string()));
    }
    let kind = doc
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok((kind, name))
}

/// Applies the defaults of the document's kind and returns the defaulted document.
pub fn default_document(doc: &Value) -> Result<Value, AdmissionError> {
    let (kind, _) = header(doc)?;
    let to_value = |v: Result<Value, serde_json::Error>| {
        v.map_err(|source| AdmissionError::Schema {
            kind: kind.clone(),
            source,
        })
    };
    match kind.as_str() {
        "Cluster" => {
            let mut obj: crate::cluster::Cluster = parse(&kind, doc)?;
            defaults::default_cluster(&mut obj.spec);
            to_value(serde_json::to_value(&obj))
        }
        "Pooler" => {
            let mut obj: pooler::Pooler = parse(&kind, doc)?;
            defaults::default_pooler(&mut obj.spec);
            to_value(serde_json::to_value(&obj))
        }
        "Federation" => {
            let mut obj: federation::Federation = parse(&kind, doc)?;
            defaults::default_federation(&mut obj.spec);
            to_value(serde_json::to_value(&obj))
        }
        "Backup"
        | "ScheduledBackup"
        | "Database"
        | "Publication"
        | "Subscription"
        | "ImageCatalog"
        | "ClusterImageCatalog"
        | "DatabaseRole"
        | "ObjectStore" => Ok(doc.clone()),
        _ => Err(AdmissionError::UnknownKind(kind)),
    }
}

/// Validates a document on create (`old` = None) or update. An empty result admits it.
pub fn validate_document(doc: &Value, old: Option<&Value>) -> Result<FieldErrors, AdmissionError> {
    let (kind, name) = header(doc)?;
    let mut errors = validate_kind(&kind, &name, doc, old)?;
    errors
        .0
        .extend(validation::unsupported::unsupported_fields(&kind, doc).0);
    Ok(errors)
}

fn validate_kind(
    kind: &str,
    name: &str,
    doc: &Value,
    old: Option<&Value>,
) -> Result<FieldErrors, AdmissionError> {
    let k = kind;
    Ok(match (k, old) {
        ("Cluster", None) => {
            let new: crate::cluster::Cluster = parse(k, doc)?;
            validation::validate_cluster(name, &new.spec)
        }
        ("Cluster", Some(old)) => {
            let new: crate::cluster::Cluster = parse(k, doc)?;
            let old: crate::cluster::Cluster = parse(k, old)?;
            validation::validate_cluster_update(name, &old.spec, &new.spec)
        }
        ("Federation", None) => {
            let new: federation::Federation = parse(k, doc)?;
            validation::validate_federation(name, &new.spec)
        }
        ("Federation", Some(old)) => {
            let new: federation::Federation = parse(k, doc)?;
            let old: federation::Federation = parse(k, old)?;
            validation::validate_federation_update(name, &old.spec, &new.spec)
        }
        ("Backup", None) => validation::validate_backup(&parse::<backup::Backup>(k, doc)?.spec),
        ("Backup", Some(old)) => validation::validate_backup_update(
            &parse::<backup::Backup>(k, old)?.spec,
            &parse::<backup::Backup>(k, doc)?.spec,
        ),
        ("ScheduledBackup", _) => {
            validation::validate_scheduled_backup(&parse::<backup::ScheduledBackup>(k, doc)?.spec)
        }
        ("Pooler", _) => validation::validate_pooler(&parse::<pooler::Pooler>(k, doc)?.spec),
        ("Database", None) => {
            validation::validate_database(&parse::<database::Database>(k, doc)?.spec)
        }
        ("Database", Some(old)) => validation::validate_database_update(
            &parse::<database::Database>(k, old)?.spec,
            &parse::<database::Database>(k, doc)?.spec,
        ),
        ("Publication", _) => {
            validation::validate_publication(&parse::<database::Publication>(k, doc)?.spec)
        }
        ("Subscription", _) => {
            validation::validate_subscription(&parse::<database::Subscription>(k, doc)?.spec)
        }
        ("ImageCatalog", _) => {
            validation::validate_image_catalog(&parse::<image_catalog::ImageCatalog>(k, doc)?.spec)
        }
        ("ClusterImageCatalog", _) => validation::validate_cluster_image_catalog(
            &parse::<image_catalog::ClusterImageCatalog>(k, doc)?.spec,
        ),
        ("DatabaseRole", _) => {
            // Decoding checks the schema; the kind itself is refused as not supported yet.
            parse::<database_role::DatabaseRole>(k, doc)?;
            FieldErrors::default()
        }
        ("ObjectStore", _) => {
            let store = parse::<object_store::ObjectStore>(k, doc)?;
            let mut errors = FieldErrors::default();
            validation::validate_object_store(
                &mut errors,
                "spec.configuration",
                &store.spec.configuration,
            );
            errors
        }
        _ => return Err(AdmissionError::UnknownKind(kind.to_string())),
    })
}
