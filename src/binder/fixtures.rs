//! Test builders for PVs, claims, StorageClasses and pods, shared by every binder test module.
//!
//! `pv("pv-1").capacity("5Gi").modes(&["ReadWriteOnce"]).class("fast").phase("Available").build()`,
//! `claim("ns", "c").uid("u").request("1Gi").modes(&["ReadWriteOnce"]).class("fast").build()`,
//! `storage_class("fast", "berth.dev/hostpath").immediate().build()`, `pod("ns", "p").uses("c").build()`.
//! Every object gets resourceVersion "1" unless told otherwise, so write-then-resync tests can bump it.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    CSIPersistentVolumeSource, ContainerState, ContainerStateTerminated, ContainerStatus,
    EphemeralVolumeSource, ObjectReference, PersistentVolume, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimStatus, PersistentVolumeClaimVolumeSource,
    PersistentVolumeSpec, PersistentVolumeStatus, Pod, PodSpec, PodStatus, Volume,
    VolumeResourceRequirements,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};

use crate::k8s::annotations;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

fn storage(quantity: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([("storage".to_string(), Quantity(quantity.to_string()))])
}

fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: namespace.map(str::to_string),
        name: Some(name.to_string()),
        resource_version: Some("1".to_string()),
        ..ObjectMeta::default()
    }
}

fn annotate(meta: &mut ObjectMeta, key: &str, value: &str) {
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_string(), value.to_string());
}

fn deletion_time() -> Option<Time> {
    k8s_openapi::jiff::Timestamp::from_second(1_700_000_000)
        .map(Time)
        .ok()
}

/// Starts a PV builder: no capacity, no modes, no class, no phase, reclaim policy Retain.
pub fn pv(name: &str) -> PvBuilder {
    PvBuilder(PersistentVolume {
        metadata: meta(None, name),
        spec: Some(PersistentVolumeSpec {
            persistent_volume_reclaim_policy: Some("Retain".to_string()),
            ..PersistentVolumeSpec::default()
        }),
        status: None,
    })
}

/// Fluent PV builder; `build()` returns the object.
#[derive(Debug, Clone)]
pub struct PvBuilder(PersistentVolume);

impl PvBuilder {
    fn spec(&mut self) -> &mut PersistentVolumeSpec {
        self.0
            .spec
            .get_or_insert_with(PersistentVolumeSpec::default)
    }

    pub fn capacity(mut self, quantity: &str) -> Self {
        self.spec().capacity = Some(storage(quantity));
        self
    }

    /// Removes `spec.capacity` entirely.
    pub fn no_capacity(mut self) -> Self {
        self.spec().capacity = None;
        self
    }

    pub fn modes(mut self, modes: &[&str]) -> Self {
        self.spec().access_modes = Some(strings(modes));
        self
    }

    pub fn class(mut self, class: &str) -> Self {
        self.spec().storage_class_name = Some(class.to_string());
        self
    }

    pub fn phase(mut self, phase: &str) -> Self {
        self.0
            .status
            .get_or_insert_with(PersistentVolumeStatus::default)
            .phase = Some(phase.to_string());
        self
    }

    pub fn message(mut self, message: &str) -> Self {
        self.0
            .status
            .get_or_insert_with(PersistentVolumeStatus::default)
            .message = Some(message.to_string());
        self
    }

    /// A claimRef as users write it: namespace, name and optionally uid, nothing else.
    pub fn claim_ref(mut self, namespace: &str, name: &str, uid: Option<&str>) -> Self {
        self.spec().claim_ref = Some(ObjectReference {
            namespace: Some(namespace.to_string()),
            name: Some(name.to_string()),
            uid: uid.map(str::to_string),
            ..ObjectReference::default()
        });
        self
    }

    /// A claimRef exactly as the binder writes it for `claim` (full object reference).
    pub fn bound_to(mut self, claim: &PersistentVolumeClaim) -> Self {
        self.spec().claim_ref = Some(ObjectReference {
            api_version: Some("v1".to_string()),
            kind: Some("PersistentVolumeClaim".to_string()),
            namespace: claim.metadata.namespace.clone(),
            name: claim.metadata.name.clone(),
            uid: claim.metadata.uid.clone(),
            resource_version: claim.metadata.resource_version.clone(),
            field_path: None,
        });
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        annotate(&mut self.0.metadata, key, value);
        self
    }

    pub fn bound_by_controller(self) -> Self {
        self.annotation(annotations::BOUND_BY_CONTROLLER, annotations::YES)
    }

