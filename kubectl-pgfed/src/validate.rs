//! `kubectl pgfed validate -f FILE…`: applies pgfed's defaulting and validation to manifests
//! without a cluster — the same code the admission webhook runs — and reports each problem with
//! its file, document and field path, including fields pgfed does not know (strict decoding, as
//! `kubectl apply` asks of the API server), so none is dropped unnoticed.

use pgfed_api::admission::{default_document, unknown_fields, validate_document};
use std::path::{Path, PathBuf};

/// One problem found in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file.
    pub file: PathBuf,
    /// Index of the YAML document in the file (0-based).
    pub document: usize,
    /// `Kind/name` of the object, when known.
    pub object: String,
    /// What is wrong (field path and rule, or a parse error).
    pub message: String,
}

/// Validates every pgfed.io document of `file`; documents of other API groups are skipped
/// (a manifest may mix Secrets and Clusters). Returns the problems and how many pgfed documents
/// were checked.
pub fn validate_file(file: &Path) -> (Vec<Finding>, usize) {
    let mut findings = Vec::new();
    let finding = |document, object: &str, message: String| Finding {
        file: file.to_path_buf(),
        document,
        object: object.to_string(),
        message,
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return (vec![finding(0, "", format!("cannot read: {e}"))], 0),
    };
    let mut checked = 0;
    for (i, document) in serde_norway::Deserializer::from_str(&text).enumerate() {
        let doc: serde_json::Value = match serde::Deserialize::deserialize(document) {
            Ok(v) => v,
            Err(e) => {
                findings.push(finding(i, "", format!("not YAML: {e}")));
                continue;
            }
        };
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        if !api_version.starts_with("pgfed.io/") {
            continue;
        }
        checked += 1;
        let object = format!(
            "{}/{}",
            doc["kind"].as_str().unwrap_or("?"),
            doc["metadata"]["name"].as_str().unwrap_or("?")
        );
        let result = unknown_fields(&doc).and_then(|unknown| {
            let errors = default_document(&doc).and_then(|d| validate_document(&d, None))?;
            Ok((unknown, errors))
        });
        match result {
            Ok((unknown, errors)) => {
                findings.extend(unknown.into_iter().map(|path| {
                    finding(
                        i,
                        &object,
                        format!("{path}: unknown field: pgfed has no such field and would drop it"),
                    )
                }));
                findings.extend(
                    errors
                        .0
                        .into_iter()
                        .map(|e| finding(i, &object, e.to_string())),
                );
            }
            Err(e) => findings.push(finding(i, &object, e.to_string())),
        }
    }
    (findings, checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_field_paths_per_document_and_skips_other_groups() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("mixed.yaml");
        std::fs::write(
            &file,
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n\
             apiVersion: pgfed.io/v1\nkind: Cluster\nmetadata: {name: good}\nspec: {instances: 1, storage: {size: 1Gi}}\n---\n\
             apiVersion: pgfed.io/v1\nkind: Cluster\nmetadata: {name: bad}\nspec: {instances: 0, storage: {size: 1Gi}}\n",
        )
        .expect("write");
        let (findings, checked) = validate_file(&file);
        assert_eq!(checked, 2);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].document, 2);
        assert_eq!(findings[0].object, "Cluster/bad");
        assert!(
            findings[0].message.starts_with("spec.instances:"),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn reports_fields_pgfed_does_not_know() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("cnpg.yaml");
        std::fs::write(
            &file,
            "apiVersion: pgfed.io/v1\nkind: Cluster\nmetadata: {name: pg}\n\
             spec:\n  instances: 1\n  storage: {size: 1Gi, colour: blue}\n  notAField: 3\n",
        )
        .expect("write");
        let (findings, checked) = validate_file(&file);
        assert_eq!(checked, 1);
        let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "spec.notAField: unknown field: pgfed has no such field and would drop it",
                "spec.storage.colour: unknown field: pgfed has no such field and would drop it",
            ]
        );
    }

    #[test]
    fn the_shipped_examples_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let mut total = 0;
        // pgfed documents only: subfolders hold other projects' objects (cert-manager's).
        for entry in std::fs::read_dir(dir).expect("examples").flatten() {
            if entry.path().extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let (findings, checked) = validate_file(&entry.path());
            assert!(findings.is_empty(), "{findings:?}");
            total += checked;
        }
        assert!(total >= 12, "checked {total} documents");
    }
}
