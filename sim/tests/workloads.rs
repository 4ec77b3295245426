//! The scheduler and the StatefulSet controller against a running sim, with the test playing binder (and,
//! once, provisioner): spec checks 45-48 and issue 3's StatefulSet scale 0 → 3 → 1 → 3 scenario.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_sim::Sim;
use binder::play_binder;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Event, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

#[path = "workloads/binder.rs"]
mod binder;

const WAIT: Duration = Duration::from_secs(90);
const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";

/// Fails loudly (never skips) when the kubelets cannot sandbox containers here.
fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the simulated kubelet needs root (CAP_SYS_ADMIN) for private mount namespaces; run these tests as root"
    );
}

/// Polls `probe` until it yields a value; panics with `what` after [`WAIT`].
async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn create<K>(api: &Api<K>, object: Value) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let typed: K = serde_json::from_value(object).unwrap();
    api.create(&PostParams::default(), &typed).await.unwrap()
}

fn merge(value: Value) -> Patch<Value> {
    Patch::Merge(value)
}

fn class(name: &str, provisioner: &str) -> Value {
    json!({"metadata": {"name": name}, "provisioner": provisioner, "volumeBindingMode": "WaitForFirstConsumer"})
}

/// A `local` PV on `node` at `path`, optionally pre-bound (by name only) to `claim` in `default`.
fn local_volume(name: &str, class: &str, node: &str, path: &str, claim: Option<&str>) -> Value {
    let mut volume = json!({"metadata": {"name": name}, "spec": {
        "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}, "storageClassName": class,
        "local": {"path": path},
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}});
    if let Some(claim) = claim {
        volume["spec"]["claimRef"] = json!({"namespace": "default", "name": claim});
    }
    volume
}

