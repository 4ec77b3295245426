//! Emulator-spec section 9, the semantics emulators most often get wrong, one test each (those that
//! belong to the API server; webhook decoding, protection controllers and scheduler binding are tested
//! with their actors).

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim};
use kube::ResourceExt;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(5);

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"app": "a"}}, "data": {"k": "v"}}),
    )
    .unwrap()
}

async fn next_event(
    stream: &mut (impl futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin),
) -> WatchEvent<ConfigMap> {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("no watch event")
        .expect("stream ended")
        .unwrap()
}

#[tokio::test]
async fn semantics_01_expired_resource_version_is_an_error_event_kube_rs_can_read() {
    let sim = api_only().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let old = api
        .create(&PostParams::default(), &cm("a"))
        .await
        .unwrap()
        .resource_version()
        .unwrap();
    api.create(&PostParams::default(), &cm("b")).await.unwrap();
    sim.compact_history();
    let mut stream = api
        .watch(&WatchParams::default(), &old)
        .await
        .unwrap()
        .boxed();
    match next_event(&mut stream).await {
        WatchEvent::Error(status) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
        }
        other => panic!("expected an ERROR event, got {other:?}"),
    }
    assert!(
        tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap()
            .is_none(),
        "the stream must end after ERROR"
    );
}

#[tokio::test]
async fn semantics_02_bookmarks_and_events_parse_as_single_lines() {
    let sim = api_only().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    match next_event(&mut stream).await {
        WatchEvent::Bookmark(b) => {
            assert_eq!(b.types.kind, "ConfigMap");
            assert_eq!(b.types.api_version, "v1");
            assert_eq!(b.metadata.resource_version, rv);
        }
        other => panic!("expected a BOOKMARK, got {other:?}"),
    }
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    assert!(matches!(next_event(&mut stream).await, WatchEvent::Added(c) if c.name_any() == "a"));
}

#[tokio::test]
async fn semantics_03_deleted_events_selector_transitions_and_list_snapshot_rv() {
    let sim = api_only().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let list = api
        .list(&ListParams::default().labels("app=a"))
        .await
        .unwrap();
    let list_rv: u64 = list
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        list_rv,
        sim.resource_version(),
        "list RV must be the snapshot point"
    );
    let wp = WatchParams::default().labels("app=a").disable_bookmarks();
    let mut stream = api.watch(&wp, &list_rv.to_string()).await.unwrap().boxed();
    let moved = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": "b"}}})),
        )
        .await
        .unwrap();
    match next_event(&mut stream).await {
        WatchEvent::Deleted(c) => {
            assert_eq!(c.labels().get("app").map(String::as_str), Some("a"));
            assert_eq!(c.resource_version(), moved.resource_version());
        }
        other => panic!("expected DELETED for the label transition, got {other:?}"),
    }
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "a"}}})),
    )
    .await
    .unwrap();
    let back = match next_event(&mut stream).await {
        WatchEvent::Added(c) => c,
        other => panic!("expected ADDED, got {other:?}"),
    };
    api.delete("a", &DeleteParams::default()).await.unwrap();
    match next_event(&mut stream).await {
        WatchEvent::Deleted(c) => {
            let deleted: u64 = c.resource_version().unwrap().parse().unwrap();
            let before: u64 = back.resource_version().unwrap().parse().unwrap();
            assert!(deleted > before);
            assert_eq!(deleted, sim.resource_version());
        }
        other => panic!("expected DELETED, got {other:?}"),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

#[tokio::test]
async fn semantics_04_kube_runtime_finalizer_helper_works() {
    let sim = api_only().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let created = api
        .create(&PostParams::default(), &cm("guarded"))
        .await
        .unwrap();
    assert!(created.metadata.finalizers.is_none());
    let name = "berth.io/test-finalizer";
    let step = |obj: ConfigMap| {
        let api = api.clone();
        async move {
            finalizer(&api, name, std::sync::Arc::new(obj), |event| async move {
                match event {
                    FinalizerEvent::Apply(_) | FinalizerEvent::Cleanup(_) => {
                        Ok::<_, Never>(Action::await_change())
                    }
                }
            })
            .await
        }
    };
    // first call adds the finalizer with `test /metadata/finalizers == null` + `add`
    step(created).await.unwrap();
    let with = api.get("guarded").await.unwrap();
    assert_eq!(with.finalizers(), &[name.to_string()]);
    step(with).await.unwrap();
    api.delete("guarded", &DeleteParams::default())
        .await
        .unwrap();
    let deleting = api.get("guarded").await.unwrap();
    assert!(deleting.metadata.deletion_timestamp.is_some());
    // cleanup removes it with `test` + `remove`, which deletes the object
    step(deleting).await.unwrap();
    assert!(api.get_opt("guarded").await.unwrap().is_none());
}

#[tokio::test]
async fn semantics_06_strategic_merges_owner_references_merge_replaces() {
    let sim = api_only().await;
    let path = "/api/v1/namespaces/default/configmaps/owned";
    let owner = |uid: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": format!("o-{uid}"), "uid": uid});
    let mut body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owned"}});
    body["metadata"]["ownerReferences"] = json!([owner("u1")]);
    create(&sim, "/api/v1/namespaces/default/configmaps", &body).await;
    let add = json!({"metadata": {"ownerReferences": [owner("u2")]}});
    let r = Raw::patch(&sim, path, "application/strategic-merge-patch+json", &add).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let patched = r.json();
    let mut sorted: Vec<&str> = patched["metadata"]["ownerReferences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["uid"].as_str().unwrap())
        .collect();
    sorted.sort();
    assert_eq!(sorted, vec!["u1", "u2"]);
    let r = Raw::patch(
        &sim,
        path,
        "application/merge-patch+json",
        &json!({"metadata": {"ownerReferences": [owner("u3")]}}),
    )
    .await;
    assert_eq!(
        r.json()["metadata"]["ownerReferences"],
        json!([owner("u3")])
    );
}

#[tokio::test]
async fn semantics_07_claim_mutability_exceptions_with_typed_clients() {
    let sim = api_only().await;
    let api: Api<PersistentVolumeClaim> = Api::namespaced(sim.client(), "default");
    let claim: PersistentVolumeClaim = serde_json::from_value(pvc("data")).unwrap();
    let mut c = api.create(&PostParams::default(), &claim).await.unwrap();
    // the binder's writes: class from unset, volumeName once, then status via /status
    c.spec.as_mut().unwrap().storage_class_name = Some("late".into());
    c.spec.as_mut().unwrap().volume_name = Some("pv-1".into());
    let mut c = api
        .replace("data", &PostParams::default(), &c)
        .await
        .unwrap();
    c.status.as_mut().unwrap().phase = Some("Bound".into());
    let c = api
        .replace_status("data", &PostParams::default(), &c)
        .await
        .unwrap();
    assert_eq!(c.status.as_ref().unwrap().phase.as_deref(), Some("Bound"));
    assert_eq!(
        c.spec.as_ref().unwrap().volume_name.as_deref(),
        Some("pv-1")
    );
    let mut changed = c.clone();
    changed.spec.as_mut().unwrap().access_modes = Some(vec!["ReadWriteMany".into()]);
    let err = api
        .replace("data", &PostParams::default(), &changed)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422 && s.message.contains("spec is immutable")),
        "{err:?}"
    );
    let mut spoofed = c.clone();
    spoofed.status.as_mut().unwrap().phase = Some("Lost".into());
    let kept = api
        .replace("data", &PostParams::default(), &spoofed)
        .await
        .unwrap();
    assert_eq!(
        kept.status.unwrap().phase.as_deref(),
        Some("Bound"),
        "main-resource writes must not change status"
    );
}

