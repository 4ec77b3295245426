//! Per-kind list semantics (merge keys, sets, atomic lists) and reset fields, from the Go type tags of v1.33.
//!
//! Paths here are the field names from the object root with list items stepped over, e.g. a Pod container's
//! ports are `["spec", "containers", "ports"]`.

use serde_json::{Value, json};

/// How a list merges in strategic merge patch and server-side apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListType {
    /// Replaced as a whole (no patch strategy / `listType=atomic`).
    Atomic,
    /// Primitive list merged as a set (`patchStrategy=merge` on scalars / `listType=set`).
    Set,
    /// List of objects keyed by these fields (`listType=map`). Strategic merge uses the first key only
    /// (`patchMergeKey`); apply uses all of them.
    Map(&'static [&'static str]),
}

impl ListType {
    /// The strategic-merge-patch merge key, if the list merges at all.
    pub(crate) fn merge_key(self) -> Option<&'static str> {
        match self {
            ListType::Map(keys) => keys.first().copied(),
            ListType::Atomic | ListType::Set => None,
        }
    }
}

/// Kinds whose schemas are built into the API server (strategic merge patch knows their tags).
const BUILTIN_KINDS: &[&str] = &[
    "Pod",
    "PodTemplate",
    "Node",
    "Namespace",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "ConfigMap",
    "Secret",
    "Service",
    "ServiceAccount",
    "Endpoints",
    "Event",
    "ReplicationController",
    "StatefulSet",
    "Deployment",
    "ReplicaSet",
    "DaemonSet",
    "ControllerRevision",
    "Job",
    "CronJob",
    "StorageClass",
    "CSINode",
    "CSIDriver",
    "CSIStorageCapacity",
    "VolumeAttachment",
    "Lease",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "PriorityClass",
];

/// Kinds served with a `/status` subresource (their status is reset on main-resource writes).
const STATUS_KINDS: &[&str] = &[
    "Pod",
    "Node",
    "Namespace",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Service",
    "ReplicationController",
    "StatefulSet",
    "Deployment",
    "ReplicaSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "VolumeAttachment",
];

/// Object fields that hold free-form maps (not structs); upstream marks them with "." when they appear.
const MAP_FIELDS: &[&str] = &[
    "labels",
    "annotations",
    "data",
    "binaryData",
    "stringData",
    "nodeSelector",
    "matchLabels",
    "requests",
    "limits",
    "capacity",
    "allocatable",
    "allocatedResources",
    "parameters",
    "volumeAttributes",
    "overhead",
];

pub(crate) fn is_builtin(kind: &str) -> bool {
    BUILTIN_KINDS.contains(&kind)
}

pub(crate) fn has_status_subresource(kind: &str) -> bool {
    STATUS_KINDS.contains(&kind)
}

pub(crate) fn is_map_field(name: &str) -> bool {
    MAP_FIELDS.contains(&name)
}

/// Default value of a list-map key field that may be omitted (`protocol` of ports defaults to TCP).
pub(crate) fn key_default(field: &str) -> Option<Value> {
    match field {
        "protocol" => Some(json!("TCP")),
        _ => None,
    }
}

/// List semantics of the list at `path` in an object of `kind`.
pub(crate) fn list_type(kind: &str, path: &[&str]) -> ListType {
    // ObjectMeta is shared by every kind, including custom resources and pod templates.
    match path {
        [.., "metadata", "finalizers"] => return ListType::Set,
        [.., "metadata", "ownerReferences"] => return ListType::Map(&["uid"]),
        _ => {}
    }
    if !is_builtin(kind) {
        return ListType::Atomic;
    }
    if let Some(rest) = pod_spec_suffix(kind, path) {
        return pod_spec_list(rest);
    }
    match (kind, path) {
        (_, ["status", "conditions"]) => ListType::Map(&["type"]),
        ("Node", ["spec", "podCIDRs"]) => ListType::Set,
        ("Node", ["status", "addresses"]) => ListType::Map(&["type"]),
        ("Pod", ["status", "podIPs" | "hostIPs"]) => ListType::Map(&["ip"]),
        ("Pod", ["status", "resourceClaimStatuses"]) => ListType::Map(&["name"]),
        ("Service", ["spec", "ports"]) => ListType::Map(&["port", "protocol"]),
        ("MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration", ["webhooks"]) => {
            ListType::Map(&["name"])
        }
        ("CSINode", ["spec", "drivers"]) => ListType::Map(&["name"]),
        _ => ListType::Atomic,
    }
}

/// Structs that server-side apply treats as one value (`+structType=atomic`): label selectors and object refs.
pub(crate) fn is_atomic_struct(kind: &str, path: &[&str]) -> bool {
    matches!(
        (kind, path),
        (
            "StatefulSet"
                | "Deployment"
                | "ReplicaSet"
                | "DaemonSet"
                | "Job"
                | "PersistentVolumeClaim",
            ["spec", "selector"]
        ) | ("PersistentVolume", ["spec", "claimRef"])
            | ("Event", ["involvedObject" | "related"])
    )
}

