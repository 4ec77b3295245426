//! Emulator-spec section 8, checks 24–34: paging, selectors, list options, watch framing, bookmarks,
//! expiry, timeouts, selector transitions, deletions, streaming lists and metadata-only views.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn check_24_paging_is_a_consistent_snapshot() {
    let sim = api_only().await;
    for name in ["p1", "p2", "p3"] {
        create(&sim, PVCS, &pvc(name)).await;
    }
    let first = Raw::get(&sim, &format!("{PVCS}?limit=1")).await.json();
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    assert_eq!(first["metadata"]["remainingItemCount"], 2);
    let token = first["metadata"]["continue"].as_str().unwrap().to_string();
    assert!(!token.is_empty());
    let list_rv = first["metadata"]["resourceVersion"].clone();
    create(&sim, PVCS, &pvc("p4")).await;
    let mut names = vec![
        first["items"][0]["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_string(),
    ];
    let mut token = Some(token);
    while let Some(t) = token {
        let page = Raw::get(&sim, &format!("{PVCS}?limit=1&continue={t}"))
            .await
            .json();
        assert_eq!(page["metadata"]["resourceVersion"], list_rv);
        names.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string()),
        );
        token = page["metadata"]["continue"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
    }
    assert_eq!(names, vec!["p1", "p2", "p3"]);
}

#[tokio::test]
async fn check_25_field_selectors_follow_the_allow_lists() {
    let sim = api_only().await;
    create(&sim, PVCS, &pvc("p1")).await;
    create(&sim, PVCS, &pvc("p2")).await;
    let r = Raw::get(&sim, &format!("{PVCS}?fieldSelector=spec.volumeName%3Dx")).await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .ends_with("field label not supported: spec.volumeName")
    );
    let r = Raw::get(&sim, &format!("{PVCS}?fieldSelector=metadata.name%3Dp1"))
        .await
        .json();
    let names: Vec<&str> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["p1"]);
    for (name, node) in [("a", "node-a"), ("b", "node-b")] {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}});
        create(&sim, "/api/v1/namespaces/default/pods", &pod).await;
    }
    let r = Raw::get(
        &sim,
        "/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3Dnode-a",
    )
    .await
    .json();
    let names: Vec<&str> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["a"]);
}

#[tokio::test]
async fn check_26_resource_version_match_without_resource_version_is_invalid() {
    let sim = api_only().await;
    let r = Raw::get(&sim, &format!("{PVCS}?resourceVersionMatch=NotOlderThan")).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["reason"], "Invalid");
    assert_eq!(r.json()["details"]["kind"], "ListOptions");
}

#[tokio::test]
async fn check_27_watch_event_framing() {
    let sim = api_only().await;
    let list = Raw::get(&sim, PVCS).await.json();
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let mut w = WatchStream::open(
        &sim,
        &format!("{PVCS}?watch=true&resourceVersion={rv}"),
        &[],
    )
    .await;
    assert_eq!(w.status, 200);
    assert_eq!(w.header("content-type"), Some("application/json"));
    assert_eq!(w.header("transfer-encoding"), Some("chunked"));
    create(&sim, PVCS, &pvc("p1")).await;
    let line = w.next_line(WAIT).await.unwrap();
    assert!(
        line.starts_with("{\"type\":\"ADDED\",\"object\":{"),
        "{line}"
    );
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["object"]["apiVersion"], "v1");
    assert_eq!(event["object"]["kind"], "PersistentVolumeClaim");
}

#[tokio::test]
async fn check_28_bookmarks_carry_only_type_and_resource_version() {
    let sim = api_only().await;
    let rv = sim.resource_version();
    let mut w = WatchStream::open(
        &sim,
        &format!("{PVCS}?watch=true&allowWatchBookmarks=true&resourceVersion={rv}"),
        &[],
    )
    .await;
    let e = w.next_event(WAIT).await;
    assert_eq!(e["type"], "BOOKMARK");
    assert_eq!(
        e["object"],
        json!({"kind": "PersistentVolumeClaim", "apiVersion": "v1", "metadata": {"resourceVersion": rv.to_string()}})
    );
}

#[tokio::test]
async fn check_29_expired_resource_version_is_an_error_event_in_a_200_stream() {
    let sim = api_only().await;
    let old = rv(&create(&sim, PVCS, &pvc("p1")).await);
    create(&sim, PVCS, &pvc("p2")).await;
    sim.compact_history();
    let mut w = WatchStream::open(
        &sim,
        &format!("{PVCS}?watch=true&resourceVersion={old}"),
        &[],
    )
    .await;
    assert_eq!(w.status, 200);
    let e = w.next_event(WAIT).await;
    assert_eq!(e["type"], "ERROR");
    assert_eq!(e["object"]["kind"], "Status");
    assert_eq!(e["object"]["reason"], "Expired");
    assert_eq!(e["object"]["code"], 410);
    assert_eq!(w.next_line(WAIT).await, None);
    assert!(w.ended, "the stream must end after the ERROR event");
    // the kube-rs half (error, then a relist) is in kube_rs.rs
}

