//! Kubernetes `Status` error bodies: the errors the API answers with, shaped exactly like the real server's.

use serde_json::{Map, Value, json};

use crate::catalog::ResourceType;

/// An API error: everything needed to render a `Status` body with its HTTP code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct StatusError {
    pub code: u16,
    /// Machine-readable reason (`NotFound`, `Conflict`, ...); may come from a webhook, hence owned.
    pub reason: String,
    pub message: String,
    pub details: Option<Value>,
    /// Sent as `Retry-After` and `details.retryAfterSeconds` (fault injection of 429/503/504).
    pub retry_after_seconds: Option<u64>,
}

pub type Result<T, E = StatusError> = std::result::Result<T, E>;

/// The category of a field validation failure, rendered like apimachinery's `field.ErrorType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldErrorKind {
    Required,
    /// The offending value, already rendered (strings quoted, as the real server does).
    Invalid(String),
    Forbidden,
    NotSupported(String),
    Duplicate(String),
    TooLong,
}

/// One field validation failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub kind: FieldErrorKind,
    pub detail: String,
}

impl FieldError {
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            kind: FieldErrorKind::Required,
            detail: detail.into(),
        }
    }

    pub fn invalid(
        field: impl Into<String>,
        value: &Value,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError {
            field: field.into(),
            kind: FieldErrorKind::Invalid(render_value(value)),
            detail: detail.into(),
        }
    }

    /// An invalid value shown verbatim (e.g. Go's `0x0` for an unset integer).
    pub fn invalid_raw(
        field: impl Into<String>,
        rendered: &str,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError {
            field: field.into(),
            kind: FieldErrorKind::Invalid(rendered.to_string()),
            detail: detail.into(),
        }
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            kind: FieldErrorKind::Forbidden,
            detail: detail.into(),
        }
    }

    pub fn not_supported(
        field: impl Into<String>,
        value: &Value,
        supported: &[&str],
    ) -> FieldError {
        let quoted: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        FieldError {
            field: field.into(),
            kind: FieldErrorKind::NotSupported(render_value(value)),
            detail: format!("supported values: {}", quoted.join(", ")),
        }
    }

    pub fn duplicate(field: impl Into<String>, value: &Value) -> FieldError {
        FieldError {
            field: field.into(),
            kind: FieldErrorKind::Duplicate(render_value(value)),
            detail: String::new(),
        }
    }

    pub fn too_long(field: impl Into<String>, max: usize) -> FieldError {
        FieldError {
            field: field.into(),
            kind: FieldErrorKind::TooLong,
            detail: format!("must have at most {max} bytes"),
        }
    }

    /// The `reason` of the matching `details.causes[]` entry.
    pub fn cause_reason(&self) -> &'static str {
        match self.kind {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid(_) => "FieldValueInvalid",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::NotSupported(_) => "FieldValueNotSupported",
            FieldErrorKind::Duplicate(_) => "FieldValueDuplicate",
            FieldErrorKind::TooLong => "FieldValueTooLong",
        }
    }

    /// The error text without the field path (`Required value: …`).
    pub fn body(&self) -> String {
        let head = match &self.kind {
            FieldErrorKind::Required => "Required value".to_string(),
            FieldErrorKind::Invalid(v) => format!("Invalid value: {v}"),
            FieldErrorKind::Forbidden => "Forbidden".to_string(),
            FieldErrorKind::NotSupported(v) => format!("Unsupported value: {v}"),
            FieldErrorKind::Duplicate(v) => format!("Duplicate value: {v}"),
            FieldErrorKind::TooLong => "Too long".to_string(),
        };
        if self.detail.is_empty() {
            head
        } else {
            format!("{head}: {}", self.detail)
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Renders a value the way Go's `%q`/`%v` shows it in field errors.
fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut d = Map::new();
    d.insert("name".into(), Value::String(name.to_string()));
    if !group.is_empty() {
        d.insert("group".into(), Value::String(group.to_string()));
    }
    d.insert("kind".into(), Value::String(kind.to_string()));
    Value::Object(d)
}

impl StatusError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> StatusError {
        StatusError {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
            retry_after_seconds: None,
        }
    }

    fn with_details(mut self, details: Value) -> StatusError {
        self.details = Some(details);
        self
    }

    pub fn not_found(rt: &ResourceType, name: &str) -> StatusError {
        StatusError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", rt.qualified_resource()),
        )
        .with_details(details(name, rt.group, rt.resource))
    }

    pub fn namespace_not_found(namespace: &str) -> StatusError {
        StatusError::new(
            404,
            "NotFound",
            format!("namespaces \"{namespace}\" not found"),
        )
        .with_details(details(namespace, "", "namespaces"))
    }

    /// Unknown URL.
    pub fn path_not_found() -> StatusError {
        StatusError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    pub fn already_exists(rt: &ResourceType, name: &str) -> StatusError {
        StatusError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", rt.qualified_resource()),
        )
        .with_details(details(name, rt.group, rt.resource))
    }

    pub fn generate_name_conflict(rt: &ResourceType, name: &str) -> StatusError {
        StatusError::new(
            409,
            "AlreadyExists",
            format!(
                "{} \"{name}\" already exists, the server was not able to generate a unique name for the object",
                rt.qualified_resource()
            ),
        )
        .with_details(details(name, rt.group, rt.resource))
    }

    /// 409 Conflict: `Operation cannot be fulfilled on <resource> "<name>": <why>`.
    pub fn conflict(rt: &ResourceType, name: &str, why: &str) -> StatusError {
        StatusError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                rt.qualified_resource()
            ),
        )
        .with_details(details(name, rt.group, rt.resource))
    }

    pub fn stale_resource_version(rt: &ResourceType, name: &str) -> StatusError {
        StatusError::conflict(
            rt,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 Invalid on an object of kind `qualified_kind` (`StatefulSet.apps`).
    pub fn invalid(
        qualified_kind: &str,
        group: &str,
        kind: &str,
        name: &str,
        errors: &[FieldError],
    ) -> StatusError {
        let list = match errors {
            [one] => one.to_string(),
            many => format!(
                "[{}]",
                many.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({"reason": e.cause_reason(), "message": e.body(), "field": e.field}))
            .collect();
        let mut d = details(name, group, kind);
        if let Some(map) = d.as_object_mut() {
            map.insert("causes".into(), Value::Array(causes));
        }
        StatusError::new(
            422,
            "Invalid",
            format!("{qualified_kind} \"{name}\" is invalid: {list}"),
        )
        .with_details(d)
    }

    /// 422 Invalid for an object of a served type.
    pub fn invalid_object(rt: &ResourceType, name: &str, errors: &[FieldError]) -> StatusError {
        StatusError::invalid(&rt.qualified_kind(), rt.group, rt.kind, name, errors)
    }

    /// 422 Invalid for request options (`ListOptions.meta.k8s.io ""`).
    pub fn invalid_options(options_kind: &str, errors: &[FieldError]) -> StatusError {
        StatusError::invalid(
            &format!("{options_kind}.meta.k8s.io"),
            "meta.k8s.io",
            options_kind,
            "",
            errors,
        )
    }

    pub fn bad_request(message: impl Into<String>) -> StatusError {
        StatusError::new(400, "BadRequest", message)
    }

    /// 403 Forbidden: `<resource> "<name>" is forbidden: <why>`.
    pub fn forbidden(rt: &ResourceType, name: &str, why: &str) -> StatusError {
        StatusError::new(
            403,
            "Forbidden",
            format!("{} \"{name}\" is forbidden: {why}", rt.qualified_resource()),
        )
        .with_details(details(name, rt.group, rt.resource))
    }

    pub fn expired(message: impl Into<String>) -> StatusError {
        StatusError::new(410, "Expired", message)
    }

    /// The watch-cache message for a resourceVersion older than the retained history.
    pub fn too_old_resource_version(requested: u64, oldest: u64) -> StatusError {
        StatusError::expired(format!("too old resource version: {requested} ({oldest})"))
    }

    pub fn method_not_allowed() -> StatusError {
        StatusError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details(json!({}))
    }

    pub fn unsupported_media_type(content_type: &str) -> StatusError {
        StatusError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {content_type}"
            ),
        )
    }

    pub fn not_acceptable() -> StatusError {
        StatusError::new(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, application/yaml",
        )
    }

    pub fn internal(message: impl Into<String>) -> StatusError {
        StatusError::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    pub fn timeout(message: impl Into<String>) -> StatusError {
        StatusError::new(504, "Timeout", message)
    }

    /// The reason Kubernetes uses for a bare status code (fault injection).
    pub fn for_code(code: u16, message: impl Into<String>) -> StatusError {
        let reason = match code {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            409 => "Conflict",
            410 => "Expired",
            422 => "Invalid",
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "InternalError",
        };
        StatusError::new(code, reason, message)
    }

    pub fn with_retry_after(mut self, seconds: u64) -> StatusError {
        self.retry_after_seconds = Some(seconds);
        let mut d = self.details.take().unwrap_or_else(|| json!({}));
        if let Some(map) = d.as_object_mut() {
            map.insert("retryAfterSeconds".into(), json!(seconds));
        }
        self.details = Some(d);
        self
    }

    /// The `Status` object as served.
    pub fn to_status(&self) -> Value {
        let mut s = Map::new();
        s.insert("kind".into(), json!("Status"));
        s.insert("apiVersion".into(), json!("v1"));
        s.insert("metadata".into(), json!({}));
        s.insert("status".into(), json!("Failure"));
        s.insert("message".into(), json!(self.message));
        if !self.reason.is_empty() {
            s.insert("reason".into(), json!(self.reason));
        }
        if let Some(d) = &self.details {
            s.insert("details".into(), d.clone());
        }
        s.insert("code".into(), json!(self.code));
        Value::Object(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    #[test]
    fn not_found_is_group_qualified() {
        let sts = catalog::find("apps", "v1", "statefulsets").unwrap();
        let e = StatusError::not_found(sts, "web");
        assert_eq!(e.message, "statefulsets.apps \"web\" not found");
        assert_eq!(
            e.details,
            Some(json!({"name": "web", "group": "apps", "kind": "statefulsets"}))
        );
    }

    #[test]
    fn invalid_lists_causes() {
        let pv = catalog::find("", "v1", "persistentvolumes").unwrap();
        let e = StatusError::invalid_object(
            pv,
            "pv1",
            &[FieldError::required(
                "spec.nodeAffinity",
                "Local volume requires node affinity",
            )],
        );
        assert_eq!(
            e.message,
            "PersistentVolume \"pv1\" is invalid: spec.nodeAffinity: Required value: Local volume requires node affinity"
        );
        assert_eq!(
            e.details.as_ref().unwrap()["causes"][0]["reason"],
            "FieldValueRequired"
        );
        assert_eq!(e.details.as_ref().unwrap()["kind"], "PersistentVolume");
    }

    #[test]
    fn status_body_shape() {
        let e = StatusError::expired("too old resource version: 5 (104)");
        assert_eq!(
            e.to_status(),
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                   "message":"too old resource version: 5 (104)","reason":"Expired","code":410})
        );
    }
}
