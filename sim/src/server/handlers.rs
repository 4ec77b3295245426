//! Kubernetes resource requests: maps method × target to registry operations and renders the answers.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use serde_json::Value;

use super::request::{self, Format, Query};
use super::route::Target;
use super::watch::{self, WatchRequest};
use super::{ApiServer, header_str, respond};
use crate::catalog::{ResourceType, Subresource};
use crate::patch::PatchType;
use crate::registry::{
    DeleteOptions, DeleteOutcome, ListOptions, PatchRequest, RvMatch, WriteOptions, Written,
};
use crate::selectors::{self, FieldSelector, LabelSelector};
use crate::status::{FieldError, StatusError};

type Result<T, E = StatusError> = std::result::Result<T, E>;

pub async fn resource(
    server: &ApiServer,
    method: &Method,
    target: Target,
    query: &Query,
    headers: &HeaderMap,
    body: Bytes,
    user_agent: String,
) -> Result<Response> {
    let format = request::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()))?;
    let opts = WriteOptions {
        dry_run: query.all("dryRun").contains(&"All"),
        field_manager: query.get("fieldManager").map(str::to_string),
        user_agent,
    };
    if opts.field_manager.as_deref().is_some_and(|m| m.len() > 128) {
        return Err(StatusError::invalid_options(
            "PatchOptions",
            &[FieldError::too_long("fieldManager", 128)],
        ));
    }
    let registry = &server.registry;
    match (target, method.as_str()) {
        (Target::Collection { rt, namespace }, "GET") if query.flag("watch") => {
            watch(server, rt, namespace, None, query, format)
        }
        (Target::Collection { rt, namespace }, "GET") => {
            let opts = list_options(rt, query)?;
            let page = registry.list(rt, namespace.as_deref(), &opts).await?;
            Ok(respond::bytes(200, respond::list_body(rt, format, &page)))
        }
        (Target::Collection { rt, namespace }, "POST") => {
            let object = decode_body(headers, &body)?;
            let written = registry
                .create(rt, namespace.as_deref().unwrap_or_default(), object, &opts)
                .await?;
            Ok(written_response(format, written))
        }
        (Target::Collection { rt, namespace }, "DELETE") => {
            let labels = label_selector(query)?;
            let fields = field_selector(rt, query)?;
            let options = delete_options(query, &body, &opts)?;
            let opts = with_dry_run(&opts, &options);
            let list = registry
                .delete_collection(rt, namespace.as_deref(), &labels, &fields, &options, &opts)
                .await?;
            Ok(respond::json(200, &list))
        }
        (
            Target::Item {
                rt,
                namespace,
                name,
                sub,
            },
            verb,
        ) => {
            item(
                server, rt, &namespace, &name, sub, verb, query, headers, body, format, &opts,
            )
            .await
        }
        _ => Err(StatusError::method_not_allowed()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn item(
    server: &ApiServer,
    rt: &'static ResourceType,
    namespace: &str,
    name: &str,
    sub: Option<Subresource>,
    verb: &str,
    query: &Query,
    headers: &HeaderMap,
    body: Bytes,
    format: Format,
    opts: &WriteOptions,
) -> Result<Response> {
    let registry = &server.registry;
    match (sub, verb) {
        (None, "GET") if query.flag("watch") => watch(
            server,
            rt,
            Some(namespace.to_string()),
            Some(name.to_string()),
            query,
            format,
        ),
        (None | Some(Subresource::Status), "GET") => {
            let object = registry
                .get(rt, namespace, name, query.get("resourceVersion"))
                .await?;
            Ok(respond::json(200, &respond::present(rt, format, &object)))
        }
        (None | Some(Subresource::Status | Subresource::Finalize), "PUT") => {
            let object = decode_body(headers, &body)?;
            Ok(written_response(
                format,
                registry
                    .update(rt, sub, namespace, name, object, opts)
                    .await?,
            ))
        }
        (None | Some(Subresource::Status), "PATCH") => {
            let request = patch_request(query, headers, body)?;
            Ok(written_response(
                format,
                registry
                    .patch(rt, sub, namespace, name, &request, opts)
                    .await?,
            ))
        }
        (None, "DELETE") => {
            let options = delete_options(query, &body, opts)?;
            let opts = &with_dry_run(opts, &options);
            match registry.delete(rt, namespace, name, &options, opts).await? {
                DeleteOutcome::Object { object, accepted } => Ok(respond::json(
                    if accepted { 202 } else { 200 },
                    &respond::present_view(format, object),
                )),
                DeleteOutcome::Status(status) => Ok(respond::json(200, &status)),
            }
        }
        (Some(Subresource::Scale), "GET") => Ok(respond::json(
            200,
            &registry.get_scale(rt, namespace, name).await?,
        )),
        (Some(Subresource::Scale), "PUT") => {
            let scale = decode_body(headers, &body)?;
            Ok(written_response(
                Format::Json,
                registry
                    .update_scale(rt, namespace, name, scale, opts)
                    .await?,
            ))
        }
        (Some(Subresource::Scale), "PATCH") => {
            let request = patch_request(query, headers, body)?;
            Ok(written_response(
                Format::Json,
                registry
                    .patch_scale(rt, namespace, name, &request, opts)
                    .await?,
            ))
        }
        (Some(Subresource::Binding), "POST") => {
            let binding = decode_body(headers, &body)?;
            Ok(respond::json(
                201,
                &registry.bind(rt, namespace, name, binding, opts).await?,
            ))
        }
        _ => Err(StatusError::method_not_allowed()),
    }
}

fn written_response(format: Format, written: Written) -> Response {
    let code = if written.created { 201 } else { 200 };
    let response = respond::json(code, &respond::present_view(format, written.object));
    respond::with_warnings(response, &written.warnings)
}

fn watch(
    server: &ApiServer,
    rt: &'static ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    query: &Query,
    format: Format,
) -> Result<Response> {
    let send_initial_events = query.flag("sendInitialEvents");
    let bookmarks = query.flag("allowWatchBookmarks");
    let rv_match = rv_match(query)?;
    let mut errs = Vec::new();
    match (send_initial_events, rv_match) {
        (true, Some(RvMatch::NotOlderThan)) => {}
        (true, _) => errs.push(FieldError::forbidden(
            "resourceVersionMatch",
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        )),
        (false, Some(_)) => errs.push(FieldError::forbidden(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        )),
        (false, None) => {}
    }
    if send_initial_events && !bookmarks {
        errs.push(FieldError::forbidden(
            "allowWatchBookmarks",
            "allowWatchBookmarks must be set to true when sendInitialEvents is true",
        ));
    }
    if !errs.is_empty() {
        return Err(StatusError::invalid_options("ListOptions", &errs));
    }
    let timeout = match query.parse_u64("timeoutSeconds")? {
        Some(s) if s > 0 => Duration::from_secs(s),
        _ => server.config.default_watch_timeout,
    };
    let req = WatchRequest {
        rt,
        namespace,
        name,
        labels: label_selector(query)?,
        fields: field_selector(rt, query)?,
        resource_version: query.get("resourceVersion").map(str::to_string),
        timeout,
        bookmarks,
        send_initial_events,
        format,
    };
    watch::start(
        server.registry.store().clone(),
        req,
        server.config.bookmark_interval,
    )
}

fn rv_match(query: &Query) -> Result<Option<RvMatch>> {
    match query.get("resourceVersionMatch") {
        None | Some("") => Ok(None),
        Some("NotOlderThan") => Ok(Some(RvMatch::NotOlderThan)),
        Some("Exact") => Ok(Some(RvMatch::Exact)),
        Some(other) => Err(StatusError::invalid_options(
            "ListOptions",
            &[FieldError::not_supported(
                "resourceVersionMatch",
                &Value::String(other.to_string()),
                &["Exact", "NotOlderThan", ""],
            )],
        )),
    }
}

fn list_options(rt: &ResourceType, query: &Query) -> Result<ListOptions> {
    Ok(ListOptions {
        label_selector: label_selector(query)?,
        field_selector: field_selector(rt, query)?,
        limit: query
            .parse_u64("limit")?
            .map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
        continue_token: query
            .get("continue")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        resource_version: query.get("resourceVersion").map(str::to_string),
        resource_version_match: rv_match(query)?,
    })
}

fn label_selector(query: &Query) -> Result<LabelSelector> {
    LabelSelector::parse(query.get("labelSelector").unwrap_or_default()).map_err(selector_error)
}

fn field_selector(rt: &ResourceType, query: &Query) -> Result<FieldSelector> {
    FieldSelector::parse(query.get("fieldSelector").unwrap_or_default(), rt).map_err(selector_error)
}

fn selector_error(e: selectors::Error) -> StatusError {
    StatusError::bad_request(e.to_string())
}

/// Decodes a JSON (or YAML) request body into an object.
fn decode_body(headers: &HeaderMap, body: &Bytes) -> Result<Value> {
    let content_type = header_str(headers, header::CONTENT_TYPE).to_ascii_lowercase();
    let value: Value = if content_type.contains("yaml") {
        serde_yaml::from_slice(body)
            .map_err(|e| StatusError::bad_request(format!("error decoding YAML: {e}")))?
    } else if content_type.contains("protobuf") {
        return Err(StatusError::unsupported_media_type(&content_type));
    } else {
        serde_json::from_slice(body).map_err(|e| {
            StatusError::bad_request(format!("the object provided is unrecognized: {e}"))
        })?
    };
    if !value.is_object() {
        return Err(StatusError::bad_request(
            "the object provided is not a JSON object",
        ));
    }
    Ok(value)
}

fn patch_request(query: &Query, headers: &HeaderMap, body: Bytes) -> Result<PatchRequest> {
    let content_type = header_str(headers, header::CONTENT_TYPE);
    let patch_type = PatchType::from_content_type(content_type).ok_or_else(|| {
        StatusError::unsupported_media_type(
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json",
        )
    })?;
    Ok(PatchRequest {
        patch_type,
        body: body.to_vec(),
        force: query.flag("force"),
    })
}

/// Write options honouring a `dryRun: ["All"]` given in the DeleteOptions body.
fn with_dry_run(opts: &WriteOptions, options: &DeleteOptions) -> WriteOptions {
    WriteOptions {
        dry_run: opts.dry_run || options.dry_run.iter().any(|d| d == "All"),
        ..opts.clone()
    }
}

/// DeleteOptions from the body when one is sent, else from the query string.
fn delete_options(query: &Query, body: &Bytes, opts: &WriteOptions) -> Result<DeleteOptions> {
    let mut options: DeleteOptions = if body.iter().any(|b| !b.is_ascii_whitespace()) {
        serde_json::from_slice(body)
            .map_err(|e| StatusError::bad_request(format!("invalid DeleteOptions: {e}")))?
    } else {
        let propagation = match query.get("propagationPolicy") {
            None | Some("") => None,
            Some(p) => Some(
                serde_json::from_value(Value::String(p.to_string())).map_err(|_| {
                    StatusError::bad_request(format!("invalid propagationPolicy: {p}"))
                })?,
            ),
        };
        DeleteOptions {
            grace_period_seconds: query
                .parse_u64("gracePeriodSeconds")?
                .map(|g| i64::try_from(g).unwrap_or(i64::MAX)),
            propagation_policy: propagation,
            orphan_dependents: query.get("orphanDependents").map(|v| v == "true"),
            preconditions: None,
            dry_run: query.all("dryRun").iter().map(|s| s.to_string()).collect(),
        }
    };
    if opts.dry_run && !options.dry_run.iter().any(|d| d == "All") {
        options.dry_run.push("All".into());
    }
    Ok(options)
}
