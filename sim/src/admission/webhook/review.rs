//! AdmissionReview admission.k8s.io/v1: the request body sent to a webhook and the checks on its answer.

use base64::Engine;
use serde_json::{Value, json};

use crate::admission::{AdmissionRequest, Operation};

const REVIEW_API_VERSION: &str = "admission.k8s.io/v1";
const REVIEW_KIND: &str = "AdmissionReview";

/// What a webhook answered, after the upstream `VerifyAdmissionResponse` checks passed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    Allowed {
        patch: Option<Patch>,
        warnings: Vec<String>,
    },
    Denied {
        code: u16,
        reason: String,
        explanation: String,
        warnings: Vec<String>,
    },
}

/// A patch with its declared type; only "JSONPatch" can be applied.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Patch {
    pub patch_type: String,
    pub bytes: Vec<u8>,
}

fn operation_name(operation: Operation) -> &'static str {
    match operation {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
        Operation::Connect => "CONNECT",
    }
}

/// Who the sim says sent the request: it has no authentication, so the simulated control-plane actors are told
/// apart by User-Agent and everyone else is the kubeadm-style cluster admin.
pub(crate) fn user_info(user_agent: &str) -> Value {
    let (username, groups): (&str, &[&str]) = match user_agent.split('/').next().unwrap_or("") {
        "kube-controller-manager" => ("system:kube-controller-manager", &["system:authenticated"]),
        "kube-scheduler" => ("system:kube-scheduler", &["system:authenticated"]),
        "kubelet" => ("system:node", &["system:nodes", "system:authenticated"]),
        _ => (
            "kubernetes-admin",
            &["kubeadm:cluster-admins", "system:authenticated"],
        ),
    };
    json!({"username": username, "groups": groups})
}

/// The `options` member: the meta.k8s.io/v1 options object of the operation.
fn options(req: &AdmissionRequest<'_>) -> Value {
    let kind = match req.operation {
        Operation::Create => "CreateOptions",
        Operation::Update => "UpdateOptions",
        Operation::Delete => "DeleteOptions",
        Operation::Connect => return Value::Null,
    };
    let mut options = json!({"kind": kind, "apiVersion": "meta.k8s.io/v1"});
    if req.dry_run {
        options["dryRun"] = json!(["All"]);
    }
    options
}

/// The kind of the object the request carries; the scale subresource speaks autoscaling/v1 Scale.
fn kind_of(req: &AdmissionRequest<'_>) -> Value {
    if req.subresource == "scale" && req.kind == "Scale" {
        return json!({"group": "autoscaling", "version": "v1", "kind": "Scale"});
    }
    json!({"group": req.group, "version": req.version, "kind": req.kind})
}

/// Builds the AdmissionReview for one call with its fresh `uid`.
pub(crate) fn review_request(
    req: &AdmissionRequest<'_>,
    uid: &str,
    object: Option<&Value>,
    old_object: Option<&Value>,
) -> Value {
    let resource = json!({"group": req.group, "version": req.version, "resource": req.resource});
    let mut request = json!({
        "uid": uid,
        "kind": kind_of(req),
        "resource": resource,
        "requestKind": kind_of(req),
        "requestResource": resource,
        "operation": operation_name(req.operation),
        "userInfo": user_info(req.user_agent),
        "object": object.cloned().unwrap_or(Value::Null),
        "oldObject": old_object.cloned().unwrap_or(Value::Null),
        "dryRun": req.dry_run,
        "options": options(req),
    });
    if !req.subresource.is_empty() {
        request["subResource"] = json!(req.subresource);
        request["requestSubResource"] = json!(req.subresource);
    }
    if !req.name.is_empty() {
        request["name"] = json!(req.name);
    }
    if let Some(namespace) = req.namespace.filter(|ns| !ns.is_empty()) {
        request["namespace"] = json!(namespace);
    }
    json!({"apiVersion": REVIEW_API_VERSION, "kind": REVIEW_KIND, "request": request})
}

