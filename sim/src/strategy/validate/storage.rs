//! PersistentVolume, PersistentVolumeClaim and StorageClass validation (1.14 of the spec).

use serde_json::{Map, Value, json};

use super::names;
use crate::quantity;
use crate::status::FieldError;

const ACCESS_MODES: &[&str] = &[
    "ReadWriteOnce",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOncePod",
];
const RECLAIM_POLICIES: &[&str] = &["Retain", "Delete", "Recycle"];
const VOLUME_MODES: &[&str] = &["Filesystem", "Block"];
const HOST_PATH_TYPES: &[&str] = &[
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
];
const NODE_SELECTOR_OPS: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"];

/// PV spec fields that are not part of the volume source.
const PV_NON_SOURCE_FIELDS: &[&str] = &[
    "accessModes",
    "capacity",
    "claimRef",
    "persistentVolumeReclaimPolicy",
    "storageClassName",
    "mountOptions",
    "volumeMode",
    "nodeAffinity",
    "volumeAttributesClassName",
];

pub fn pv_create(pv: &Value, errs: &mut Vec<FieldError>) {
    let empty = Map::new();
    let spec = pv.get("spec").and_then(Value::as_object).unwrap_or(&empty);
    access_modes("spec.accessModes", spec.get("accessModes"), errs);
    match spec.get("capacity").and_then(Value::as_object) {
        None => errs.push(FieldError::required("spec.capacity", "")),
        Some(cap) => {
            for k in cap.keys().filter(|k| k.as_str() != "storage") {
                errs.push(FieldError::not_supported(
                    format!("spec.capacity[{k}]"),
                    &json!(k),
                    &["storage"],
                ));
            }
            positive_quantity("spec.capacity[storage]", cap.get("storage"), errs);
        }
    }
    let sources: Vec<&String> = spec
        .keys()
        .filter(|k| !PV_NON_SOURCE_FIELDS.contains(&k.as_str()))
        .collect();
    match sources.len() {
        0 => errs.push(FieldError::required("spec", "must specify a volume type")),
        1 => {}
        _ => errs.push(FieldError::forbidden(
            "spec",
            "may not specify more than 1 volume type",
        )),
    }
    if let Some(hp) = spec.get("hostPath") {
        if hp
            .get("path")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            errs.push(FieldError::required("spec.hostPath.path", ""));
        }
        let t = hp.get("type").cloned().unwrap_or(json!(""));
        if !HOST_PATH_TYPES.contains(&t.as_str().unwrap_or("?")) {
            errs.push(FieldError::not_supported(
                "spec.hostPath.type",
                &t,
                HOST_PATH_TYPES,
            ));
        }
        if hp.get("path").and_then(Value::as_str) == Some("/")
            && spec
                .get("persistentVolumeReclaimPolicy")
                .and_then(Value::as_str)
                == Some("Recycle")
        {
            errs.push(FieldError::forbidden(
                "spec.persistentVolumeReclaimPolicy",
                "may not be 'recycle' for a hostPath mount of '/'",
            ));
        }
    }
    if let Some(local) = spec.get("local") {
        if local
            .get("path")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            errs.push(FieldError::required("spec.local.path", ""));
        }
        if spec.get("nodeAffinity").is_none() {
            errs.push(FieldError::required(
                "spec.nodeAffinity",
                "Local volume requires node affinity",
            ));
        }
    }
    if let Some(na) = spec.get("nodeAffinity") {
        node_affinity(na, errs);
    }
    one_of(
        "spec.persistentVolumeReclaimPolicy",
        spec.get("persistentVolumeReclaimPolicy"),
        RECLAIM_POLICIES,
        errs,
    );
    one_of(
        "spec.volumeMode",
        spec.get("volumeMode"),
        VOLUME_MODES,
        errs,
    );
    storage_class_name("spec.storageClassName", spec.get("storageClassName"), errs);
}

