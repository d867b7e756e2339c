//! TLS for pgfed's HTTPS endpoints (the member operator's admission webhook, the instance
//! manager's status API): a rustls server configuration built from PEM material, with or without
//! required client certificates, whose serving certificate can be replaced while the server runs
//! (the webhook renews its own), and an axum listener that completes each handshake before
//! handing the connection over, so one slow or bad client cannot stop the server.

#![forbid(unsafe_code)]

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why TLS material was refused. Messages name the part at fault, never its content.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The server certificate PEM could not be read.
    #[error("server certificate: {0}")]
    CertificatePem(#[source] std::io::Error),
    /// The server certificate PEM holds no certificate.
    #[error("server certificate: no certificate in PEM")]
    NoCertificate,
    /// The server key PEM could not be read.
    #[error("server key: {0}")]
    KeyPem(#[source] std::io::Error),
    /// The server key PEM holds no private key.
    #[error("server key: no private key in PEM")]
    NoKey,
    /// rustls refused the certificate and key together (unsupported key, key of another certificate).
    #[error("server certificate: {0}")]
    CertifiedKey(#[source] rustls::Error),
    /// The client CA PEM could not be read or holds no usable certificate.
    #[error("client CA: {0}")]
    ClientCaPem(#[source] std::io::Error),
    /// A client CA certificate was refused as a trust anchor.
    #[error("client CA: {0}")]
    ClientCa(#[source] rustls::Error),
    /// No client verifier could be built from the client CA (for example, no CA at all).
    #[error("client CA: {0}")]
    ClientVerifier(#[source] rustls::server::VerifierBuilderError),
    /// The crypto provider supports none of the protocol versions asked for.
    #[error("TLS versions: {0}")]
    Versions(#[source] rustls::Error),
}

impl TlsError {
    /// A short, stable name of the cause, for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            TlsError::CertificatePem(_) | TlsError::NoCertificate => "server-certificate",
            TlsError::KeyPem(_) | TlsError::NoKey => "server-key",
            TlsError::CertifiedKey(_) => "certificate-key-pair",
            TlsError::ClientCaPem(_) | TlsError::ClientCa(_) | TlsError::ClientVerifier(_) => {
                "client-ca"
            }
            TlsError::Versions(_) => "tls-versions",
        }
    }
}

/// The ring provider is named explicitly: other dependencies enable aws-lc-rs too, and rustls
/// refuses to guess between two.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Parses a serving certificate chain and its key into what rustls serves.
fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<_, _>>()
        .map_err(TlsError::CertificatePem)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(TlsError::KeyPem)?
        .ok_or(TlsError::NoKey)?;
    CertifiedKey::from_der(certs, key, provider).map_err(TlsError::CertifiedKey)
}

/// The serving certificate of a running server, replaceable without a restart: every handshake
/// reads the current one.
#[derive(Debug)]
struct CurrentCertificate(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // A poisoned lock still holds a whole certificate: a writer only ever swaps the Arc.
        let current = match self.0.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        Some(current.clone())
    }
}

/// Replaces the serving certificate of the acceptor it came from. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CertificateReloader {
    current: Arc<CurrentCertificate>,
    provider: Arc<CryptoProvider>,
}

impl CertificateReloader {
    /// Serves `cert_pem`/`key_pem` from the next handshake on. Connections already established
    /// keep the certificate they were opened with. Invalid material leaves the current one in place.
    pub fn reload(&self, cert_pem: &[u8], key_pem: &[u8]) -> Result<(), TlsError> {
        let next = Arc::new(certified_key(cert_pem, key_pem, &self.provider)?);
        let mut current = match self.current.0.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *current = next;
        Ok(())
    }
}

/// Builds a TLS acceptor serving `cert_pem`/`key_pem`, and the handle that replaces that
/// certificate while the server runs. With `client_ca_pem`, every client must present a
/// certificate that CA signed (mutual TLS); without, any client may connect.
pub fn reloadable_acceptor(
    cert_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: Option<&[u8]>,
) -> Result<(TlsAcceptor, CertificateReloader), TlsError> {
    let provider = provider();
    let first = certified_key(cert_pem, key_pem, &provider)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Versions)?;
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(ca_pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in rustls_pemfile::certs(&mut &ca_pem[..]) {
                roots
                    .add(ca.map_err(TlsError::ClientCaPem)?)
                    .map_err(TlsError::ClientCa)?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(TlsError::ClientVerifier)?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let current = Arc::new(CurrentCertificate(RwLock::new(Arc::new(first))));
    let config = builder.with_cert_resolver(current.clone());
    Ok((
        TlsAcceptor::from(Arc::new(config)),
        CertificateReloader { current, provider },
    ))
}

/// Builds a TLS acceptor serving `cert_pem`/`key_pem` for the life of the server (see
/// [`reloadable_acceptor`] for the rules on `client_ca_pem`).
pub fn acceptor(
    cert_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: Option<&[u8]>,
) -> Result<TlsAcceptor, TlsError> {
    reloadable_acceptor(cert_pem, key_pem, client_ca_pem).map(|(acceptor, _)| acceptor)
}

/// Accepts TCP connections and completes the TLS handshake; failed or slow handshakes are logged
/// (with `name`, which says which server) and skipped.
pub struct TlsListener {
    /// The bound TCP listener.
    pub tcp: TcpListener,
    /// The TLS acceptor.
    pub acceptor: TlsAcceptor,
    /// The server's name in log lines ("webhook", "status API").
    pub name: &'static str,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.tcp.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(server = self.name, error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(stream)).await {
                Ok(Ok(tls)) => return (tls, addr),
                Ok(Err(e)) => {
                    tracing::info!(server = self.name, %addr, error = %e, "TLS handshake refused")
                }
                Err(_) => tracing::info!(server = self.name, %addr, "TLS handshake timed out"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn builds_with_and_without_client_authentication() {
        let (cert, key) = pair();
        assert!(acceptor(cert.as_bytes(), key.as_bytes(), None).is_ok());
        assert!(acceptor(cert.as_bytes(), key.as_bytes(), Some(cert.as_bytes())).is_ok());
    }

    #[test]
    fn bad_material_is_named() {
        let (cert, key) = pair();
        // (certificate, key, client CA, the start of the expected error)
        type Case<'a> = (&'a [u8], &'a [u8], Option<&'a [u8]>, &'a str);
        let cases: [Case; 4] = [
            (b"", key.as_bytes(), None, "server certificate"),
            (cert.as_bytes(), b"", None, "server key"),
            (key.as_bytes(), cert.as_bytes(), None, "server certificate"),
            (cert.as_bytes(), key.as_bytes(), Some(b""), "client CA"),
        ];
        for (c, k, ca, want) in cases {
            match acceptor(c, k, ca) {
                Ok(_) => panic!("accepted bad material, expected an error about {want}"),
                Err(e) => {
                    let message = e.to_string();
                    assert!(message.starts_with(want), "{message} (expected {want})");
                    assert_eq!(e.label(), want.replace(' ', "-").to_lowercase());
                }
            }
        }
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let (cert, _) = pair();
        let (_, other_key) = pair();
        let e = acceptor(cert.as_bytes(), other_key.as_bytes(), None)
            .err()
            .expect("mismatched key accepted");
        assert_eq!(e.label(), "certificate-key-pair");
    }

    /// The certificate a client is shown when it connects to `addr`.
    async fn served_certificate(addr: std::net::SocketAddr, trusted: &[&str]) -> Vec<u8> {
        let mut roots = rustls::RootCertStore::empty();
        for pem in trusted {
            for c in rustls_pemfile::certs(&mut pem.as_bytes()) {
                roots.add(c.expect("pem")).expect("root");
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let tls = connector.connect(name, tcp).await.expect("handshake");
        let (_, session) = tls.get_ref();
        session.peer_certificates().expect("peer certificates")[0].to_vec()
    }

    fn der(pem: &str) -> Vec<u8> {
        rustls_pemfile::certs(&mut pem.as_bytes())
            .next()
            .expect("one certificate")
            .expect("pem")
            .to_vec()
    }

    #[tokio::test]
    async fn a_running_server_serves_the_reloaded_certificate() {
        let (first, first_key) = pair();
        let (second, second_key) = pair();
        let (acceptor, reloader) =
            reloadable_acceptor(first.as_bytes(), first_key.as_bytes(), None).expect("acceptor");
        let tcp = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = tcp.local_addr().expect("addr");
        let listener = TlsListener {
            tcp,
            acceptor,
            name: "test",
        };
        let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        let trusted = [first.as_str(), second.as_str()];

        assert_eq!(served_certificate(addr, &trusted).await, der(&first));
        // Bad material is refused and the server keeps serving what it had.
        assert!(
            reloader
                .reload(second.as_bytes(), first_key.as_bytes())
                .is_err()
        );
        assert_eq!(served_certificate(addr, &trusted).await, der(&first));
        reloader
            .reload(second.as_bytes(), second_key.as_bytes())
            .expect("reload");
        assert_eq!(served_certificate(addr, &trusted).await, der(&second));
        assert!(!server.is_finished(), "the server kept running");
        server.abort();
    }
}
