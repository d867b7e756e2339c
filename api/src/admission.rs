//! Defaulting and validation of any pgfed.io/v1 document by kind: exactly what the admission
//! webhook answers, usable without a cluster (tests, `kubectl pgfed`, examples).

use crate::validation::{self, FieldErrors};
use crate::{
    backup, database, database_role, defaults, federation, image_catalog, object_store, pooler,
};
use serde::Serialize;
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

/// The document read into its kind's type, `adjust`ed, and written back: what pgfed keeps of it.
fn round_trip<T: DeserializeOwned + Serialize>(
    kind: &str,
    doc: &Value,
    adjust: impl FnOnce(&mut T),
) -> Result<Value, AdmissionError> {
    let mut obj: T = parse(kind, doc)?;
    adjust(&mut obj);
    serde_json::to_value(&obj).map_err(|source| AdmissionError::Schema {
        kind: kind.to_string(),
        source,
    })
}

/// The document as pgfed's types keep it, with its kind's defaults applied when `with_defaults`.
fn typed(kind: &str, doc: &Value, with_defaults: bool) -> Result<Value, AdmissionError> {
    match kind {
        "Cluster" => round_trip(kind, doc, |o: &mut crate::cluster::Cluster| {
            if with_defaults {
                defaults::default_cluster(&mut o.spec)
            }
        }),
        "Pooler" => round_trip(kind, doc, |o: &mut pooler::Pooler| {
            if with_defaults {
                defaults::default_pooler(&mut o.spec)
            }
        }),
        "Federation" => round_trip(kind, doc, |o: &mut federation::Federation| {
            if with_defaults {
                defaults::default_federation(&mut o.spec)
            }
        }),
        "Backup" => round_trip(kind, doc, |_: &mut backup::Backup| {}),
        "ScheduledBackup" => round_trip(kind, doc, |_: &mut backup::ScheduledBackup| {}),
        "Database" => round_trip(kind, doc, |_: &mut database::Database| {}),
        "Publication" => round_trip(kind, doc, |_: &mut database::Publication| {}),
        "Subscription" => round_trip(kind, doc, |_: &mut database::Subscription| {}),
        "ImageCatalog" => round_trip(kind, doc, |_: &mut image_catalog::ImageCatalog| {}),
        "ClusterImageCatalog" => {
            round_trip(kind, doc, |_: &mut image_catalog::ClusterImageCatalog| {})
        }
        "DatabaseRole" => round_trip(kind, doc, |_: &mut database_role::DatabaseRole| {}),
        "ObjectStore" => round_trip(kind, doc, |_: &mut object_store::ObjectStore| {}),
        _ => Err(AdmissionError::UnknownKind(kind.to_string())),
    }
}

/// Applies the defaults of the document's kind and returns the defaulted document. Fields pgfed
/// does not know are kept as written, so defaulting never drops them silently: validation
/// reports them (see [`unknown_fields`]).
pub fn default_document(doc: &Value) -> Result<Value, AdmissionError> {
    let (kind, _) = header(doc)?;
    match kind.as_str() {
        "Cluster" | "Pooler" | "Federation" => {
            let mut defaulted = typed(&kind, doc, true)?;
            keep_written(doc, &mut defaulted);
            Ok(defaulted)
        }
        _ => {
            typed(&kind, doc, false)?;
            Ok(doc.clone())
        }
    }
}

/// The paths (`spec.template.spec.foo`, `spec.items[2].bar`) of the fields of `doc` that pgfed's
/// types do not have, and that would therefore be dropped. Where the CRD schema is structural the
/// API server refuses or prunes these itself; this finds them offline (`kubectl pgfed validate`)
/// and inside the free-form fields (`template`) the API server keeps as written.
pub fn unknown_fields(doc: &Value) -> Result<Vec<String>, AdmissionError> {
    let (kind, _) = header(doc)?;
    let kept = typed(&kind, doc, false)?;
    let mut paths = Vec::new();
    dropped_fields(doc, &kept, "", &mut paths);
    paths.sort();
    Ok(paths)
}