pub fn pv_update(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    pv_create(new, errs);
    let source = |pv: &Value| -> Map<String, Value> {
        pv.get("spec")
            .and_then(Value::as_object)
            .map(|s| {
                s.iter()
                    .filter(|(k, _)| !PV_NON_SOURCE_FIELDS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    if source(old) != source(new) {
        errs.push(FieldError::forbidden(
            "spec.persistentvolumesource",
            "spec.persistentvolumesource is immutable after creation",
        ));
    }
    immutable(
        "spec.volumeMode",
        old.pointer("/spec/volumeMode"),
        new.pointer("/spec/volumeMode"),
        errs,
    );
    if let Some(old_affinity) = old.pointer("/spec/nodeAffinity") {
        immutable(
            "spec.nodeAffinity",
            Some(old_affinity),
            new.pointer("/spec/nodeAffinity"),
            errs,
        );
    }
}

pub fn pvc_create(pvc: &Value, errs: &mut Vec<FieldError>) {
    let empty = Map::new();
    let spec = pvc.get("spec").and_then(Value::as_object).unwrap_or(&empty);
    access_modes("spec.accessModes", spec.get("accessModes"), errs);
    match spec
        .get("resources")
        .and_then(|r| r.get("requests"))
        .and_then(|r| r.get("storage"))
    {
        None => errs.push(FieldError::required("spec.resources[storage]", "")),
        Some(q) => positive_quantity("spec.resources[storage]", Some(q), errs),
    }
    if let Some(Value::String(class)) = spec.get("storageClassName")
        && !class.is_empty()
    {
        storage_class_name("spec.storageClassName", spec.get("storageClassName"), errs);
    }
    one_of(
        "spec.volumeMode",
        spec.get("volumeMode"),
        VOLUME_MODES,
        errs,
    );
}

/// `ValidatePersistentVolumeClaimUpdate`: the spec is immutable except `volumeName` once, the class from
/// unset, and storage requests on bound claims (never below status.capacity).
pub fn pvc_update(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    pvc_create(new, errs);
    let mut old_spec = old.get("spec").cloned().unwrap_or(json!({}));
    let mut new_spec = new.get("spec").cloned().unwrap_or(json!({}));
    if old_spec
        .get("volumeName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        set_or_remove(
            &mut old_spec,
            "volumeName",
            new_spec.get("volumeName").cloned(),
        );
    }
    let beta_class = |o: &Value| {
        o.pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
            .cloned()
    };
    if old_spec.get("storageClassName").is_none()
        && beta_class(old).is_none()
        && beta_class(new).is_none()
    {
        set_or_remove(&mut new_spec, "storageClassName", None);
    }
    immutable(
        "metadata.annotations[volume.beta.kubernetes.io/storage-class]",
        beta_class(old).as_ref(),
        beta_class(new).as_ref(),
        errs,
    );
    let bound = old.pointer("/status/phase").and_then(Value::as_str) == Some("Bound");
    if bound
        && let Some(requests) = new_spec
            .pointer_mut("/resources/requests")
            .and_then(Value::as_object_mut)
    {
        match old_spec.pointer("/resources/requests/storage") {
            Some(s) => requests.insert("storage".into(), s.clone()),
            None => requests.remove("storage"),
        };
    }
    set_or_remove(
        &mut new_spec,
        "volumeAttributesClassName",
        old_spec.get("volumeAttributesClassName").cloned(),
    );
    if old_spec != new_spec {
        errs.push(FieldError::forbidden(
            "spec",
            format!(
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n{}",
                spec_diff(&old_spec, &new_spec)
            ),
        ));
    }
    let size = |o: &Value, p: &str| {
        o.pointer(p)
            .and_then(Value::as_str)
            .and_then(quantity::parse)
            .unwrap_or(0.0)
    };
    let old_size = size(old, "/spec/resources/requests/storage");
    let new_size = size(new, "/spec/resources/requests/storage");
    let status_size = size(old, "/status/capacity/storage");
    // RecoverVolumeExpansionFailure is on in 1.33: requests may shrink, but not to status.capacity or below.
    if new_size < old_size && new_size <= status_size {
        errs.push(FieldError::forbidden(
            "spec.resources.requests.storage",
            "field can not be less than status.capacity",
        ));
    }
    immutable(
        "spec.volumeMode",
        old.pointer("/spec/volumeMode"),
        new.pointer("/spec/volumeMode"),
        errs,
    );
}

pub fn pvc_status(pvc: &Value, errs: &mut Vec<FieldError>) {
    one_of(
        "status.phase",
        pvc.pointer("/status/phase"),
        &["Pending", "Bound", "Lost"],
        errs,
    );
    if let Some(cap) = pvc.pointer("/status/capacity").and_then(Value::as_object) {
        for (k, v) in cap {
            if v.as_str().and_then(quantity::parse).is_none() {
                errs.push(FieldError::invalid(
                    format!("status.capacity[{k}]"),
                    v,
                    "must be a valid quantity",
                ));
            }
        }
    }
}

pub fn pv_status(pv: &Value, errs: &mut Vec<FieldError>) {
    one_of(
        "status.phase",
        pv.pointer("/status/phase"),
        &["Pending", "Available", "Bound", "Released", "Failed"],
        errs,
    );
}

pub fn storage_class_create(sc: &Value, errs: &mut Vec<FieldError>) {
    match sc.get("provisioner").and_then(Value::as_str) {
        None | Some("") => errs.push(FieldError::required("provisioner", "")),
        Some(p) => {
            for m in names::qualified_name(&p.to_ascii_lowercase()) {
                errs.push(FieldError::invalid("provisioner", &json!(p), m));
            }
        }
    }
    one_of(
        "reclaimPolicy",
        sc.get("reclaimPolicy"),
        &["Retain", "Delete"],
        errs,
    );
    one_of(
        "volumeBindingMode",
        sc.get("volumeBindingMode"),
        &["Immediate", "WaitForFirstConsumer"],
        errs,
    );
}

pub fn storage_class_update(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    storage_class_create(new, errs);
    for (key, what) in [
        ("parameters", "parameters"),
        ("provisioner", "provisioner"),
        ("reclaimPolicy", "reclaimPolicy"),
    ] {
        if old.get(key) != new.get(key) {
            errs.push(FieldError::forbidden(
                key,
                format!("updates to {what} are forbidden."),
            ));
        }
    }
    immutable(
        "volumeBindingMode",
        old.get("volumeBindingMode"),
        new.get("volumeBindingMode"),
        errs,
    );
}

fn access_modes(path: &str, modes: Option<&Value>, errs: &mut Vec<FieldError>) {
    let modes: Vec<&Value> = modes
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if modes.is_empty() {
        errs.push(FieldError::required(
            path,
            "at least 1 access mode is required",
        ));
        return;
    }
    for m in &modes {
        if !ACCESS_MODES.contains(&m.as_str().unwrap_or("?")) {
            errs.push(FieldError::not_supported(path, m, ACCESS_MODES));
        }
    }
    if modes.len() > 1 && modes.iter().any(|m| m.as_str() == Some("ReadWriteOncePod")) {
        errs.push(FieldError::forbidden(
            path,
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
}

fn positive_quantity(path: &str, q: Option<&Value>, errs: &mut Vec<FieldError>) {
    let Some(q) = q else {
        errs.push(FieldError::required(path, ""));
        return;
    };
    match q.as_str().and_then(quantity::parse).or_else(|| q.as_f64()) {
        None => errs.push(FieldError::invalid(path, q, "must be a valid quantity")),
        Some(v) if v <= 0.0 => errs.push(FieldError::invalid(path, q, "must be greater than zero")),
        Some(_) => {}
    }
}

fn one_of(path: &str, value: Option<&Value>, allowed: &[&str], errs: &mut Vec<FieldError>) {
    if let Some(v) = value
        && !allowed.contains(&v.as_str().unwrap_or("?"))
    {
        errs.push(FieldError::not_supported(path, v, allowed));
    }
}

fn storage_class_name(path: &str, value: Option<&Value>, errs: &mut Vec<FieldError>) {
    if let Some(Value::String(s)) = value
        && !s.is_empty()
    {
        for m in names::dns_subdomain(s) {
            errs.push(FieldError::invalid(path, &json!(s), m));
        }
    }
}

fn node_affinity(na: &Value, errs: &mut Vec<FieldError>) {
    let Some(required) = na.get("required") else {
        errs.push(FieldError::required(
            "spec.nodeAffinity.required",
            "must specify required node constraints",
        ));
        return;
    };
    let terms = required
        .get("nodeSelectorTerms")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if terms.is_empty() {
        errs.push(FieldError::required(
            "spec.nodeAffinity.required.nodeSelectorTerms",
            "must have at least one node selector term",
        ));
    }
    for (i, term) in terms.iter().enumerate() {
        for (j, e) in term
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let path =
                format!("spec.nodeAffinity.required.nodeSelectorTerms[{i}].matchExpressions[{j}]");
            if e.get("key")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                errs.push(FieldError::required(format!("{path}.key"), ""));
            }
            let op = e.get("operator").cloned().unwrap_or(json!(""));
            if !NODE_SELECTOR_OPS.contains(&op.as_str().unwrap_or("?")) {
                errs.push(FieldError::not_supported(
                    format!("{path}.operator"),
                    &op,
                    NODE_SELECTOR_OPS,
                ));
            }
        }
    }
}

fn immutable(path: &str, old: Option<&Value>, new: Option<&Value>, errs: &mut Vec<FieldError>) {
    if old != new {
        errs.push(FieldError::invalid(
            path,
            new.unwrap_or(&Value::Null),
            "field is immutable",
        ));
    }
}

fn set_or_remove(object: &mut Value, key: &str, value: Option<Value>) {
    if let Some(map) = object.as_object_mut() {
        match value {
            Some(v) => map.insert(key.to_string(), v),
            None => map.remove(key),
        };
    }
}

/// A short old/new listing of the spec fields that differ (stands in for the Go `cmp.Diff` text).
fn spec_diff(old: &Value, new: &Value) -> String {
    let empty = Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut lines = vec!["  core.PersistentVolumeClaimSpec{".to_string()];
    for k in keys {
        let (a, b) = (o.get(k), n.get(k));
        if a != b {
            if let Some(a) = a {
                lines.push(format!("-  {k}: {a},"));
            }
            if let Some(b) = b {
                lines.push(format!("+  {k}: {b},"));
            }
        }
    }
    lines.push("  }".to_string());
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pvc(spec: Value, phase: &str) -> Value {
        json!({"metadata":{"name":"c"},"spec":spec,"status":{"phase":phase,"capacity":{"storage":"1Gi"}}})
    }

    fn spec(size: &str) -> Value {
        json!({"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":size}},"volumeMode":"Filesystem"})
    }

    fn errors(f: impl FnOnce(&mut Vec<FieldError>)) -> Vec<FieldError> {
        let mut errs = Vec::new();
        f(&mut errs);
        errs
    }

    #[test]
    fn local_pv_requires_node_affinity() {
        let pv = json!({"spec":{"accessModes":["ReadWriteOnce"],"capacity":{"storage":"1Gi"},"local":{"path":"/x"}}});
        let errs = errors(|e| pv_create(&pv, e));
        assert_eq!(
            errs,
            vec![FieldError::required(
                "spec.nodeAffinity",
                "Local volume requires node affinity"
            )]
        );
    }

    #[test]
    fn pvc_volume_name_may_be_set_once() {
        let old = pvc(spec("1Gi"), "Pending");
        let mut s = spec("1Gi");
        s["volumeName"] = json!("pv1");
        let new = pvc(s.clone(), "Pending");
        assert!(errors(|e| pvc_update(&old, &new, e)).is_empty());
        let mut s2 = s;
        s2["volumeName"] = json!("pv2");
        let errs = errors(|e| pvc_update(&new, &pvc(s2, "Pending"), e));
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0]
                .detail
                .starts_with("spec is immutable after creation")
        );
    }

    #[test]
    fn pvc_storage_changes_only_when_bound() {
        let errs = errors(|e| {
            pvc_update(
                &pvc(spec("1Gi"), "Pending"),
                &pvc(spec("2Gi"), "Pending"),
                e,
            )
        });
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec");
        assert!(
            errors(|e| pvc_update(&pvc(spec("1Gi"), "Bound"), &pvc(spec("2Gi"), "Bound"), e))
                .is_empty()
        );
        let errs =
            errors(|e| pvc_update(&pvc(spec("2Gi"), "Bound"), &pvc(spec("1Gi"), "Bound"), e));
        assert_eq!(errs[0].detail, "field can not be less than status.capacity");
    }

    #[test]
    fn pvc_class_may_go_from_unset_to_set() {
        let mut with_class = spec("1Gi");
        with_class["storageClassName"] = json!("fast");
        assert!(
            errors(|e| pvc_update(
                &pvc(spec("1Gi"), "Pending"),
                &pvc(with_class.clone(), "Pending"),
                e
            ))
            .is_empty()
        );
        let mut other = spec("1Gi");
        other["storageClassName"] = json!("slow");
        assert_eq!(
            errors(|e| pvc_update(&pvc(with_class, "Pending"), &pvc(other, "Pending"), e)).len(),
            1
        );
    }

    #[test]
    fn pv_source_is_immutable() {
        let base = json!({"spec":{"accessModes":["ReadWriteOnce"],"capacity":{"storage":"1Gi"},"hostPath":{"path":"/a","type":""}}});
        let mut moved = base.clone();
        moved["spec"]["hostPath"]["path"] = json!("/b");
        let errs = errors(|e| pv_update(&base, &moved, e));
        assert_eq!(errs[0].field, "spec.persistentvolumesource");
        let mut claimed = base.clone();
        claimed["spec"]["claimRef"] = json!({"name":"c","namespace":"n"});
        assert!(errors(|e| pv_update(&base, &claimed, e)).is_empty());
    }
}