/// StatefulSet `web` whose pods keep a token in their volume and copy it to `read-back` when they find
/// one left by an earlier pod of the same ordinal.
fn web(replicas: i32, class: &str, policy: &str) -> Value {
    let script = "if [ -f /data/token ]; then cat /data/token > /data/read-back; else echo token > /data/token; fi; exec sleep 3600";
    json!({"metadata": {"name": "web"}, "spec": {
        "replicas": replicas, "serviceName": "web", "podManagementPolicy": policy,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "app", "image": "busybox", "command": ["sh", "-c", script],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
            "storageClassName": class, "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})
}

fn node_of(pod: &Pod) -> Option<String> {
    pod.spec.as_ref()?.node_name.clone()
}

fn pod_condition(pod: &Pod, type_: &str) -> Option<(String, Option<String>, Option<String>)> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let c = conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

async fn scale(sets: &Api<StatefulSet>, replicas: i32) {
    sets.patch(
        "web",
        &PatchParams::default(),
        &merge(json!({"spec": {"replicas": replicas}})),
    )
    .await
    .unwrap();
}

/// Waits for replicas = readyReplicas = currentReplicas = updatedReplicas = `n` at the current generation.
async fn settled(sets: &Api<StatefulSet>, n: i32) -> StatefulSet {
    wait_for(&format!("web settled at {n} ready replicas"), || async {
        let set = sets.get("web").await.unwrap();
        let status = set.status.clone()?;
        let ok = status.replicas == n
            && status.ready_replicas.unwrap_or(0) == n
            && status.current_replicas.unwrap_or(0) == n
            && status.updated_replicas.unwrap_or(0) == n
            && status.observed_generation == set.metadata.generation;
        ok.then_some(set)
    })
    .await
}

/// Records pod names in the order they start terminating (deletionTimestamp or deletion).
fn record_terminations(pods: Api<Pod>) -> (Arc<Mutex<Vec<String>>>, tokio::task::JoinHandle<()>) {
    let order = Arc::new(Mutex::new(Vec::new()));
    let seen = order.clone();
    let task = tokio::spawn(async move {
        let mut events =
            std::pin::pin!(watcher(pods, watcher::Config::default().labels("app=web")));
        while let Some(event) = events.next().await {
            let pod = match event {
                Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod))
                    if pod.metadata.deletion_timestamp.is_some() =>
                {
                    pod
                }
                Ok(watcher::Event::Delete(pod)) => pod,
                _ => continue,
            };
            let mut order = seen.lock().unwrap();
            if !order.contains(&pod.name_any()) {
                order.push(pod.name_any());
            }
        }
    });
    (order, task)
}

#[tokio::test]
async fn statefulset_on_prebound_local_volumes_scales_0_3_1_3() {
    require_root();
    let sim = Sim::builder().nodes(3).start().await.unwrap();
    let client = sim.client();
    let binder = tokio::spawn(play_binder(client.clone()));
    create(
        &Api::<StorageClass>::all(client.clone()),
        class("local", "kubernetes.io/no-provisioner"),
    )
    .await;
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    for i in 0..3 {
        let node = format!("node-{}", i + 1);
        std::fs::create_dir_all(sim.node_dir(&node).join(format!("mnt/web-{i}"))).unwrap();
        let claim = format!("data-web-{i}");
        create(
            &volumes,
            local_volume(
                &format!("pv-web-{i}"),
                "local",
                &node,
                &format!("/mnt/web-{i}"),
                Some(&claim),
            ),
        )
        .await;
    }
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    create(&sets, web(0, "local", "OrderedReady")).await;

    scale(&sets, 3).await;
    let set = settled(&sets, 3).await;
    let revision = set.status.unwrap().update_revision.unwrap();
    for i in 0..3 {
        let pod = pods.get(&format!("web-{i}")).await.unwrap();
        assert_eq!(
            node_of(&pod),
            Some(format!("node-{}", i + 1)),
            "web-{i} runs where its volume is"
        );
        let labels = pod.labels();
        assert_eq!(
            labels.get("statefulset.kubernetes.io/pod-name"),
            Some(&format!("web-{i}"))
        );
        assert_eq!(
            labels.get("apps.kubernetes.io/pod-index"),
            Some(&i.to_string())
        );
        assert_eq!(labels.get("controller-revision-hash"), Some(&revision));
        let owner = &pod.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("StatefulSet", Some(true))
        );
        let claim = claims.get(&format!("data-web-{i}")).await.unwrap();
        assert_eq!(claim.labels().get("app").map(String::as_str), Some("web"));
        assert_eq!(claim.spec.unwrap().volume_name, Some(format!("pv-web-{i}")));
    }
    let token = sim.node_dir("node-3").join("mnt/web-2/token");
    let written = wait_for("web-2's token", || async {
        std::fs::read_to_string(&token).ok()
    })
    .await;
    assert_eq!(written, "token\n");

    let (terminations, recorder) = record_terminations(pods.clone());
    scale(&sets, 1).await;
    settled(&sets, 1).await;
    for name in ["web-1", "web-2"] {
        wait_for(&format!("{name} gone"), || async {
            pods.get_opt(name).await.unwrap().is_none().then_some(())
        })
        .await;
    }
    recorder.abort();
    assert_eq!(
        *terminations.lock().unwrap(),
        ["web-2", "web-1"],
        "scale-down goes from the highest ordinal"
    );
    for i in 0..3 {
        let claim = claims.get(&format!("data-web-{i}")).await.unwrap();
        assert_eq!(
            claim.metadata.owner_references, None,
            "Retain keeps data-web-{i} unowned"
        );
    }

    scale(&sets, 3).await;
    settled(&sets, 3).await;
    for i in 1..3 {
        let pod = pods.get(&format!("web-{i}")).await.unwrap();
        assert_eq!(
            node_of(&pod),
            Some(format!("node-{}", i + 1)),
            "web-{i} is back on its node"
        );
    }
    let read_back = sim.node_dir("node-3").join("mnt/web-2/read-back");
    let content = wait_for("the new web-2 reading the old token", || async {
        std::fs::read_to_string(&read_back).ok()
    })
    .await;
    assert_eq!(content, "token\n");
    binder.abort();
}