/// Decodes `response.patch`, a Go `[]byte`: normally a base64 string, but kube-rs sends a JSON array of byte
/// values, which Go's decoder accepts too.
pub(crate) fn decode_patch_field(field: &Value) -> Result<Option<Vec<u8>>, String> {
    match field {
        Value::Null => Ok(None),
        Value::String(text) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Some)
            .map_err(|e| format!("response.patch is not valid base64: {e}")),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_u64().and_then(|n| u8::try_from(n).ok()))
            .collect::<Option<Vec<u8>>>()
            .map(Some)
            .ok_or_else(|| "response.patch array holds a value that is not a byte".to_string()),
        Value::Bool(_) | Value::Number(_) | Value::Object(_) => {
            Err("response.patch is neither a base64 string nor a byte array".to_string())
        }
    }
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|w| w.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks a webhook's answer to the review with `uid`; Err is the cause of a failed call (failurePolicy applies).
pub(crate) fn parse_reply(body: &[u8], uid: &str, mutating: bool) -> Result<Reply, String> {
    let review: Value =
        serde_json::from_slice(body).map_err(|e| format!("failed to decode the response: {e}"))?;
    let invalid = |why: String| format!("received invalid webhook response: {why}");
    let Some(response) = review.get("response").filter(|r| r.is_object()) else {
        return Err(invalid("webhook response was absent".into()));
    };
    let response_uid = response.get("uid").and_then(Value::as_str).unwrap_or("");
    if response_uid != uid {
        return Err(invalid(format!(
            "expected response.uid={uid:?}, got {response_uid:?}"
        )));
    }
    let api_version = review
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = review.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version != REVIEW_API_VERSION || kind != REVIEW_KIND {
        return Err(invalid(format!(
            "expected webhook response of {REVIEW_API_VERSION}, Kind={REVIEW_KIND}, got {api_version}, Kind={kind}"
        )));
    }
    let patch =
        decode_patch_field(response.get("patch").unwrap_or(&Value::Null)).map_err(invalid)?;
    let patch = patch.filter(|bytes| !bytes.is_empty());
    let patch_type = response
        .get("patchType")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let patch = match (patch, patch_type.is_empty(), mutating) {
        (None, true, _) => None,
        (Some(_), true, _) => {
            return Err(invalid(
                "webhook returned response.patch but not response.patchType".into(),
            ));
        }
        (None, false, _) => {
            return Err(invalid(
                "webhook returned response.patchType but not response.patch".into(),
            ));
        }
        (Some(_), false, false) => {
            return Err(invalid(
                "validating webhook may not return response.patch or response.patchType".into(),
            ));
        }
        (Some(bytes), false, true) => Some(Patch { patch_type, bytes }),
    };
    let warnings = string_list(response.get("warnings"));
    if response.get("allowed").and_then(Value::as_bool) == Some(true) {
        return Ok(Reply::Allowed { patch, warnings });
    }
    let status = response.get("status");
    let field = |name: &str| {
        status
            .and_then(|s| s.get(name))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    // A rejection never answers with a success code.
    let code = status
        .and_then(|s| s.get("code"))
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok());
    let code = code.filter(|c| *c >= 400).unwrap_or(400);
    Ok(Reply::Denied {
        code,
        reason: field("reason"),
        explanation: non_empty_or(field("message"), field("reason")),
        warnings,
    })
}

fn non_empty_or(first: String, second: String) -> String {
    if first.is_empty() { second } else { first }
}

