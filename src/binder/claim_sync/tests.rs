//! Claim sync decisions: one named test per transition of binder-spec 2.9 (claim table) and per branch of 2.2,
//! 2.3, 3 and 5.3, each asserting the exact action list.
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;

use super::*;
use crate::binder::fixtures::{ClaimBuilder, PvBuilder, claim, pv};
use crate::binder::test_support::world;

mod bound;
mod provisioning;
mod unbound;

/// Options with the explanation off, so expected events carry no matcher-dependent detail.
const QUIET: SyncOptions = SyncOptions {
    enable_dynamic_provisioning: true,
    retroactive_default_class: true,
    explain_pending: false,
};

fn decide(
    claim: &PersistentVolumeClaim,
    volumes: &[PersistentVolume],
    classes: &[StorageClass],
) -> Vec<Action> {
    decide_with(claim, volumes, classes, &QUIET)
}

fn decide_with(
    claim: &PersistentVolumeClaim,
    volumes: &[PersistentVolume],
    classes: &[StorageClass],
    options: &SyncOptions,
) -> Vec<Action> {
    sync_claim(
        claim,
        &world(volumes, std::slice::from_ref(claim), classes),
        options,
    )
}

/// An unbound claim "ns/c" asking for 1Gi RWO.
fn new_claim() -> ClaimBuilder {
    claim("ns", "c")
        .uid("uid-c")
        .request("1Gi")
        .modes(&["ReadWriteOnce"])
        .phase("Pending")
}

/// An Available 5Gi RWO PV without class.
fn free_pv(name: &str) -> PvBuilder {
    pv(name)
        .capacity("5Gi")
        .modes(&["ReadWriteOnce"])
        .phase("Available")
}
