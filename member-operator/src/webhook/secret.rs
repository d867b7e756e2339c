//! The webhook certificate's Secret and the caBundle of the webhook configurations: the only
//! places the operator writes to the API server today. Every call it makes is listed in
//! [`API_ACCESS`], which a test compares with `manifests/rbac.yaml` both ways.

use super::certs::{Plan, Stored, WebhookCertificate, generate, plan};
use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;

/// Field manager of everything the operator writes.
pub const FIELD_MANAGER: &str = "pgfed-operator";
/// Annotation recording when the serving certificate was issued.
const NOT_BEFORE_ANNOTATION: &str = "pgfed.io/certificate-not-before";
/// Annotation recording when the serving certificate expires.
const NOT_AFTER_ANNOTATION: &str = "pgfed.io/certificate-not-after";
/// How many times a replica reads the Secret again after losing a write race.
const WRITE_ATTEMPTS: usize = 3;

/// One kind of call the operator makes to the API server: API group (`""` for the core group),
/// resource and verb, as RBAC names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiAccess {
    /// API group.
    pub group: &'static str,
    /// Resource (plural).
    pub resource: &'static str,
    /// Verb.
    pub verb: &'static str,
}

/// One entry of an access list.
pub const fn access(group: &'static str, resource: &'static str, verb: &'static str) -> ApiAccess {
    ApiAccess {
        group,
        resource,
        verb,
    }
}

const ADMISSION: &str = "admissionregistration.k8s.io";

/// Every call this module makes: the certificate Secret is read (`get_opt`), created only when
/// missing (`create`) and replaced only at the version read (`replace`); each webhook
/// configuration is read (`get`) and its caBundle patched (`patch`). Keep in step with the code.
pub const API_ACCESS: &[ApiAccess] = &[
    access("", "secrets", "get"),
    access("", "secrets", "create"),
    access("", "secrets", "update"),
    access(ADMISSION, "mutatingwebhookconfigurations", "get"),
    access(ADMISSION, "mutatingwebhookconfigurations", "patch"),
    access(ADMISSION, "validatingwebhookconfigurations", "get"),
    access(ADMISSION, "validatingwebhookconfigurations", "patch"),
];

/// Errors talking to the API server about certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// A Kubernetes API call failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done, on which object.
        action: String,
        /// The API error.
        source: kube::Error,
    },
    /// Certificate generation failed.
    #[error("generating the webhook certificate: {0}")]
    Generate(#[from] crate::pki::PkiError),
    /// Other writers kept changing the Secret between this replica's read and write.
    #[error(
        "the webhook certificate Secret changed under every one of {WRITE_ATTEMPTS} attempts to write it"
    )]
    Contended,
}

impl CertificateError {
    /// A short, stable name of the cause, for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            CertificateError::Kube { .. } => "kube-api",
            CertificateError::Generate(_) => "generate",
            CertificateError::Contended => "contended",
        }
    }
}

fn kube_err(action: impl Into<String>) -> impl FnOnce(kube::Error) -> CertificateError {
    let action = action.into();
    move |source| CertificateError::Kube { action, source }
}

