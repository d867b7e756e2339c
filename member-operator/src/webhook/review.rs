//! One admission review: defaulting (mutating hook) or validation (validating hook) of a pgfed.io
//! object, delegated to `pgfed_api::admission` so the webhook and the tests share one rule book.

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use pgfed_api::admission::{default_document, validate_document};

/// Which webhook was called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// Fill defaults (MutatingWebhookConfiguration).
    Mutate,
    /// Refuse invalid objects (ValidatingWebhookConfiguration).
    Validate,
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
            match validate_document(&doc, old.as_ref()) {
                Ok(errors) if errors.is_empty() => response,
                Ok(errors) => response.deny(errors.to_string()),
                Err(e) => response.deny(e.to_string()),
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

    #[test]
    fn deletions_are_allowed() {
        let req = request("DELETE", cluster(json!({"instances": 0})), None);
        assert!(review(Hook::Validate, &req).allowed);
    }
}