/// Whether a value carries no setting. The types skip empty lists, maps and unset options when
/// writing, known field or not, so such a value cannot tell an unknown field from a known one.
fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Collects into `out` the paths of `written` that `kept` lacks. Pure.
fn dropped_fields(written: &Value, kept: &Value, path: &str, out: &mut Vec<String>) {
    match (written, kept) {
        (Value::Object(w), Value::Object(k)) => {
            for (key, value) in w {
                let here = child_path(path, key);
                match k.get(key) {
                    Some(kept_value) => dropped_fields(value, kept_value, &here, out),
                    None if !is_empty_value(value) => out.push(here),
                    None => {}
                }
            }
        }
        (Value::Array(w), Value::Array(k)) => {
            for (i, (value, kept_value)) in w.iter().zip(k).enumerate() {
                dropped_fields(value, kept_value, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Copies back into `defaulted` every field of `written` it lacks. Pure.
fn keep_written(written: &Value, defaulted: &mut Value) {
    match (written, defaulted) {
        (Value::Object(w), Value::Object(d)) => {
            for (key, value) in w {
                match d.get_mut(key) {
                    Some(target) => keep_written(value, target),
                    None => {
                        d.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Array(w), Value::Array(d)) if w.len() == d.len() => {
            for (value, target) in w.iter().zip(d.iter_mut()) {
                keep_written(value, target);
            }
        }
        _ => {}
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
            validation::validate_cluster_create(name, &new.spec)
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
        ("ObjectStore", _) => validation::validate_object_store_resource(
            &parse::<object_store::ObjectStore>(k, doc)?.spec,
        ),
        _ => return Err(AdmissionError::UnknownKind(kind.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pooler(template: Value) -> Value {
        json!({
            "apiVersion": API_VERSION,
            "kind": "Pooler",
            "metadata": {"name": "pool"},
            "spec": {"cluster": {"name": "pg"}, "pgbouncer": {}, "template": template}
        })
    }

    #[test]
    fn unknown_fields_are_found_at_any_depth() {
        let doc = pooler(json!({
            "metadata": {"labels": {"app": "x"}, "colour": "blue"},
            "spec": {"containers": [
                {"name": "pgbouncer", "image": "pgbouncer:1"},
                {"name": "sidecar", "imagePullPolicy": "Always", "restartPolicyy": "Always"}
            ], "hostNetwork": true, "emptyList": [], "emptyMap": {}, "nothing": null}
        }));
        assert_eq!(
            unknown_fields(&doc).expect("reviewable"),
            [
                "spec.template.metadata.colour",
                "spec.template.spec.containers[1].restartPolicyy",
            ]
        );
    }

    #[test]
    fn a_cluster_written_with_known_fields_only_has_none() {
        let doc = json!({
            "apiVersion": API_VERSION,
            "kind": "Cluster",
            "metadata": {"name": "pg", "annotations": {"pgfed.io/hibernation": "off"}},
            "spec": {
                "instances": 3,
                "storage": {"size": "1Gi"},
                "postgresql": {"parameters": {"max_connections": "200"}},
                "externalClusters": []
            }
        });
        assert_eq!(
            unknown_fields(&doc).expect("reviewable"),
            Vec::<String>::new()
        );
        let mut with_unknown = doc.clone();
        with_unknown["spec"]["serviceAccountNameX"] = json!("x");
        assert_eq!(
            unknown_fields(&with_unknown).expect("reviewable"),
            ["spec.serviceAccountNameX"]
        );
    }

    #[test]
    fn defaulting_keeps_unknown_fields_as_written() {
        let doc = pooler(json!({"spec": {"containers": [], "futureField": {"a": 1}}}));
        let defaulted = default_document(&doc).expect("defaulted");
        assert_eq!(
            defaulted["spec"]["template"]["spec"]["futureField"],
            json!({"a": 1})
        );
        assert_eq!(
            unknown_fields(&defaulted).expect("reviewable"),
            ["spec.template.spec.futureField"]
        );
    }
}
