//! The webhook certificate's Secret and the caBundle of the webhook configurations: the only
//! places the webhook writes to the API server.

use super::certs::{WebhookCertificate, generate, needs_renewal};
use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use std::collections::BTreeMap;

/// Field manager of everything the operator applies.
pub const FIELD_MANAGER: &str = "pgfed-operator";
/// Annotation recording when the serving certificate expires.
const NOT_AFTER_ANNOTATION: &str = "pgfed.io/certificate-not-after";

/// Errors talking to the API server about certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// A Kubernetes API call failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done.
        action: String,
        /// The API error.
        source: kube::Error,
    },
    /// Certificate generation failed.
    #[error("generating the webhook certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

fn kube_err(action: impl Into<String>) -> impl FnOnce(kube::Error) -> CertificateError {
    let action = action.into();
    move |source| CertificateError::Kube { action, source }
}

fn from_secret(secret: &Secret) -> Option<WebhookCertificate> {
    let data = secret.data.as_ref()?;
    let text = |k: &str| {
        data.get(k)
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
    };
    let not_after = secret
        .metadata
        .annotations
        .as_ref()?
        .get(NOT_AFTER_ANNOTATION)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())?
        .with_timezone(&chrono::Utc);
    Some(WebhookCertificate {
        ca_pem: text("ca.crt")?,
        cert_pem: text("tls.crt")?,
        key_pem: text("tls.key")?,
        not_after,
    })
}

/// Returns the webhook certificate stored in `secret_name`, generating (and storing) a new one
/// when it is missing, incomplete or close to expiry. Several operator replicas may race here;
/// the last writer wins and every replica reloads from the Secret on its next start.
pub async fn ensure_certificate(
    client: &Client,
    namespace: &str,
    secret_name: &str,
    service: &str,
) -> Result<WebhookCertificate, CertificateError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let existing = secrets
        .get_opt(secret_name)
        .await
        .map_err(kube_err(format!(
            "reading Secret {namespace}/{secret_name}"
        )))?;
    let now = chrono::Utc::now();
    if let Some(cert) = existing.as_ref().and_then(from_secret)
        && !needs_renewal(Some(cert.not_after), now)
    {
        return Ok(cert);
    }
    let cert = generate(service, namespace, now)?;
    let data: BTreeMap<String, ByteString> = [
        ("ca.crt", &cert.ca_pem),
        ("tls.crt", &cert.cert_pem),
        ("tls.key", &cert.key_pem),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
    .collect();
    let secret = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name,
            "namespace": namespace,
            "annotations": {NOT_AFTER_ANNOTATION: cert.not_after.to_rfc3339()},
            "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}
        },
        "type": "kubernetes.io/tls",
        "data": data,
    });
    secrets
        .patch(
            secret_name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await
        .map_err(kube_err(format!(
            "writing Secret {namespace}/{secret_name}"
        )))?;
    tracing::info!(secret = secret_name, not_after = %cert.not_after, "generated webhook certificate");
    Ok(cert)
}

/// JSON Patch operations setting the caBundle of every webhook in a configuration.
pub fn ca_bundle_patch(webhook_count: usize, ca_pem: &str) -> json_patch::Patch {
    let bundle = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let ops = (0..webhook_count)
        .map(|i| {
            serde_json::json!({"op": "add", "path": format!("/webhooks/{i}/clientConfig/caBundle"), "value": bundle})
        })
        .collect::<Vec<_>>();
    // The operations above are well-formed JSON Patch by construction.
    serde_json::from_value(serde_json::Value::Array(ops)).unwrap_or(json_patch::Patch(Vec::new()))
}

/// Writes the CA into the named mutating and validating webhook configurations.
pub async fn inject_ca_bundle(
    client: &Client,
    mutating: &str,
    validating: &str,
    ca_pem: &str,
) -> Result<(), CertificateError> {
    let mutating_api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let config = mutating_api.get(mutating).await.map_err(kube_err(format!(
        "reading MutatingWebhookConfiguration {mutating}"
    )))?;
    let count = config.webhooks.as_ref().map_or(0, Vec::len);
    mutating_api
        .patch(
            mutating,
            &PatchParams::default(),
            &Patch::<()>::Json(ca_bundle_patch(count, ca_pem)),
        )
        .await
        .map_err(kube_err(format!(
            "patching MutatingWebhookConfiguration {mutating}"
        )))?;
    let validating_api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let config = validating_api
        .get(validating)
        .await
        .map_err(kube_err(format!(
            "reading ValidatingWebhookConfiguration {validating}"
        )))?;
    let count = config.webhooks.as_ref().map_or(0, Vec::len);
    validating_api
        .patch(
            validating,
            &PatchParams::default(),
            &Patch::<()>::Json(ca_bundle_patch(count, ca_pem)),
        )
        .await
        .map_err(kube_err(format!(
            "patching ValidatingWebhookConfiguration {validating}"
        )))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_sets_every_webhook() {
        let patch = serde_json::to_value(ca_bundle_patch(2, "PEM")).expect("json");
        assert_eq!(patch.as_array().map(Vec::len), Some(2));
        assert_eq!(patch[1]["path"], "/webhooks/1/clientConfig/caBundle");
        assert_eq!(patch[0]["value"], "UEVN");
    }
}
