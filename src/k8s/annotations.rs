//! Well-known annotation, label and finalizer keys, spelled exactly as upstream Kubernetes spells them.

/// On a claim: the claim has been bound at least once; decides between the unbound and bound claim sync.
pub const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// On a PV or a claim: this half of the binding was written by the binder, not pre-bound by a user.
pub const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// On a PV: the name of the provisioner that created it.
pub const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
/// On a PV: the volume was migrated to a CSI driver; the binder leaves its deletion alone.
pub const MIGRATED_TO: &str = "pv.kubernetes.io/migrated-to";
/// On a claim: the provisioner expected to provision it.
pub const STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
/// On a claim: the deprecated twin of [`STORAGE_PROVISIONER`], still written for old provisioners.
pub const BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
/// On a claim: the node the scheduler picked for a WaitForFirstConsumer claim.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// On a PV or claim: the deprecated class annotation; when present it overrides `spec.storageClassName`.
pub const BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";
/// On a PV: the capacity before an expansion started; the claim reports it until the resize finishes.
pub const PRE_RESIZE_CAPACITY: &str = "volume.alpha.kubernetes.io/pre-resize-capacity";
/// On a StorageClass: marks the cluster default class (value exactly "true").
pub const IS_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
/// On a StorageClass: the deprecated twin of [`IS_DEFAULT_CLASS`].
pub const BETA_IS_DEFAULT_CLASS: &str = "storageclass.beta.kubernetes.io/is-default-class";

/// Finalizer on claims, removed by the PVC protection controller once no scheduled pod uses the claim.
pub const PVC_PROTECTION_FINALIZER: &str = "kubernetes.io/pvc-protection";
/// Finalizer on PVs, removed by the PV protection controller once the PV is not Bound.
pub const PV_PROTECTION_FINALIZER: &str = "kubernetes.io/pv-protection";
/// Finalizer a provisioner puts on the PVs it creates, so deleting the PV object waits for the backing volume.
pub const PROVISIONER_DELETION_FINALIZER: &str =
    "external-provisioner.volume.kubernetes.io/finalizer";

/// Value the binder writes into [`BIND_COMPLETED`] and [`BOUND_BY_CONTROLLER`].
pub const YES: &str = "yes";
