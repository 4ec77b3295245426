//! An in-process HTTPS admission webhook for tests: a throw-away CA, a server certificate, and a handler closure.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A CA plus a server certificate it signed.
pub(crate) struct Pki {
    /// The CA certificate as a webhook `caBundle` (base64 of PEM).
    pub ca_bundle: String,
    server_cert: CertificateDer<'static>,
    server_key: PrivatePkcs8KeyDer<'static>,
}

impl Pki {
    /// Server certificate valid for `names` (DNS names or IP addresses).
    pub(crate) fn new(names: &[&str]) -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
        Pki {
            ca_bundle: base64::engine::general_purpose::STANDARD.encode(ca_cert.pem()),
            server_cert: server_cert.der().clone(),
            server_key: PrivatePkcs8KeyDer::from(server_key.serialize_der()),
        }
    }
}

/// What the test webhook answers.
pub(crate) struct Answer {
    pub delay: Option<Duration>,
    pub http_status: u16,
    pub body: Value,
}

impl Answer {
    pub(crate) fn json(body: Value) -> Answer {
        Answer {
            delay: None,
            http_status: 200,
            body,
        }
    }
}

/// Builds the answer to one AdmissionReview.
pub(crate) type Handler = Arc<dyn Fn(&Value) -> Answer + Send + Sync>;

/// One request the webhook received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub path_and_query: String,
    pub review: Value,
}

/// A running webhook server; stops when dropped.
pub(crate) struct TestWebhook {
    pub address: SocketAddr,
    pub pki: Arc<Pki>,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestWebhook {
    /// Serves on 127.0.0.1 with a certificate for 127.0.0.1, localhost and hook.sys.svc.
    pub(crate) async fn start(handler: Handler) -> TestWebhook {
        let pki = Arc::new(Pki::new(&["127.0.0.1", "localhost", "hook.sys.svc"]));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![pki.server_cert.clone()],
                PrivateKeyDer::Pkcs8(pki.server_key.clone_key()),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(serve(listener, acceptor, handler, received.clone()));
        TestWebhook {
            address,
            pki,
            received,
            task,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("https://{}{}", self.address, path)
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for TestWebhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handler: Handler,
    received: Arc<Mutex<Vec<Received>>>,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let handler = handler.clone();
        let received = received.clone();
        tokio::spawn(async move {
            // Clients that reject our certificate abort the handshake: nothing to serve then.
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let handler = handler.clone();
                let received = received.clone();
                async move { Ok::<_, Infallible>(respond(request, &handler, &received).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn respond(
    request: Request<Incoming>,
    handler: &Handler,
    received: &Mutex<Vec<Received>>,
) -> Response<String> {
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let body = super::client::read_body(request.into_body()).await.unwrap();
    let review: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    received.lock().unwrap().push(Received {
        path_and_query,
        review: review.clone(),
    });
    let answer = handler(&review);
    if let Some(delay) = answer.delay {
        tokio::time::sleep(delay).await;
    }
    Response::builder()
        .status(answer.http_status)
        .header("content-type", "application/json")
        .body(answer.body.to_string())
        .unwrap()
}

/// The review's request uid.
pub(crate) fn uid_of(review: &Value) -> String {
    review["request"]["uid"].as_str().unwrap_or("").to_string()
}

/// An AdmissionReview answer with the given `response` members plus the right uid.
pub(crate) fn response_to(review: &Value, mut response: Value) -> Value {
    response["uid"] = json!(uid_of(review));
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}

/// Allowed, with a JSON patch sent as base64 (what Go webhooks send).
pub(crate) fn patch_base64(review: &Value, patch: &Value) -> Value {
    let encoded = base64::engine::general_purpose::STANDARD.encode(patch.to_string());
    response_to(
        review,
        json!({"allowed": true, "patchType": "JSONPatch", "patch": encoded}),
    )
}
