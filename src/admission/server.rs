//! HTTPS server for AdmissionReview v1: `POST /mutate` answers with the [`decide`](super::decide) rule applied
//! to the StorageClasses in a reflector cache.
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use futures::StreamExt as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::Api;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview, Operation};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::decide::{Decision, Request, decide, set_class_patch};
use super::tls::{self, ServingCert};

/// Errors that stop the webhook server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bind webhook listener on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("StorageClass cache stopped before its first list")]
    CacheNeverReady,
    #[error(transparent)]
    Tls(#[from] tls::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the webhook serves.
pub struct Options {
    /// Address to listen on, e.g. 0.0.0.0:8443.
    pub listen: SocketAddr,
    /// The serving certificate.
    pub cert: ServingCert,
    /// MutatingWebhookConfiguration whose caBundle gets the generated CA (ignored for certificates from files).
    pub webhook_configuration: Option<String>,
}

/// Starts the StorageClass cache, waits for its first full list (answering from an empty cache would wrongly
/// leave claims without their default), then serves until the task is dropped. `on_listening` gets the bound
/// address, which tests need when they listen on port 0.
pub async fn run(
    client: kube::Client,
    options: Options,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<()> {
    let (classes, writer) = reflector::store::<StorageClass>();
    let stream = reflector::reflector(
        writer,
        watcher(
            Api::<StorageClass>::all(client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff()
    .touched_objects()
    .for_each(|event| async move {
        if let Err(error) = event {
            tracing::warn!(%error, "StorageClass watch failed; retrying");
        }
    });
    let cache_task = tokio::spawn(stream);
    classes
        .wait_until_ready()
        .await
        .map_err(|_| Error::CacheNeverReady)?;

    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: options.listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| Error::Bind {
        addr: options.listen,
        source,
    })?;
    if let (Some(ca), Some(name)) = (
        &options.cert.generated_ca_pem,
        &options.webhook_configuration,
    ) {
        tls::publish_ca_bundle(client, name, ca).await?;
        tracing::info!(configuration = %name, "published the generated CA as caBundle");
    }
    let acceptor = TlsAcceptor::from(options.cert.server_config()?);
    tracing::info!(address = %bound, "default-StorageClass webhook serving");
    on_listening(bound);
    serve(listener, acceptor, router(classes)).await;
    cache_task.abort();
    Ok(())
}

/// The routes: the admission endpoint and a liveness probe.
pub fn router(classes: Store<StorageClass>) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        .route("/livez", get(|| async { "ok" }))
        .with_state(classes)
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, router: Router) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                continue;
            }
        };
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(stream).await {
                Ok(tls) => tls,
                Err(error) => return tracing::debug!(%peer, %error, "TLS handshake failed"),
            };
            let service = TowerToHyperService::new(router);
            if let Err(error) = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
}

async fn mutate(
    State(classes): State<Store<StorageClass>>,
    Json(review): Json<AdmissionReview<DynamicObject>>,
) -> Json<serde_json::Value> {
    Json(respond(review, &classes.state()))
}

/// Answers one AdmissionReview. The response is built by hand so the patch is base64, the encoding the API
/// server documents (kube's response type serialises it as a byte array).
pub fn respond(
    review: AdmissionReview<DynamicObject>,
    classes: &[Arc<StorageClass>],
) -> serde_json::Value {
    let request: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(request) => request,
        Err(_) => {
            return review_response(serde_json::json!({ "uid": "", "allowed": false,
            "status": { "code": 400, "message": "AdmissionReview has no request" } }));
        }
    };
    let claim: Option<PersistentVolumeClaim> = request
        .object
        .as_ref()
        .and_then(|object| serde_json::to_value(object).ok())
        .and_then(|value| serde_json::from_value(value).ok());
    let facts = Request {
        is_create: request.operation == Operation::Create,
        resource: &request.resource.resource,
        sub_resource: request.sub_resource.as_deref(),
    };
    let decision = match &claim {
        Some(claim) => decide(facts, claim, classes.iter().map(Arc::as_ref)),
        None => Decision::Unchanged(super::decide::Unchanged::NotAClaimCreate),
    };
    let name = format!(
        "{}/{}",
        request.namespace.as_deref().unwrap_or(""),
        request.name
    );
    let mut response = serde_json::json!({ "uid": request.uid, "allowed": true });
    match decision {
        Decision::SetClass(class) => {
            tracing::info!(claim = %name, %class, "setting the default StorageClass");
            let patch = base64::engine::general_purpose::STANDARD
                .encode(set_class_patch(&class).to_string());
            response["patchType"] = "JSONPatch".into();
            response["patch"] = patch.into();
        }
        Decision::Unchanged(reason) => {
            tracing::debug!(claim = %name, ?reason, "admitted unchanged")
        }
    }
    review_response(response)
}

fn review_response(response: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(operation: &str, claim: serde_json::Value) -> AdmissionReview<DynamicObject> {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "req-1", "kind": {"group": "", "version": "v1", "kind": "PersistentVolumeClaim"},
                "resource": {"group": "", "version": "v1", "resource": "persistentvolumeclaims"},
                "name": "data", "namespace": "ns", "operation": operation, "userInfo": {},
                "object": claim, "oldObject": null, "dryRun": false
            }
        }))
        .unwrap()
    }

    fn default_class() -> Vec<Arc<StorageClass>> {
        let class: StorageClass = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "hostpath", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "hostpath.berth.dev"
        }))
        .unwrap();
        vec![Arc::new(class)]
    }

    fn claim(spec: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "ns"}, "spec": spec})
    }

    #[test]
    fn create_without_class_answers_a_base64_json_patch() {
        let answer = respond(
            review(
                "CREATE",
                claim(serde_json::json!({"accessModes": ["ReadWriteOnce"]})),
            ),
            &default_class(),
        );
        let response = &answer["response"];
        assert_eq!(response["uid"], "req-1");
        assert_eq!(response["allowed"], true);
        assert_eq!(response["patchType"], "JSONPatch");
        let patch = base64::engine::general_purpose::STANDARD
            .decode(response["patch"].as_str().unwrap())
            .unwrap();
        let patch: serde_json::Value = serde_json::from_slice(&patch).unwrap();
        assert_eq!(patch, set_class_patch("hostpath"));
    }

    #[test]
    fn update_and_explicit_empty_class_are_admitted_without_patch() {
        for (operation, spec) in [
            ("UPDATE", serde_json::json!({})),
            ("CREATE", serde_json::json!({"storageClassName": ""})),
        ] {
            let answer = respond(review(operation, claim(spec)), &default_class());
            assert_eq!(answer["response"]["allowed"], true);
            assert!(
                answer["response"].get("patch").is_none(),
                "{operation}: {answer}"
            );
        }
    }
}
