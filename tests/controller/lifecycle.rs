//! Claim and volume lifecycle after binding: delayed binding, the external provisioning hand-off, release and
//! reclaim, lost claims, re-created claims, retroactive default classes and missing classes.
use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};

use crate::common::*;
use crate::harness::Cluster;
use berth::k8s::annotations::{
    BETA_STORAGE_PROVISIONER, BIND_COMPLETED, BOUND_BY_CONTROLLER, IS_DEFAULT_CLASS,
    PROVISIONED_BY, SELECTED_NODE, STORAGE_PROVISIONER,
};

const PROVISIONER: &str = "example.com/external";

fn external_provisioning_message() -> String {
    format!(
        "Waiting for a volume to be created either by the external provisioner '{PROVISIONER}' or manually by \
         the system administrator. If volume creation is delayed, please verify that the provisioner is running \
         and correctly registered."
    )
}

/// `(type, reason, message)` of every event about the object named `name`, in any namespace (events about a
/// PV live in whichever namespace the recorder picked); the type matters for Warnings.
async fn typed_events(cluster: &Cluster, name: &str) -> Vec<(String, String, String)> {
    let api: Api<Event> = Api::all(cluster.client.clone());
    let params = ListParams::default().fields(&format!("involvedObject.name={name}"));
    let list = api.list(&params).await.expect("list events");
    list.items
        .into_iter()
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default(),
            )
        })
        .collect()
}

/// Waits for an event with `reason` about `name` and returns its `(type, message)`.
async fn wait_for_typed_event(cluster: &Cluster, name: &str, reason: &str) -> (String, String) {
    eventually(&format!("event {reason} about {name}"), || async {
        typed_events(cluster, name)
            .await
            .into_iter()
            .find(|(_, r, _)| r == reason)
            .map(|(t, _, m)| (t, m))
    })
    .await
}

async fn create_class(cluster: &Cluster, value: serde_json::Value) -> StorageClass {
    create(&Api::<StorageClass>::all(cluster.client.clone()), value).await
}

/// Deletes a claim and waits until it is gone (the sim's protection controller drops its finalizer).
async fn delete_claim(claims: &Api<PersistentVolumeClaim>, name: &str) {
    claims
        .delete(name, &DeleteParams::default())
        .await
        .expect("delete claim");
    eventually(&format!("claim {name} deleted"), || async {
        matches!(claims.get_opt(name).await, Ok(None)).then_some(())
    })
    .await;
}

/// Creates a claim and a Retain class-less PV for it, and waits until both are Bound.
async fn bound_pair(cluster: &Cluster, claim: &str, volume: &str) -> PersistentVolumeClaim {
    create(
        &cluster.volumes(),
        pv_json(volume, "1Gi", "", &["ReadWriteOnce"]),
    )
    .await;
    let claims = cluster.claims("default");
    create(&claims, claim_json("default", claim, "1Gi", Some(""))).await;
    let bound = wait_for(&claims, claim, "Bound", |c| claim_phase(c) == "Bound").await;
    assert_eq!(volume_name(&bound), volume);
    wait_for(&cluster.volumes(), volume, "Bound", |v| {
        volume_phase(v) == "Bound"
    })
    .await;
    bound
}

fn claim_ref_uid(volume: &k8s_openapi::api::core::v1::PersistentVolume) -> Option<String> {
    volume.spec.as_ref()?.claim_ref.as_ref()?.uid.clone()
}

