//! PersistentVolumeClaimResize: a claim's storage request may only grow when bound and its class allows expansion.

use serde_json::Value;

use super::default_class::BETA_CLAIM_CLASS_ANNOTATION;
use super::quantity::Quantity;
use super::{
    AdmissionError, AdmissionLookup, AdmissionRequest, Operation, ResizeRejection, Result,
};

/// How much of the plugin runs. The real plugin validates after object validation; the mutating entry point can
/// only safely apply the checks object validation would not pre-empt (see [`super::admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checks {
    /// Every check, for the validating phase.
    All,
    /// Only claims whose stored phase is Bound: object validation already answers 422 for the others.
    BoundClaimsOnly,
}

fn applies(req: &AdmissionRequest<'_>) -> bool {
    req.operation == Operation::Update
        && req.group.is_empty()
        && req.resource == "persistentvolumeclaims"
        && req.subresource.is_empty()
}

fn requested_storage(claim: &Value) -> Option<Quantity> {
    claim
        .pointer("/spec/resources/requests/storage")
        .and_then(Value::as_str)
        .and_then(Quantity::parse)
}

/// The claim's class as the binder reads it: the beta annotation wins when present (even ""), else the spec field.
fn claim_class(claim: &Value) -> &str {
    let beta = claim
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(BETA_CLAIM_CLASS_ANNOTATION));
    match beta {
        Some(value) => value.as_str().unwrap_or(""),
        None => claim
            .pointer("/spec/storageClassName")
            .and_then(Value::as_str)
            .unwrap_or(""),
    }
}

fn is_bound(claim: &Value) -> bool {
    claim.pointer("/status/phase").and_then(Value::as_str) == Some("Bound")
}

/// What the plugin needs to look up before deciding: the class both claim versions name, if they agree.
fn class_to_check<'v>(claim: &'v Value, old_claim: &Value) -> Option<&'v str> {
    let class = claim_class(claim);
    (!class.is_empty() && class == claim_class(old_claim)).then_some(class)
}

/// Decides on an update from the new claim, the stored claim and the StorageClass named by both (if found).
pub(crate) fn decide(
    claim: &Value,
    old_claim: &Value,
    class: Option<&Value>,
    checks: Checks,
) -> Option<ResizeRejection> {
    let grows = match (requested_storage(claim), requested_storage(old_claim)) {
        (Some(new), Some(old)) => new > old,
        _ => false,
    };
    if !grows {
        return None;
    }
    match (is_bound(old_claim), checks) {
        (false, Checks::All) => return Some(ResizeRejection::NotBound),
        (false, Checks::BoundClaimsOnly) => return None,
        (true, _) => {}
    }
    let expandable = class_to_check(claim, old_claim).is_some()
        && class
            .and_then(|c| c.get("allowVolumeExpansion"))
            .and_then(Value::as_bool)
            == Some(true);
    (!expandable).then_some(ResizeRejection::ClassForbidsExpansion)
}

