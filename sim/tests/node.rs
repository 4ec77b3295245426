//! The node-side actors against a running sim: kubelet (real processes in private mount namespaces), the
//! pvc-/pv-protection controllers, the garbage collector and the namespace controller (spec checks 35, 36, 40
//! in part, 49). The scheduler and StatefulSet controller are off: tests bind pods and claims themselves.

use std::future::Future;
use std::time::Duration;

use berth_sim::Sim;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Namespace, PersistentVolume, PersistentVolumeClaim, Pod,
};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

/// Fails loudly (never skips) when containers cannot be sandboxed here.
fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the simulated kubelet needs root (CAP_SYS_ADMIN) for private mount namespaces; run these tests as root"
    );
}

async fn sim() -> Sim {
    require_root();
    Sim::builder()
        .nodes(2)
        .scheduler(false)
        .statefulset_controller(false)
        .start()
        .await
        .unwrap()
}

/// Polls `probe` until it yields a value; panics with `what` after a minute.
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

async fn gone<K>(api: &Api<K>, name: &str) -> Option<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await.unwrap().is_none().then_some(())
}

/// A claim `name` in `default` bound to a `local` PV at `path` on `node` (the test plays the binder).
async fn bound_local_claim(sim: &Sim, name: &str, path: &str, node: &str) {
    bound_local_claim_annotated(sim, name, path, node, json!({})).await;
}

async fn bound_local_claim_annotated(
    sim: &Sim,
    name: &str,
    path: &str,
    node: &str,
    annotations: Value,
) {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(sim.client(), "default");
    let volumes: Api<PersistentVolume> = Api::all(sim.client());
    let pv_name = format!("pv-{name}");
    let claim = create(
        &claims,
        json!({"metadata": {"name": name, "annotations": annotations},
               "spec": {"accessModes": ["ReadWriteOnce"], "volumeName": pv_name,
               "storageClassName": "", "resources": {"requests": {"storage": "1Gi"}}}}),
    )
    .await;
    create(
        &volumes,
        json!({"metadata": {"name": pv_name}, "spec": {
            "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}, "storageClassName": "",
            "local": {"path": path},
            "claimRef": {"namespace": "default", "name": name, "uid": claim.metadata.uid},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}}),
    )
    .await;
    let bound = Patch::Merge(json!({"status": {"phase": "Bound"}}));
    volumes
        .patch_status(&pv_name, &PatchParams::default(), &bound)
        .await
        .unwrap();
    claims
        .patch_status(name, &PatchParams::default(), &bound)
        .await
        .unwrap();
}

fn pod(name: &str, node: &str, claim: Option<&str>, script: &str) -> Value {
    let mut pod = json!({
        "metadata": {"name": name},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 5, "containers": [
            {"name": "app", "image": "busybox", "command": ["sh", "-c", script]}]}
    });
    if let Some(claim) = claim {
        pod["spec"]["volumes"] =
            json!([{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]);
        pod["spec"]["containers"][0]["volumeMounts"] =
            json!([{"name": "data", "mountPath": "/data"}]);
    }
    pod
}

fn condition(pod: &Pod, type_: &str) -> Option<String> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.clone())
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

async fn pod_when(pods: &Api<Pod>, name: &str, what: &str, test: impl Fn(&Pod) -> bool) -> Pod {
    wait_for(what, || async {
        pods.get_opt(name).await.unwrap().filter(|p| test(p))
    })
    .await
}

