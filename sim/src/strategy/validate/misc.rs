//! Event, Lease and webhook-configuration validation.

use serde_json::{Value, json};

use super::names;
use crate::status::FieldError;

/// Events (validated in their stored core/v1 form; `ValidateEventCreate`).
pub fn event(ev: &Value, errs: &mut Vec<FieldError>) {
    let namespace = ev
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let involved_ns = ev
        .pointer("/involvedObject/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let new_style = ev.get("eventTime").is_some_and(|t| !t.is_null());
    let allowed_for_cluster_scoped: &[&str] = if new_style {
        &["default", "kube-system"]
    } else {
        &["", "default"]
    };
    let namespace_ok = if involved_ns.is_empty() {
        allowed_for_cluster_scoped.contains(&namespace)
    } else {
        involved_ns == namespace
    };
    if !namespace_ok {
        errs.push(FieldError::invalid(
            "involvedObject.namespace",
            &json!(involved_ns),
            "does not match event.namespace",
        ));
    }
    if !new_style {
        return;
    }
    match ev.get("reportingComponent").and_then(Value::as_str) {
        None | Some("") => errs.push(FieldError::required("reportingController", "")),
        Some(c) => {
            for m in names::qualified_name(c) {
                errs.push(FieldError::invalid("reportingController", &json!(c), m));
            }
        }
    }
    match ev.get("reportingInstance").and_then(Value::as_str) {
        None | Some("") => errs.push(FieldError::required("reportingInstance", "")),
        Some(i) if i.len() > 128 => errs.push(FieldError::invalid(
            "reportingInstance",
            &json!(i),
            "can have at most 128 characters",
        )),
        Some(_) => {}
    }
    for key in ["action", "reason"] {
        match ev.get(key).and_then(Value::as_str) {
            None | Some("") => errs.push(FieldError::required(key, "")),
            Some(v) if v.len() > 128 => errs.push(FieldError::invalid(
                key,
                &json!(v),
                "can have at most 128 characters",
            )),
            Some(_) => {}
        }
    }
    if let Some(note) = ev.get("message").and_then(Value::as_str)
        && note.len() > 1024
    {
        errs.push(FieldError::too_long("note", 1024));
    }
    if let Some(t) = ev.get("type")
        && !["Normal", "Warning"].contains(&t.as_str().unwrap_or("?"))
    {
        errs.push(FieldError::not_supported("type", t, &["Normal", "Warning"]));
    }
}

pub fn lease(lease: &Value, errs: &mut Vec<FieldError>) {
    if let Some(d) = lease.pointer("/spec/leaseDurationSeconds")
        && d.as_i64().is_none_or(|d| d <= 0)
    {
        errs.push(FieldError::invalid(
            "spec.leaseDurationSeconds",
            d,
            "must be greater than 0",
        ));
    }
    if let Some(t) = lease.pointer("/spec/leaseTransitions")
        && t.as_i64().is_none_or(|t| t < 0)
    {
        errs.push(FieldError::invalid(
            "spec.leaseTransitions",
            t,
            "must be greater than or equal to 0",
        ));
    }
}

pub fn webhook_configuration(config: &Value, errs: &mut Vec<FieldError>) {
    let hooks = config
        .get("webhooks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut seen = Vec::new();
    for (i, h) in hooks.iter().enumerate() {
        let path = format!("webhooks[{i}]");
        match h.get("name").and_then(Value::as_str) {
            None | Some("") => errs.push(FieldError::required(format!("{path}.name"), "")),
            Some(n) => {
                if n.split('.').count() < 3 {
                    errs.push(FieldError::invalid(
                        format!("{path}.name"),
                        &json!(n),
                        "should be a domain with at least three segments separated by dots",
                    ));
                }
                if seen.contains(&n) {
                    errs.push(FieldError::duplicate(format!("{path}.name"), &json!(n)));
                }
                seen.push(n);
            }
        }
        let versions = h
            .get("admissionReviewVersions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if versions.is_empty() {
            errs.push(FieldError::required(
                format!("{path}.admissionReviewVersions"),
                "must specify one of v1, v1beta1",
            ));
        }
        let side_effects = ["None", "NoneOnDryRun"];
        match h.get("sideEffects") {
            None => errs.push(FieldError::required(
                format!("{path}.sideEffects"),
                "must specify one of None, NoneOnDryRun",
            )),
            Some(s) if !side_effects.contains(&s.as_str().unwrap_or("?")) => {
                errs.push(FieldError::not_supported(
                    format!("{path}.sideEffects"),
                    s,
                    &side_effects,
                ));
            }
            Some(_) => {}
        }
        let client = h.get("clientConfig");
        let url = client.and_then(|c| c.get("url"));
        let service = client.and_then(|c| c.get("service"));
        match (url, service) {
            (Some(_), Some(_)) => errs.push(FieldError::required(
                format!("{path}.clientConfig"),
                "exactly one of url or service is required",
            )),
            (None, None) => errs.push(FieldError::required(
                format!("{path}.clientConfig"),
                "exactly one of url or service is required",
            )),
            (Some(u), None) if !u.as_str().unwrap_or_default().starts_with("https://") => {
                errs.push(FieldError::invalid(
                    format!("{path}.clientConfig.url"),
                    u,
                    "'https' is the only allowed URL scheme",
                ));
            }
            _ => {}
        }
        if let Some(t) = h.get("timeoutSeconds")
            && t.as_i64().is_none_or(|t| !(1..=30).contains(&t))
        {
            errs.push(FieldError::invalid(
                format!("{path}.timeoutSeconds"),
                t,
                "the timeout value must be between 1 and 30 seconds",
            ));
        }
        let policies = ["Fail", "Ignore"];
        if let Some(p) = h.get("failurePolicy")
            && !policies.contains(&p.as_str().unwrap_or("?"))
        {
            errs.push(FieldError::not_supported(
                format!("{path}.failurePolicy"),
                p,
                &policies,
            ));
        }
    }
}
