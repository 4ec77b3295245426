//! HTTPS POST of an AdmissionReview to a webhook, verifying the server against the webhook's caBundle.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hyper::body::{Body, Bytes};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::config::ClientConfig;
use crate::admission::ServiceKey;

/// Webhook answers larger than this are refused rather than buffered.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Where and how to reach one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Host (name or IP) and port to connect to.
    pub host: String,
    pub port: u16,
    /// Name the server certificate must be valid for.
    pub server_name: String,
    /// Path plus query, with `timeout=<n>s` appended as the real apiserver does.
    pub path_and_query: String,
    /// For error messages: the URL as the apiserver would print it.
    pub display_url: String,
}

fn with_timeout_query(path_and_query: &str, timeout: Duration) -> String {
    let separator = if path_and_query.contains('?') {
        '&'
    } else {
        '?'
    };
    format!("{path_and_query}{separator}timeout={}s", timeout.as_secs())
}

/// Resolves `clientConfig` to an endpoint: `url` as given, or a `service` through the sim's route table.
pub(crate) fn endpoint(
    client_config: &ClientConfig,
    routes: &BTreeMap<ServiceKey, SocketAddr>,
    timeout: Duration,
) -> Result<Endpoint, String> {
    match (&client_config.url, &client_config.service) {
        (Some(url), _) => url_endpoint(url, timeout),
        (None, Some(service)) => {
            let port = service.port.unwrap_or(443);
            let key = ServiceKey {
                namespace: service.namespace.clone(),
                name: service.name.clone(),
                port,
            };
            let server_name = format!("{}.{}.svc", service.name, service.namespace);
            let path = service.path.clone().unwrap_or_else(|| "/".to_string());
            let display_url = format!(
                "https://{server_name}:{port}{path}?timeout={}s",
                timeout.as_secs()
            );
            let Some(address) = routes.get(&key) else {
                return Err(format!(
                    "failed to call webhook: Post \"{display_url}\": service {}/{} port {port} has no route in the sim \
                     (register one in AdmissionConfig::service_routes)",
                    service.namespace, service.name
                ));
            };
            Ok(Endpoint {
                host: address.ip().to_string(),
                port: address.port(),
                server_name,
                path_and_query: with_timeout_query(&path, timeout),
                display_url,
            })
        }
        (None, None) => Err("webhook clientConfig has neither url nor service".to_string()),
    }
}

fn url_endpoint(url: &str, timeout: Duration) -> Result<Endpoint, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("invalid webhook url {url:?}: {e}"))?;
    if uri.scheme_str() != Some("https") {
        return Err(format!(
            "invalid webhook url {url:?}: the scheme must be https"
        ));
    }
    let host = uri
        .host()
        .ok_or_else(|| format!("invalid webhook url {url:?}: no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let path_and_query =
        with_timeout_query(uri.path_and_query().map_or("/", |p| p.as_str()), timeout);
    let display_url = format!(
        "https://{}{}",
        uri.authority().map_or("", |a| a.as_str()),
        path_and_query
    );
    Ok(Endpoint {
        server_name: host.clone(),
        host,
        port: uri.port_u16().unwrap_or(443),
        path_and_query,
        display_url,
    })
}

/// Trust roots from `caBundle` (base64 of PEM in the configuration JSON).
fn root_store(ca_bundle: Option<&str>) -> Result<RootCertStore, String> {
    let pem = base64::engine::general_purpose::STANDARD
        .decode(ca_bundle.unwrap_or("").trim())
        .map_err(|e| format!("caBundle is not valid base64: {e}"))?;
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate =
            certificate.map_err(|e| format!("caBundle holds an unreadable certificate: {e}"))?;
        roots
            .add(certificate)
            .map_err(|e| format!("caBundle holds an unusable certificate: {e}"))?;
    }
    if roots.is_empty() {
        // Upstream would fall back to the system roots; the sim has none, so say why verification cannot work.
        return Err(
            "caBundle holds no certificate (the sim has no system trust roots)".to_string(),
        );
    }
    Ok(roots)
}

fn tls_connector(ca_bundle: Option<&str>) -> Result<TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls setup: {e}"))?
        .with_root_certificates(root_store(ca_bundle)?)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// POSTs `body` and returns the response body; Err is the failure cause as the apiserver words it.
pub(crate) async fn post(
    endpoint: &Endpoint,
    ca_bundle: Option<&str>,
    body: String,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let call = async {
        let connector = tls_connector(ca_bundle)?;
        exchange(endpoint, &connector, body).await
    };
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(cause)) => Err(format!(
            "failed to call webhook: Post \"{}\": {cause}",
            endpoint.display_url
        )),
        Err(_) => Err(format!(
            "failed to call webhook: Post \"{}\": context deadline exceeded",
            endpoint.display_url
        )),
    }
}

