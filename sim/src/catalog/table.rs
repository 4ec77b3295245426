//! The declarative table of served resource types (a table, so longer lines of data are fine here).

use super::{ResourceType, Subresource, View};

const POD_FIELDS: &[&str] = &[
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];

const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

// events.k8s.io accepts the same selectors under their new-API names as well.
const EVENT_V1_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reason",
    "reportingComponent",
    "reportingController",
    "source",
    "type",
];

const fn plain(
    group: &'static str,
    resource: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> ResourceType {
    ResourceType {
        group,
        version: "v1",
        resource,
        singular,
        kind,
        namespaced,
        short_names: &[],
        categories: &[],
        subresources: &[],
        field_selectors: &[],
        delete_returns_object: false,
        allow_unconditional_update: true,
        allow_create_on_update: false,
        tracks_generation: false,
        storage: resource,
        view: View::Plain,
    }
}

/// Every served resource type.
pub static ALL: [ResourceType; 16] = [
    ResourceType {
        short_names: &["pv"],
        subresources: &[Subresource::Status],
        field_selectors: &["name"],
        delete_returns_object: true,
        ..plain(
            "",
            "persistentvolumes",
            "persistentvolume",
            "PersistentVolume",
            false,
        )
    },
    ResourceType {
        short_names: &["pvc"],
        subresources: &[Subresource::Status],
        field_selectors: &["name"],
        delete_returns_object: true,
        ..plain(
            "",
            "persistentvolumeclaims",
            "persistentvolumeclaim",
            "PersistentVolumeClaim",
            true,
        )
    },
    ResourceType {
        short_names: &["po"],
        categories: &["all"],
        subresources: &[Subresource::Status, Subresource::Binding],
        field_selectors: POD_FIELDS,
        delete_returns_object: true,
        ..plain("", "pods", "pod", "Pod", true)
    },
    ResourceType {
        short_names: &["no"],
        subresources: &[Subresource::Status],
        field_selectors: &["spec.unschedulable"],
        ..plain("", "nodes", "node", "Node", false)
    },
    ResourceType {
        short_names: &["ns"],
        subresources: &[Subresource::Status, Subresource::Finalize],
        field_selectors: &["status.phase", "name"],
        delete_returns_object: true,
        ..plain("", "namespaces", "namespace", "Namespace", false)
    },
    ResourceType {
        short_names: &["ev"],
        field_selectors: EVENT_FIELDS,
        allow_create_on_update: true,
        ..plain("", "events", "event", "Event", true)
    },
    ResourceType {
        short_names: &["cm"],
        ..plain("", "configmaps", "configmap", "ConfigMap", true)
    },
    ResourceType {
        short_names: &["sts"],
        categories: &["all"],
        subresources: &[Subresource::Status, Subresource::Scale],
        tracks_generation: true,
        ..plain("apps", "statefulsets", "statefulset", "StatefulSet", true)
    },
    plain(
        "apps",
        "controllerrevisions",
        "controllerrevision",
        "ControllerRevision",
        true,
    ),
    ResourceType {
        short_names: &["sc"],
        ..plain(
            "storage.k8s.io",
            "storageclasses",
            "storageclass",
            "StorageClass",
            false,
        )
    },
    plain(
        "storage.k8s.io",
        "csidrivers",
        "csidriver",
        "CSIDriver",
        false,
    ),
    plain(
        "storage.k8s.io",
        "csistoragecapacities",
        "csistoragecapacity",
        "CSIStorageCapacity",
        true,
    ),
    ResourceType {
        allow_unconditional_update: false,
        allow_create_on_update: true,
        ..plain("coordination.k8s.io", "leases", "lease", "Lease", true)
    },
    ResourceType {
        short_names: &["ev"],
        field_selectors: EVENT_V1_FIELDS,
        storage: "events",
        view: View::EventsV1,
        ..plain("events.k8s.io", "events", "event", "Event", true)
    },
    ResourceType {
        tracks_generation: true,
        ..plain(
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            "mutatingwebhookconfiguration",
            "MutatingWebhookConfiguration",
            false,
        )
    },
    ResourceType {
        tracks_generation: true,
        ..plain(
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            "validatingwebhookconfiguration",
            "ValidatingWebhookConfiguration",
            false,
        )
    },
];