#[tokio::test]
async fn wait_for_first_consumer_claim_is_handed_to_the_provisioner_once_a_node_is_selected() {
    let cluster = Cluster::start().await;
    create_class(
        &cluster,
        class_json("late", PROVISIONER, "WaitForFirstConsumer", "Delete"),
    )
    .await;
    let claims = cluster.claims("default");
    create(
        &claims,
        claim_json("default", "late-data", "1Gi", Some("late")),
    )
    .await;

    let (kind, message) = wait_for_typed_event(&cluster, "late-data", "WaitForFirstConsumer").await;
    assert_eq!(kind, "Normal");
    assert_eq!(
        message,
        "waiting for first consumer to be created before binding"
    );
    let waiting = claims.get("late-data").await.expect("get claim");
    assert_eq!(claim_phase(&waiting), "Pending");
    assert_eq!(annotation(&waiting, STORAGE_PROVISIONER), None);
    assert_eq!(annotation(&waiting, BETA_STORAGE_PROVISIONER), None);
    assert!(
        !typed_events(&cluster, "late-data")
            .await
            .iter()
            .any(|(_, reason, _)| reason == "ExternalProvisioning"),
        "no hand-off before a node is selected"
    );

    // The test plays the scheduler.
    let patch = serde_json::json!({"metadata": {"annotations": {SELECTED_NODE: "node-1"}}});
    claims
        .patch("late-data", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("select node");
    let handed = wait_for(
        &claims,
        "late-data",
        "storage-provisioner annotations",
        |c| annotation(c, STORAGE_PROVISIONER).is_some(),
    )
    .await;
    assert_eq!(annotation(&handed, STORAGE_PROVISIONER), Some(PROVISIONER));
    assert_eq!(
        annotation(&handed, BETA_STORAGE_PROVISIONER),
        Some(PROVISIONER)
    );
    assert_eq!(annotation(&handed, SELECTED_NODE), Some("node-1"));
    assert_eq!(claim_phase(&handed), "Pending");
    let (kind, message) = wait_for_typed_event(&cluster, "late-data", "ExternalProvisioning").await;
    assert_eq!(kind, "Normal");
    assert_eq!(message, external_provisioning_message());
}

#[tokio::test]
async fn externally_provisioned_prebound_volume_binds_its_claim() {
    let cluster = Cluster::start().await;
    create_class(
        &cluster,
        class_json("fast", PROVISIONER, "Immediate", "Delete"),
    )
    .await;
    let claims = cluster.claims("default");
    create(&claims, claim_json("default", "db", "2Gi", Some("fast"))).await;

    let handed = wait_for(&claims, "db", "storage-provisioner annotations", |c| {
        annotation(c, STORAGE_PROVISIONER).is_some()
            && annotation(c, BETA_STORAGE_PROVISIONER).is_some()
    })
    .await;
    assert_eq!(annotation(&handed, STORAGE_PROVISIONER), Some(PROVISIONER));
    assert_eq!(
        annotation(&handed, BETA_STORAGE_PROVISIONER),
        Some(PROVISIONER)
    );
    let (kind, message) = wait_for_typed_event(&cluster, "db", "ExternalProvisioning").await;
    assert_eq!(
        (kind.as_str(), message),
        ("Normal", external_provisioning_message())
    );

    // The test plays the external provisioner: a PV pre-bound to the claim by namespace, name and uid.
    let uid = handed.metadata.uid.clone().expect("claim uid");
    let pv_name = format!("pvc-{uid}");
    let mut pv = pv_json(&pv_name, "2Gi", "fast", &["ReadWriteOnce"]);
    pv["metadata"]["annotations"] = serde_json::json!({PROVISIONED_BY: PROVISIONER});
    pv["spec"]["persistentVolumeReclaimPolicy"] = "Delete".into();
    pv["spec"]["claimRef"] = serde_json::json!({"namespace": "default", "name": "db", "uid": uid});
    create(&cluster.volumes(), pv).await;

    let bound = wait_for(&claims, "db", "Bound", |c| claim_phase(c) == "Bound").await;
    assert_eq!(volume_name(&bound), pv_name);
    assert_eq!(annotation(&bound, BIND_COMPLETED), Some("yes"));
    assert_eq!(annotation(&bound, BOUND_BY_CONTROLLER), Some("yes"));
    assert_eq!(
        annotation(&bound, STORAGE_PROVISIONER),
        Some(PROVISIONER),
        "never removed"
    );
    let volume = wait_for(&cluster.volumes(), &pv_name, "Bound", |v| {
        volume_phase(v) == "Bound"
    })
    .await;
    assert_eq!(
        annotation(&volume, BOUND_BY_CONTROLLER),
        None,
        "the provisioner pre-bound it"
    );
    assert_eq!(annotation(&volume, PROVISIONED_BY), Some(PROVISIONER));
    assert_eq!(claim_ref_uid(&volume), Some(uid));
}

#[tokio::test]
async fn deleted_claim_releases_a_retain_volume_which_keeps_its_claim_ref() {
    let cluster = Cluster::start().await;
    let claim = bound_pair(&cluster, "old", "pv-kept").await;
    delete_claim(&cluster.claims("default"), "old").await;

    let volume = wait_for(&cluster.volumes(), "pv-kept", "Released", |v| {
        volume_phase(v) == "Released"
    })
    .await;
    let claim_ref = volume
        .spec
        .as_ref()
        .and_then(|s| s.claim_ref.clone())
        .expect("claimRef kept");
    assert_eq!(claim_ref.namespace.as_deref(), Some("default"));
    assert_eq!(claim_ref.name.as_deref(), Some("old"));
    assert_eq!(claim_ref.uid, claim.metadata.uid);
    assert_eq!(annotation(&volume, BOUND_BY_CONTROLLER), Some("yes"));
    assert_eq!(volume.metadata.deletion_timestamp, None);
    // Retain: after several resyncs the volume is still there, still Released, and nothing was said about it.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let later = cluster.volumes().get("pv-kept").await.expect("volume kept");
    assert_eq!(volume_phase(&later), "Released");
    assert_eq!(claim_ref_uid(&later), claim.metadata.uid);
    assert_eq!(typed_events(&cluster, "pv-kept").await, vec![]);
}

#[tokio::test]
async fn released_delete_volume_of_an_external_provisioner_is_left_to_it() {
    let cluster = Cluster::start().await;
    let mut pv = pv_json("pv-ext", "1Gi", "", &["ReadWriteOnce"]);
    pv["metadata"]["annotations"] = serde_json::json!({PROVISIONED_BY: PROVISIONER});
    pv["spec"]["persistentVolumeReclaimPolicy"] = "Delete".into();
    create(&cluster.volumes(), pv).await;
    let claims = cluster.claims("default");
    create(&claims, claim_json("default", "ext", "1Gi", Some(""))).await;
    let claim = wait_for(&claims, "ext", "Bound", |c| claim_phase(c) == "Bound").await;
    assert_eq!(volume_name(&claim), "pv-ext");
    delete_claim(&claims, "ext").await;

    let volume = wait_for(&cluster.volumes(), "pv-ext", "Released", |v| {
        volume_phase(v) == "Released"
    })
    .await;
    assert_eq!(claim_ref_uid(&volume), claim.metadata.uid);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let later = cluster
        .volumes()
        .get_opt("pv-ext")
        .await
        .expect("get volume");
    let later = later.expect("the volume is the external provisioner's to delete");
    assert_eq!(
        volume_phase(&later),
        "Released",
        "not Failed: the external deleter owns it"
    );
    assert_eq!(later.metadata.deletion_timestamp, None);
    assert_eq!(claim_ref_uid(&later), claim.metadata.uid);
}

#[tokio::test]
async fn bound_claim_whose_volume_disappears_is_lost() {
    let cluster = Cluster::start().await;
    bound_pair(&cluster, "orphan", "pv-gone").await;
    let volumes = cluster.volumes();
    // Delete first, then drop the finalizer: a PV without a deletionTimestamp gets kubernetes.io/pv-protection
    // back from the protection controller, and a Bound PV keeps it until someone removes it by hand.
    volumes
        .delete("pv-gone", &DeleteParams::default())
        .await
        .expect("delete volume");
    let patch = serde_json::json!({"metadata": {"finalizers": null}});
    volumes
        .patch("pv-gone", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("drop finalizers");
    eventually("pv-gone deleted", || async {
        matches!(volumes.get_opt("pv-gone").await, Ok(None)).then_some(())
    })
    .await;

    let claims = cluster.claims("default");
    let lost = wait_for(&claims, "orphan", "Lost", |c| claim_phase(c) == "Lost").await;
    assert_eq!(volume_name(&lost), "pv-gone");
    assert_eq!(annotation(&lost, BIND_COMPLETED), Some("yes"));
    let (kind, message) = wait_for_typed_event(&cluster, "orphan", "ClaimLost").await;
    assert_eq!(kind, "Warning");
    assert_eq!(
        message,
        "Bound claim has lost its PersistentVolume. Data on the volume is lost!"
    );
}

#[tokio::test]
async fn recreated_claim_binds_another_volume_and_the_old_one_is_released_with_the_old_uid() {
    let cluster = Cluster::start().await;
    let first = bound_pair(&cluster, "same", "pv-a").await;
    let claims = cluster.claims("default");
    delete_claim(&claims, "same").await;
    create(
        &cluster.volumes(),
        pv_json("pv-b", "1Gi", "", &["ReadWriteOnce"]),
    )
    .await;
    create(&claims, claim_json("default", "same", "1Gi", Some(""))).await;

    let second = wait_for(&claims, "same", "Bound", |c| claim_phase(c) == "Bound").await;
    assert_ne!(second.metadata.uid, first.metadata.uid);
    assert_eq!(volume_name(&second), "pv-b");
    let b = wait_for(&cluster.volumes(), "pv-b", "Bound", |v| {
        volume_phase(v) == "Bound"
    })
    .await;
    assert_eq!(claim_ref_uid(&b), second.metadata.uid);
    let a = wait_for(&cluster.volumes(), "pv-a", "Released", |v| {
        volume_phase(v) == "Released"
    })
    .await;
    let claim_ref = a.spec.and_then(|s| s.claim_ref).expect("claimRef kept");
    assert_eq!(claim_ref.name.as_deref(), Some("same"));
    assert_eq!(claim_ref.uid, first.metadata.uid, "the old uid stays");
}

#[tokio::test]
async fn classless_claim_gets_the_default_class_created_later() {
    let cluster = Cluster::start().await;
    let claims = cluster.claims("default");
    create(&claims, claim_json("default", "plain", "1Gi", None)).await;

    // Without a default class the claim is treated as class-less and says so.
    let message = wait_for_event(&cluster.client, "default", "plain", "FailedBinding").await;
    // Berth appends why each PV does not fit; the upstream text comes first.
    assert!(
        message.starts_with(
            "no persistent volumes available for this claim and no storage class is set"
        ),
        "{message}"
    );
    let waiting = claims.get("plain").await.expect("get claim");
    assert_eq!(claim_phase(&waiting), "Pending");
    assert_eq!(
        waiting
            .spec
            .as_ref()
            .and_then(|s| s.storage_class_name.clone()),
        None
    );

    let mut class = class_json("standard", PROVISIONER, "Immediate", "Delete");
    class["metadata"]["annotations"] = serde_json::json!({IS_DEFAULT_CLASS: "true"});
    create_class(&cluster, class).await;
    let classed = wait_for(&claims, "plain", "storageClassName standard", |c| {
        c.spec
            .as_ref()
            .and_then(|s| s.storage_class_name.as_deref())
            == Some("standard")
    })
    .await;
    // The class came from an update by the controller, not from admission or the test.
    let writers: Vec<String> = cluster
        .sim
        .requests()
        .into_iter()
        .filter(|r| {
            r.resource == "persistentvolumeclaims" && r.name == "plain" && r.subresource.is_empty()
        })
        .filter(|r| matches!(r.verb.as_str(), "update" | "patch"))
        .map(|r| r.user_agent)
        .collect();
    assert!(
        writers
            .iter()
            .any(|agent| agent.starts_with("berth-controller-test")),
        "{writers:?}"
    );
    assert!(
        !writers
            .iter()
            .any(|agent| agent == berth_sim::cluster::TEST_CLIENT_USER_AGENT),
        "{writers:?}"
    );
    assert_eq!(claim_phase(&classed), "Pending");
    // With its class the claim now goes the dynamic provisioning way.
    let handed = wait_for(&claims, "plain", "storage-provisioner", |c| {
        annotation(c, STORAGE_PROVISIONER).is_some()
    })
    .await;
    assert_eq!(annotation(&handed, STORAGE_PROVISIONER), Some(PROVISIONER));
}

#[tokio::test]
async fn claim_naming_a_missing_class_gets_provisioning_failed() {
    let cluster = Cluster::start().await;
    let claims = cluster.claims("default");
    create(
        &claims,
        claim_json("default", "typo", "1Gi", Some("missing")),
    )
    .await;

    let (kind, message) = wait_for_typed_event(&cluster, "typo", "ProvisioningFailed").await;
    assert_eq!(kind, "Warning");
    assert_eq!(message, "storageclass.storage.k8s.io \"missing\" not found");
    let claim = claims.get("typo").await.expect("get claim");
    assert_eq!(claim_phase(&claim), "Pending");
    assert_eq!(annotation(&claim, STORAGE_PROVISIONER), None);
    assert_eq!(volume_name(&claim), "");
}