#[tokio::test]
async fn scheduler_pre_binds_static_volumes_one_node_each() {
    let sim = Sim::builder()
        .nodes(3)
        .kubelets(false)
        .start()
        .await
        .unwrap();
    let client = sim.client();
    let binder = tokio::spawn(play_binder(client.clone()));
    create(
        &Api::<StorageClass>::all(client.clone()),
        class("local", "kubernetes.io/no-provisioner"),
    )
    .await;
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    for n in 1..=3 {
        create(
            &volumes,
            local_volume(
                &format!("pv-{n}"),
                "local",
                &format!("node-{n}"),
                "/mnt/disk",
                None,
            ),
        )
        .await;
    }
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    create(&sets, web(3, "local", "Parallel")).await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let mut nodes = Vec::new();
    for i in 0..3 {
        let name = format!("web-{i}");
        let pod = wait_for(&format!("{name} scheduled"), || async {
            pods.get(&name).await.ok().filter(|p| node_of(p).is_some())
        })
        .await;
        let node = node_of(&pod).unwrap();
        let (status, _, _) = pod_condition(&pod, "PodScheduled").unwrap();
        assert_eq!(status, "True");
        // the pod was bound only after its claim was fully bound, to the volume's node
        let claim = claims.get(&format!("data-web-{i}")).await.unwrap();
        assert!(
            claim
                .annotations()
                .contains_key("pv.kubernetes.io/bind-completed")
        );
        let volume = volumes
            .get(claim.spec.as_ref().unwrap().volume_name.as_deref().unwrap())
            .await
            .unwrap();
        assert_eq!(volume.name_any(), format!("pv-{}", &node["node-".len()..]));
        let claim_ref = volume.spec.unwrap().claim_ref.unwrap();
        assert_eq!(claim_ref.uid, claim.metadata.uid);
        assert_eq!(
            volume
                .metadata
                .annotations
                .unwrap()
                .get("pv.kubernetes.io/bound-by-controller")
                .map(String::as_str),
            Some("yes")
        );
        nodes.push(node);
    }
    nodes.sort();
    assert_eq!(
        nodes,
        ["node-1", "node-2", "node-3"],
        "replicas are spread over the nodes"
    );
    binder.abort();
}