/// Paths never owned by anyone (server-managed identity fields and the envelope).
pub(crate) fn is_stripped(path: &[&str]) -> bool {
    matches!(
        path,
        ["apiVersion"]
            | ["kind"]
            | ["metadata"]
            | [
                "metadata",
                "name"
                    | "namespace"
                    | "creationTimestamp"
                    | "selfLink"
                    | "uid"
                    | "generation"
                    | "managedFields"
                    | "resourceVersion"
            ]
    )
}

/// Top-level fields reset by the strategy of a write to `subresource` ("" = main resource): writes there never
/// change them, so nobody gains ownership of them.
pub(crate) fn is_reset(kind: &str, subresource: &str, path: &[&str]) -> bool {
    match subresource {
        "" => has_status_subresource(kind) && path.first() == Some(&"status"),
        "status" => matches!(
            (kind, path),
            (_, ["spec", ..])
                | (
                    "Pod",
                    ["metadata", "ownerReferences" | "deletionTimestamp", ..]
                )
        ),
        _ => false,
    }
}

/// For kinds embedding a pod spec, the part of `path` below the pod spec.
fn pod_spec_suffix<'p, 's>(kind: &str, path: &'p [&'s str]) -> Option<&'p [&'s str]> {
    let prefix: &[&str] = match kind {
        "Pod" => &["spec"],
        "PodTemplate" => &["template", "spec"],
        "StatefulSet"
        | "Deployment"
        | "ReplicaSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => &["spec", "template", "spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => return None,
    };
    path.strip_prefix(prefix)
}

fn pod_spec_list(rest: &[&str]) -> ListType {
    const CONTAINERS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];
    match rest {
        [c] if CONTAINERS.contains(c) => ListType::Map(&["name"]),
        [c, "ports"] if CONTAINERS.contains(c) => ListType::Map(&["containerPort", "protocol"]),
        [c, "env"] if CONTAINERS.contains(c) => ListType::Map(&["name"]),
        [c, "volumeMounts"] if CONTAINERS.contains(c) => ListType::Map(&["mountPath"]),
        [c, "volumeDevices"] if CONTAINERS.contains(c) => ListType::Map(&["devicePath"]),
        [c, "resources", "claims"] if CONTAINERS.contains(c) => ListType::Map(&["name"]),
        ["volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates"] => {
            ListType::Map(&["name"])
        }
        ["hostAliases"] => ListType::Map(&["ip"]),
        ["topologySpreadConstraints"] => ListType::Map(&["topologyKey", "whenUnsatisfiable"]),
        _ => ListType::Atomic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_types_follow_the_go_tags() {
        let cases: &[(&str, &[&str], ListType)] = &[
            ("Pod", &["metadata", "finalizers"], ListType::Set),
            ("Widget", &["metadata", "finalizers"], ListType::Set),
            (
                "Pod",
                &["metadata", "ownerReferences"],
                ListType::Map(&["uid"]),
            ),
            ("Pod", &["spec", "containers"], ListType::Map(&["name"])),
            (
                "StatefulSet",
                &["spec", "template", "spec", "containers", "ports"],
                ListType::Map(&["containerPort", "protocol"]),
            ),
            (
                "StatefulSet",
                &["spec", "volumeClaimTemplates"],
                ListType::Atomic,
            ),
            ("Pod", &["spec", "tolerations"], ListType::Atomic),
            (
                "Pod",
                &["spec", "containers", "volumeMounts"],
                ListType::Map(&["mountPath"]),
            ),
            (
                "PersistentVolumeClaim",
                &["spec", "accessModes"],
                ListType::Atomic,
            ),
            (
                "PersistentVolumeClaim",
                &["status", "conditions"],
                ListType::Map(&["type"]),
            ),
            ("Node", &["status", "addresses"], ListType::Map(&["type"])),
            ("Widget", &["status", "conditions"], ListType::Atomic),
            (
                "CronJob",
                &["spec", "jobTemplate", "spec", "template", "spec", "volumes"],
                ListType::Map(&["name"]),
            ),
        ];
        for (kind, path, want) in cases {
            assert_eq!(list_type(kind, path), *want, "{kind} {path:?}");
        }
    }

    #[test]
    fn reset_fields_depend_on_subresource() {
        assert!(is_reset("PersistentVolumeClaim", "", &["status", "phase"]));
        assert!(!is_reset("ConfigMap", "", &["status"]));
        assert!(is_reset(
            "PersistentVolumeClaim",
            "status",
            &["spec", "volumeName"]
        ));
        assert!(!is_reset(
            "PersistentVolumeClaim",
            "status",
            &["metadata", "labels"]
        ));
        assert!(is_reset("Pod", "status", &["metadata", "ownerReferences"]));
    }
}
