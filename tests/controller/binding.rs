//! Static binding, pre-binding both ways, and the binding's annotations and statuses.
use crate::common::*;
use crate::harness::Cluster;
use berth::k8s::annotations::{BIND_COMPLETED, BOUND_BY_CONTROLLER};

#[tokio::test]
async fn claim_binds_the_smallest_sufficient_volume_with_upstream_annotations() {
    let cluster = Cluster::start().await;
    let volumes = cluster.volumes();
    create(&volumes, pv_json("pv-small", "1Gi", "", &["ReadWriteOnce"])).await;
    create(
        &volumes,
        pv_json("pv-medium", "5Gi", "", &["ReadWriteOnce"]),
    )
    .await;
    create(
        &volumes,
        pv_json("pv-large", "10Gi", "", &["ReadWriteOnce"]),
    )
    .await;
    let claims = cluster.claims("default");
    create(&claims, claim_json("default", "data", "2Gi", Some(""))).await;

    let claim = wait_for(&claims, "data", "Bound", |c| claim_phase(c) == "Bound").await;
    assert_eq!(volume_name(&claim), "pv-medium");
    assert_eq!(annotation(&claim, BIND_COMPLETED), Some("yes"));
    assert_eq!(annotation(&claim, BOUND_BY_CONTROLLER), Some("yes"));
    let status = claim.status.clone().unwrap_or_default();
    assert_eq!(
        status
            .capacity
            .unwrap_or_default()
            .get("storage")
            .map(|q| q.0.as_str()),
        Some("5Gi")
    );
    assert_eq!(status.access_modes.unwrap_or_default(), ["ReadWriteOnce"]);

    let volume = wait_for(&volumes, "pv-medium", "Bound", |v| {
        volume_phase(v) == "Bound"
    })
    .await;
    let claim_ref = volume
        .spec
        .as_ref()
        .and_then(|s| s.claim_ref.clone())
        .expect("claimRef");
    assert_eq!(claim_ref.name.as_deref(), Some("data"));
    assert_eq!(claim_ref.namespace.as_deref(), Some("default"));
    assert_eq!(claim_ref.uid, claim.metadata.uid);
    assert_eq!(claim_ref.kind.as_deref(), Some("PersistentVolumeClaim"));
    assert_eq!(annotation(&volume, BOUND_BY_CONTROLLER), Some("yes"));
    for other in ["pv-small", "pv-large"] {
        let volume = wait_for(&volumes, other, "Available", |v| {
            volume_phase(v) == "Available"
        })
        .await;
        assert!(
            volume.spec.and_then(|s| s.claim_ref).is_none(),
            "{other} must stay unclaimed"
        );
    }
}

#[tokio::test]
async fn claim_prebound_by_volume_name_binds_that_volume_without_bound_by_controller_on_the_claim()
{
    let cluster = Cluster::start().await;
    let volumes = cluster.volumes();
    create(&volumes, pv_json("pv-a", "1Gi", "", &["ReadWriteOnce"])).await;
    create(&volumes, pv_json("pv-b", "8Gi", "", &["ReadWriteOnce"])).await;
    let claims = cluster.claims("default");
    let mut claim = claim_json("default", "named", "1Gi", Some(""));
    claim["spec"]["volumeName"] = "pv-b".into();
    create(&claims, claim).await;

    let claim = wait_for(&claims, "named", "Bound", |c| claim_phase(c) == "Bound").await;
    assert_eq!(volume_name(&claim), "pv-b");
    assert_eq!(annotation(&claim, BOUND_BY_CONTROLLER), None);
    let volume = wait_for(&volumes, "pv-b", "Bound", |v| volume_phase(v) == "Bound").await;
    assert_eq!(annotation(&volume, BOUND_BY_CONTROLLER), Some("yes"));
}

#[tokio::test]
async fn volume_prebound_by_claim_ref_goes_only_to_that_claim() {
    let cluster = Cluster::start().await;
    let volumes = cluster.volumes();
    let mut reserved = pv_json("pv-reserved", "1Gi", "other-class", &["ReadWriteOnce"]);
    reserved["spec"]["claimRef"] = serde_json::json!({"namespace": "default", "name": "owner"});
    create(&volumes, reserved).await;
    let claims = cluster.claims("default");
    create(
        &claims,
        claim_json("default", "intruder", "1Gi", Some("other-class")),
    )
    .await;
    create(&claims, claim_json("default", "owner", "1Gi", Some(""))).await;

    // The pre-bound PV skips the class check for its own claim, and is invisible to the other one.
    let owner = wait_for(&claims, "owner", "Bound", |c| claim_phase(c) == "Bound").await;
    assert_eq!(volume_name(&owner), "pv-reserved");
    let volume = wait_for(&volumes, "pv-reserved", "Bound", |v| {
        volume_phase(v) == "Bound"
    })
    .await;
    assert_eq!(
        annotation(&volume, BOUND_BY_CONTROLLER),
        None,
        "a user pre-binding is not the controller's"
    );
    assert_eq!(
        volume.spec.and_then(|s| s.claim_ref).and_then(|r| r.uid),
        owner.metadata.uid
    );
    let intruder = cluster
        .claims("default")
        .get("intruder")
        .await
        .expect("get intruder");
    assert_eq!(claim_phase(&intruder), "Pending");
    assert_eq!(volume_name(&intruder), "");
}

#[tokio::test]
async fn claim_without_class_and_without_volumes_says_why_it_is_pending() {
    let cluster = Cluster::start().await;
    create(
        &cluster.volumes(),
        pv_json("pv-tiny", "1Gi", "", &["ReadWriteOnce"]),
    )
    .await;
    create(
        &cluster.claims("default"),
        claim_json("default", "big", "5Gi", Some("")),
    )
    .await;
    let message = wait_for_event(&cluster.client, "default", "big", "FailedBinding").await;
    assert!(
        message.starts_with(
            "no persistent volumes available for this claim and no storage class is set"
        ),
        "{message}"
    );
    assert!(
        message.contains("too small"),
        "the message says why the PV does not fit: {message}"
    );
}