/// Runs the plugin for a request.
pub(crate) fn validate(
    lookup: &dyn AdmissionLookup,
    req: &AdmissionRequest<'_>,
    claim: &Value,
    old_claim: Option<&Value>,
    checks: Checks,
) -> Result<()> {
    let Some(old_claim) = old_claim.filter(|_| applies(req)) else {
        return Ok(());
    };
    let class = class_to_check(claim, old_claim)
        .and_then(|name| lookup.get("storage.k8s.io", "storageclasses", None, name));
    match decide(claim, old_claim, class.as_ref(), checks) {
        None => Ok(()),
        Some(rejection) => Err(AdmissionError::ExpandClaim {
            name: req.name.to_string(),
            rejection,
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::admission::testing::{MemoryLookup, request};

    fn claim(class: Option<&str>, storage: &str, phase: &str) -> Value {
        json!({
            "metadata": {"name": "data", "namespace": "ns"},
            "spec": {"storageClassName": class, "resources": {"requests": {"storage": storage}}},
            "status": {"phase": phase},
        })
    }

    fn lookup() -> MemoryLookup {
        let lookup = MemoryLookup::default();
        lookup.put(
            "storage.k8s.io",
            "storageclasses",
            json!({"metadata": {"name": "grow"}, "allowVolumeExpansion": true}),
        );
        lookup.put(
            "storage.k8s.io",
            "storageclasses",
            json!({"metadata": {"name": "fixed"}}),
        );
        lookup.put(
            "storage.k8s.io",
            "storageclasses",
            json!({"metadata": {"name": "no"}, "allowVolumeExpansion": false}),
        );
        lookup
    }

    fn run(new: &Value, old: &Value, checks: Checks) -> Result<()> {
        let req = request(
            Operation::Update,
            "",
            "persistentvolumeclaims",
            Some("ns"),
            "data",
        );
        validate(&lookup(), &req, new, Some(old), checks)
    }

    const CLASS_MESSAGE: &str = "persistentvolumeclaims \"data\" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize";

    #[test]
    fn growth_allowed_only_with_expandable_class() {
        let old = claim(Some("grow"), "1Gi", "Bound");
        assert_eq!(
            run(&claim(Some("grow"), "2Gi", "Bound"), &old, Checks::All),
            Ok(())
        );
        for class in ["fixed", "no", "missing"] {
            let old = claim(Some(class), "1Gi", "Bound");
            let err = run(&claim(Some(class), "2Gi", "Bound"), &old, Checks::All).expect_err(class);
            assert_eq!((err.http_status(), err.reason()), (403, "Forbidden"));
            assert_eq!(err.message(), CLASS_MESSAGE);
        }
    }

    #[test]
    fn class_less_or_changed_class_cannot_grow() {
        let old = claim(None, "1Gi", "Bound");
        let err = run(&claim(None, "2Gi", "Bound"), &old, Checks::All).expect_err("no class");
        assert_eq!(err.message(), CLASS_MESSAGE);
        let old = claim(Some("fixed"), "1Gi", "Bound");
        let err = run(&claim(Some("grow"), "2Gi", "Bound"), &old, Checks::All)
            .expect_err("changed class");
        assert_eq!(err.message(), CLASS_MESSAGE);
    }

    #[test]
    fn beta_annotation_names_the_class() {
        let mut old = claim(None, "1Gi", "Bound");
        old["metadata"]["annotations"] = json!({BETA_CLAIM_CLASS_ANNOTATION: "grow"});
        let mut new = old.clone();
        new["spec"]["resources"]["requests"]["storage"] = json!("3Gi");
        assert_eq!(run(&new, &old, Checks::All), Ok(()));
    }

    #[test]
    fn unbound_claims_rejected_only_in_the_full_check() {
        let old = claim(Some("grow"), "1Gi", "Pending");
        let new = claim(Some("grow"), "2Gi", "Pending");
        let err = run(&new, &old, Checks::All).expect_err("pending");
        assert_eq!(
            err.message(),
            "persistentvolumeclaims \"data\" is forbidden: Only bound persistent volume claims can be expanded"
        );
        assert_eq!(run(&new, &old, Checks::BoundClaimsOnly), Ok(()));
    }

    #[test]
    fn same_or_smaller_size_and_other_requests_are_not_checked() {
        let old = claim(Some("fixed"), "1Gi", "Pending");
        assert_eq!(
            run(
                &claim(Some("fixed"), "1024Mi", "Pending"),
                &old,
                Checks::All
            ),
            Ok(())
        );
        assert_eq!(
            run(&claim(Some("fixed"), "1M", "Pending"), &old, Checks::All),
            Ok(())
        );
        let create = request(
            Operation::Create,
            "",
            "persistentvolumeclaims",
            Some("ns"),
            "data",
        );
        assert_eq!(
            validate(
                &lookup(),
                &create,
                &claim(Some("fixed"), "2Gi", "Bound"),
                Some(&old),
                Checks::All
            ),
            Ok(())
        );
        let mut status = request(
            Operation::Update,
            "",
            "persistentvolumeclaims",
            Some("ns"),
            "data",
        );
        status.subresource = "status";
        assert_eq!(
            validate(
                &lookup(),
                &status,
                &claim(Some("fixed"), "2Gi", "Bound"),
                Some(&old),
                Checks::All
            ),
            Ok(())
        );
    }
}
