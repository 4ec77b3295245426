//! Pod and StatefulSet validation (the subset the simulated cluster and Berth's tests rely on).

use serde_json::{Value, json};

use super::names;
use crate::selectors::LabelSelector;
use crate::status::FieldError;

const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const STS_MUTABLE: &[&str] = &[
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

/// Validates a pod spec found at `path` (`spec` or `spec.template.spec`).
pub fn pod_spec(spec: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let containers = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if containers.is_empty() {
        errs.push(FieldError::required(format!("{path}.containers"), ""));
    }
    let mut seen = Vec::new();
    for list in ["containers", "initContainers"] {
        let items = spec
            .and_then(|s| s.get(list))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, c) in items.iter().enumerate() {
            let cpath = format!("{path}.{list}[{i}]");
            match c.get("name").and_then(Value::as_str) {
                None | Some("") => errs.push(FieldError::required(format!("{cpath}.name"), "")),
                Some(name) => {
                    for m in names::dns_label(name) {
                        errs.push(FieldError::invalid(
                            format!("{cpath}.name"),
                            &json!(name),
                            m,
                        ));
                    }
                    if seen.contains(&name.to_string()) {
                        errs.push(FieldError::duplicate(format!("{cpath}.name"), &json!(name)));
                    }
                    seen.push(name.to_string());
                }
            }
            if c.get("image")
                .and_then(Value::as_str)
                .is_none_or(|s| s.trim().is_empty())
            {
                errs.push(FieldError::required(format!("{cpath}.image"), ""));
            }
        }
    }
    let mut volume_names = Vec::new();
    for (i, v) in spec
        .and_then(|s| s.get("volumes"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
        if name.is_empty() {
            errs.push(FieldError::required(
                format!("{path}.volumes[{i}].name"),
                "",
            ));
        } else if volume_names.contains(&name) {
            errs.push(FieldError::duplicate(
                format!("{path}.volumes[{i}].name"),
                &json!(name),
            ));
        }
        volume_names.push(name);
    }
    if let Some(p) = spec.and_then(|s| s.get("restartPolicy"))
        && !RESTART_POLICIES.contains(&p.as_str().unwrap_or("?"))
    {
        errs.push(FieldError::not_supported(
            format!("{path}.restartPolicy"),
            p,
            RESTART_POLICIES,
        ));
    }
}

pub fn pod_create(pod: &Value, errs: &mut Vec<FieldError>) {
    pod_spec(pod.get("spec"), "spec", errs);
}

/// Pod specs are immutable except images, activeDeadlineSeconds, added tolerations and the grace period.
pub fn pod_update(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    pod_create(new, errs);
    let mut relaxed = new.get("spec").cloned().unwrap_or(json!({}));
    let old_spec = old.get("spec").cloned().unwrap_or(json!({}));
    for list in ["containers", "initContainers"] {
        let old_items = old_spec
            .get(list)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(items) = relaxed.get_mut(list).and_then(Value::as_array_mut) {
            for (c, o) in items.iter_mut().zip(old_items.iter()) {
                if let (Some(map), Some(image)) = (c.as_object_mut(), o.get("image")) {
                    map.insert("image".into(), image.clone());
                }
            }
        }
    }
    if let Some(map) = relaxed.as_object_mut() {
        for key in [
            "activeDeadlineSeconds",
            "tolerations",
            "terminationGracePeriodSeconds",
            "schedulingGates",
        ] {
            match old_spec.get(key) {
                Some(v) => map.insert(key.to_string(), v.clone()),
                None => map.remove(key),
            };
        }
    }
    if relaxed != old_spec {
        errs.push(FieldError::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        ));
    }
}

pub fn statefulset_create(sts: &Value, errs: &mut Vec<FieldError>) {
    let spec = sts.get("spec");
    let selector = spec.and_then(|s| s.get("selector"));
    let selector_empty = selector.is_none_or(|s| {
        s.get("matchLabels")
            .and_then(Value::as_object)
            .is_none_or(|m| m.is_empty())
            && s.get("matchExpressions")
                .and_then(Value::as_array)
                .is_none_or(|a| a.is_empty())
    });
    if selector_empty {
        errs.push(FieldError::invalid(
            "spec.selector",
            selector.unwrap_or(&Value::Null),
            "empty selector is invalid for statefulset",
        ));
    } else if let Some(selector) = selector {
        let labels = spec
            .and_then(|s| s.pointer("/template/metadata/labels"))
            .cloned()
            .unwrap_or(json!({}));
        if !LabelSelector::from_label_selector_object(selector)
            .matches(&json!({"metadata": {"labels": labels}}))
        {
            errs.push(FieldError::invalid(
                "spec.template.metadata.labels",
                &labels,
                "`selector` does not match template `labels`",
            ));
        }
    }
    if let Some(r) = spec.and_then(|s| s.get("replicas"))
        && r.as_i64().is_none_or(|r| r < 0)
    {
        errs.push(FieldError::invalid(
            "spec.replicas",
            r,
            "must be greater than or equal to 0",
        ));
    }
    let policies = ["OrderedReady", "Parallel"];
    if let Some(p) = spec.and_then(|s| s.get("podManagementPolicy"))
        && !policies.contains(&p.as_str().unwrap_or("?"))
    {
        errs.push(FieldError::not_supported(
            "spec.podManagementPolicy",
            p,
            &policies,
        ));
    }
    let strategies = ["RollingUpdate", "OnDelete"];
    if let Some(t) = spec.and_then(|s| s.pointer("/updateStrategy/type"))
        && !strategies.contains(&t.as_str().unwrap_or("?"))
    {
        errs.push(FieldError::not_supported(
            "spec.updateStrategy.type",
            t,
            &strategies,
        ));
    }
    let template_spec = spec.and_then(|s| s.pointer("/template/spec"));
    pod_spec(template_spec, "spec.template.spec", errs);
    if let Some(p) = template_spec.and_then(|s| s.get("restartPolicy"))
        && p.as_str() != Some("Always")
    {
        errs.push(FieldError::not_supported(
            "spec.template.spec.restartPolicy",
            p,
            &["Always"],
        ));
    }
}

pub fn statefulset_update(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    statefulset_create(new, errs);
    let strip = |o: &Value| {
        let mut spec = o.get("spec").cloned().unwrap_or(json!({}));
        if let Some(map) = spec.as_object_mut() {
            map.retain(|k, _| !STS_MUTABLE.contains(&k.as_str()));
        }
        spec
    };
    if strip(old) != strip(new) {
        errs.push(FieldError::forbidden(
            "spec",
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(image: &str, node: Option<&str>) -> Value {
        let mut p =
            json!({"spec":{"containers":[{"name":"c","image":image}],"restartPolicy":"Always"}});
        if let Some(n) = node {
            p["spec"]["nodeName"] = json!(n);
        }
        p
    }

    #[test]
    fn pod_image_may_change_but_node_may_not() {
        let mut errs = Vec::new();
        pod_update(&pod("a", None), &pod("b", None), &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        pod_update(&pod("a", None), &pod("a", Some("n")), &mut errs);
        assert_eq!(errs.len(), 1);
    }

    #[test]
    fn statefulset_selector_must_match_template() {
        let sts = json!({"spec":{"selector":{"matchLabels":{"app":"web"}},
            "template":{"metadata":{"labels":{"app":"db"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}});
        let mut errs = Vec::new();
        statefulset_create(&sts, &mut errs);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.template.metadata.labels");
    }
}
