//! Defaulting: the fields the real server fills in when a client leaves them out (1.4 of the spec).

use serde_json::{Map, Value, json};

use crate::catalog::ResourceType;
use crate::meta;

/// Applies the type's defaults in place (idempotent; run before and after mutating admission).
pub fn apply(rt: &ResourceType, object: &mut Value) {
    match (rt.group, rt.resource) {
        ("", "persistentvolumes") => {
            let spec = child(object, "spec");
            default(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
            default(spec, "volumeMode", json!("Filesystem"));
            if let Some(hp) = spec.get_mut("hostPath").and_then(Value::as_object_mut) {
                hp.entry("type").or_insert(json!(""));
            }
        }
        ("", "persistentvolumeclaims") => {
            default(child(object, "spec"), "volumeMode", json!("Filesystem"))
        }
        ("", "pods") => {
            pod_spec(child(object, "spec"));
            let spec = child(object, "spec");
            default(spec, "enableServiceLinks", json!(true));
            default(spec, "priority", json!(0));
        }
        ("", "namespaces") => {
            let name = meta::name(object).to_string();
            let labels = meta::metadata_mut(object)
                .entry("labels")
                .or_insert_with(|| json!({}));
            meta::as_map(labels).insert("kubernetes.io/metadata.name".into(), Value::String(name));
            default(child(object, "spec"), "finalizers", json!(["kubernetes"]));
        }
        ("apps", "statefulsets") => statefulset(object),
        ("storage.k8s.io", "storageclasses") => {
            let map = meta::as_map(object);
            default(map, "reclaimPolicy", json!("Delete"));
            default(map, "volumeBindingMode", json!("Immediate"));
        }
        ("storage.k8s.io", "csidrivers") => {
            let spec = child(object, "spec");
            default(spec, "attachRequired", json!(true));
            default(spec, "podInfoOnMount", json!(false));
            default(spec, "storageCapacity", json!(false));
            default(spec, "requiresRepublish", json!(false));
            default(spec, "seLinuxMount", json!(false));
            default(spec, "fsGroupPolicy", json!("ReadWriteOnceWithFSType"));
            default(spec, "volumeLifecycleModes", json!(["Persistent"]));
        }
        ("admissionregistration.k8s.io", _) => {
            webhooks(object, rt.resource == "mutatingwebhookconfigurations")
        }
        _ => {}
    }
}

fn statefulset(object: &mut Value) {
    let spec = child(object, "spec");
    default(spec, "replicas", json!(1));
    default(spec, "podManagementPolicy", json!("OrderedReady"));
    default(spec, "revisionHistoryLimit", json!(10));
    default(spec, "updateStrategy", json!({"type": "RollingUpdate"}));
    if let Some(us) = spec
        .get_mut("updateStrategy")
        .and_then(Value::as_object_mut)
        && us.get("type").and_then(Value::as_str) == Some("RollingUpdate")
    {
        let ru = meta::as_map(us.entry("rollingUpdate").or_insert_with(|| json!({})));
        default(ru, "partition", json!(0));
    }
    default(spec, "persistentVolumeClaimRetentionPolicy", json!({}));
    if let Some(p) = spec
        .get_mut("persistentVolumeClaimRetentionPolicy")
        .and_then(Value::as_object_mut)
    {
        default(p, "whenDeleted", json!("Retain"));
        default(p, "whenScaled", json!("Retain"));
    }
    if let Some(templates) = spec
        .get_mut("volumeClaimTemplates")
        .and_then(Value::as_array_mut)
    {
        for t in templates {
            let map = meta::as_map(t);
            default(map, "apiVersion", json!("v1"));
            default(map, "kind", json!("PersistentVolumeClaim"));
            default(child_map(map, "spec"), "volumeMode", json!("Filesystem"));
        }
    }
    let template = child_map(spec, "template");
    pod_spec(child_map(template, "spec"));
}

/// Pod spec defaults shared by pods and pod templates.
fn pod_spec(spec: &mut Map<String, Value>) {
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "securityContext", json!({}));
    for list in ["containers", "initContainers"] {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in containers {
                container(meta::as_map(c));
            }
        }
    }
    if let Some(volumes) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in volumes {
            let v = meta::as_map(v);
            if let Some(hp) = v.get_mut("hostPath").and_then(Value::as_object_mut) {
                default(hp, "type", json!(""));
            }
            for source in ["configMap", "secret"] {
                if let Some(s) = v.get_mut(source).and_then(Value::as_object_mut) {
                    default(s, "defaultMode", json!(420));
                }
            }
        }
    }
}

