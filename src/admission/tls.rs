//! The webhook's serving certificate: loaded from files (cert-manager style) or generated at start, in which case
//! its CA is patched into the MutatingWebhookConfiguration's caBundle so the API server trusts it.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use kube::api::{Api, PostParams};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Errors of loading, generating and publishing the serving certificate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("read certificate file {path}")]
    ReadCertificate {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("read private key file {path}")]
    ReadKey {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("certificate file {path} holds no certificate")]
    EmptyCertificate { path: PathBuf },
    #[error("generate self-signed certificate for {names:?}")]
    Generate {
        names: Vec<String>,
        #[source]
        source: rcgen::Error,
    },
    #[error("build TLS server configuration")]
    ServerConfig(#[source] rustls::Error),
    #[error("publish caBundle into MutatingWebhookConfiguration {name}")]
    PublishCaBundle {
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("MutatingWebhookConfiguration {name} has no webhooks to publish a caBundle into")]
    NoWebhooks { name: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A certificate chain and key to serve with, plus the CA that clients must trust when we generated it ourselves.
pub struct ServingCert {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// PEM of the generated CA; None when the certificate came from files (their CA is managed elsewhere).
    pub generated_ca_pem: Option<String>,
}

impl ServingCert {
    /// Loads a PEM certificate chain and private key, as mounted from a cert-manager Secret.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|source| Error::ReadCertificate {
                path: cert.to_path_buf(),
                source,
            })?;
        if chain.is_empty() {
            return Err(Error::EmptyCertificate {
                path: cert.to_path_buf(),
            });
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|source| Error::ReadKey {
            path: key.to_path_buf(),
            source,
        })?;
        Ok(Self {
            chain,
            key,
            generated_ca_pem: None,
        })
    }

    /// Generates a private CA and a serving certificate it signs, valid for `names` (DNS names or IP addresses).
    /// A fresh CA per start is deliberate: it never leaves the process except as the public caBundle.
    pub fn generate(names: &[String]) -> Result<Self> {
        let fail = |source| Error::Generate {
            names: names.to_vec(),
            source,
        };
        let ca_key = rcgen::KeyPair::generate().map_err(fail)?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "berth-webhook-ca");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(fail)?;

        let leaf_key = rcgen::KeyPair::generate().map_err(fail)?;
        let mut leaf_params = rcgen::CertificateParams::new(names.to_vec()).map_err(fail)?;
        leaf_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "berth-webhook");
        let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(fail)?;

        Ok(Self {
            chain: vec![leaf.der().clone(), ca.der().clone()],
            key: PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            generated_ca_pem: Some(ca.pem()),
        })
    }

    /// A rustls server configuration serving this certificate (HTTP/1.1, as the API server speaks to webhooks).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(Error::ServerConfig)?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(Error::ServerConfig)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Writes `ca_pem` as the caBundle of every webhook in the named MutatingWebhookConfiguration.
///
/// A PUT carrying the resourceVersion that was read: an edit made in between fails with a conflict instead of
/// being overwritten; the next start publishes again.
pub async fn publish_ca_bundle(
    client: kube::Client,
    configuration: &str,
    ca_pem: &str,
) -> Result<()> {
    let api: Api<MutatingWebhookConfiguration> = Api::all(client);
    let publish_error = |source| Error::PublishCaBundle {
        name: configuration.to_string(),
        source: Box::new(source),
    };
    let mut current = api.get(configuration).await.map_err(publish_error)?;
    let webhooks = current
        .webhooks
        .as_mut()
        .filter(|webhooks| !webhooks.is_empty());
    let Some(webhooks) = webhooks else {
        return Err(Error::NoWebhooks {
            name: configuration.to_string(),
        });
    };
    for webhook in webhooks.iter_mut() {
        webhook.client_config.ca_bundle = Some(ByteString(ca_pem.as_bytes().to_vec()));
    }
    api.replace(configuration, &PostParams::default(), &current)
        .await
        .map_err(publish_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_builds_a_server_config_and_exposes_its_ca() {
        let cert = ServingCert::generate(&["localhost".into(), "127.0.0.1".into()]).unwrap();
        assert!(cert.server_config().is_ok());
        let ca = cert.generated_ca_pem.as_deref().unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(cert.chain.len(), 2);
    }

    #[test]
    fn files_round_trip_and_missing_files_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        std::fs::write(&cert_path, generated.cert.pem()).unwrap();
        std::fs::write(&key_path, generated.signing_key.serialize_pem()).unwrap();
        let loaded = ServingCert::from_files(&cert_path, &key_path).unwrap();
        assert!(loaded.generated_ca_pem.is_none());
        assert!(loaded.server_config().is_ok());

        let missing = dir.path().join("absent.crt");
        let error = ServingCert::from_files(&missing, &key_path).err().unwrap();
        assert!(error.to_string().contains("absent.crt"), "{error}");
    }
}
