//! Strategy hooks run before validation: status reset on create, spec/status separation and system
//! metadata on update, generation tracking.

use serde_json::{Value, json};

use crate::catalog::{ResourceType, Subresource};
use crate::meta;

/// Resets what clients may not set on create: status (per type), system metadata, generation.
pub fn prepare_create(rt: &ResourceType, object: &mut Value, now: &str) {
    for key in [
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "generation",
    ] {
        meta::remove_meta(object, key);
    }
    if rt.tracks_generation {
        meta::set_meta(object, "generation", json!(1));
    }
    let status = match (rt.group, rt.resource) {
        ("", "persistentvolumes") => {
            Some(json!({"phase": "Pending", "lastPhaseTransitionTime": now}))
        }
        ("", "persistentvolumeclaims") => Some(json!({"phase": "Pending"})),
        ("", "pods") => Some(json!({"phase": "Pending", "qosClass": qos_class(object)})),
        ("", "namespaces") => Some(json!({"phase": "Active"})),
        ("apps", "statefulsets") => Some(json!({"replicas": 0, "availableReplicas": 0})),
        _ => None,
    };
    if let Some(status) = status {
        meta::set_field(object, "status", status);
    }
}

/// Builds the object to store from an update body: system metadata comes from the stored object, the
/// part of the object the (sub)resource may not write is restored, generation is bumped on spec changes.
pub fn prepare_update(
    rt: &ResourceType,
    sub: Option<Subresource>,
    old: &Value,
    new: Value,
) -> Value {
    let mut out = match sub {
        None => main_resource(rt, old, new),
        Some(Subresource::Status) => status_write(rt, old, new),
        Some(Subresource::Finalize) => {
            let mut out = old.clone();
            let finalizers = new
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or(json!([]));
            if let Some(spec) = out.get_mut("spec") {
                meta::set_field(spec, "finalizers", finalizers);
            } else {
                meta::set_field(&mut out, "spec", json!({"finalizers": finalizers}));
            }
            out
        }
        // scale and binding are translated into main-resource writes before they get here
        Some(Subresource::Scale | Subresource::Binding) => main_resource(rt, old, new),
    };
    for key in [
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old.pointer(&format!("/metadata/{key}")) {
            Some(v) => meta::set_meta(&mut out, key, v.clone()),
            None => {
                meta::remove_meta(&mut out, key);
            }
        }
    }
    meta::remove_meta(&mut out, "selfLink");
    if meta::uid(&out).is_empty() {
        meta::set_meta(&mut out, "uid", json!(meta::uid(old)));
    }
    if out.pointer("/metadata/managedFields").is_none()
        && let Some(mf) = old.pointer("/metadata/managedFields")
    {
        meta::set_meta(&mut out, "managedFields", mf.clone());
    }
    if matches!(sub, None | Some(Subresource::Scale))
        && rt.tracks_generation
        && generation_relevant_change(rt, old, &out)
    {
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        meta::set_meta(&mut out, "generation", json!(generation + 1));
    }
    out
}

fn main_resource(rt: &ResourceType, old: &Value, mut new: Value) -> Value {
    if rt.has_status() {
        match old.get("status") {
            Some(status) => meta::set_field(&mut new, "status", status.clone()),
            None => {
                if let Some(map) = new.as_object_mut() {
                    map.remove("status");
                }
            }
        }
    }
    new
}

fn status_write(rt: &ResourceType, old: &Value, new: Value) -> Value {
    // PV and PVC status strategies only restore the spec; the others also reset most metadata
    // (`ResetObjectMetaForStatus`).
    let keeps_metadata = rt.group.is_empty()
        && matches!(rt.resource, "persistentvolumes" | "persistentvolumeclaims");
    let mut out = if keeps_metadata {
        let mut out = new.clone();
        match old.get("spec") {
            Some(spec) => meta::set_field(&mut out, "spec", spec.clone()),
            None => {
                if let Some(map) = out.as_object_mut() {
                    map.remove("spec");
                }
            }
        }
        out
    } else {
        let mut out = old.clone();
        match new.get("status") {
            Some(status) => meta::set_field(&mut out, "status", status.clone()),
            None => {
                if let Some(map) = out.as_object_mut() {
                    map.remove("status");
                }
            }
        }
        if let Some(mf) = new.pointer("/metadata/managedFields") {
            meta::set_meta(&mut out, "managedFields", mf.clone());
        }
        out
    };
    if rt.resource == "persistentvolumes" && rt.group.is_empty() {
        pv_phase_transition_time(old, &new, &mut out);
    }
    out
}

