//! The class-dependent part of claim sync: binding mode, waiting for the first consumer, and the hand-off to an
//! external provisioner (binder-spec 1.6, 3.1-3.3).
use k8s_openapi::api::core::v1::PersistentVolumeClaim;

use super::{SyncOptions, claim_event};
use crate::binder::actions::{Action, Error, EventType, FailureEvent, Reason, Write, WritePurpose};
use crate::binder::binding::{annotation, set_annotation};
use crate::binder::world::{World, is_pod_scheduled, is_pod_terminated};
use crate::k8s::annotations::{BETA_STORAGE_PROVISIONER, STORAGE_PROVISIONER};
use crate::k8s::class::claim_class;

const WAIT_FOR_FIRST_CONSUMER: &str = "WaitForFirstConsumer";
// Upstream treats every `kubernetes.io/` provisioner as in-tree; Berth has no in-tree plugins, so they all fail.
const IN_TREE_PREFIX: &str = "kubernetes.io/";

/// upstream `IsDelayBindingMode`: no class or an unknown class means Immediate; a class without a binding mode
/// is an error (every sync of its claims fails until it is fixed).
pub(super) fn delay_binding(
    claim: &PersistentVolumeClaim,
    world: &impl World,
) -> Result<bool, Error> {
    let name = claim_class(claim);
    let class = match name {
        "" => None,
        name => world.storage_class(name),
    };
    match class.map(|class| class.volume_binding_mode.as_deref()) {
        None => Ok(false),
        Some(None) => Err(Error::ReadBindingMode {
            class: name.to_string(),
        }),
        Some(Some(mode)) => Ok(mode == WAIT_FOR_FIRST_CONSUMER),
    }
}

/// The informative event for a WaitForFirstConsumer claim the scheduler has not placed yet: which unscheduled
/// pods use it, if any. Upstream lists the pods in index order; Berth sorts them by name to be deterministic.
pub(super) fn wait_for_consumer_event(claim: &PersistentVolumeClaim, world: &impl World) -> Action {
    let namespace = claim.metadata.namespace.as_deref().unwrap_or("");
    let name = claim.metadata.name.as_deref().unwrap_or("");
    let mut pods: Vec<&str> = world
        .pods_using_claim(namespace, name)
        .filter(|pod| !is_pod_terminated(pod) && !is_pod_scheduled(pod))
        .filter_map(|pod| pod.metadata.name.as_deref())
        .collect();
    pods.sort_unstable();
    let (reason, message) = match pods.as_slice() {
        [] => (
            Reason::WaitForFirstConsumer,
            "waiting for first consumer to be created before binding".to_string(),
        ),
        [pod] => (
            Reason::WaitForPodScheduled,
            format!("waiting for pod {pod} to be scheduled"),
        ),
        pods => (
            Reason::WaitForPodScheduled,
            format!("waiting for pods {} to be scheduled", pods.join(",")),
        ),
    };
    claim_event(claim, EventType::Normal, reason, message)
}

/// Who provisions the claim's class.
enum Provisioner<'a> {
    /// The class does not exist.
    ClassNotFound(&'a str),
    /// A `kubernetes.io/` provisioner: upstream would need an in-tree plugin, which Berth does not have.
    InTree(&'a str),
    /// Anyone else, Berth's own agent included.
    External(&'a str),
}

fn provisioner_of<'a>(claim: &'a PersistentVolumeClaim, world: &'a impl World) -> Provisioner<'a> {
    let class_name = claim_class(claim);
    match world
        .storage_class(class_name)
        .map(|class| class.provisioner.as_str())
    {
        None => Provisioner::ClassNotFound(class_name),
        Some(provisioner) if provisioner.starts_with(IN_TREE_PREFIX) => {
            Provisioner::InTree(provisioner)
        }
        Some(provisioner) => Provisioner::External(provisioner),
    }
}

/// upstream `provisionClaim` + `provisionClaimOperationExternal`: annotate the claim for its provisioner (once)
/// and say so in an event (on every sync while the claim is unbound). Failures are Warning `ProvisioningFailed`
/// events, repeated every sync; the claim stays Pending.
pub(super) fn provision(
    claim: &PersistentVolumeClaim,
    world: &impl World,
    options: &SyncOptions,
) -> Vec<Action> {
    if !options.enable_dynamic_provisioning {
        return Vec::new();
    }
    match provisioner_of(claim, world) {
        Provisioner::ClassNotFound(class) => vec![claim_event(
            claim,
            EventType::Warning,
            Reason::ProvisioningFailed,
            format!("storageclass.storage.k8s.io \"{class}\" not found"),
        )],
        Provisioner::InTree(provisioner) => vec![claim_event(
            claim,
            EventType::Warning,
            Reason::ProvisioningFailed,
            format!("no volume plugin matched name: {provisioner}"),
        )],
        Provisioner::External(provisioner) => {
            let mut actions: Vec<Action> =
                set_provisioner(claim, provisioner).into_iter().collect();
            actions.push(claim_event(
                claim,
                EventType::Normal,
                Reason::ExternalProvisioning,
                format!(
                    "Waiting for a volume to be created either by the external provisioner '{provisioner}' or \
                     manually by the system administrator. If volume creation is delayed, please verify that the \
                     provisioner is running and correctly registered."
                ),
            ));
            actions
        }
    }
}

/// upstream `setClaimProvisioner`: only the GA key decides whether to write, but both keys are written. The keys
/// are never removed afterwards, even if the claim binds a static PV.
fn set_provisioner(claim: &PersistentVolumeClaim, provisioner: &str) -> Option<Action> {
    if annotation(&claim.metadata, STORAGE_PROVISIONER) == Some(provisioner) {
        return None;
    }
    let mut updated = claim.clone();
    set_annotation(&mut updated.metadata, BETA_STORAGE_PROVISIONER, provisioner);
    set_annotation(&mut updated.metadata, STORAGE_PROVISIONER, provisioner);
    let mut write = Write::new(updated, WritePurpose::SetProvisioner);
    write.on_failure = Some(FailureEvent {
        event_type: EventType::Warning,
        reason: Reason::ProvisioningFailed,
        message_prefix: "Error saving claim: ",
    });
    Some(Action::UpdateClaim(write))
}
