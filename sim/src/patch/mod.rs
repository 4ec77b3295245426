//! Strategic merge patch and server-side apply (with managedFields bookkeeping) as pure functions on JSON objects.
//!
//! JSON patch and JSON merge patch live in sim-core; this module covers the two patch flavours that need
//! per-kind schema knowledge (merge keys, list types) and field ownership.

mod apply;
mod fieldset;
mod managed;
mod schema;
mod strategic;
mod update;
mod walk;

#[cfg(test)]
mod apply_flow_tests;
#[cfg(test)]
mod apply_tests;
#[cfg(test)]
mod strategic_tests;

use serde_json::{Value, json};

pub use apply::{server_side_apply, server_side_apply_at};
pub use strategic::strategic_merge;
pub use update::record_update;

/// The four PATCH flavours of the Kubernetes API, keyed by request Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    StrategicMerge,
    Apply,
}

impl PatchType {
    /// Maps a request Content-Type (parameters such as `; charset=utf-8` are ignored) to a patch type;
    /// `None` means the API must answer 415 UnsupportedMediaType.
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        match essence.to_ascii_lowercase().as_str() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }

    /// The Content-Type the API server advertises for this patch type.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

/// Query options of an apply request (`?fieldManager=...&force=...`).
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions<'a> {
    pub field_manager: &'a str,
    pub force: bool,
}

/// One field that an apply would take away from another manager (a `FieldManagerConflict` status cause).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictCause {
    /// Manager as the upstream server prints it, e.g. `"kubectl-client-side-apply" using v1`.
    pub manager: String,
    /// Field path in upstream notation, e.g. `.spec.replicas` or `.spec.containers[name="app"].image`.
    pub field: String,
}

impl ConflictCause {
    /// The `details.causes[]` entry of the 409 Status.
    pub fn to_status_cause(&self) -> Value {
        json!({
            "reason": "FieldManagerConflict",
            "message": format!("conflict with {}", self.manager),
            "field": self.field,
        })
    }
}

/// Why a strategic merge patch or an apply could not be performed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// The patch body cannot be understood at all (not an object, bad directive shape): 400 BadRequest.
    #[error("{reason}")]
    Malformed { reason: String },
    /// The patch is well formed but cannot be applied to this object: 422 Invalid.
    #[error("{reason}")]
    Invalid { path: String, reason: String },
    /// Apply would change fields owned by other managers and `force` was not set: 409 Conflict.
    #[error("{}", conflict_message(.causes))]
    Conflict { causes: Vec<ConflictCause> },
}

impl PatchError {
    /// HTTP status code the API answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            PatchError::Malformed { .. } => 400,
            PatchError::Invalid { .. } => 422,
            PatchError::Conflict { .. } => 409,
        }
    }

    /// `reason` of the Status body.
    pub fn reason(&self) -> &'static str {
        match self {
            PatchError::Malformed { .. } => "BadRequest",
            PatchError::Invalid { .. } => "Invalid",
            PatchError::Conflict { .. } => "Conflict",
        }
    }

    /// `message` of the Status body.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// `details.causes` of the Status body (empty except for conflicts).
    pub fn status_causes(&self) -> Vec<Value> {
        match self {
            PatchError::Conflict { causes } => {
                causes.iter().map(ConflictCause::to_status_cause).collect()
            }
            PatchError::Malformed { .. } | PatchError::Invalid { .. } => Vec::new(),
        }
    }

    /// A complete `kind: Status` body for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message(),
            "reason": self.reason(),
            "code": self.http_status(),
        });
        let causes = self.status_causes();
        if !causes.is_empty() {
            status["details"] = json!({ "causes": causes });
        }
        status
    }
}

/// Builds the upstream conflict message: one conflict is printed inline, several are grouped by manager.
pub fn conflict_message(causes: &[ConflictCause]) -> String {
    match causes {
        [] => "Apply failed with 0 conflicts".to_string(),
        [one] => format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.manager, one.field
        ),
        many => {
            let mut managers: Vec<&str> = many.iter().map(|c| c.manager.as_str()).collect();
            managers.sort_unstable();
            managers.dedup();
            let mut lines = Vec::new();
            for manager in managers {
                lines.push(format!("conflicts with {manager}:"));
                for cause in many.iter().filter(|c| c.manager == manager) {
                    lines.push(format!("- {}", cause.field));
                }
            }
            format!(
                "Apply failed with {} conflicts: {}",
                many.len(),
                lines.join("\n")
            )
        }
    }
}

pub type Result<T, E = PatchError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_map_to_patch_types() {
        let cases = [
            ("application/json-patch+json", Some(PatchType::Json)),
            (
                "application/merge-patch+json; charset=utf-8",
                Some(PatchType::Merge),
            ),
            (
                "application/strategic-merge-patch+json",
                Some(PatchType::StrategicMerge),
            ),
            ("application/apply-patch+yaml", Some(PatchType::Apply)),
            ("text/plain", None),
            ("", None),
        ];
        for (content_type, want) in cases {
            assert_eq!(
                PatchType::from_content_type(content_type),
                want,
                "{content_type}"
            );
        }
        assert_eq!(
            PatchType::Apply.content_type(),
            "application/apply-patch+yaml"
        );
    }

    #[test]
    fn error_statuses() {
        let malformed = PatchError::Malformed {
            reason: "bad".into(),
        };
        let invalid = PatchError::Invalid {
            path: "spec".into(),
            reason: "nope".into(),
        };
        assert_eq!(
            (malformed.http_status(), malformed.reason()),
            (400, "BadRequest")
        );
        assert_eq!((invalid.http_status(), invalid.reason()), (422, "Invalid"));
        assert_eq!(
            invalid.to_status(),
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "nope", "reason": "Invalid", "code": 422})
        );
        assert!(malformed.status_causes().is_empty());
    }
}