/// A PV status write that changes the phase stamps `lastPhaseTransitionTime` unless the client set it.
fn pv_phase_transition_time(old: &Value, new: &Value, out: &mut Value) {
    let old_phase = old.pointer("/status/phase");
    let new_phase = new.pointer("/status/phase");
    let client_set = new.pointer("/status/lastPhaseTransitionTime")
        != old.pointer("/status/lastPhaseTransitionTime");
    if old_phase != new_phase
        && !client_set
        && let Some(status) = out.get_mut("status").and_then(Value::as_object_mut)
    {
        status.insert("lastPhaseTransitionTime".into(), json!(meta::now_rfc3339()));
    }
}

fn generation_relevant_change(rt: &ResourceType, old: &Value, new: &Value) -> bool {
    match rt.group {
        "admissionregistration.k8s.io" => old.get("webhooks") != new.get("webhooks"),
        _ => old.get("spec") != new.get("spec"),
    }
}

/// The pod QoS class from container requests/limits (`BestEffort`, `Burstable`, `Guaranteed`).
pub fn qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| pod.pointer(&format!("/spec/{k}")).and_then(Value::as_array))
        .flatten()
        .collect();
    let has = |c: &Value, what: &str| {
        c.pointer(&format!("/resources/{what}"))
            .and_then(Value::as_object)
            .is_some_and(|m| m.iter().any(|(k, _)| k == "cpu" || k == "memory"))
    };
    if containers
        .iter()
        .all(|c| !has(c, "requests") && !has(c, "limits"))
    {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let limit = c.pointer(&format!("/resources/limits/{r}"));
            let request = c.pointer(&format!("/resources/requests/{r}")).or(limit);
            limit.is_some() && request == limit
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    #[test]
    fn main_resource_write_keeps_stored_status() {
        let pvc = catalog::find("", "v1", "persistentvolumeclaims").unwrap();
        let old = json!({"metadata":{"name":"a","uid":"u","creationTimestamp":"t"},"spec":{"x":1},"status":{"phase":"Pending"}});
        let new = json!({"metadata":{"name":"a"},"spec":{"x":2},"status":{"phase":"Bound"}});
        let out = prepare_update(pvc, None, &old, new);
        assert_eq!(out["status"]["phase"], "Pending");
        assert_eq!(out["spec"]["x"], 2);
        assert_eq!(out["metadata"]["uid"], "u");
        assert_eq!(out["metadata"]["creationTimestamp"], "t");
    }

    #[test]
    fn status_write_keeps_stored_spec() {
        let pvc = catalog::find("", "v1", "persistentvolumeclaims").unwrap();
        let old = json!({"metadata":{"name":"a"},"spec":{"x":1},"status":{"phase":"Pending"}});
        let new = json!({"metadata":{"name":"a","labels":{"l":"v"}},"spec":{"x":2},"status":{"phase":"Bound"}});
        let out = prepare_update(pvc, Some(Subresource::Status), &old, new);
        assert_eq!(out["status"]["phase"], "Bound");
        assert_eq!(out["spec"]["x"], 1);
        assert_eq!(out["metadata"]["labels"]["l"], "v");
    }

    #[test]
    fn statefulset_generation_follows_spec() {
        let sts = catalog::find("apps", "v1", "statefulsets").unwrap();
        let old = json!({"metadata":{"name":"a","generation":3},"spec":{"replicas":1},"status":{}});
        let bumped = prepare_update(
            sts,
            None,
            &old,
            json!({"metadata":{"name":"a"},"spec":{"replicas":2}}),
        );
        assert_eq!(bumped["metadata"]["generation"], 4);
        let same = prepare_update(
            sts,
            None,
            &old,
            json!({"metadata":{"name":"a"},"spec":{"replicas":1}}),
        );
        assert_eq!(same["metadata"]["generation"], 3);
        let status = prepare_update(
            sts,
            Some(Subresource::Status),
            &old,
            json!({"metadata":{"name":"a"},"spec":{"replicas":9},"status":{"replicas":1}}),
        );
        assert_eq!(status["metadata"]["generation"], 3);
        assert_eq!(status["spec"]["replicas"], 1);
    }

    #[test]
    fn qos_classes() {
        assert_eq!(
            qos_class(&json!({"spec":{"containers":[{"name":"a"}]}})),
            "BestEffort"
        );
        let g =
            json!({"spec":{"containers":[{"resources":{"limits":{"cpu":"1","memory":"1Gi"}}}]}});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"spec":{"containers":[{"resources":{"requests":{"cpu":"1"}}}]}});
        assert_eq!(qos_class(&b), "Burstable");
    }
}