#[tokio::test]
async fn semantics_09_repeated_status_apply_is_a_no_op() {
    let sim = api_only().await;
    let api: Api<PersistentVolumeClaim> = Api::namespaced(sim.client(), "default");
    let claim: PersistentVolumeClaim = serde_json::from_value(pvc("data")).unwrap();
    api.create(&PostParams::default(), &claim).await.unwrap();
    let status =
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Bound"}});
    let pp = PatchParams::apply("berth-binder").force();
    let first = api
        .patch_status("data", &pp, &Patch::Apply(&status))
        .await
        .unwrap();
    let stream = api
        .watch(
            &WatchParams::default().disable_bookmarks(),
            &first.resource_version().unwrap(),
        )
        .await
        .unwrap();
    let second = api
        .patch_status("data", &pp, &Patch::Apply(&status))
        .await
        .unwrap();
    assert_eq!(first.resource_version(), second.resource_version());
    let third = api
        .patch(
            "data",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": null}})),
        )
        .await
        .unwrap();
    assert_eq!(first.resource_version(), third.resource_version());
    let mut stream = stream.boxed();
    let event = tokio::time::timeout(Duration::from_millis(700), stream.next()).await;
    assert!(
        event.is_err(),
        "no-op writes produced a watch event: {event:?}"
    );
}

#[tokio::test]
async fn semantics_11_kubectl_prerequisites_short_names_and_json_fallback() {
    let sim = api_only().await;
    let core = Raw::get(&sim, "/api/v1").await.json();
    let short = |doc: &serde_json::Value, name: &str| {
        doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["shortNames"]
            .clone()
    };
    for (name, s) in [
        ("persistentvolumeclaims", "pvc"),
        ("persistentvolumes", "pv"),
        ("pods", "po"),
        ("nodes", "no"),
        ("namespaces", "ns"),
        ("events", "ev"),
        ("configmaps", "cm"),
    ] {
        assert!(
            short(&core, name).as_array().unwrap().contains(&json!(s)),
            "{name} lacks short name {s}"
        );
    }
    assert!(
        short(
            &Raw::get(&sim, "/apis/apps/v1").await.json(),
            "statefulsets"
        )
        .as_array()
        .unwrap()
        .contains(&json!("sts"))
    );
    assert!(
        short(
            &Raw::get(&sim, "/apis/storage.k8s.io/v1").await.json(),
            "storageclasses"
        )
        .as_array()
        .unwrap()
        .contains(&json!("sc"))
    );
    let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    let r = Raw::get_with(&sim, "/api/v1/nodes", &[("Accept", table)]).await;
    assert_eq!(r.status, 200);
    assert!(r.json()["kind"] == "NodeList" || r.json()["kind"] == "Table");
}