#[tokio::test]
async fn check_49_pod_waits_for_its_local_volume_then_writes_into_it() {
    let sim = sim().await;
    bound_local_claim(&sim, "data", "/mnt/disks/vol1", "node-1").await;
    let pods: Api<Pod> = Api::namespaced(sim.client(), "default");
    create(
        &pods,
        pod(
            "writer",
            "node-1",
            Some("data"),
            "echo token > /data/f && exec sleep 3600",
        ),
    )
    .await;

    let events: Api<Event> = Api::namespaced(sim.client(), "default");
    let failed_mount = wait_for("a FailedMount event", || async {
        let list = events.list(&ListParams::default()).await.unwrap();
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("FailedMount"))
    })
    .await;
    assert_eq!(failed_mount.type_.as_deref(), Some("Warning"));
    assert_eq!(failed_mount.involved_object.name.as_deref(), Some("writer"));
    assert!(
        failed_mount
            .message
            .unwrap_or_default()
            .contains("does not exist")
    );
    let waiting = pods.get("writer").await.unwrap();
    assert_eq!(phase(&waiting), Some("Pending"));
    let state = &waiting
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0]
        .state;
    assert_eq!(
        state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("ContainerCreating")
    );

    let volume_dir = sim.node_dir("node-1").join("mnt/disks/vol1");
    std::fs::create_dir_all(&volume_dir).unwrap();
    let running = pod_when(&pods, "writer", "writer Running and Ready", |p| {
        phase(p) == Some("Running") && condition(p, "Ready").as_deref() == Some("True")
    })
    .await;
    let status = running.status.unwrap();
    assert!(status.pod_ip.is_some());
    assert_eq!(status.host_ip.as_deref(), Some("10.0.0.2"));
    for type_ in [
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
    ] {
        assert!(
            status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == type_ && c.status == "True"),
            "{type_}"
        );
    }
    let file = volume_dir.join("f");
    let content = wait_for("the container's file on the node", || async {
        std::fs::read_to_string(&file).ok()
    })
    .await;
    assert_eq!(content, "token\n");

    // Graceful deletion: the kubelet stops the container and removes the pod; the data stays on the node.
    pods.delete("writer", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("the pod to be gone", || gone(&pods, "writer")).await;
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "token\n");
}

#[tokio::test]
async fn volumes_are_per_node() {
    let sim = sim().await;
    bound_local_claim(&sim, "data", "/srv/vol", "node-2").await;
    std::fs::create_dir_all(sim.node_dir("node-2").join("srv/vol")).unwrap();
    let pods: Api<Pod> = Api::namespaced(sim.client(), "default");
    create(
        &pods,
        pod(
            "second",
            "node-2",
            Some("data"),
            "echo two > /data/f && exec sleep 3600",
        ),
    )
    .await;
    let file = sim.node_dir("node-2").join("srv/vol/f");
    let content = wait_for("the file on node-2", || async {
        std::fs::read_to_string(&file).ok()
    })
    .await;
    assert_eq!(content, "two\n");
    assert!(
        !sim.node_dir("node-1").join("srv/vol").exists(),
        "node-1's disk is untouched"
    );
}

#[tokio::test]
async fn unbound_claim_keeps_the_pod_pending() {
    let sim = sim().await;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(sim.client(), "default");
    create(
        &claims,
        json!({"metadata": {"name": "unbound"}, "spec": {"accessModes": ["ReadWriteOnce"],
               "resources": {"requests": {"storage": "1Gi"}}}}),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(sim.client(), "default");
    create(
        &pods,
        pod("stuck", "node-1", Some("unbound"), "exec sleep 3600"),
    )
    .await;
    let events: Api<Event> = Api::namespaced(sim.client(), "default");
    let message = wait_for("FailedMount for the unbound claim", || async {
        let list = events.list(&ListParams::default()).await.unwrap();
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("FailedMount"))
            .and_then(|e| e.message)
    })
    .await;
    assert!(
        message.contains("PVC default/unbound has non-bound phase (\"Pending\")"),
        "{message}"
    );
    assert_eq!(phase(&pods.get("stuck").await.unwrap()), Some("Pending"));
}

