//! The operator's one way to see inside a pod: the mutual-TLS client of the instance managers'
//! status API. `GET /pg/status` reads an instance's [`InstanceStatus`]; `PUT /pg/config` pushes
//! [`DynamicConfig`]. The operator presents its own client certificate (`identity`) signed by the
//! Cluster's client CA, and verifies the manager's certificate against the Cluster's server CA
//! under a name the caller chooses (the certificate carries service names, not pod IPs).
//!
//! Every request is bounded (connect, then the whole exchange), so a pod that does not answer
//! costs at most the bound, and [`InstanceClient::fetch_all`] asks all instances at once.

pub mod identity;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use pgfed_api::instance::{
    BACKUP_PATH, BackupProgress, BackupRefusal, BackupRequest, CONFIG_PATH, DynamicConfig,
    InstanceStatus, MANAGER_BINARY_PATH, MANAGER_HASH_HEADER, RESTART_PATH, STATUS_PATH,
    WAL_SWITCH_PATH,
};
use pgfed_api::names::MANAGER_STATUS_PORT;
use rustls::pki_types::ServerName;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub use identity::{ClientCertificates, ClientIdentity, OPERATOR_CLIENT_NAME};

/// The largest status document accepted; a manager's is a few KiB.
const MAX_BODY_BYTES: usize = 1 << 20;

/// How long an upload of a manager binary may take.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// The body of a request.
enum Payload {
    /// None.
    None,
    /// A JSON document.
    Json(Vec<u8>),
    /// A manager binary, streamed from its file, and its SHA-256 (which the manager checks).
    Binary {
        /// The open file.
        file: tokio::fs::File,
        /// Its digest, lowercase hex.
        digest: String,
    },
}

/// A request body: small ones in memory, a binary streamed from disk in chunks (the operator
/// never holds a whole manager binary in memory).
type Body = BoxBody<Bytes, std::io::Error>;

fn in_memory(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// How long a request to a manager may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// To open the TCP connection. Inside a region a connection opens in milliseconds; one to a
    /// stopped or cut-off node never does, and every operator turn of a failover pays this.
    pub connect: Duration,
    /// For the whole request: connection, TLS handshake, request and response.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(1),
            request: Duration::from_secs(5),
        }
    }
}

