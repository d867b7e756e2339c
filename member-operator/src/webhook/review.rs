//! One admission review: defaulting (mutating hook) or validation (validating hook) of a pgfed.io
//! object, delegated to `pgfed_api::admission` so the webhook and the tests share one rule book.

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use pgfed_api::admission::{default_document, unknown_fields, validate_document};

/// Which webhook was called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// Fill defaults (MutatingWebhookConfiguration).
    Mutate,
    /// Refuse invalid objects (ValidatingWebhookConfiguration).
    Validate,
}

/// What the client asked the API server to do with fields the schema does not know
/// (`fieldValidation` of the create/update/patch options; `kubectl apply` asks for Strict).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    /// Refuse the object.
    Strict,
    /// Admit it with a warning per field (the API server's default).
    Warn,
    /// Admit it silently.
    Ignore,
}

impl FieldValidation {
    /// Reads the mode from a request's options; the API server's default when absent.
    pub fn of_request(request: &AdmissionRequest<DynamicObject>) -> Self {
        match request
            .options
            .as_ref()
            .and_then(|o| o.0.get("fieldValidation"))
            .and_then(serde_json::Value::as_str)
        {
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            _ => FieldValidation::Warn,
        }
    }
}

/// The message for each field pgfed does not know. The API server refuses or prunes unknown fields
/// itself where the schema is structural; it keeps them inside the free-form `template` fields, so
/// the webhook reports those the same way.
fn unknown_field_messages(paths: &[String]) -> Vec<String> {
    paths
        .iter()
        .map(|p| format!("unknown field \"{p}\": pgfed has no such field and ignores it"))
        .collect()
}