#[tokio::test]
async fn restart_policy_probes_and_exit_codes() {
    let sim = sim().await;
    let pods: Api<Pod> = Api::namespaced(sim.client(), "default");
    let mut never = pod("fails", "node-1", None, "exit 3");
    never["spec"]["restartPolicy"] = json!("Never");
    create(&pods, never).await;
    let failed = pod_when(&pods, "fails", "phase Failed", |p| {
        phase(p) == Some("Failed")
    })
    .await;
    let status = &failed.status.unwrap().container_statuses.unwrap()[0];
    let terminated = status.state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(
        (terminated.exit_code, terminated.reason.as_deref()),
        (3, Some("Error"))
    );

    let mut done = pod("done", "node-1", None, "true");
    done["spec"]["restartPolicy"] = json!("OnFailure");
    create(&pods, done).await;
    pod_when(&pods, "done", "phase Succeeded", |p| {
        phase(p) == Some("Succeeded")
    })
    .await;

    // Crashing with restartPolicy Always: the first restart is immediate.
    create(&pods, pod("crash", "node-1", None, "exit 1")).await;
    pod_when(&pods, "crash", "a restart", |p| {
        let statuses = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.clone())
            .unwrap_or_default();
        statuses.first().is_some_and(|c| c.restart_count >= 1)
    })
    .await;

    // Readiness comes from an exec probe run inside the container's own /tmp.
    let mut probed = pod(
        "probed",
        "node-1",
        None,
        "sleep 1; touch /tmp/ready; exec sleep 3600",
    );
    probed["spec"]["containers"][0]["readinessProbe"] =
        json!({"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1});
    create(&pods, probed).await;
    let ready = pod_when(&pods, "probed", "probe-driven readiness", |p| {
        condition(p, "Ready").as_deref() == Some("True")
    })
    .await;
    assert_eq!(phase(&ready), Some("Running"));
}

#[tokio::test]
async fn check_35_claim_in_use_waits_for_its_pod() {
    let sim = sim().await;
    bound_local_claim(&sim, "used", "/mnt/used", "node-1").await;
    std::fs::create_dir_all(sim.node_dir("node-1").join("mnt/used")).unwrap();
    let pods: Api<Pod> = Api::namespaced(sim.client(), "default");
    create(
        &pods,
        pod("user", "node-1", Some("used"), "exec sleep 3600"),
    )
    .await;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(sim.client(), "default");
    wait_for("the protection finalizer", || async {
        let claim = claims.get("used").await.unwrap();
        claim
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"kubernetes.io/pvc-protection".to_string())
            .then_some(())
    })
    .await;

    claims
        .delete("used", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = claims.get("used").await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    // The claim stays while its scheduled pod exists (give the controller time to act wrongly).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(claims.get_opt("used").await.unwrap().is_some());

    pods.delete("user", &DeleteParams::default()).await.unwrap();
    wait_for("the claim to go with its pod", || gone(&claims, "used")).await;
}

#[tokio::test]
async fn check_36_bound_pv_stays_until_released() {
    let sim = sim().await;
    bound_local_claim(&sim, "c", "/mnt/c", "node-1").await;
    let volumes: Api<PersistentVolume> = Api::all(sim.client());
    volumes
        .delete("pv-c", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pv = volumes.get("pv-c").await.unwrap();
    assert!(pv.metadata.deletion_timestamp.is_some());
    let released = Patch::Merge(json!({"status": {"phase": "Released"}}));
    volumes
        .patch_status("pv-c", &PatchParams::default(), &released)
        .await
        .unwrap();
    wait_for("the released PV to go", || gone(&volumes, "pv-c")).await;
}

fn owned_config_map(name: &str, owner: &ConfigMap, block: bool) -> Value {
    json!({"metadata": {"name": name, "ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": owner.metadata.name, "uid": owner.metadata.uid,
        "blockOwnerDeletion": block}]}})
}

#[tokio::test]
async fn gc_background_foreground_and_orphan() {
    let sim = sim().await;
    let maps: Api<ConfigMap> = Api::namespaced(sim.client(), "default");

    let owner = create(&maps, json!({"metadata": {"name": "bg-owner"}})).await;
    create(&maps, owned_config_map("bg-dep", &owner, false)).await;
    maps.delete("bg-owner", &DeleteParams::background())
        .await
        .unwrap();
    wait_for("background dependent collected", || gone(&maps, "bg-dep")).await;

    let owner = create(&maps, json!({"metadata": {"name": "fg-owner"}})).await;
    create(&maps, owned_config_map("fg-dep", &owner, true)).await;
    maps.delete("fg-owner", &DeleteParams::foreground())
        .await
        .unwrap();
    wait_for("foreground dependent collected", || gone(&maps, "fg-dep")).await;
    wait_for("foreground owner released", || gone(&maps, "fg-owner")).await;

    let owner = create(&maps, json!({"metadata": {"name": "or-owner"}})).await;
    create(&maps, owned_config_map("or-dep", &owner, true)).await;
    let orphan = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Orphan),
        ..DeleteParams::default()
    };
    maps.delete("or-owner", &orphan).await.unwrap();
    wait_for("orphaning owner gone", || gone(&maps, "or-owner")).await;
    let orphaned = maps.get("or-dep").await.unwrap();
    assert_eq!(
        orphaned.metadata.owner_references.unwrap_or_default(),
        vec![]
    );
}

