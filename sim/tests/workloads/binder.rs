//! The test's stand-in for Berth's binder: what the PV controller does for new and pre-bound volumes.

use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

fn merge(value: Value) -> Patch<Value> {
    Patch::Merge(value)
}

/// The binder's part, as the PV controller does it: new PVs become Available, and a PV whose claimRef names
/// a claim (uid empty or the claim's) gets bound to it, PV side first. Runs until the task is aborted;
/// conflicts are retried.
pub async fn play_binder(client: Client) {
    loop {
        let _ = bind_prebound_volumes(&client).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn bind_prebound_volumes(client: &Client) -> kube::Result<()> {
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let params = PatchParams::default();
    for volume in volumes.list(&ListParams::default()).await? {
        let spec = volume.spec.clone().unwrap_or_default();
        let phase = volume
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("Pending");
        if phase == "Pending" {
            // a new volume becomes Available at its first sync
            let available = json!({"status": {"phase": "Available"}});
            volumes
                .patch_status(&volume.name_any(), &params, &merge(available))
                .await?;
        }
        let Some(claim_ref) = spec.claim_ref else {
            continue;
        };
        let namespace = claim_ref.namespace.clone().unwrap_or_default();
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &namespace);
        let Some(claim) = claims
            .get_opt(claim_ref.name.as_deref().unwrap_or_default())
            .await?
        else {
            continue;
        };
        let claim_uid = claim.metadata.uid.clone().unwrap_or_default();
        let ref_uid = claim_ref.uid.clone().unwrap_or_default();
        let claim_spec = claim.spec.clone().unwrap_or_default();
        if (!ref_uid.is_empty() && ref_uid != claim_uid) || claim_spec.volume_name.is_some() {
            continue;
        }
        let pv_name = volume.name_any();
        volumes
            .patch(
                &pv_name,
                &params,
                &merge(json!({"spec": {"claimRef": {"uid": claim_uid}}})),
            )
            .await?;
        volumes
            .patch_status(
                &pv_name,
                &params,
                &merge(json!({"status": {"phase": "Bound"}})),
            )
            .await?;
        let annotations = json!({"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes"});
        let bind =
            json!({"metadata": {"annotations": annotations}, "spec": {"volumeName": pv_name}});
        claims
            .patch(&claim.name_any(), &params, &merge(bind))
            .await?;
        let status = json!({"status": {"phase": "Bound", "accessModes": spec.access_modes, "capacity": spec.capacity}});
        claims
            .patch_status(&claim.name_any(), &params, &merge(status))
            .await?;
    }
    Ok(())
}