    pub fn provisioned_by(self, provisioner: &str) -> Self {
        self.annotation(annotations::PROVISIONED_BY, provisioner)
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_string(), value.to_string());
        self
    }

    /// `Retain`, `Delete`, `Recycle` or anything else; `reclaim_unset()` removes it.
    pub fn reclaim(mut self, policy: &str) -> Self {
        self.spec().persistent_volume_reclaim_policy = Some(policy.to_string());
        self
    }

    pub fn reclaim_unset(mut self) -> Self {
        self.spec().persistent_volume_reclaim_policy = None;
        self
    }

    pub fn volume_mode(mut self, mode: &str) -> Self {
        self.spec().volume_mode = Some(mode.to_string());
        self
    }

    pub fn csi(mut self, driver: &str) -> Self {
        self.spec().csi = Some(CSIPersistentVolumeSource {
            driver: driver.to_string(),
            volume_handle: "handle".to_string(),
            ..CSIPersistentVolumeSource::default()
        });
        self
    }

    pub fn uid(mut self, uid: &str) -> Self {
        self.0.metadata.uid = Some(uid.to_string());
        self
    }

    pub fn resource_version(mut self, version: &str) -> Self {
        self.0.metadata.resource_version = Some(version.to_string());
        self
    }

    pub fn deleting(mut self) -> Self {
        self.0.metadata.deletion_timestamp = deletion_time();
        self
    }

    pub fn build(self) -> PersistentVolume {
        self.0
    }
}

/// Starts a claim builder: no uid, no request, no modes, nil class, no status.
pub fn claim(namespace: &str, name: &str) -> ClaimBuilder {
    ClaimBuilder(PersistentVolumeClaim {
        metadata: meta(Some(namespace), name),
        spec: Some(PersistentVolumeClaimSpec::default()),
        status: None,
    })
}

/// Fluent claim builder; `build()` returns the object.
#[derive(Debug, Clone)]
pub struct ClaimBuilder(PersistentVolumeClaim);

impl ClaimBuilder {
    fn spec(&mut self) -> &mut PersistentVolumeClaimSpec {
        self.0
            .spec
            .get_or_insert_with(PersistentVolumeClaimSpec::default)
    }

    fn status(&mut self) -> &mut PersistentVolumeClaimStatus {
        self.0
            .status
            .get_or_insert_with(PersistentVolumeClaimStatus::default)
    }

    pub fn uid(mut self, uid: &str) -> Self {
        self.0.metadata.uid = Some(uid.to_string());
        self
    }

    pub fn request(mut self, quantity: &str) -> Self {
        self.spec().resources = Some(VolumeResourceRequirements {
            requests: Some(storage(quantity)),
            ..VolumeResourceRequirements::default()
        });
        self
    }

    pub fn modes(mut self, modes: &[&str]) -> Self {
        self.spec().access_modes = Some(strings(modes));
        self
    }

    /// Sets `spec.storageClassName` (use `class("")` for an explicit empty class).
    pub fn class(mut self, class: &str) -> Self {
        self.spec().storage_class_name = Some(class.to_string());
        self
    }

    pub fn beta_class(self, class: &str) -> Self {
        self.annotation(annotations::BETA_STORAGE_CLASS, class)
    }

    pub fn selector(mut self, labels: &[(&str, &str)]) -> Self {
        self.spec().selector = Some(LabelSelector {
            match_labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                    .collect(),
            ),
            ..LabelSelector::default()
        });
        self
    }

    pub fn volume_name(mut self, name: &str) -> Self {
        self.spec().volume_name = Some(name.to_string());
        self
    }

    pub fn volume_mode(mut self, mode: &str) -> Self {
        self.spec().volume_mode = Some(mode.to_string());
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        annotate(&mut self.0.metadata, key, value);
        self
    }

    pub fn bind_completed(self) -> Self {
        self.annotation(annotations::BIND_COMPLETED, annotations::YES)
    }

    pub fn bound_by_controller(self) -> Self {
        self.annotation(annotations::BOUND_BY_CONTROLLER, annotations::YES)
    }

    pub fn selected_node(self, node: &str) -> Self {
        self.annotation(annotations::SELECTED_NODE, node)
    }

    pub fn phase(mut self, phase: &str) -> Self {
        self.status().phase = Some(phase.to_string());
        self
    }

    pub fn status_capacity(mut self, quantity: &str) -> Self {
        self.status().capacity = Some(storage(quantity));
        self
    }

    pub fn status_modes(mut self, modes: &[&str]) -> Self {
        self.status().access_modes = Some(strings(modes));
        self
    }

    pub fn resource_version(mut self, version: &str) -> Self {
        self.0.metadata.resource_version = Some(version.to_string());
        self
    }

    pub fn deleting(mut self) -> Self {
        self.0.metadata.deletion_timestamp = deletion_time();
        self.0.metadata.finalizers = Some(vec![annotations::PVC_PROTECTION_FINALIZER.to_string()]);
        self
    }

    pub fn build(self) -> PersistentVolumeClaim {
        self.0
    }
}

