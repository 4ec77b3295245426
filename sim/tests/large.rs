//! 100,000 stored objects: paged lists and a watch from "now" keep working (memory per object is
//! measured by a benchmark, not here).

mod common;

use std::time::Duration;

use berth_sim::Sim;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PartialObjectMeta, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

const OBJECTS: usize = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_objects_list_and_watch() {
    let sim = Sim::builder().api_only().start().await.unwrap();
    let store = sim.registry().store();
    for i in 0..OBJECTS {
        // seeded straight into the store: this test is about reading, not about the write path
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i:06}"), "namespace": "default", "uid": format!("uid-{i}")},
            "data": {"index": i.to_string()}});
        store.create("configmaps", object).unwrap();
    }
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");

    // paged list: every object exactly once, one snapshot RV
    let mut seen = 0;
    let mut token: Option<String> = None;
    let mut list_rv = None;
    loop {
        let mut lp = ListParams::default().limit(500);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list_metadata(&lp).await.unwrap();
        seen += page.items.len();
        let rv = page.metadata.resource_version.clone();
        assert!(list_rv.is_none() || list_rv == rv);
        list_rv = rv;
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, OBJECTS);

    // a watch from "now" sees the next change without replaying history
    let now = sim.resource_version().to_string();
    let mut events = api
        .watch(&kube::api::WatchParams::default().disable_bookmarks(), &now)
        .await
        .unwrap()
        .boxed();
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "late"}})).unwrap(),
    )
    .await
    .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(first, kube::api::WatchEvent::Added(c) if c.metadata.name.as_deref() == Some("late"))
    );

    // a default kube-rs (metadata) watcher, as `Controller::owns` uses: paged initial list, then watch
    let meta_api: Api<PartialObjectMeta<ConfigMap>> = Api::namespaced(sim.client(), "default");
    let stream = watcher(meta_api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    let mut initial = 0;
    let ready = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(event) = stream.next().await {
            match event.unwrap() {
                watcher::Event::InitApply(_) => initial += 1,
                watcher::Event::InitDone => return true,
                _ => {}
            }
        }
        false
    })
    .await;
    assert_eq!(ready, Ok(true));
    assert_eq!(initial, OBJECTS + 1);
}