/// What a Secret read from the API server holds.
fn stored(secret: Option<&Secret>) -> Stored {
    let Some(secret) = secret else {
        return Stored::Missing;
    };
    let resource_version = secret.metadata.resource_version.clone().unwrap_or_default();
    let text = |k: &str| {
        secret
            .data
            .as_ref()?
            .get(k)
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
    };
    let time = |k: &str| {
        secret
            .metadata
            .annotations
            .as_ref()?
            .get(k)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    let certificate = || {
        Some(WebhookCertificate {
            ca_pem: text("ca.crt")?,
            cert_pem: text("tls.crt")?,
            key_pem: text("tls.key")?,
            not_before: time(NOT_BEFORE_ANNOTATION)?,
            not_after: time(NOT_AFTER_ANNOTATION)?,
        })
    };
    match certificate() {
        Some(certificate) => Stored::Complete {
            resource_version,
            certificate,
        },
        None => Stored::Incomplete {
            resource_version,
            ca_pem: text("ca.crt"),
        },
    }
}

/// The Secret holding `cert`; with `resource_version`, a replacement conditional on it.
fn secret_object(
    name: &str,
    namespace: &str,
    cert: &WebhookCertificate,
    resource_version: Option<String>,
) -> Secret {
    let data: BTreeMap<String, ByteString> = [
        ("ca.crt", &cert.ca_pem),
        ("tls.crt", &cert.cert_pem),
        ("tls.key", &cert.key_pem),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
    .collect();
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            resource_version,
            annotations: Some(BTreeMap::from([
                (
                    NOT_BEFORE_ANNOTATION.to_string(),
                    cert.not_before.to_rfc3339(),
                ),
                (
                    NOT_AFTER_ANNOTATION.to_string(),
                    cert.not_after.to_rfc3339(),
                ),
            ])),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                FIELD_MANAGER.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".to_string()),
        data: Some(data),
        ..Secret::default()
    }
}

/// Returns the webhook certificate stored in `secret_name`, generating (and storing) a new one
/// when it is missing, incomplete or due for renewal. Several operator replicas may race here:
/// the Secret is created create-only and replaced only at the version that was read, so one
/// replica's write wins and the others read and serve the winner's certificate.
pub async fn ensure_certificate(
    client: &Client,
    namespace: &str,
    secret_name: &str,
    service: &str,
) -> Result<WebhookCertificate, CertificateError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for _ in 0..WRITE_ATTEMPTS {
        let existing = secrets
            .get_opt(secret_name)
            .await
            .map_err(kube_err(format!(
                "reading Secret {namespace}/{secret_name}"
            )))?;
        let now = chrono::Utc::now();
        let (cert, written) = match plan(stored(existing.as_ref()), now) {
            Plan::Use(cert) => return Ok(cert),
            Plan::Create => {
                let cert = generate(service, namespace, now, None)?;
                let secret = secret_object(secret_name, namespace, &cert, None);
                (cert, secrets.create(&PostParams::default(), &secret).await)
            }
            Plan::Replace {
                resource_version,
                previous_ca_pem,
            } => {
                let cert = generate(service, namespace, now, previous_ca_pem.as_deref())?;
                let secret = secret_object(secret_name, namespace, &cert, Some(resource_version));
                let written = secrets
                    .replace(secret_name, &PostParams::default(), &secret)
                    .await;
                (cert, written)
            }
        };
        match written {
            Ok(_) => {
                tracing::info!(secret = secret_name, not_after = %cert.not_after, "wrote a new webhook certificate");
                return Ok(cert);
            }
            Err(kube::Error::Api(status)) if status.is_already_exists() || status.is_conflict() => {
                tracing::info!(
                    secret = secret_name,
                    "another operator replica wrote the webhook certificate first; using theirs"
                );
            }
            Err(e) => {
                return Err(kube_err(format!(
                    "writing Secret {namespace}/{secret_name}"
                ))(e));
            }
        }
    }
    Err(CertificateError::Contended)
}

/// JSON Patch operations setting the caBundle of the webhooks whose current bundle (base64, by
/// index) differs from `ca_pem`; None when every webhook already has it.
pub fn ca_bundle_patch(current: &[Option<&str>], ca_pem: &str) -> Option<json_patch::Patch> {
    let bundle = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let ops: Vec<serde_json::Value> = current
        .iter()
        .enumerate()
        .filter(|(_, current)| **current != Some(bundle.as_str()))
        .map(|(i, _)| {
            serde_json::json!({"op": "add", "path": format!("/webhooks/{i}/clientConfig/caBundle"), "value": bundle})
        })
        .collect();
    if ops.is_empty() {
        return None;
    }
    // The operations above are well-formed JSON Patch by construction.
    serde_json::from_value(serde_json::Value::Array(ops)).ok()
}