/// Why a manager could not be asked, or refused.
#[derive(Debug, thiserror::Error)]
pub enum InstanceClientError {
    /// The server CA PEM holds no usable certificate.
    #[error("server CA: {0}")]
    ServerCa(#[source] std::io::Error),
    /// A server CA certificate was refused as a trust anchor.
    #[error("server CA: {0}")]
    TrustAnchor(#[source] rustls::Error),
    /// The operator's client certificate or key could not be used.
    #[error("client certificate: {0}")]
    ClientCertificate(#[source] std::io::Error),
    /// rustls refused the client certificate and key together.
    #[error("client certificate: {0}")]
    ClientKey(#[source] rustls::Error),
    /// The name to verify the manager's certificate by is not a valid DNS name or IP.
    #[error("invalid server name {0:?}")]
    ServerName(String),
    /// The TCP connection failed (refused, unreachable).
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// The manager's address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The TCP connection did not open within the connect timeout.
    #[error("connecting to {0} timed out")]
    ConnectTimeout(SocketAddr),
    /// TLS failed: the manager's certificate was not trusted, or the manager refused ours.
    #[error("TLS with {addr}: {source}")]
    Tls {
        /// The manager's address.
        addr: SocketAddr,
        /// Cause (never key material).
        source: std::io::Error,
    },
    /// The HTTP exchange failed after TLS was set up.
    #[error("HTTP with {addr}: {source}")]
    Http {
        /// The manager's address.
        addr: SocketAddr,
        /// Cause.
        source: hyper::Error,
    },
    /// The whole request took longer than the request timeout.
    #[error("request to {0} timed out")]
    Timeout(SocketAddr),
    /// The manager answered with an unexpected status code.
    #[error("{addr} answered {status}")]
    Status {
        /// The manager's address.
        addr: SocketAddr,
        /// The status code.
        status: StatusCode,
    },
    /// The manager refused the pushed settings: it holds a newer version (409).
    #[error("{0} refused the settings: it holds a newer version")]
    Refused(SocketAddr),
    /// The response body was too large or could not be read.
    #[error("reading the answer of {0}: body too large or cut")]
    Body(SocketAddr),
    /// The settings could not be written as JSON.
    #[error("encoding the settings: {0}")]
    Encode(#[source] serde_json::Error),
    /// The response is not the JSON document expected.
    #[error("decoding the answer of {addr}: {source}")]
    Decode {
        /// The manager's address.
        addr: SocketAddr,
        /// Cause.
        source: serde_json::Error,
    },
}

impl InstanceClientError {
    /// A short, stable name of the cause, for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            Self::ServerCa(_) | Self::TrustAnchor(_) => "server-ca",
            Self::ClientCertificate(_) | Self::ClientKey(_) => "client-certificate",
            Self::ServerName(_) => "server-name",
            Self::Connect { .. } => "connect",
            Self::ConnectTimeout(_) => "connect-timeout",
            Self::Tls { .. } => "tls",
            Self::Http { .. } => "http",
            Self::Timeout(_) => "timeout",
            Self::Status { .. } => "status",
            Self::Refused(_) => "refused",
            Self::Body(_) => "body",
            Self::Encode(_) => "encode",
            Self::Decode { .. } => "decode",
        }
    }
}

/// The client of one Cluster's managers: trusts the Cluster's server CA, verifies each manager
/// under one server name, and presents the operator's client certificate. Cheap to clone.
#[derive(Clone)]
pub struct InstanceClient {
    tls: TlsConnector,
    server_name: ServerName<'static>,
    /// The same name, for the Host header.
    host: String,
    port: u16,
    timeouts: Timeouts,
}

impl std::fmt::Debug for InstanceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceClient")
            .field("server_name", &self.server_name)
            .field("port", &self.port)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

/// The rustls client configuration: trust `server_ca_pem`, present `client`.
fn client_config(
    server_ca_pem: &[u8],
    client: &ClientIdentity,
) -> Result<rustls::ClientConfig, InstanceClientError> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in rustls_pemfile::certs(&mut &server_ca_pem[..]) {
        roots
            .add(ca.map_err(InstanceClientError::ServerCa)?)
            .map_err(InstanceClientError::TrustAnchor)?;
    }
    if roots.is_empty() {
        return Err(InstanceClientError::ServerCa(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "no certificate in PEM",
        )));
    }
    let chain = rustls_pemfile::certs(&mut client.certificate.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(InstanceClientError::ClientCertificate)?;
    let key = rustls_pemfile::private_key(&mut client.certificate.key_pem.as_bytes())
        .map_err(InstanceClientError::ClientCertificate)?
        .ok_or_else(|| {
            InstanceClientError::ClientCertificate(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "no private key in PEM",
            ))
        })?;
    // Named explicitly, as pgfed-tls does: other dependencies enable aws-lc-rs too.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(InstanceClientError::ClientKey)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(InstanceClientError::ClientKey)
}

/// Whether a rustls error (a refused certificate, an alert from the peer) is behind `error`.
fn is_tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return true;
        }
        cause = e.source();
    }
    false
}

impl InstanceClient {
    /// A client that trusts `server_ca_pem`, verifies every manager's certificate for
    /// `server_name` (for example `<cluster>-rw.<namespace>.svc`), and presents `client`.
    pub fn new(
        server_ca_pem: &[u8],
        server_name: &str,
        client: &ClientIdentity,
    ) -> Result<Self, InstanceClientError> {
        let config = client_config(server_ca_pem, client)?;
        let server_name_text = server_name;
        let server_name = ServerName::try_from(server_name.to_string())
            .map_err(|_| InstanceClientError::ServerName(server_name.to_string()))?;
        Ok(Self {
            tls: TlsConnector::from(Arc::new(config)),
            server_name,
            host: server_name_text.to_string(),
            port: MANAGER_STATUS_PORT,
            timeouts: Timeouts::default(),
        })
    }

