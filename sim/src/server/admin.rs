//! `/_sim/...`: the test controls over HTTP (for the `serve` binary and out-of-process tests).
//!
//! | Method | Path | Effect |
//! |---|---|---|
//! | POST | `/_sim/watches/close` | end every open watch cleanly |
//! | POST | `/_sim/watches/expire` | compact history and send ERROR 410 into every open watch |
//! | POST | `/_sim/history/compact` | drop watch history (older resourceVersions get 410) |
//! | POST / DELETE | `/_sim/faults` | add a [`Fault`] (JSON body) / remove all |
//! | POST / DELETE | `/_sim/latency` | add a [`Latency`] (JSON body) / remove all |
//! | GET / DELETE | `/_sim/requests` | the request log / clear it |
//! | GET | `/_sim/quiescent?quietMillis=..&timeoutMillis=..` | wait until no write happened for the quiet period |

use std::time::Duration;

use axum::body::Bytes;
use axum::http::Method;
use axum::response::Response;
use serde_json::json;

use super::request::Query;
use super::{ApiServer, respond};
use crate::controls::{Fault, Latency};
use crate::status::StatusError;

pub async fn handle(
    server: &ApiServer,
    method: &Method,
    path: &[String],
    query: &Query,
    body: &Bytes,
) -> Result<Response, StatusError> {
    let store = server.registry.store();
    let segments: Vec<&str> = path.iter().map(String::as_str).collect();
    let ok = || respond::json(200, &json!({"ok": true}));
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["watches", "close"]) => {
            store.close_watches();
            Ok(ok())
        }
        ("POST", ["watches", "expire"]) => {
            store.expire_watches();
            Ok(ok())
        }
        ("POST", ["history", "compact"]) => {
            store.compact();
            Ok(ok())
        }
        ("POST", ["faults"]) => {
            let fault: Fault = serde_json::from_slice(body)
                .map_err(|e| StatusError::bad_request(format!("invalid fault: {e}")))?;
            server.controls.add_fault(fault);
            Ok(ok())
        }
        ("DELETE", ["faults"]) => {
            server.controls.clear_faults();
            Ok(ok())
        }
        ("POST", ["latency"]) => {
            let latency: Latency = serde_json::from_slice(body)
                .map_err(|e| StatusError::bad_request(format!("invalid latency: {e}")))?;
            server.controls.add_latency(latency);
            Ok(ok())
        }
        ("DELETE", ["latency"]) => {
            server.controls.clear_latencies();
            Ok(ok())
        }
        ("GET", ["requests"]) => Ok(respond::json(200, &server.controls.requests())),
        ("DELETE", ["requests"]) => {
            server.controls.clear_requests();
            Ok(ok())
        }
        ("GET", ["quiescent"]) => {
            let quiet = Duration::from_millis(query.parse_u64("quietMillis")?.unwrap_or(500));
            let limit = Duration::from_millis(query.parse_u64("timeoutMillis")?.unwrap_or(30_000));
            let quiescent = store.wait_quiescent(quiet, limit).await;
            Ok(respond::json(
                200,
                &json!({"quiescent": quiescent, "resourceVersion": store.current_rv().to_string()}),
            ))
        }
        ("GET", ["healthz"]) => Ok(ok()),
        _ => Err(StatusError::path_not_found()),
    }
}
