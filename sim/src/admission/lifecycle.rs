//! NamespaceLifecycle: no new content in missing or terminating namespaces, and the initial namespaces live forever.

use serde_json::Value;

use super::{AdmissionError, AdmissionLookup, AdmissionRequest, Operation, Result};

/// Namespaces upstream refuses to delete.
const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

/// What NamespaceLifecycle decides for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allow,
    RejectMissing { namespace: String },
    RejectTerminating { namespace: String },
    RejectImmortalDelete,
}

/// True for the Namespace resource itself (its requests are never subject to the namespace checks).
fn is_namespace_resource(req: &AdmissionRequest<'_>) -> bool {
    req.group.is_empty() && req.resource == "namespaces"
}

/// A namespace is terminating once deletion started; the phase is authoritative upstream, the deletionTimestamp
/// is also honoured in case the store has not flipped the phase yet.
fn is_terminating(namespace: &Value) -> bool {
    let phase = namespace.pointer("/status/phase").and_then(Value::as_str);
    phase == Some("Terminating")
        || namespace
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|t| !t.is_null())
}

/// Decides from the request and the namespace object found in the store (None: missing).
pub(crate) fn decide(req: &AdmissionRequest<'_>, namespace_object: Option<&Value>) -> Verdict {
    if is_namespace_resource(req) {
        return match req.operation {
            Operation::Delete if IMMORTAL_NAMESPACES.contains(&req.name) => {
                Verdict::RejectImmortalDelete
            }
            _ => Verdict::Allow,
        };
    }
    let Some(namespace) = req.namespace.filter(|ns| !ns.is_empty()) else {
        return Verdict::Allow;
    };
    match (req.operation, namespace_object) {
        // Deleting content is always allowed: it is how a terminating namespace empties itself.
        (Operation::Delete, _) => Verdict::Allow,
        (_, None) => Verdict::RejectMissing {
            namespace: namespace.to_string(),
        },
        (Operation::Create, Some(ns)) if is_terminating(ns) => Verdict::RejectTerminating {
            namespace: namespace.to_string(),
        },
        (Operation::Create | Operation::Update | Operation::Connect, Some(_)) => Verdict::Allow,
    }
}

/// Looks the namespace up only when the decision needs it.
pub(crate) fn admit(lookup: &dyn AdmissionLookup, req: &AdmissionRequest<'_>) -> Result<()> {
    let namespace_object = match req.namespace {
        Some(ns)
            if !ns.is_empty()
                && !is_namespace_resource(req)
                && req.operation != Operation::Delete =>
        {
            lookup.get("", "namespaces", None, ns)
        }
        _ => None,
    };
    match decide(req, namespace_object.as_ref()) {
        Verdict::Allow => Ok(()),
        Verdict::RejectMissing { namespace } => {
            Err(AdmissionError::NamespaceNotFound { namespace })
        }
        Verdict::RejectTerminating { namespace } => {
            Err(AdmissionError::CreateInTerminatingNamespace {
                namespace,
                resource: super::qualified_resource(req),
                name: req.name.to_string(),
            })
        }
        Verdict::RejectImmortalDelete => Err(AdmissionError::DeleteImmortalNamespace {
            name: req.name.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::admission::testing::{MemoryLookup, request};

    fn lookup_with_namespaces() -> MemoryLookup {
        let lookup = MemoryLookup::default();
        lookup.put(
            "",
            "namespaces",
            json!({"metadata": {"name": "live"}, "status": {"phase": "Active"}}),
        );
        lookup.put(
            "",
            "namespaces",
            json!({"metadata": {"name": "dying"}, "status": {"phase": "Terminating"}}),
        );
        lookup
    }

    #[test]
    fn create_in_missing_namespace_is_not_found() {
        let lookup = lookup_with_namespaces();
        let req = request(
            Operation::Create,
            "",
            "persistentvolumeclaims",
            Some("nope"),
            "data",
        );
        let err = admit(&lookup, &req).expect_err("must reject");
        assert_eq!(err.http_status(), 404);
        assert_eq!(err.reason(), "NotFound");
        assert_eq!(err.message(), "namespaces \"nope\" not found");
    }

    #[test]
    fn create_in_terminating_namespace_is_forbidden() {
        let lookup = lookup_with_namespaces();
        let req = request(
            Operation::Create,
            "",
            "persistentvolumeclaims",
            Some("dying"),
            "data",
        );
        let err = admit(&lookup, &req).expect_err("must reject");
        assert_eq!(err.http_status(), 403);
        assert_eq!(
            err.message(),
            "persistentvolumeclaims \"data\" is forbidden: unable to create new content in namespace dying because it is being terminated"
        );
    }

    #[test]
    fn deletion_timestamp_counts_as_terminating() {
        let ns = json!({"metadata": {"name": "x", "deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Active"}});
        let req = request(Operation::Create, "", "pods", Some("x"), "p");
        assert_eq!(
            decide(&req, Some(&ns)),
            Verdict::RejectTerminating {
                namespace: "x".into()
            }
        );
    }

    #[test]
    fn updates_and_deletes_in_terminating_namespace_are_allowed() {
        let lookup = lookup_with_namespaces();
        for op in [Operation::Update, Operation::Delete] {
            let req = request(op, "", "persistentvolumeclaims", Some("dying"), "data");
            assert_eq!(admit(&lookup, &req), Ok(()), "{op:?}");
        }
    }

    #[test]
    fn update_in_missing_namespace_is_not_found_but_delete_is_allowed() {
        let lookup = lookup_with_namespaces();
        let update = request(Operation::Update, "", "pods", Some("gone"), "p");
        assert_eq!(
            admit(&lookup, &update),
            Err(AdmissionError::NamespaceNotFound {
                namespace: "gone".into()
            })
        );
        let delete = request(Operation::Delete, "", "pods", Some("gone"), "p");
        assert_eq!(admit(&lookup, &delete), Ok(()));
    }

    #[test]
    fn cluster_scoped_and_namespace_objects_pass() {
        let lookup = lookup_with_namespaces();
        let pv = request(Operation::Create, "", "persistentvolumes", None, "pv1");
        assert_eq!(admit(&lookup, &pv), Ok(()));
        let new_ns = request(Operation::Create, "", "namespaces", None, "brand-new");
        assert_eq!(admit(&lookup, &new_ns), Ok(()));
    }

    #[test]
    fn initial_namespaces_cannot_be_deleted() {
        let lookup = lookup_with_namespaces();
        let req = request(Operation::Delete, "", "namespaces", None, "kube-system");
        let err = admit(&lookup, &req).expect_err("must reject");
        assert_eq!(err.http_status(), 403);
        assert_eq!(
            err.message(),
            "namespaces \"kube-system\" is forbidden: this namespace may not be deleted"
        );
        let other = request(Operation::Delete, "", "namespaces", None, "live");
        assert_eq!(admit(&lookup, &other), Ok(()));
    }
}