/// Applies an RFC 6902 patch; Err is the upstream internal-error text.
pub(crate) fn apply_json_patch(object: &Value, patch: &[u8]) -> Result<Value, String> {
    let patch: json_patch::Patch = serde_json::from_slice(patch)
        .map_err(|e| format!("the webhook returned an undecodable JSON patch: {e}"))?;
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch).map_err(|e| e.to_string())?;
    Ok(patched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::testing::request;

    fn reply(response: Value) -> Value {
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
    }

    fn parse(body: &Value) -> Result<Reply, String> {
        parse_reply(&serde_json::to_vec(body).unwrap(), "u1", true)
    }

    #[test]
    fn request_body_for_a_claim_create() {
        let req = request(
            Operation::Create,
            "",
            "persistentvolumeclaims",
            Some("ns"),
            "data",
        );
        let object = json!({"metadata": {"name": "data"}});
        let body = review_request(&req, "u1", Some(&object), None);
        assert_eq!(
            body,
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
                "uid": "u1",
                "kind": {"group": "", "version": "v1", "kind": "PersistentVolumeClaim"},
                "resource": {"group": "", "version": "v1", "resource": "persistentvolumeclaims"},
                "requestKind": {"group": "", "version": "v1", "kind": "PersistentVolumeClaim"},
                "requestResource": {"group": "", "version": "v1", "resource": "persistentvolumeclaims"},
                "name": "data", "namespace": "ns", "operation": "CREATE",
                "userInfo": {"username": "kubernetes-admin", "groups": ["kubeadm:cluster-admins", "system:authenticated"]},
                "object": object, "oldObject": null, "dryRun": false,
                "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
            }})
        );
        let parsed: kube::core::admission::AdmissionReview<kube::core::DynamicObject> =
            serde_json::from_value(body).expect("kube-rs parses the review");
        let parsed: kube::core::admission::AdmissionRequest<kube::core::DynamicObject> =
            parsed.try_into().expect("has a request");
        assert_eq!(parsed.uid, "u1");
    }

    #[test]
    fn status_subresource_and_dry_run_delete() {
        let mut req = request(
            Operation::Delete,
            "",
            "persistentvolumeclaims",
            Some("ns"),
            "data",
        );
        req.subresource = "status";
        req.dry_run = true;
        let old = json!({"metadata": {"name": "data"}});
        let body = review_request(&req, "u2", None, Some(&old));
        assert_eq!(body["request"]["subResource"], "status");
        assert_eq!(body["request"]["requestSubResource"], "status");
        assert_eq!(body["request"]["object"], Value::Null);
        assert_eq!(body["request"]["oldObject"], old);
        assert_eq!(
            body["request"]["options"],
            json!({"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1", "dryRun": ["All"]})
        );
    }

    #[test]
    fn patch_decodes_from_base64_and_byte_array() {
        let patch = br#"[{"op":"add","path":"/a","value":1}]"#;
        let base64 = base64::engine::general_purpose::STANDARD.encode(patch);
        assert_eq!(decode_patch_field(&json!(base64)), Ok(Some(patch.to_vec())));
        assert_eq!(
            decode_patch_field(&json!(patch.to_vec())),
            Ok(Some(patch.to_vec()))
        );
        assert!(decode_patch_field(&json!([1, 256])).is_err());
        assert!(decode_patch_field(&json!("%%%")).is_err());
        assert_eq!(decode_patch_field(&Value::Null), Ok(None));
    }

    #[test]
    fn reply_checks_follow_upstream() {
        assert_eq!(
            parse(&reply(json!({"uid": "other", "allowed": true}))),
            Err(
                "received invalid webhook response: expected response.uid=\"u1\", got \"other\""
                    .into()
            )
        );
        let wrong_kind = json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "response": {"uid": "u1", "allowed": true}});
        assert!(parse(&wrong_kind).is_err());
        assert!(
            parse(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}))
                .is_err()
        );
        assert!(
            parse(&reply(
                json!({"uid": "u1", "allowed": true, "patch": "W10="})
            ))
            .is_err()
        );
        assert!(
            parse(&reply(
                json!({"uid": "u1", "allowed": true, "patchType": "JSONPatch"})
            ))
            .is_err()
        );
        assert!(parse_reply(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u1","allowed":true,"patch":"W10=","patchType":"JSONPatch"}}"#, "u1", false).is_err());
        assert!(parse_reply(b"not json", "u1", true).is_err());
    }

    #[test]
    fn denial_code_and_explanation() {
        let denied = parse(&reply(
            json!({"uid": "u1", "allowed": false, "status": {"code": 200, "reason": "Forbidden"}, "warnings": ["w"]}),
        ));
        assert_eq!(
            denied,
            Ok(Reply::Denied {
                code: 400,
                reason: "Forbidden".into(),
                explanation: "Forbidden".into(),
                warnings: vec!["w".into()]
            })
        );
        let denied = parse(&reply(
            json!({"uid": "u1", "allowed": false, "status": {"code": 422, "message": "no"}}),
        ));
        assert_eq!(
            denied,
            Ok(Reply::Denied {
                code: 422,
                reason: String::new(),
                explanation: "no".into(),
                warnings: vec![]
            })
        );
        let allowed = parse(&reply(
            json!({"uid": "u1", "allowed": true, "patch": "W10=", "patchType": "JSONPatch"}),
        ));
        assert_eq!(
            allowed,
            Ok(Reply::Allowed {
                patch: Some(Patch {
                    patch_type: "JSONPatch".into(),
                    bytes: b"[]".to_vec()
                }),
                warnings: vec![]
            })
        );
    }

    #[test]
    fn json_patch_application() {
        let object = json!({"spec": {}});
        let patch = br#"[{"op":"add","path":"/spec/storageClassName","value":"fast"}]"#;
        assert_eq!(
            apply_json_patch(&object, patch),
            Ok(json!({"spec": {"storageClassName": "fast"}}))
        );
        assert!(apply_json_patch(&object, br#"[{"op":"remove","path":"/nope"}]"#).is_err());
        assert!(apply_json_patch(&object, b"{}").is_err());
    }
}