/// Answers one request. Deletions and connects are always allowed.
pub fn review(hook: Hook, request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    if !matches!(request.operation, Operation::Create | Operation::Update) {
        return response;
    }
    let Some(object) = &request.object else {
        return response.deny("the request carries no object");
    };
    let doc = match serde_json::to_value(object) {
        Ok(doc) => doc,
        Err(e) => return response.deny(format!("object is not JSON: {e}")),
    };
    match hook {
        Hook::Mutate => match default_document(&doc) {
            Ok(defaulted) if defaulted == doc => response,
            Ok(defaulted) => {
                let patch = json_patch::diff(&doc, &defaulted);
                match response.clone().with_patch(patch) {
                    Ok(patched) => patched,
                    Err(e) => response.deny(format!("cannot serialize the defaults patch: {e}")),
                }
            }
            Err(e) => response.deny(e.to_string()),
        },
        Hook::Validate => {
            let old = match (&request.operation, &request.old_object) {
                (Operation::Update, Some(old)) => match serde_json::to_value(old) {
                    Ok(old) => Some(old),
                    Err(e) => return response.deny(format!("old object is not JSON: {e}")),
                },
                _ => None,
            };
            let unknown = match unknown_fields(&doc) {
                Ok(paths) => unknown_field_messages(&paths),
                Err(e) => return response.deny(e.to_string()),
            };
            let mode = FieldValidation::of_request(request);
            let mut refusals: Vec<String> = match validate_document(&doc, old.as_ref()) {
                Ok(errors) => errors.0.iter().map(ToString::to_string).collect(),
                Err(e) => return response.deny(e.to_string()),
            };
            let mut response = response;
            match mode {
                FieldValidation::Strict => refusals.extend(unknown),
                FieldValidation::Warn if !unknown.is_empty() => response.warnings = Some(unknown),
                FieldValidation::Warn | FieldValidation::Ignore => {}
            }
            if refusals.is_empty() {
                response
            } else {
                response.deny(refusals.join("; "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::admission::AdmissionReview;
    use serde_json::json;

    fn request(
        operation: &str,
        object: serde_json::Value,
        old: Option<serde_json::Value>,
    ) -> AdmissionRequest<DynamicObject> {
        request_with_options(operation, object, old, None)
    }

    fn request_with_options(
        operation: &str,
        object: serde_json::Value,
        old: Option<serde_json::Value>,
        field_validation: Option<&str>,
    ) -> AdmissionRequest<DynamicObject> {
        let options = field_validation.map(|mode| {
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions", "fieldValidation": mode})
        });
        let review = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "5f1c6d4e-0000-4000-8000-000000000001",
                "kind": {"group": "pgfed.io", "version": "v1", "kind": object["kind"]},
                "resource": {"group": "pgfed.io", "version": "v1", "resource": "clusters"},
                "requestKind": {"group": "pgfed.io", "version": "v1", "kind": object["kind"]},
                "requestResource": {"group": "pgfed.io", "version": "v1", "resource": "clusters"},
                "name": object["metadata"]["name"],
                "namespace": "default",
                "operation": operation,
                "userInfo": {"username": "alice"},
                "object": object,
                "oldObject": old,
                "options": options,
                "dryRun": false
            }
        });
        let review: AdmissionReview<DynamicObject> =
            serde_json::from_value(review).expect("review");
        review.try_into().expect("request")
    }

    fn cluster(spec: serde_json::Value) -> serde_json::Value {
        json!({"apiVersion": "pgfed.io/v1", "kind": "Cluster", "metadata": {"name": "pg"}, "spec": spec})
    }

    #[test]
    fn invalid_cluster_is_denied_with_field_paths() {
        let req = request(
            "CREATE",
            cluster(json!({"instances": 0, "storage": {"size": "1Gi"}})),
            None,
        );
        let response = review(Hook::Validate, &req);
        assert!(!response.allowed);
        let message = response.result.message.clone();
        assert!(message.contains("spec.instances"), "{message}");
    }

    #[test]
    fn valid_cluster_is_allowed() {
        let req = request(
            "CREATE",
            cluster(json!({"instances": 3, "storage": {"size": "1Gi"}})),
            None,
        );
        assert!(review(Hook::Validate, &req).allowed);
    }

    #[test]
    fn minimal_cluster_gets_defaults_as_a_json_patch() {
        let req = request(
            "CREATE",
            cluster(json!({"instances": 1, "storage": {"size": "1Gi"}})),
            None,
        );
        let response = review(Hook::Mutate, &req);
        assert!(response.allowed);
        let patch = String::from_utf8(response.patch.clone().expect("patch")).expect("utf8");
        assert!(patch.contains("/spec/imageName"), "{patch}");
        assert!(patch.contains("/spec/bootstrap"), "{patch}");
    }

    #[test]
    fn shrinking_storage_on_update_is_denied() {
        let old = cluster(json!({"instances": 1, "storage": {"size": "2Gi"}}));
        let new = cluster(json!({"instances": 1, "storage": {"size": "1Gi"}}));
        let response = review(Hook::Validate, &request("UPDATE", new, Some(old)));
        assert!(!response.allowed);
        assert!(
            response.result.message.contains("spec.storage.size"),
            "{}",
            response.result.message
        );
    }

    fn pooler_with_unknown_template_field() -> serde_json::Value {
        json!({
            "apiVersion": "pgfed.io/v1",
            "kind": "Pooler",
            "metadata": {"name": "pool"},
            "spec": {
                "cluster": {"name": "pg"},
                "pgbouncer": {},
                "template": {"spec": {"containers": [{"name": "pgbouncer", "imagePullPolicyy": "Always"}]}}
            }
        })
    }

    #[test]
    fn unknown_fields_in_free_form_templates_follow_field_validation() {
        let path = "spec.template.spec.containers[0].imagePullPolicyy";
        let strict = review(
            Hook::Validate,
            &request_with_options(
                "CREATE",
                pooler_with_unknown_template_field(),
                None,
                Some("Strict"),
            ),
        );
        assert!(!strict.allowed);
        assert!(
            strict.result.message.contains(path),
            "{}",
            strict.result.message
        );
        for mode in [None, Some("Warn")] {
            let warned = review(
                Hook::Validate,
                &request_with_options("CREATE", pooler_with_unknown_template_field(), None, mode),
            );
            assert!(warned.allowed, "{mode:?}");
            let warnings = warned.warnings.expect("warnings");
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert!(warnings[0].contains(path), "{warnings:?}");
        }
        let ignored = review(
            Hook::Validate,
            &request_with_options(
                "CREATE",
                pooler_with_unknown_template_field(),
                None,
                Some("Ignore"),
            ),
        );
        assert!(ignored.allowed);
        assert_eq!(ignored.warnings, None);
    }

    #[test]
    fn defaulting_does_not_remove_unknown_template_fields() {
        let response = review(
            Hook::Mutate,
            &request("CREATE", pooler_with_unknown_template_field(), None),
        );
        assert!(response.allowed);
        let patch = String::from_utf8(response.patch.clone().unwrap_or_default()).expect("utf8");
        assert!(!patch.contains("\"remove\""), "{patch}");
    }

    #[test]
    fn deletions_are_allowed() {
        let req = request("DELETE", cluster(json!({"instances": 0})), None);
        assert!(review(Hook::Validate, &req).allowed);
    }
}