fn container(c: &mut Map<String, Value>) {
    default(c, "terminationMessagePath", json!("/dev/termination-log"));
    default(c, "terminationMessagePolicy", json!("File"));
    default(c, "resources", json!({}));
    let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
    let policy = if image_tag(image).is_none_or(|t| t == "latest") {
        "Always"
    } else {
        "IfNotPresent"
    };
    default(c, "imagePullPolicy", json!(policy));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            default(meta::as_map(p), "protocol", json!("TCP"));
        }
    }
}

/// The tag of an image reference (`None` when untagged; digests count as tags).
fn image_tag(image: &str) -> Option<&str> {
    if let Some((_, digest)) = image.split_once('@') {
        return Some(digest);
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, tag)| tag)
}

fn webhooks(object: &mut Value, mutating: bool) {
    let Some(hooks) = object.get_mut("webhooks").and_then(Value::as_array_mut) else {
        return;
    };
    for h in hooks {
        let h = meta::as_map(h);
        default(h, "failurePolicy", json!("Fail"));
        default(h, "matchPolicy", json!("Equivalent"));
        default(h, "namespaceSelector", json!({}));
        default(h, "objectSelector", json!({}));
        default(h, "timeoutSeconds", json!(10));
        if mutating {
            default(h, "reinvocationPolicy", json!("Never"));
        }
        if let Some(svc) = h
            .get_mut("clientConfig")
            .and_then(|c| c.get_mut("service"))
            .and_then(Value::as_object_mut)
        {
            default(svc, "port", json!(443));
        }
        if let Some(rules) = h.get_mut("rules").and_then(Value::as_array_mut) {
            for r in rules {
                default(meta::as_map(r), "scope", json!("*"));
            }
        }
    }
}

fn default(map: &mut Map<String, Value>, key: &str, value: Value) {
    map.entry(key).or_insert(value);
}

/// A child object of the top-level object, created when missing.
fn child<'a>(object: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    child_map(meta::as_map(object), key)
}

fn child_map<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    meta::as_map(map.entry(key).or_insert_with(|| json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    fn defaulted(resource: &str, group: &str, object: Value) -> Value {
        let rt = catalog::find_by_group_resource(group, resource).unwrap();
        let mut o = object;
        apply(rt, &mut o);
        o
    }

    #[test]
    fn storage_class_defaults() {
        let sc = defaulted(
            "storageclasses",
            "storage.k8s.io",
            json!({"provisioner": "x"}),
        );
        assert_eq!(sc["reclaimPolicy"], "Delete");
        assert_eq!(sc["volumeBindingMode"], "Immediate");
    }

    #[test]
    fn pv_and_pvc_defaults() {
        let pv = defaulted(
            "persistentvolumes",
            "",
            json!({"spec": {"hostPath": {"path": "/x"}}}),
        );
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pv["spec"]["hostPath"]["type"], "");
        let pvc = defaulted("persistentvolumeclaims", "", json!({"spec": {}}));
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
    }

    #[test]
    fn statefulset_defaults() {
        let sts = defaulted(
            "statefulsets",
            "apps",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}},
                            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]}}),
        );
        assert_eq!(sts["spec"]["replicas"], 1);
        assert_eq!(
            sts["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(
            sts["spec"]["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(
            sts["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"],
            "Filesystem"
        );
        let c = &sts["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(
            sts["spec"]["template"]["spec"]["schedulerName"],
            "default-scheduler"
        );
    }

    #[test]
    fn namespace_gets_name_label_and_finalizer() {
        let ns = defaulted("namespaces", "", json!({"metadata": {"name": "a"}}));
        assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "a");
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    }
}