    /// The same client on another port (tests serve on an ephemeral one).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The same client with other time bounds.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The status of the instance at `ip`.
    pub async fn status(&self, ip: IpAddr) -> Result<InstanceStatus, InstanceClientError> {
        let addr = SocketAddr::new(ip, self.port);
        let (status, body) = self
            .exchange(addr, Method::GET, STATUS_PATH, Payload::None)
            .await?;
        if status != StatusCode::OK {
            return Err(InstanceClientError::Status { addr, status });
        }
        serde_json::from_slice(&body).map_err(|source| InstanceClientError::Decode { addr, source })
    }

    /// The dynamic settings in effect at the instance at `ip`.
    pub async fn config(&self, ip: IpAddr) -> Result<DynamicConfig, InstanceClientError> {
        let addr = SocketAddr::new(ip, self.port);
        let (status, body) = self
            .exchange(addr, Method::GET, CONFIG_PATH, Payload::None)
            .await?;
        if status != StatusCode::OK {
            return Err(InstanceClientError::Status { addr, status });
        }
        serde_json::from_slice(&body).map_err(|source| InstanceClientError::Decode { addr, source })
    }

    /// Pushes `config` to the instance at `ip`. [`InstanceClientError::Refused`] when the
    /// manager already holds a newer version.
    pub async fn push_config(
        &self,
        ip: IpAddr,
        config: &DynamicConfig,
    ) -> Result<(), InstanceClientError> {
        let addr = SocketAddr::new(ip, self.port);
        let body = serde_json::to_vec(config).map_err(InstanceClientError::Encode)?;
        let (status, _) = self
            .exchange(addr, Method::PUT, CONFIG_PATH, Payload::Json(body))
            .await?;
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::CONFLICT => Err(InstanceClientError::Refused(addr)),
            status => Err(InstanceClientError::Status { addr, status }),
        }
    }

    /// Asks the manager at `ip` to restart postgres (it does so only when a changed parameter
    /// needs it).
    pub async fn request_restart(&self, ip: IpAddr) -> Result<(), InstanceClientError> {
        let addr = SocketAddr::new(ip, self.port);
        let (status, _) = self
            .exchange(addr, Method::POST, RESTART_PATH, Payload::None)
            .await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(InstanceClientError::Status { addr, status })
        }
    }

    /// Sends the manager at `ip` a new binary of itself with its SHA-256; the manager installs
    /// it and re-executes it in place. [`InstanceClientError::Status`] with 404 means a manager
    /// that cannot be upgraded in place.
    pub async fn upload_manager(
        &self,
        ip: IpAddr,
        binary: tokio::fs::File,
        digest: &str,
    ) -> Result<(), InstanceClientError> {
        let addr = SocketAddr::new(ip, self.port);
        let (status, _) = self
            .exchange(
                addr,
                Method::PUT,
                MANAGER_BINARY_PATH,
                Payload::Binary {
                    file: binary,
                    digest: digest.to_string(),
                },
            )
            .await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(InstanceClientError::Status { addr, status })
        }
    }

    /// Asks the manager at `ip` to start the backup `request` names (idempotent by that name):
    /// `Ok(Ok(progress))` with its record, `Ok(Err(refusal))` when it refuses (409: another
    /// backup runs there).
    pub async fn start_backup(
        &self,
        ip: IpAddr,
        request: &BackupRequest,
    ) -> Result<Result<BackupProgress, BackupRefusal>, InstanceClientError> {
        let addr = SocketAddr::new(ip, self.port);
        let body = serde_json::to_vec(request).map_err(InstanceClientError::Encode)?;
        let (status, body) = self
            .exchange(addr, Method::POST, BACKUP_PATH, Payload::Json(body))
            .await?;
        let decode = |source| InstanceClientError::Decode { addr, source };
        match status {
            StatusCode::OK | StatusCode::ACCEPTED => {
                Ok(Ok(serde_json::from_slice(&body).map_err(decode)?))
            }
            StatusCode::CONFLICT => Ok(Err(serde_json::from_slice(&body).map_err(decode)?)),
            status => Err(InstanceClientError::Status { addr, status }),
        }
    }

    /// The manager's record of the backup `name`: `Ok(Err(refusal))` when it has none (404: it
    /// runs in another session than the one that started it).
    pub async fn backup_progress(
        &self,
        ip: IpAddr,
        name: &str,
    ) -> Result<Result<BackupProgress, BackupRefusal>, InstanceClientError> {
        let addr = SocketAddr::new(ip, self.port);
        let path = format!("{BACKUP_PATH}/{name}");
        let (status, body) = self
            .exchange(addr, Method::GET, &path, Payload::None)
            .await?;
        let decode = |source| InstanceClientError::Decode { addr, source };
        match status {
            StatusCode::OK => Ok(Ok(serde_json::from_slice(&body).map_err(decode)?)),
            StatusCode::NOT_FOUND => Ok(Err(serde_json::from_slice(&body).map_err(decode)?)),
            status => Err(InstanceClientError::Status { addr, status }),
        }
    }

    /// Asks the primary's manager at `ip` to switch WAL segments.
    pub async fn switch_wal(&self, ip: IpAddr) -> Result<(), InstanceClientError> {
        let addr = SocketAddr::new(ip, self.port);
        let (status, _) = self
            .exchange(addr, Method::POST, WAL_SWITCH_PATH, Payload::None)
            .await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(InstanceClientError::Status { addr, status })
        }
    }

    /// The status of every `(instance, ip)`, asked concurrently: each result arrives within
    /// the request timeout whatever the others do.
    pub async fn fetch_all<K: Clone>(
        &self,
        instances: &[(K, IpAddr)],
    ) -> Vec<(K, Result<InstanceStatus, InstanceClientError>)> {
        futures::future::join_all(
            instances
                .iter()
                .map(|(instance, ip)| async move { (instance.clone(), self.status(*ip).await) }),
        )
        .await
    }

    /// One request on a fresh connection, bounded by the timeouts (an upload by its own, longer
    /// bound: tens of MiB cross the network).
    async fn exchange(
        &self,
        addr: SocketAddr,
        method: Method,
        path: &str,
        payload: Payload,
    ) -> Result<(StatusCode, Bytes), InstanceClientError> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.as_str());
        let mut bound = self.timeouts.request;
        let body = match payload {
            Payload::None => in_memory(Bytes::new()),
            Payload::Json(body) => {
                request = request.header(CONTENT_TYPE, "application/json");
                in_memory(Bytes::from(body))
            }
            Payload::Binary { file, digest } => {
                request = request
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(MANAGER_HASH_HEADER, digest);
                bound = bound.max(UPLOAD_TIMEOUT);
                let chunks = tokio_util::io::ReaderStream::new(file)
                    .map(|chunk| chunk.map(hyper::body::Frame::data));
                BodyExt::boxed(StreamBody::new(chunks))
            }
        };
        let request = request
            .body(body)
            .map_err(|_| InstanceClientError::ServerName(self.host.clone()))?;
        tokio::time::timeout(bound, self.send(addr, request))
            .await
            .map_err(|_| InstanceClientError::Timeout(addr))?
    }

    /// Connects to `addr` and sends `request`; the connection is closed after the answer.
    async fn send(
        &self,
        addr: SocketAddr,
        request: Request<Body>,
    ) -> Result<(StatusCode, Bytes), InstanceClientError> {
        let tcp = tokio::time::timeout(self.timeouts.connect, TcpStream::connect(addr))
            .await
            .map_err(|_| InstanceClientError::ConnectTimeout(addr))?
            .map_err(|source| InstanceClientError::Connect { addr, source })?;
        let tls = self
            .tls
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|source| InstanceClientError::Tls { addr, source })?;
        let http_error = |source: hyper::Error| {
            if is_tls_failure(&source) {
                let detail = std::io::Error::other(source.to_string());
                InstanceClientError::Tls {
                    addr,
                    source: detail,
                }
            } else {
                InstanceClientError::Http { addr, source }
            }
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(http_error)?;
        let answer = async {
            let response = sender.send_request(request).await.map_err(http_error)?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|_| InstanceClientError::Body(addr))?
                .to_bytes();
            Ok((status, body))
        };
        // The connection must be driven while the answer is awaited; if it ends first with an
        // error (the manager refused our certificate after the handshake), that error is the cause.
        let mut answer = pin!(answer);
        tokio::select! {
            result = &mut answer => result,
            ended = connection => match ended {
                Err(e) => Err(http_error(e)),
                Ok(()) => answer.await,
            },
        }
    }
}
