//! Admission rejections and the Kubernetes `Status` each one must be answered with.

use serde_json::{Value, json};

/// Why admission rejected a request. The `Display` text is the exact upstream `Status.message`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdmissionError {
    /// NamespaceLifecycle: the request's namespace does not exist.
    #[error("namespaces \"{namespace}\" not found")]
    NamespaceNotFound { namespace: String },
    /// NamespaceLifecycle: create in a namespace that is being deleted.
    #[error(
        "{} is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
        forbidden_subject(resource, name)
    )]
    CreateInTerminatingNamespace {
        namespace: String,
        resource: String,
        name: String,
    },
    /// NamespaceLifecycle: deleting one of the namespaces the cluster cannot live without.
    #[error("namespaces \"{name}\" is forbidden: this namespace may not be deleted")]
    DeleteImmortalNamespace { name: String },
    /// PersistentVolumeClaimResize: a storage request increase that is not allowed.
    #[error("{} is forbidden: {}", forbidden_subject("persistentvolumeclaims", name), rejection.message())]
    ExpandClaim {
        name: String,
        rejection: ResizeRejection,
    },
    /// A webhook answered `allowed: false`.
    #[error("{}", denial_message(webhook, explanation))]
    WebhookDenied {
        webhook: String,
        code: u16,
        reason: &'static str,
        explanation: String,
    },
    /// Calling a webhook failed (connection, TLS, timeout, bad response) and its failurePolicy is Fail.
    #[error("Internal error occurred: failed calling webhook \"{webhook}\": {cause}")]
    CallWebhook { webhook: String, cause: String },
    /// A webhook's patch could not be decoded or applied; upstream fails these regardless of failurePolicy.
    #[error("Internal error occurred: {cause}")]
    ApplyWebhookPatch { webhook: String, cause: String },
    /// A dry-run request would call a webhook that may have side effects.
    #[error("admission webhook \"{webhook}\" does not support dry run")]
    DryRunWebhook { webhook: String },
}

/// Why PersistentVolumeClaimResize refused a storage increase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeRejection {
    /// The stored claim is not Bound.
    NotBound,
    /// Class unset, changed, missing, or without `allowVolumeExpansion: true`.
    ClassForbidsExpansion,
}

impl ResizeRejection {
    pub fn message(self) -> &'static str {
        match self {
            ResizeRejection::NotBound => "Only bound persistent volume claims can be expanded",
            ResizeRejection::ClassForbidsExpansion => {
                "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"
            }
        }
    }
}

/// `<resource> "<name>"`, or just `<resource>` for nameless (generateName) requests, as `errors.NewForbidden`.
fn forbidden_subject(resource: &str, name: &str) -> String {
    if name.is_empty() {
        resource.to_string()
    } else {
        format!("{resource} \"{name}\"")
    }
}

fn denial_message(webhook: &str, explanation: &str) -> String {
    if explanation.is_empty() {
        format!("admission webhook \"{webhook}\" denied the request without explanation")
    } else {
        format!("admission webhook \"{webhook}\" denied the request: {explanation}")
    }
}

/// Splits a group-qualified resource ("statefulsets.apps") into (group, resource).
fn split_qualified(resource: &str) -> (&str, &str) {
    match resource.split_once('.') {
        Some((plural, group)) => (group, plural),
        None => ("", resource),
    }
}

impl AdmissionError {
    /// HTTP status code of the answer.
    pub fn http_status(&self) -> u16 {
        match self {
            AdmissionError::NamespaceNotFound { .. } => 404,
            AdmissionError::CreateInTerminatingNamespace { .. }
            | AdmissionError::DeleteImmortalNamespace { .. }
            | AdmissionError::ExpandClaim { .. } => 403,
            AdmissionError::WebhookDenied { code, .. } => *code,
            AdmissionError::CallWebhook { .. } | AdmissionError::ApplyWebhookPatch { .. } => 500,
            AdmissionError::DryRunWebhook { .. } => 400,
        }
    }

