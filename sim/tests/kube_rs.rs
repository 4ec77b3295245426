//! Stock kube-rs clients against the sim: a reflector that must stay an exact mirror through dropped
//! watches and forced expiry, a `Controller` with an owned child type, the events `Recorder`, and two
//! contenders on a Lease.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_sim::Sim;
use berth_sim::controls::{Latency, RequestMatch};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference, PersistentVolume};
use k8s_openapi::api::events::v1::Event as EventV1;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{reflector, watcher};
use kube::{Resource, ResourceExt};
use serde_json::json;

fn configmap(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), value.to_string())])),
        ..ConfigMap::default()
    }
}

/// (name, resourceVersion) of every ConfigMap, sorted.
fn fingerprint<'a>(items: impl Iterator<Item = &'a ConfigMap>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = items
        .map(|c| (c.name_any(), c.resource_version().unwrap_or_default()))
        .collect();
    v.sort();
    v
}

async fn wait_for_mirror(api: &Api<ConfigMap>, reader: &reflector::Store<ConfigMap>) {
    let mut last = (Vec::new(), Vec::new());
    for _ in 0..100 {
        let truth = fingerprint(api.list(&ListParams::default()).await.unwrap().items.iter());
        let state = reader.state();
        let mirror = fingerprint(state.iter().map(|c| c.as_ref()));
        if truth == mirror {
            return;
        }
        last = (truth, mirror);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "reflector is not an exact mirror:\n truth  {:?}\n mirror {:?}",
        last.0, last.1
    );
}

#[tokio::test]
async fn reflector_mirrors_through_dropped_watches_and_expiry() {
    let sim = Sim::builder()
        .api_only()
        .bookmark_interval(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let pp = PostParams::default();
    for i in 0..5 {
        api.create(&pp, &configmap(&format!("cm-{i}"), "0"))
            .await
            .unwrap();
    }
    let (reader, writer) = reflector::store();
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = log.clone();
    let stream = reflector(writer, watcher(api.clone(), watcher::Config::default()));
    let driver = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            let entry = match event {
                Ok(watcher::Event::Init) => "init".to_string(),
                Ok(watcher::Event::InitDone) => "init-done".to_string(),
                Ok(_) => continue,
                Err(e) => format!("error: {e}"),
            };
            seen.lock().unwrap().push(entry);
        }
    });
    reader.wait_until_ready().await.unwrap();
    wait_for_mirror(&api, &reader).await;

    // dropped watches: the watcher resumes from its last resourceVersion
    sim.close_watches();
    api.create(&pp, &configmap("cm-5", "0")).await.unwrap();
    api.replace("cm-1", &pp, &{
        let mut c = api.get("cm-1").await.unwrap();
        c.data = Some(BTreeMap::from([("k".into(), "1".into())]));
        c
    })
    .await
    .unwrap();
    api.delete("cm-2", &DeleteParams::default()).await.unwrap();
    wait_for_mirror(&api, &reader).await;
    let inits_before = log.lock().unwrap().iter().filter(|e| *e == "init").count();
    assert_eq!(
        inits_before,
        1,
        "a dropped watch must not cause a relist: {:?}",
        log.lock().unwrap()
    );

    // expiry inside an open watch: ERROR 410, then a relist
    sim.expire_watches();
    api.create(&pp, &configmap("cm-6", "0")).await.unwrap();
    api.delete("cm-3", &DeleteParams::default()).await.unwrap();
    wait_for_mirror(&api, &reader).await;

    // expiry on resume: the watch is re-opened late with an old resourceVersion after compaction
    sim.inject_latency(Latency {
        millis: 500,
        matches: RequestMatch {
            verb: Some("watch".into()),
            ..RequestMatch::default()
        },
    });
    sim.close_watches();
    api.create(&pp, &configmap("cm-7", "0")).await.unwrap();
    sim.compact_history();
    api.delete("cm-4", &DeleteParams::default()).await.unwrap();
    wait_for_mirror(&api, &reader).await;
    sim.clear_latency();

    let events = log.lock().unwrap().clone();
    let relists = events.iter().filter(|e| *e == "init").count();
    assert_eq!(
        relists, 3,
        "expected the initial list and two relists: {events:?}"
    );
    for (i, e) in events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.starts_with("error"))
    {
        assert!(
            e.contains("410") || e.contains("too old"),
            "unexpected error {e}"
        );
        assert_eq!(
            events.get(i + 1).map(String::as_str),
            Some("init"),
            "an expiry error must be followed by a relist: {events:?}"
        );
    }
    driver.abort();
}

struct Ctx {
    leases: Api<Lease>,
    configmaps: Api<ConfigMap>,
}

#[derive(Debug, thiserror::Error)]
#[error("kube: {0}")]
struct ReconcileError(#[from] kube::Error);

async fn reconcile(cm: Arc<ConfigMap>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let name = format!("{}-lease", cm.name_any());
    let owner = cm.controller_owner_ref(&()).expect("configmaps have uids");
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(name),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        ..Lease::default()
    };
    match ctx.leases.create(&PostParams::default(), &lease).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.is_already_exists() => {}
        Err(e) => return Err(e.into()),
    }
    let patch = json!({"metadata": {"annotations": {"reconciled": "true"}}});
    ctx.configmaps
        .patch(
            &cm.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(Action::await_change())
}

fn error_policy(_: Arc<ConfigMap>, _: &ReconcileError, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(200))
}

