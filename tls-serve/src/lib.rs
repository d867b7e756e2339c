//! TLS for pgfed's HTTPS endpoints (the member operator's admission webhook, the instance
//! manager's status API): a rustls server configuration built from PEM material, with or without
//! required client certificates, and an axum listener that completes each handshake before
//! handing the connection over, so one slow or bad client cannot stop the server.

#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds a TLS acceptor serving `cert_pem`/`key_pem`. With `client_ca_pem`, every client must
/// present a certificate that CA signed (mutual TLS); without, any client may connect. The ring
/// provider is named explicitly: other dependencies enable aws-lc-rs too, and rustls refuses to
/// guess between two.
pub fn acceptor(
    cert_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: Option<&[u8]>,
) -> Result<TlsAcceptor, String> {
    let certs = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("server certificate: {e}"))?;
    if certs.is_empty() {
        return Err("server certificate: no certificate in PEM".into());
    }
    let key = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| format!("server key: {e}"))?
        .ok_or("server key: no private key in PEM")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?;
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(ca_pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in rustls_pemfile::certs(&mut &ca_pem[..]) {
                roots
                    .add(ca.map_err(|e| format!("client CA: {e}"))?)
                    .map_err(|e| format!("client CA: {e}"))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| format!("client CA: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("server certificate: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
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
                Err(e) => assert!(e.starts_with(want), "{e} (expected {want})"),
            }
        }
    }
}