    /// `Status.reason` of the answer ("" when a denying webhook gave none or an unknown one).
    pub fn reason(&self) -> &'static str {
        match self {
            AdmissionError::NamespaceNotFound { .. } => "NotFound",
            AdmissionError::CreateInTerminatingNamespace { .. }
            | AdmissionError::DeleteImmortalNamespace { .. }
            | AdmissionError::ExpandClaim { .. } => "Forbidden",
            AdmissionError::WebhookDenied { reason, .. } => reason,
            AdmissionError::CallWebhook { .. } | AdmissionError::ApplyWebhookPatch { .. } => {
                "InternalError"
            }
            AdmissionError::DryRunWebhook { .. } => "BadRequest",
        }
    }

    /// `Status.message` of the answer.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// `Status.details` of the answer, where upstream sends one.
    pub fn details(&self) -> Option<Value> {
        match self {
            AdmissionError::NamespaceNotFound { namespace } => {
                Some(json!({"name": namespace, "kind": "namespaces"}))
            }
            AdmissionError::CreateInTerminatingNamespace {
                namespace,
                resource,
                name,
            } => {
                let (group, plural) = split_qualified(resource);
                let mut details = forbidden_details(group, plural, name);
                details["causes"] = json!([{
                    "reason": "NamespaceTerminating",
                    "message": format!("namespace {namespace} is being terminated"),
                    "field": "metadata.namespace",
                }]);
                Some(details)
            }
            AdmissionError::DeleteImmortalNamespace { name } => {
                Some(forbidden_details("", "namespaces", name))
            }
            AdmissionError::ExpandClaim { name, .. } => {
                Some(forbidden_details("", "persistentvolumeclaims", name))
            }
            AdmissionError::WebhookDenied { .. }
            | AdmissionError::CallWebhook { .. }
            | AdmissionError::ApplyWebhookPatch { .. }
            | AdmissionError::DryRunWebhook { .. } => None,
        }
    }

    /// The complete `Status` body to answer with.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message(),
            "reason": self.reason(),
            "code": self.http_status(),
        });
        if self.reason().is_empty()
            && let Some(fields) = status.as_object_mut()
        {
            fields.remove("reason");
        }
        if let Some(details) = self.details() {
            status["details"] = details;
        }
        status
    }
}

fn forbidden_details(group: &str, resource: &str, name: &str) -> Value {
    let mut details = json!({"kind": resource});
    if !name.is_empty() {
        details["name"] = json!(name);
    }
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    details
}

/// Maps a `Status.reason` a webhook sent to the static set Kubernetes defines; unknown ones become "".
pub(crate) fn known_reason(reason: &str) -> &'static str {
    const KNOWN: [&str; 18] = [
        "Unauthorized",
        "Forbidden",
        "NotFound",
        "AlreadyExists",
        "Conflict",
        "Gone",
        "Invalid",
        "ServerTimeout",
        "StoreReadError",
        "Timeout",
        "TooManyRequests",
        "BadRequest",
        "MethodNotAllowed",
        "NotAcceptable",
        "RequestEntityTooLarge",
        "UnsupportedMediaType",
        "InternalError",
        "Expired",
    ];
    match reason {
        "ServiceUnavailable" => "ServiceUnavailable",
        other => KNOWN
            .iter()
            .find(|known| **known == other)
            .copied()
            .unwrap_or(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminating_namespace_status_matches_upstream() {
        let err = AdmissionError::CreateInTerminatingNamespace {
            namespace: "ns1".into(),
            resource: "statefulsets.apps".into(),
            name: "web".into(),
        };
        assert_eq!(err.http_status(), 403);
        assert_eq!(
            err.message(),
            "statefulsets.apps \"web\" is forbidden: unable to create new content in namespace ns1 because it is being terminated"
        );
        assert_eq!(
            err.status(),
            json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": err.message(), "reason": "Forbidden", "code": 403,
                "details": {"name": "web", "group": "apps", "kind": "statefulsets", "causes": [{
                    "reason": "NamespaceTerminating", "message": "namespace ns1 is being terminated",
                    "field": "metadata.namespace"}]}
            })
        );
    }

    #[test]
    fn nameless_forbidden_omits_the_name() {
        let err = AdmissionError::CreateInTerminatingNamespace {
            namespace: "ns1".into(),
            resource: "persistentvolumeclaims".into(),
            name: String::new(),
        };
        assert!(
            err.message()
                .starts_with("persistentvolumeclaims is forbidden: unable")
        );
    }

    #[test]
    fn webhook_denial_without_explanation_and_unknown_reason() {
        let err = AdmissionError::WebhookDenied {
            webhook: "w.example.com".into(),
            code: 400,
            reason: known_reason("MadeUp"),
            explanation: String::new(),
        };
        assert_eq!(
            err.message(),
            "admission webhook \"w.example.com\" denied the request without explanation"
        );
        assert_eq!(err.status().get("reason"), None);
        assert_eq!(known_reason("Forbidden"), "Forbidden");
        assert_eq!(known_reason("ServiceUnavailable"), "ServiceUnavailable");
    }
}