#[tokio::test]
async fn check_30_watch_timeout_ends_the_stream_cleanly() {
    let sim = api_only().await;
    let mut w = WatchStream::open(&sim, &format!("{PVCS}?watch=true&timeoutSeconds=2"), &[]).await;
    assert_eq!(w.next_line(Duration::from_secs(10)).await, None);
    assert!(w.ended, "no terminating chunk after the timeout");
}

#[tokio::test]
async fn check_31_label_transitions_become_deleted_and_added() {
    let sim = api_only().await;
    create(&sim, PVCS, &pvc_labelled("p1", "a")).await;
    let mut w = WatchStream::open(
        &sim,
        &format!(
            "{PVCS}?watch=true&labelSelector=app%3Da&resourceVersion={}",
            sim.resource_version()
        ),
        &[],
    )
    .await;
    let r = Raw::patch(
        &sim,
        &format!("{PVCS}/p1"),
        "application/merge-patch+json",
        &json!({"metadata": {"labels": {"app": "b"}}}),
    )
    .await;
    let relabel_rv = rv(&r.json());
    let e = w.next_change(WAIT).await;
    assert_eq!(e["type"], "DELETED");
    assert_eq!(e["object"]["metadata"]["labels"]["app"], "a");
    assert_eq!(rv(&e["object"]), relabel_rv);
    Raw::patch(
        &sim,
        &format!("{PVCS}/p1"),
        "application/merge-patch+json",
        &json!({"metadata": {"labels": {"app": "a"}}}),
    )
    .await;
    let e = w.next_change(WAIT).await;
    assert_eq!(e["type"], "ADDED");
}

#[tokio::test]
async fn check_32_deleted_event_carries_the_deletion_resource_version() {
    let sim = api_only().await;
    create(
        &sim,
        "/api/v1/namespaces/default/configmaps",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
    )
    .await;
    let mut w = WatchStream::open(
        &sim,
        "/api/v1/namespaces/default/configmaps?watch=true",
        &[],
    )
    .await;
    let added = w.next_change(WAIT).await;
    let r = Raw::delete(&sim, "/api/v1/namespaces/default/configmaps/c", &json!({})).await;
    assert_eq!(r.status, 200);
    let deleted = w.next_change(WAIT).await;
    assert_eq!(deleted["type"], "DELETED");
    assert!(rv(&deleted["object"]) > rv(&added["object"]));
    assert_eq!(rv(&deleted["object"]), sim.resource_version());
}

#[tokio::test]
async fn check_33_streaming_list_ends_with_the_initial_events_bookmark() {
    let sim = api_only().await;
    create(&sim, PVCS, &pvc("p1")).await;
    create(&sim, PVCS, &pvc("p2")).await;
    let q = "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=0";
    let mut w = WatchStream::open(&sim, &format!("{PVCS}?{q}&allowWatchBookmarks=true"), &[]).await;
    assert_eq!(w.next_event(WAIT).await["type"], "ADDED");
    assert_eq!(w.next_event(WAIT).await["type"], "ADDED");
    let marker = w.next_event(WAIT).await;
    assert_eq!(marker["type"], "BOOKMARK");
    assert_eq!(
        marker["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    let r = Raw::get(&sim, &format!("{PVCS}?{q}")).await;
    assert_eq!(r.status, 422);
}

#[tokio::test]
async fn check_34_metadata_only_lists_and_watches() {
    let sim = api_only().await;
    create(&sim, PVCS, &pvc("p1")).await;
    let r = Raw::get_with(
        &sim,
        PVCS,
        &[(
            "Accept",
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
        )],
    )
    .await
    .json();
    assert_eq!(r["kind"], "PartialObjectMetadataList");
    assert_eq!(r["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(r["items"][0]["metadata"]["name"], "p1");
    assert!(r["items"][0].get("spec").is_none());
    let mut w = WatchStream::open(
        &sim,
        &format!("{PVCS}?watch=true"),
        &[(
            "Accept",
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
        )],
    )
    .await;
    let e = w.next_event(WAIT).await;
    assert_eq!(e["object"]["kind"], "PartialObjectMetadata");
    assert!(e["object"].get("spec").is_none());
}
