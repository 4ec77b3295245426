//! ObjectMeta validation on create and update (`ValidateObjectMetaAccessor[Update]`).

use serde_json::{Value, json};

use super::names;
use crate::catalog::ResourceType;
use crate::meta;
use crate::status::FieldError;

pub fn validate_create(rt: &ResourceType, object: &Value, errs: &mut Vec<FieldError>) {
    let name = meta::name(object);
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        let problems = match rt.resource {
            "namespaces" => names::dns_label(name),
            // Event and Lease names only need to be usable as a path segment
            "events" | "leases" => path_segment(name),
            _ => names::dns_subdomain(name),
        };
        for p in problems {
            errs.push(FieldError::invalid("metadata.name", &json!(name), p));
        }
    }
    common(object, errs);
}

pub fn validate_update(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    for (key, path) in [
        ("name", "metadata.name"),
        ("namespace", "metadata.namespace"),
        ("uid", "metadata.uid"),
    ] {
        let o = old
            .pointer(&format!("/metadata/{key}"))
            .cloned()
            .unwrap_or(json!(""));
        let n = new
            .pointer(&format!("/metadata/{key}"))
            .cloned()
            .unwrap_or(json!(""));
        if o != n {
            errs.push(FieldError::invalid(path, &n, "field is immutable"));
        }
    }
    if meta::deletion_timestamp(old).is_some() {
        let old_f = meta::finalizers(old);
        let added: Vec<String> = meta::finalizers(new)
            .into_iter()
            .filter(|f| !old_f.contains(f))
            .collect();
        if !added.is_empty() {
            errs.push(FieldError::forbidden(
                "metadata.finalizers",
                format!("no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"),
            ));
        }
    }
    common(new, errs);
}

fn path_segment(name: &str) -> Vec<String> {
    if name == "." || name == ".." || name.contains('/') || name.contains('%') {
        vec![format!(
            "may not contain '/' or '%' and may not be '.' or '..'"
        )]
    } else {
        Vec::new()
    }
}

fn common(object: &Value, errs: &mut Vec<FieldError>) {
    if let Some(labels) = object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
    {
        for (k, v) in labels {
            for p in names::qualified_name(k) {
                errs.push(FieldError::invalid("metadata.labels", &json!(k), p));
            }
            match v.as_str() {
                Some(s) => {
                    for p in names::label_value(s) {
                        errs.push(FieldError::invalid("metadata.labels", v, p));
                    }
                }
                None => errs.push(FieldError::invalid(
                    "metadata.labels",
                    v,
                    "label values must be strings",
                )),
            }
        }
    }
    if let Some(annotations) = object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        let mut total = 0;
        for (k, v) in annotations {
            total += k.len() + v.as_str().map(str::len).unwrap_or(0);
            for p in names::qualified_name(&k.to_ascii_lowercase()) {
                errs.push(FieldError::invalid("metadata.annotations", &json!(k), p));
            }
        }
        if total > 256 * 1024 {
            errs.push(FieldError::too_long("metadata.annotations", 256 * 1024));
        }
    }
    if let Some(finalizers) = object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
    {
        for (i, f) in finalizers.iter().enumerate() {
            let text = f.as_str().unwrap_or_default();
            for p in names::qualified_name(text) {
                errs.push(FieldError::invalid(
                    format!("metadata.finalizers[{i}]"),
                    f,
                    p,
                ));
            }
        }
    }
    if let Some(refs) = object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
    {
        let mut controllers = 0;
        for (i, r) in refs.iter().enumerate() {
            for key in ["apiVersion", "kind", "name", "uid"] {
                if r.get(key).and_then(Value::as_str).is_none_or(str::is_empty) {
                    errs.push(FieldError::invalid(
                        format!("metadata.ownerReferences[{i}].{key}"),
                        &json!(""),
                        format!("{key} must not be empty"),
                    ));
                }
            }
            if r.get("controller").and_then(Value::as_bool) == Some(true) {
                controllers += 1;
            }
        }
        if controllers > 1 {
            errs.push(FieldError::invalid(
                "metadata.ownerReferences",
                &Value::Array(refs.clone()),
                "Only one reference can have Controller set to true",
            ));
        }
    }
}