/// Writes `ca_pem` into the caBundle of one webhook configuration where it differs. Mutating and
/// validating configurations share the `webhooks[].clientConfig.caBundle` shape, read here from
/// their JSON form.
async fn inject<K>(api: Api<K>, name: &str, ca_pem: &str) -> Result<(), CertificateError>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize,
{
    let kind = K::kind(&());
    let config = api
        .get(name)
        .await
        .map_err(kube_err(format!("reading {kind} {name}")))?;
    let config = serde_json::to_value(&config).unwrap_or_default();
    let webhooks = config["webhooks"].as_array().cloned().unwrap_or_default();
    let current: Vec<Option<&str>> = webhooks
        .iter()
        .map(|w| w["clientConfig"]["caBundle"].as_str())
        .collect();
    if let Some(patch) = ca_bundle_patch(&current, ca_pem) {
        api.patch(name, &PatchParams::default(), &Patch::<()>::Json(patch))
            .await
            .map_err(kube_err(format!("patching {kind} {name}")))?;
        tracing::info!(configuration = name, "published the webhook CA bundle");
    }
    Ok(())
}

/// Writes the CA bundle into the named mutating and validating webhook configurations.
pub async fn inject_ca_bundle(
    client: &Client,
    mutating: &str,
    validating: &str,
    ca_pem: &str,
) -> Result<(), CertificateError> {
    let mutating_api = Api::<MutatingWebhookConfiguration>::all(client.clone());
    inject(mutating_api, mutating, ca_pem).await?;
    let validating_api = Api::<ValidatingWebhookConfiguration>::all(client.clone());
    inject(validating_api, validating, ca_pem).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_sets_only_the_webhooks_that_lack_the_bundle() {
        let pem = "PEM";
        // (current bundle of each webhook, paths the patch sets)
        type Case<'a> = (Vec<Option<&'a str>>, Vec<&'a str>);
        let cases: [Case; 4] = [
            (
                vec![None, None],
                vec![
                    "/webhooks/0/clientConfig/caBundle",
                    "/webhooks/1/clientConfig/caBundle",
                ],
            ),
            (
                vec![Some("UEVN"), Some("T0xE")],
                vec!["/webhooks/1/clientConfig/caBundle"],
            ),
            (vec![Some("UEVN")], vec![]),
            (vec![], vec![]),
        ];
        for (current, want) in cases {
            let patch =
                ca_bundle_patch(&current, pem).map(|p| serde_json::to_value(p).expect("json"));
            let paths: Vec<String> = patch
                .iter()
                .flat_map(|p| p.as_array().cloned().unwrap_or_default())
                .map(|op| {
                    assert_eq!(op["value"], "UEVN", "base64 of the PEM");
                    op["path"].as_str().unwrap_or_default().to_string()
                })
                .collect();
            assert_eq!(paths, want, "{current:?}");
        }
    }

    #[test]
    fn a_written_secret_reads_back_as_the_same_certificate() {
        let cert =
            generate("pgfed-webhook", "pgfed-system", chrono::Utc::now(), None).expect("generate");
        let mut secret = secret_object("cert", "ns", &cert, None);
        secret.metadata.resource_version = Some("7".into());
        assert_eq!(
            stored(Some(&secret)),
            Stored::Complete {
                resource_version: "7".into(),
                certificate: cert.clone()
            }
        );
        // Without the issue time it is incomplete, and its CA is kept for the replacement.
        if let Some(a) = secret.metadata.annotations.as_mut() {
            a.remove(NOT_BEFORE_ANNOTATION);
        }
        assert_eq!(
            stored(Some(&secret)),
            Stored::Incomplete {
                resource_version: "7".into(),
                ca_pem: Some(cert.ca_pem)
            }
        );
        assert_eq!(stored(None), Stored::Missing);
    }
}
