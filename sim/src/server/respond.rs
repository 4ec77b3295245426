//! Response bodies: compact JSON objects, lists (serialised item by item), `Status` errors.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};

use super::request::Format;
use super::table;
use crate::catalog::{ResourceType, View};
use crate::registry::ListPage;
use crate::status::StatusError;
use crate::strategy::views;

pub fn bytes(code: u16, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub fn json(code: u16, value: &impl Serialize) -> Response {
    bytes(code, serde_json::to_vec(value).unwrap_or_default())
}

pub fn error(e: &StatusError) -> Response {
    let mut response = json(e.code, &e.to_status());
    if let Some(seconds) = e.retry_after_seconds
        && let Ok(v) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Adds `Warning: 299 - "<text>"` headers.
pub fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - {:?}", w);
        if let Ok(v) = HeaderValue::from_str(&text) {
            response.headers_mut().append(header::WARNING, v);
        }
    }
    response
}

/// An object (storage form) as the client asked to see it.
pub fn present(rt: &ResourceType, format: Format, stored: &Value) -> Value {
    match format {
        Format::Json => match rt.view {
            View::Plain => stored.clone(),
            View::EventsV1 => views::to_view(rt, stored),
        },
        Format::Metadata => metadata_only(stored),
        Format::Table => table::table(rt, json!({}), vec![table::row(rt, stored)]),
    }
}

/// An object already in view form (a write's answer), as the client asked to see it; writes are not
/// printed as tables.
pub fn present_view(format: Format, view: Value) -> Value {
    match format {
        Format::Json | Format::Table => view,
        Format::Metadata => metadata_only(&view),
    }
}

pub fn metadata_only(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or(json!({})),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListMeta<'a> {
    resource_version: String,
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    continue_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remaining_item_count: Option<usize>,
}

/// A list response body, serialised without cloning the stored items.
pub fn list_body(rt: &ResourceType, format: Format, page: &ListPage) -> Vec<u8> {
    let meta = ListMeta {
        resource_version: page.rv.to_string(),
        continue_token: page.continue_token.as_deref(),
        remaining_item_count: page.remaining_item_count,
    };
    let (kind, api_version) = match format {
        Format::Json => (format!("{}List", rt.kind), rt.api_version()),
        Format::Metadata => (
            "PartialObjectMetadataList".to_string(),
            "meta.k8s.io/v1".to_string(),
        ),
        Format::Table => {
            let rows = page
                .items
                .iter()
                .map(|o| table::row(rt, &views::to_view(rt, o)))
                .collect();
            let list_meta = serde_json::to_value(&meta).unwrap_or_default();
            return serde_json::to_vec(&table::table(rt, list_meta, rows)).unwrap_or_default();
        }
    };
    let mut out = Vec::with_capacity(64 + page.items.len() * 512);
    out.extend_from_slice(b"{\"kind\":");
    append(&mut out, &kind);
    out.extend_from_slice(b",\"apiVersion\":");
    append(&mut out, &api_version);
    out.extend_from_slice(b",\"metadata\":");
    append(&mut out, &meta);
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match (format, rt.view) {
            (Format::Json, View::Plain) => append(&mut out, item.as_ref()),
            _ => append(&mut out, &present(rt, format, item)),
        }
    }
    out.extend_from_slice(b"]}");
    out
}

fn append(out: &mut Vec<u8>, value: &impl Serialize) {
    // Serialising JSON values and plain structs into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// A streaming 200 JSON response (watch).
pub fn bytes_stream(body: Body) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
