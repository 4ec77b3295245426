//! StorageObjectInUseProtection: new claims and volumes get their protection finalizer.

use serde_json::{Value, json};

use super::{AdmissionRequest, Operation};

pub(crate) const PVC_PROTECTION_FINALIZER: &str = "kubernetes.io/pvc-protection";
pub(crate) const PV_PROTECTION_FINALIZER: &str = "kubernetes.io/pv-protection";

/// The finalizer a request's new object must carry, if the plugin applies (CREATE of the main resource).
fn finalizer_for(req: &AdmissionRequest<'_>) -> Option<&'static str> {
    if req.operation != Operation::Create || !req.group.is_empty() || !req.subresource.is_empty() {
        return None;
    }
    match req.resource {
        "persistentvolumeclaims" => Some(PVC_PROTECTION_FINALIZER),
        "persistentvolumes" => Some(PV_PROTECTION_FINALIZER),
        _ => None,
    }
}

/// Appends the protection finalizer when absent.
pub(crate) fn admit(req: &AdmissionRequest<'_>, object: &mut Value) {
    let Some(finalizer) = finalizer_for(req) else {
        return;
    };
    let Some(fields) = object.as_object_mut() else {
        return;
    };
    let metadata = fields.entry("metadata").or_insert_with(|| json!({}));
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    let finalizers = metadata.entry("finalizers").or_insert_with(|| json!([]));
    if finalizers.is_null() {
        *finalizers = json!([]);
    }
    if let Some(list) = finalizers.as_array_mut()
        && !list.iter().any(|f| f.as_str() == Some(finalizer))
    {
        list.push(Value::String(finalizer.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::testing::request;

    #[test]
    fn new_claims_and_volumes_get_their_finalizer_once() {
        let pvc = request(
            Operation::Create,
            "",
            "persistentvolumeclaims",
            Some("ns"),
            "data",
        );
        let mut claim = json!({"metadata": {"name": "data", "finalizers": ["a.io/f"]}});
        admit(&pvc, &mut claim);
        admit(&pvc, &mut claim);
        assert_eq!(
            claim,
            json!({"metadata": {"name": "data", "finalizers": ["a.io/f", PVC_PROTECTION_FINALIZER]}})
        );

        let pv = request(Operation::Create, "", "persistentvolumes", None, "pv1");
        let mut volume = json!({"metadata": {"name": "pv1", "finalizers": null}});
        admit(&pv, &mut volume);
        assert_eq!(
            volume,
            json!({"metadata": {"name": "pv1", "finalizers": [PV_PROTECTION_FINALIZER]}})
        );

        let mut bare = json!({});
        admit(&pv, &mut bare);
        assert_eq!(
            bare,
            json!({"metadata": {"finalizers": [PV_PROTECTION_FINALIZER]}})
        );
    }

    #[test]
    fn updates_subresources_and_other_resources_are_untouched() {
        let update = request(
            Operation::Update,
            "",
            "persistentvolumeclaims",
            Some("ns"),
            "data",
        );
        let mut status = request(
            Operation::Create,
            "",
            "persistentvolumeclaims",
            Some("ns"),
            "data",
        );
        status.subresource = "status";
        let pod = request(Operation::Create, "", "pods", Some("ns"), "p");
        for req in [update, status, pod] {
            let mut object = json!({"metadata": {"name": "x"}});
            admit(&req, &mut object);
            assert_eq!(object, json!({"metadata": {"name": "x"}}), "{req:?}");
        }
    }
}