#[tokio::test]
async fn namespace_deletion_empties_the_namespace() {
    let sim = sim().await;
    let namespaces: Api<Namespace> = Api::all(sim.client());
    create(&namespaces, json!({"metadata": {"name": "team"}})).await;
    let maps: Api<ConfigMap> = Api::namespaced(sim.client(), "team");
    create(&maps, json!({"metadata": {"name": "settings"}})).await;
    let pods: Api<Pod> = Api::namespaced(sim.client(), "team");
    create(&pods, pod("worker", "node-1", None, "exec sleep 3600")).await;
    pod_when(&pods, "worker", "worker Running", |p| {
        phase(p) == Some("Running")
    })
    .await;

    namespaces
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("the namespace to be gone", || gone(&namespaces, "team")).await;
    assert!(
        maps.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn ready_replicas(sets: &Api<StatefulSet>, wanted: i32) {
    wait_for(&format!("{wanted} ready replicas"), || async {
        let set = sets.get("web").await.unwrap();
        (set.status.and_then(|s| s.ready_replicas).unwrap_or(0) == wanted).then_some(())
    })
    .await;
}

/// With every actor on: a StatefulSet on pre-bound local volumes scales 3 -> 1 -> 3 and the new web-2 reads,
/// through its mount, the token the old web-2 wrote; deleting the set garbage-collects its pods.
#[tokio::test]
async fn statefulset_pods_find_their_data_again() {
    require_root();
    let sim = Sim::builder().nodes(3).start().await.unwrap();
    for i in 0..3 {
        let node = format!("node-{}", i + 1);
        std::fs::create_dir_all(sim.node_dir(&node).join(format!("mnt/v{i}"))).unwrap();
        let completed = json!({"pv.kubernetes.io/bind-completed": "yes"});
        bound_local_claim_annotated(
            &sim,
            &format!("data-web-{i}"),
            &format!("/mnt/v{i}"),
            &node,
            completed,
        )
        .await;
    }
    let sets: Api<StatefulSet> = Api::namespaced(sim.client(), "default");
    let script = "if [ -f /data/token ]; then cat /data/token > /data/readback; \
                  else echo token-$(hostname) > /data/token; fi; exec sleep 3600";
    create(
        &sets,
        json!({"metadata": {"name": "web"}, "spec": {
            "replicas": 3, "serviceName": "web", "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                "terminationGracePeriodSeconds": 3,
                "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script],
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                "resources": {"requests": {"storage": "1Gi"}}}}]}}),
    )
    .await;
    ready_replicas(&sets, 3).await;
    let node3 = sim.node_dir("node-3").join("mnt/v2");
    assert_eq!(
        std::fs::read_to_string(node3.join("token")).unwrap(),
        "token-web-2\n"
    );

    let scale = |replicas: i32| Patch::Merge(json!({"spec": {"replicas": replicas}}));
    sets.patch("web", &PatchParams::default(), &scale(1))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(sim.client(), "default");
    wait_for("scale-down to one pod", || async {
        (pods.list(&ListParams::default()).await.unwrap().items.len() == 1).then_some(())
    })
    .await;
    sets.patch("web", &PatchParams::default(), &scale(3))
        .await
        .unwrap();
    ready_replicas(&sets, 3).await;
    let readback = wait_for("the new web-2 reading the token", || async {
        std::fs::read_to_string(node3.join("readback")).ok()
    })
    .await;
    assert_eq!(readback, "token-web-2\n");

    sets.delete("web", &DeleteParams::default()).await.unwrap();
    wait_for("the set's pods collected", || async {
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
            .then_some(())
    })
    .await;
}
