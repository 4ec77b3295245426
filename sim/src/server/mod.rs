//! The HTTP API server: one dispatcher that routes Kubernetes API paths, discovery, OpenAPI and the
//! `/_sim` admin endpoints, applying the test controls (request log, faults, latency) on the way.

mod admin;
mod discovery;
mod handlers;
mod request;
mod respond;
mod route;
mod table;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::Response;

pub use discovery::GIT_VERSION;
pub use request::Format;
pub use route::Target;

use crate::controls::{Controls, RequestRecord};
use crate::registry::Registry;
use crate::status::StatusError;

/// Server tunables.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Interval of BOOKMARK events on watches that asked for them.
    pub bookmark_interval: Duration,
    /// Watch duration when the client gives no `timeoutSeconds`.
    pub default_watch_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bookmark_interval: Duration::from_secs(60),
            default_watch_timeout: Duration::from_secs(1800),
        }
    }
}

/// Everything a request handler needs.
pub struct ApiServer {
    pub registry: Arc<Registry>,
    pub controls: Arc<Controls>,
    pub config: ServerConfig,
}

/// The axum router serving the whole API.
pub fn router(server: Arc<ApiServer>) -> Router {
    Router::new().fallback(dispatch).with_state(server)
}

async fn dispatch(
    State(server): State<Arc<ApiServer>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = route::parse(uri.path());
    let query = request::Query::parse(uri.query());
    let user_agent = header_str(&headers, header::USER_AGENT).to_string();
    tracing::debug!(%method, path = %uri, %user_agent, "request");
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or_else(|| uri.path());
    if let Some(record) = request_record(&method, &target, &query, &user_agent, path_and_query) {
        let (delay, fault) = server.controls.on_request(record);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if let Some(code) = fault {
            let mut e = StatusError::for_code(code, format!("injected fault: {code}"));
            if matches!(code, 429 | 503 | 504) {
                e = e.with_retry_after(1);
            }
            return respond::error(&e);
        }
    }
    let result = match target {
        Target::Admin(path) => admin::handle(&server, &method, &path, &query, &body).await,
        Target::Collection { .. } | Target::Item { .. } => {
            handlers::resource(&server, &method, target, &query, &headers, body, user_agent).await
        }
        other => read_only(&method, other, &headers),
    };
    result.unwrap_or_else(|e| respond::error(&e))
}

/// Discovery, OpenAPI and health endpoints (GET only).
fn read_only(
    method: &Method,
    target: Target,
    headers: &HeaderMap,
) -> Result<Response, StatusError> {
    if method != Method::GET {
        return match target {
            Target::NotFound => Err(StatusError::path_not_found()),
            _ => Err(StatusError::method_not_allowed()),
        };
    }
    let doc = match target {
        Target::Version => discovery::version(),
        Target::CoreVersions => discovery::core_versions(header_str(headers, header::HOST)),
        Target::Groups => discovery::groups(),
        Target::Group(g) => discovery::group(&g).ok_or_else(StatusError::path_not_found)?,
        Target::Resources { group, version } => discovery::resources(&group, &version),
        Target::OpenApiIndex => discovery::openapi_index(),
        Target::OpenApiDocument { group, version } => {
            discovery::openapi_document(&group, &version).ok_or_else(StatusError::path_not_found)?
        }
        Target::Health => {
            let mut ok = Response::new(axum::body::Body::from("ok"));
            ok.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain"),
            );
            return Ok(ok);
        }
        Target::NotFound | Target::Admin(_) | Target::Collection { .. } | Target::Item { .. } => {
            return Err(StatusError::path_not_found());
        }
    };
    Ok(respond::json(200, &doc))
}

/// The request-log entry of a request (`None` for the admin endpoints). Non-resource requests (discovery,
/// OpenAPI) are logged with an empty resource and the lower-cased HTTP method as verb.
fn request_record(
    method: &Method,
    target: &Target,
    query: &request::Query,
    ua: &str,
    path: &str,
) -> Option<RequestRecord> {
    let (rt, namespace, name, sub, item) = match target {
        Target::Collection { rt, namespace } => (
            *rt,
            namespace.clone().unwrap_or_default(),
            String::new(),
            None,
            false,
        ),
        Target::Item {
            rt,
            namespace,
            name,
            sub,
        } => (*rt, namespace.clone(), name.clone(), *sub, true),
        Target::Admin(_) => return None,
        _ => {
            return Some(RequestRecord {
                verb: method.as_str().to_ascii_lowercase(),
                user_agent: ua.to_string(),
                path: path.to_string(),
                ..RequestRecord::default()
            });
        }
    };
    let verb = match (method.as_str(), item, query.flag("watch")) {
        ("GET", _, true) => "watch",
        ("GET", true, false) => "get",
        ("GET", false, false) => "list",
        ("POST", _, _) => "create",
        ("PUT", _, _) => "update",
        ("PATCH", _, _) => "patch",
        ("DELETE", true, _) => "delete",
        ("DELETE", false, _) => "deletecollection",
        (other, _, _) => other,
    };
    Some(RequestRecord {
        verb: verb.to_string(),
        group: rt.group.to_string(),
        resource: rt.resource.to_string(),
        subresource: sub.map(|s| s.segment().to_string()).unwrap_or_default(),
        namespace,
        name,
        user_agent: ua.to_string(),
        path: path.to_string(),
    })
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}