async fn exchange(
    endpoint: &Endpoint,
    connector: &TlsConnector,
    body: String,
) -> Result<Vec<u8>, String> {
    let server_name = ServerName::try_from(endpoint.server_name.clone())
        .map_err(|e| format!("invalid server name: {e}"))?;
    let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|e| format!("dial tcp {}:{}: {e}", endpoint.host, endpoint.port))?;
    let tls = connector
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("tls: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| format!("http: {e}"))?;
    // The connection task ends when the sender is dropped or the server closes; abort it on every exit path.
    let connection = AbortOnDrop(tokio::spawn(connection));
    let request = Request::post(endpoint.path_and_query.as_str())
        .header(
            hyper::header::HOST,
            format!("{}:{}", endpoint.server_name, endpoint.port),
        )
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::ACCEPT, "application/json, */*")
        .header(hyper::header::USER_AGENT, "berth-sim-apiserver")
        .body(body)
        .map_err(|e| format!("http request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("http: {e}"))?;
    let status = response.status();
    let bytes = read_body(response.into_body()).await?;
    drop(connection);
    // client-go accepts 200..=206 as success.
    if !(200..=206).contains(&status.as_u16()) {
        let text = String::from_utf8_lossy(&bytes);
        return Err(format!(
            "the server responded with HTTP status {}: {}",
            status.as_u16(),
            text.trim()
        ));
    }
    Ok(bytes)
}

pub(super) async fn read_body(mut body: hyper::body::Incoming) -> Result<Vec<u8>, String> {
    let mut collected = Vec::new();
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame.map_err(|e| format!("reading the response: {e}"))?;
        if let Ok(data) = frame.into_data() {
            let data: Bytes = data;
            if collected.len() + data.len() > MAX_RESPONSE_BYTES {
                return Err(format!("response larger than {MAX_RESPONSE_BYTES} bytes"));
            }
            collected.extend_from_slice(&data);
        }
    }
    Ok(collected)
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::webhook::config::ServiceReference;

    const TEN: Duration = Duration::from_secs(10);

    #[test]
    fn url_endpoint_appends_the_timeout_query() {
        let config = ClientConfig {
            url: Some("https://127.0.0.1:8443/mutate?x=1".into()),
            ..Default::default()
        };
        let endpoint = endpoint(&config, &BTreeMap::new(), TEN).expect("valid");
        assert_eq!(
            endpoint,
            Endpoint {
                host: "127.0.0.1".into(),
                port: 8443,
                server_name: "127.0.0.1".into(),
                path_and_query: "/mutate?x=1&timeout=10s".into(),
                display_url: "https://127.0.0.1:8443/mutate?x=1&timeout=10s".into(),
            }
        );
        let ipv6 = ClientConfig {
            url: Some("https://[::1]/".into()),
            ..Default::default()
        };
        let endpoint = super::endpoint(&ipv6, &BTreeMap::new(), TEN).expect("valid");
        assert_eq!((endpoint.host.as_str(), endpoint.port), ("::1", 443));
    }

    #[test]
    fn plain_http_and_missing_targets_are_refused() {
        let http = ClientConfig {
            url: Some("http://127.0.0.1/".into()),
            ..Default::default()
        };
        assert!(endpoint(&http, &BTreeMap::new(), TEN).is_err());
        assert!(endpoint(&ClientConfig::default(), &BTreeMap::new(), TEN).is_err());
    }

    #[test]
    fn service_reference_goes_through_the_route_table() {
        let service = ServiceReference {
            namespace: "sys".into(),
            name: "hook".into(),
            path: Some("/m".into()),
            port: None,
        };
        let config = ClientConfig {
            service: Some(service),
            ..Default::default()
        };
        assert!(endpoint(&config, &BTreeMap::new(), TEN).is_err());
        let key = ServiceKey {
            namespace: "sys".into(),
            name: "hook".into(),
            port: 443,
        };
        let routes = BTreeMap::from([(key, "127.0.0.1:9443".parse().unwrap())]);
        let endpoint = endpoint(&config, &routes, TEN).expect("routed");
        assert_eq!(endpoint.server_name, "hook.sys.svc");
        assert_eq!((endpoint.host.as_str(), endpoint.port), ("127.0.0.1", 9443));
        assert_eq!(endpoint.path_and_query, "/m?timeout=10s");
    }
}