/// Starts a StorageClass builder with binding mode Immediate and reclaim policy Delete (the API defaults).
pub fn storage_class(name: &str, provisioner: &str) -> StorageClassBuilder {
    StorageClassBuilder(StorageClass {
        metadata: meta(None, name),
        provisioner: provisioner.to_string(),
        reclaim_policy: Some("Delete".to_string()),
        volume_binding_mode: Some("Immediate".to_string()),
        ..StorageClass::default()
    })
}

/// Fluent StorageClass builder; `build()` returns the object.
#[derive(Debug, Clone)]
pub struct StorageClassBuilder(StorageClass);

impl StorageClassBuilder {
    pub fn immediate(mut self) -> Self {
        self.0.volume_binding_mode = Some("Immediate".to_string());
        self
    }

    pub fn wait_for_first_consumer(mut self) -> Self {
        self.0.volume_binding_mode = Some("WaitForFirstConsumer".to_string());
        self
    }

    /// No `volumeBindingMode` at all (only possible when the API server does not default it).
    pub fn no_binding_mode(mut self) -> Self {
        self.0.volume_binding_mode = None;
        self
    }

    pub fn default_class(mut self) -> Self {
        annotate(&mut self.0.metadata, annotations::IS_DEFAULT_CLASS, "true");
        self
    }

    pub fn created_at(mut self, seconds: i64) -> Self {
        self.0.metadata.creation_timestamp = k8s_openapi::jiff::Timestamp::from_second(seconds)
            .map(Time)
            .ok();
        self
    }

    pub fn build(self) -> StorageClass {
        self.0
    }
}

/// Starts a pod builder: no volumes, unscheduled, phase Pending.
pub fn pod(namespace: &str, name: &str) -> PodBuilder {
    PodBuilder(Pod {
        metadata: meta(Some(namespace), name),
        spec: Some(PodSpec::default()),
        status: Some(PodStatus {
            phase: Some("Pending".to_string()),
            ..PodStatus::default()
        }),
    })
}

/// Fluent pod builder; `build()` returns the object.
#[derive(Debug, Clone)]
pub struct PodBuilder(Pod);

impl PodBuilder {
    fn volumes(&mut self) -> &mut Vec<Volume> {
        self.0
            .spec
            .get_or_insert_with(PodSpec::default)
            .volumes
            .get_or_insert_with(Vec::new)
    }

    /// Adds a `persistentVolumeClaim` volume naming `claim`.
    pub fn uses(mut self, claim: &str) -> Self {
        let index = self.volumes().len();
        self.volumes().push(Volume {
            name: format!("vol-{index}"),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.to_string(),
                read_only: None,
            }),
            ..Volume::default()
        });
        self
    }

    /// Adds a generic ephemeral volume; its claim is named `<pod>-<volume>`.
    pub fn ephemeral(mut self, volume: &str) -> Self {
        self.volumes().push(Volume {
            name: volume.to_string(),
            ephemeral: Some(EphemeralVolumeSource::default()),
            ..Volume::default()
        });
        self
    }

    pub fn node(mut self, node: &str) -> Self {
        self.0.spec.get_or_insert_with(PodSpec::default).node_name = Some(node.to_string());
        self
    }

    pub fn phase(mut self, phase: &str) -> Self {
        self.0.status.get_or_insert_with(PodStatus::default).phase = Some(phase.to_string());
        self
    }

    /// Marks the pod deleted with every container terminated.
    pub fn deleted_and_stopped(mut self) -> Self {
        self.0.metadata.deletion_timestamp = deletion_time();
        self.0
            .status
            .get_or_insert_with(PodStatus::default)
            .container_statuses = Some(vec![ContainerStatus {
            name: "main".to_string(),
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated::default()),
                ..ContainerState::default()
            }),
            ..ContainerStatus::default()
        }]);
        self
    }

    pub fn build(self) -> Pod {
        self.0
    }
}