#[tokio::test]
async fn controller_reconciles_and_reacts_to_owned_children() {
    let sim = Sim::builder().api_only().start().await.unwrap();
    let client = sim.client();
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    for i in 0..3 {
        configmaps
            .create(
                &PostParams::default(),
                &configmap(&format!("owner-{i}"), "x"),
            )
            .await
            .unwrap();
    }
    let ctx = Arc::new(Ctx {
        leases: leases.clone(),
        configmaps: configmaps.clone(),
    });
    let controller = Controller::new(configmaps.clone(), watcher::Config::default())
        .owns(leases.clone(), watcher::Config::default())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {});
    let task = tokio::spawn(controller);

    let all_reconciled = || async {
        let cms = configmaps.list(&ListParams::default()).await.unwrap();
        let leases = leases.list(&ListParams::default()).await.unwrap();
        cms.items
            .iter()
            .all(|c| c.annotations().get("reconciled").map(String::as_str) == Some("true"))
            && leases.items.len() == 3
    };
    let mut done = false;
    for _ in 0..100 {
        if all_reconciled().await {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(done, "the controller did not reconcile every ConfigMap");
    let owner_uid = configmaps.get("owner-0").await.unwrap().uid();
    let lease = leases.get("owner-0-lease").await.unwrap();
    assert_eq!(lease.owner_references()[0].uid, owner_uid.unwrap());

    // deleting an owned child triggers its owner's reconcile, which re-creates it
    let old_uid = lease.uid();
    leases
        .delete("owner-0-lease", &DeleteParams::default())
        .await
        .unwrap();
    let mut recreated = false;
    for _ in 0..100 {
        if let Ok(l) = leases.get("owner-0-lease").await
            && l.uid() != old_uid
        {
            recreated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recreated,
        "the owner was not reconciled after its child was deleted"
    );
    // a settled controller writes nothing: the annotation patch is a no-op that emits no event
    assert!(
        sim.wait_quiescent(Duration::from_millis(700), Duration::from_secs(10))
            .await,
        "reconcile loop never settles"
    );
    task.abort();
}

#[tokio::test]
async fn recorder_publishes_and_updates_series() {
    let sim = Sim::builder().api_only().start().await.unwrap();
    let client = sim.client();
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pv: PersistentVolume = serde_json::from_value(common::hostpath_pv("pv-1")).unwrap();
    let pv = pvs.create(&PostParams::default(), &pv).await.unwrap();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "berth-test".into(),
            instance: Some("test-0".into()),
        },
    );
    let reference: ObjectReference = pv.object_ref(&());
    let event = Event {
        type_: EventType::Normal,
        reason: "Provisioned".into(),
        note: Some("volume is ready".into()),
        action: "Provision".into(),
        secondary: None,
    };
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    let events: Api<EventV1> = Api::namespaced(client.clone(), "default");
    let list = events.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    let e = &list.items[0];
    assert_eq!(e.series.as_ref().map(|s| s.count), Some(2));
    assert_eq!(
        e.regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("pv-1")
    );
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client, "default");
    let lp = ListParams::default()
        .fields("involvedObject.name=pv-1,involvedObject.kind=PersistentVolume");
    let core_list = core.list(&lp).await.unwrap();
    assert_eq!(core_list.items.len(), 1);
    assert_eq!(
        core_list.items[0].message.as_deref(),
        Some("volume is ready")
    );
}

/// One contender doing client-go-style acquisition: GET, decide, then PUT with the resourceVersion read
/// (or create when missing). Returns the resourceVersions its successful acquisitions were based on.
async fn contend(api: Api<Lease>, me: &'static str, rounds: usize) -> Vec<String> {
    let mut won_from = Vec::new();
    for _ in 0..rounds {
        let current = match api.get_opt("leader").await.unwrap() {
            Some(l) => l,
            None => {
                let mut l = Lease::default();
                l.metadata.name = Some("leader".into());
                match api.create(&PostParams::default(), &l).await {
                    Ok(l) => l,
                    Err(kube::Error::Api(s)) if s.is_already_exists() => continue,
                    Err(e) => panic!("create failed: {e}"),
                }
            }
        };
        let base = current.resource_version().unwrap_or_default();
        let mut next = current.clone();
        let spec = next.spec.get_or_insert_with(Default::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        // acquire when free or held by the other contender (always-expired lease: maximal contention)
        spec.holder_identity = Some(me.to_string());
        spec.lease_transitions =
            Some(spec.lease_transitions.unwrap_or(0) + i32::from(holder != me));
        // every acquisition or renewal moves renewTime, as client-go does, so no write is a no-op
        spec.renew_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
            k8s_openapi::jiff::Timestamp::now(),
        ));
        match api.replace("leader", &PostParams::default(), &next).await {
            Ok(_) => won_from.push(base),
            Err(kube::Error::Api(s)) if s.is_conflict() => {}
            Err(e) => panic!("replace failed: {e}"),
        }
    }
    won_from
}

#[tokio::test]
async fn two_lease_contenders_never_both_hold_it() {
    let sim = Sim::builder().api_only().start().await.unwrap();
    let api: Api<Lease> = Api::namespaced(sim.client(), "default");
    let (a, b) = tokio::join!(contend(api.clone(), "a", 60), contend(api.clone(), "b", 60));
    let mut all: Vec<&String> = a.iter().chain(b.iter()).collect();
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(
        all.len(),
        total,
        "two acquisitions succeeded from the same resourceVersion"
    );
    assert!(!a.is_empty() || !b.is_empty());
    // without a resourceVersion the update is refused outright for Leases
    let mut blind = api.get("leader").await.unwrap();
    blind.metadata.resource_version = None;
    let err = api
        .replace("leader", &PostParams::default(), &blind)
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 422));
}