#[tokio::test]
async fn check_47_provisioner_removing_selected_node_reschedules() {
    let sim = Sim::builder()
        .nodes(2)
        .kubelets(false)
        .start()
        .await
        .unwrap();
    let client = sim.client();
    let binder = tokio::spawn(play_binder(client.clone()));
    create(
        &Api::<StorageClass>::all(client.clone()),
        class("fake", "test.io/fake"),
    )
    .await;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let claim = create(
        &claims,
        json!({"metadata": {"name": "data"}, "spec": {"storageClassName": "fake",
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
    )
    .await;
    create(
        &pods,
        json!({"metadata": {"name": "app"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}}),
    )
    .await;

    let selected = |claims: Api<PersistentVolumeClaim>| async move {
        claims
            .get("data")
            .await
            .unwrap()
            .annotations()
            .get(SELECTED_NODE)
            .cloned()
    };
    wait_for("a selected node", || selected(claims.clone())).await;
    assert_eq!(
        node_of(&pods.get("app").await.unwrap()),
        None,
        "no binding before the claim is bound"
    );
    // the provisioner gives up on that node
    let reset = json!({"metadata": {"annotations": {SELECTED_NODE: null}}});
    claims
        .patch("data", &PatchParams::default(), &merge(reset))
        .await
        .unwrap();
    // The scheduler notices the removal and schedules again (upstream reports it as a PreBind failure event when
    // the removal lands while the binding waits; with other interleavings it simply re-selects): a node is
    // selected again.
    let node = wait_for("a node selected again", || selected(claims.clone())).await;

    // this time the provisioner delivers a volume on the selected node
    let mut volume = local_volume("pv-provisioned", "fake", &node, "/mnt/p", None);
    volume["spec"]["claimRef"] =
        json!({"namespace": "default", "name": "data", "uid": claim.metadata.uid});
    create(&Api::<PersistentVolume>::all(client.clone()), volume).await;
    let pod = wait_for("the pod bound", || async {
        pods.get("app").await.ok().filter(|p| node_of(p).is_some())
    })
    .await;
    assert_eq!(node_of(&pod), Some(node));
    binder.abort();
}

#[tokio::test]
async fn check_48_unbound_immediate_claim_keeps_the_pod_unschedulable() {
    let sim = Sim::builder()
        .nodes(2)
        .kubelets(false)
        .start()
        .await
        .unwrap();
    let client = sim.client();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(
        &claims,
        json!({"metadata": {"name": "data"}, "spec": {"storageClassName": "",
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
    )
    .await;
    create(
        &pods,
        json!({"metadata": {"name": "app"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}}),
    )
    .await;
    let expected = (
        "False".to_owned(),
        Some("Unschedulable".to_owned()),
        Some(
            "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. \
             preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
                .to_owned(),
        ),
    );
    // A first attempt may run before the scheduler's claim cache has the claim ("not found"); the condition
    // settles on the unbound-immediate-claim reason.
    let condition = wait_for("PodScheduled=False for the unbound claim", || async {
        pod_condition(&pods.get("app").await.unwrap(), "PodScheduled").filter(|c| *c == expected)
    })
    .await;
    assert_eq!(condition, expected);
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let list = events.list(&ListParams::default()).await.unwrap();
    let failed = list
        .items
        .iter()
        .find(|e| e.reason.as_deref() == Some("FailedScheduling"))
        .expect("a FailedScheduling event");
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert_eq!(failed.involved_object.name.as_deref(), Some("app"));

    // once the binder binds it, the pod is scheduled onto the volume's node
    let binder = tokio::spawn(play_binder(client.clone()));
    let mut volume = local_volume("pv-1", "", "node-2", "/mnt/1", Some("data"));
    volume["spec"]["storageClassName"] = json!("");
    create(&Api::<PersistentVolume>::all(client.clone()), volume).await;
    let pod = wait_for("the pod bound", || async {
        pods.get("app").await.ok().filter(|p| node_of(p).is_some())
    })
    .await;
    assert_eq!(node_of(&pod).as_deref(), Some("node-2"));
    binder.abort();
}

#[tokio::test]
async fn retention_policy_hands_claims_to_the_garbage_collector() {
    // no scheduler or kubelets: unscheduled pods go away at once, so only ownership decides
    let sim = Sim::builder()
        .nodes(1)
        .scheduler(false)
        .kubelets(false)
        .start()
        .await
        .unwrap();
    let client = sim.client();
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut set = web(2, "local", "Parallel");
    set["spec"]["persistentVolumeClaimRetentionPolicy"] =
        json!({"whenDeleted": "Delete", "whenScaled": "Delete"});
    let set = create(&sets, set).await;
    let owners = |name: &'static str| {
        let claims = claims.clone();
        async move {
            let claim = claims.get_opt(name).await.unwrap()?;
            let owner = claim.owner_references().first()?.clone();
            Some((owner.kind, owner.name, owner.uid, owner.controller))
        }
    };
    let set_owner = (
        "StatefulSet".to_owned(),
        "web".to_owned(),
        set.metadata.uid.clone().unwrap(),
        Some(true),
    );
    assert_eq!(
        wait_for("data-web-0 owned by the set", || owners("data-web-0")).await,
        set_owner
    );
    assert_eq!(
        wait_for("data-web-1 owned by the set", || owners("data-web-1")).await,
        set_owner
    );

    // whenScaled=Delete: the condemned pod takes the claim with it
    scale(&sets, 1).await;
    wait_for("data-web-1 collected", || async {
        claims
            .get_opt("data-web-1")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(pods.get_opt("web-1").await.unwrap().is_none());
    assert_eq!(owners("data-web-0").await, Some(set_owner));

    // whenDeleted=Delete: deleting the set removes pods and claims
    sets.delete("web", &Default::default()).await.unwrap();
    wait_for("pods and claims collected", || async {
        let pods_left = pods.list(&ListParams::default()).await.unwrap().items.len();
        let claims_left = claims
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len();
        (pods_left + claims_left == 0).then_some(())
    })
    .await;
}
