//! Object validation on create and update: ObjectMeta rules plus the per-type rules of the spec.

mod misc;
mod names;
mod objectmeta;
mod storage;
mod workloads;

pub use names::{dns_label, dns_subdomain, qualified_name};

use serde_json::Value;

use crate::catalog::{ResourceType, Subresource};
use crate::status::FieldError;

/// Every validation failure of a new object (empty when valid).
pub fn validate_create(rt: &ResourceType, object: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    objectmeta::validate_create(rt, object, &mut errs);
    type_create(rt, object, &mut errs);
    errs
}

/// Every validation failure of an update of `old` to `new` through `sub` (empty when valid).
pub fn validate_update(
    rt: &ResourceType,
    sub: Option<Subresource>,
    old: &Value,
    new: &Value,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    objectmeta::validate_update(old, new, &mut errs);
    match (rt.group, rt.resource, sub) {
        ("", "persistentvolumeclaims", Some(Subresource::Status)) => {
            storage::pvc_status(new, &mut errs)
        }
        ("", "persistentvolumes", Some(Subresource::Status)) => storage::pv_status(new, &mut errs),
        (_, _, Some(Subresource::Status | Subresource::Finalize)) => {}
        // binding sets spec.nodeName, which ordinary pod updates may not do
        ("", "pods", Some(Subresource::Binding)) => {}
        ("", "persistentvolumes", _) => storage::pv_update(old, new, &mut errs),
        ("", "persistentvolumeclaims", _) => storage::pvc_update(old, new, &mut errs),
        ("", "pods", _) => workloads::pod_update(old, new, &mut errs),
        ("apps", "statefulsets", _) => workloads::statefulset_update(old, new, &mut errs),
        ("storage.k8s.io", "storageclasses", _) => {
            storage::storage_class_update(old, new, &mut errs)
        }
        _ => type_create(rt, new, &mut errs),
    }
    errs
}

fn type_create(rt: &ResourceType, object: &Value, errs: &mut Vec<FieldError>) {
    match (rt.group, rt.resource) {
        ("", "persistentvolumes") => storage::pv_create(object, errs),
        ("", "persistentvolumeclaims") => storage::pvc_create(object, errs),
        ("", "pods") => workloads::pod_create(object, errs),
        ("", "events") | ("events.k8s.io", "events") => misc::event(object, errs),
        ("apps", "statefulsets") => workloads::statefulset_create(object, errs),
        ("storage.k8s.io", "storageclasses") => storage::storage_class_create(object, errs),
        ("coordination.k8s.io", "leases") => misc::lease(object, errs),
        ("admissionregistration.k8s.io", _) => misc::webhook_configuration(object, errs),
        _ => {}
    }
}
