//! Kubernetes clients of the members: the hub's own client for a member without
//! `kubeconfigSecretRef`, else one built from the kubeconfig in that Secret (in the Federation's
//! namespace). Built clients are kept while the Secret's content is unchanged, and the Secret is
//! read again only every [`KUBECONFIG_RECHECK`] (or at once after the member refused the
//! client's credentials), so a steady federation makes no request to the hub for them on its
//! turns every few seconds.

use crate::counted::ApiServer;
use k8s_openapi::api::core::v1::Secret;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use pgfed_api::federation::FederationMember;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a call to a member's API server may take: an unreachable region must cost the turn
/// seconds, not the client's default minutes.
pub const MEMBER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a built client is used before its kubeconfig Secret is read again: a rotated
/// kubeconfig is picked up within this (at once when the old one is refused).
pub const KUBECONFIG_RECHECK: Duration = Duration::from_secs(60);

/// Why a member's client could not be built. Never carries the kubeconfig's content.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The Secret or its key is missing.
    #[error("kubeconfig Secret {secret}: {reason}")]
    Secret {
        /// `namespace/name` of the Secret.
        secret: String,
        /// What is wrong.
        reason: String,
    },
    /// The kubeconfig cannot be used.
    #[error("kubeconfig in Secret {secret} key {key} is unusable: {reason}")]
    Kubeconfig {
        /// `namespace/name` of the Secret.
        secret: String,
        /// The key.
        key: String,
        /// Why (parse or configuration error, without the content).
        reason: String,
    },
}

/// A client built from a kubeconfig Secret.
struct Built {
    /// The Secret content it was built from.
    content: Vec<u8>,
    client: Client,
    /// When the Secret was last read and found with this content.
    checked: Instant,
}

/// Built clients by `namespace/secret/key`.
#[derive(Default)]
pub struct MemberClients {
    built: Mutex<BTreeMap<String, Built>>,
    requests: Family<ApiServer, Counter>,
}

/// The cache key of a member's kubeconfig.
fn cache_key(namespace: &str, member: &FederationMember) -> Option<String> {
    let selector = member.kubeconfig_secret_ref.as_ref()?;
    Some(format!("{namespace}/{}/{}", selector.name, selector.key))
}

impl MemberClients {
    /// Clients whose requests are counted into `requests`, by member.
    pub fn counting(requests: Family<ApiServer, Counter>) -> Self {
        Self {
            requests,
            ..Self::default()
        }
    }

    /// The client of `member` of a Federation in `namespace`; `hub` for a member without a
    /// kubeconfig.
    pub async fn client(
        &self,
        hub: &Client,
        namespace: &str,
        member: &FederationMember,
    ) -> Result<Client, ClientError> {
        let (Some(selector), Some(cache_key)) =
            (&member.kubeconfig_secret_ref, cache_key(namespace, member))
        else {
            return Ok(hub.clone());
        };
        if let Some(b) = self.lock().get(&cache_key)
            && b.checked.elapsed() < KUBECONFIG_RECHECK
        {
            return Ok(b.client.clone());
        }
        let secret_name = format!("{namespace}/{}", selector.name);
        let secret = Api::<Secret>::namespaced(hub.clone(), namespace)
            .get_opt(&selector.name)
            .await
            .map_err(|e| ClientError::Secret {
                secret: secret_name.clone(),
                reason: e.to_string(),
            })?
            .ok_or_else(|| ClientError::Secret {
                secret: secret_name.clone(),
                reason: "not found".into(),
            })?;
        let bytes = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&selector.key))
            .map(|b| b.0.clone())
            .ok_or_else(|| ClientError::Secret {
                secret: secret_name.clone(),
                reason: format!("has no key {}", selector.key),
            })?;
        if let Some(b) = self.lock().get_mut(&cache_key)
            && b.content == bytes
        {
            b.checked = Instant::now();
            return Ok(b.client.clone());
        }
        let unusable = |reason: String| ClientError::Kubeconfig {
            secret: secret_name.clone(),
            key: selector.key.clone(),
            reason,
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| unusable("not UTF-8".into()))?;
        // The parse error names a position, never the content.
        let kubeconfig = Kubeconfig::from_yaml(text).map_err(|e| unusable(e.to_string()))?;
        let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| unusable(e.to_string()))?;
        config.connect_timeout = Some(MEMBER_TIMEOUT);
        config.read_timeout = Some(MEMBER_TIMEOUT);
        config.write_timeout = Some(MEMBER_TIMEOUT);
        let client = crate::counted::client(config, &self.requests, &member.name)
            .map_err(|e| unusable(e.to_string()))?;
        self.lock().insert(
            cache_key,
            Built {
                content: bytes,
                client: client.clone(),
                checked: Instant::now(),
            },
        );
        Ok(client)
    }

    /// Reads `member`'s kubeconfig Secret again on the next call: its API server refused the
    /// client's credentials (the kubeconfig may have been rotated).
    pub fn recheck(&self, namespace: &str, member: &FederationMember) {
        if let Some(key) = cache_key(namespace, member)
            && let Some(b) = self.lock().get_mut(&key)
        {
            b.checked = Instant::now() - KUBECONFIG_RECHECK;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Built>> {
        self.built.lock().unwrap_or_else(|p| p.into_inner())
    }
}
