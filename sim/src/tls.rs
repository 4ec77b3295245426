//! HTTPS for the API server: a generated CA and a loopback serving certificate, and the accept loop
//! that serves the axum router over TLS.

use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

/// Why the TLS material could not be created.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("generate the {what}")]
    Generate {
        what: &'static str,
        source: rcgen::Error,
    },
    #[error("build the TLS server configuration")]
    ServerConfig { source: rustls::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A CA and a serving certificate for `127.0.0.1`, `::1` and `localhost`.
pub struct ServingCert {
    /// PEM of the CA certificate (what clients trust).
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl ServingCert {
    pub fn generate() -> Result<ServingCert> {
        let ca_key = KeyPair::generate().map_err(|source| Error::Generate {
            what: "CA key",
            source,
        })?;
        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "berth-sim-ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .map_err(|source| Error::Generate {
                what: "CA certificate",
                source,
            })?;
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().map_err(|source| Error::Generate {
            what: "serving key",
            source,
        })?;
        let mut params = CertificateParams::new(vec![
            "localhost".to_string(),
            "kubernetes.default.svc".to_string(),
        ])
        .map_err(|source| Error::Generate {
            what: "serving certificate parameters",
            source,
        })?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::IpAddr::from(
                std::net::Ipv6Addr::LOCALHOST,
            )));
        params
            .distinguished_name
            .push(DnType::CommonName, "berth-sim-apiserver");
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|source| Error::Generate {
                what: "serving certificate",
                source,
            })?;
        Ok(ServingCert {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().to_vec(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        })
    }

    fn server_config(&self) -> Result<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|source| Error::ServerConfig { source })?
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der.clone()], key)
            .map_err(|source| Error::ServerConfig { source })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// Serves `app` over TLS on `listener` until `shutdown` fires; open connections are dropped then.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    cert: &ServingCert,
    shutdown: oneshot::Receiver<()>,
) -> Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cert.server_config()?));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let app = app.clone();
                connections.spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = TowerToHyperService::new(app);
                    let _ = Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tls), service).await;
                });
            }
            // reap finished connections so the set does not grow
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
    Ok(())
}
