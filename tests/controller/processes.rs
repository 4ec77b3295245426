//! The `berth controller` binary as separate processes against berth-sim: two replicas with leader election,
//! and a replica killed with SIGKILL at random points while it binds.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth_sim::Sim;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::api::{Api, ListParams, PostParams};

use crate::common::*;

/// A `berth controller` process, killed when dropped.
struct ControllerProcess(Child);

impl ControllerProcess {
    // The test starts the real binary: process kills must be real (clippy.toml reserves Command for src/agent).
    #[allow(clippy::disallowed_methods)]
    fn spawn(kubeconfig: &Path, identity: &str, leader_elect: bool) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args([
                "controller",
                "--resync-seconds",
                "1",
                "--leader-elect",
                &leader_elect.to_string(),
            ])
            .args([
                "--leader-elect-namespace",
                "default",
                "--identity",
                identity,
            ])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn berth controller");
        ControllerProcess(child)
    }

    /// SIGKILL: no chance to finish anything in flight.
    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn sim_with_kubeconfig() -> (Sim, tempfile::TempDir, std::path::PathBuf) {
    let sim = Sim::builder()
        .scheduler(false)
        .statefulset_controller(false)
        .kubelets(false)
        .start()
        .await
        .expect("start berth-sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).expect("write kubeconfig");
    (sim, dir, kubeconfig)
}

/// `count` PVs and `count` claims of the same size: a perfect matching exists.
async fn create_world(client: &kube::Client, count: usize) {
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    for i in 0..count {
        let volume: PersistentVolume = object(pv_json(
            &format!("pv-{i:04}"),
            "1Gi",
            "",
            &["ReadWriteOnce"],
        ));
        volumes
            .create(&PostParams::default(), &volume)
            .await
            .expect("create pv");
        let claim: PersistentVolumeClaim = object(claim_json(
            "default",
            &format!("claim-{i:04}"),
            "1Gi",
            Some(""),
        ));
        claims
            .create(&PostParams::default(), &claim)
            .await
            .expect("create claim");
    }
}

/// Asserts the binding invariants over the whole cluster and returns how many claims are Bound.
async fn check_bindings(client: &kube::Client) -> usize {
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let volumes = volumes
        .list(&ListParams::default())
        .await
        .expect("list pvs")
        .items;
    let claims = claims
        .list(&ListParams::default())
        .await
        .expect("list claims")
        .items;
    let by_uid: BTreeMap<String, &PersistentVolumeClaim> = claims
        .iter()
        .map(|c| (c.metadata.uid.clone().unwrap_or_default(), c))
        .collect();
    let mut claimed_volumes = BTreeSet::new();
    for claim in &claims {
        let name = volume_name(claim);
        if !name.is_empty() {
            assert!(
                claimed_volumes.insert(name.to_string()),
                "volume {name} is named by two claims"
            );
        }
    }
    for volume in &volumes {
        let volume_name_ = volume.metadata.name.clone().unwrap_or_default();
        let Some(claim_ref) = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
            continue;
        };
        let Some(claim) = claim_ref.uid.as_ref().and_then(|uid| by_uid.get(uid)) else {
            continue;
        };
        let points_back = volume_name(claim);
        assert!(
            points_back.is_empty() || points_back == volume_name_,
            "{volume_name_} is bound to claim {:?}, which is bound to {points_back}",
            claim.metadata.name
        );
    }
    claims
        .iter()
        .filter(|c| {
            claim_phase(c) == "Bound" && volume_phase_of(&volumes, volume_name(c)) == "Bound"
        })
        .count()
}

fn volume_phase_of<'a>(volumes: &'a [PersistentVolume], name: &str) -> &'a str {
    volumes
        .iter()
        .find(|v| v.metadata.name.as_deref() == Some(name))
        .map(volume_phase)
        .unwrap_or("")
}

async fn wait_all_bound(client: &kube::Client, count: usize, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let bound = check_bindings(client).await;
        if bound == count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {bound} of {count} claims bound"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_bind_each_claim_once_and_only_the_leader_writes() {
    let (sim, _dir, kubeconfig) = sim_with_kubeconfig().await;
    let client = sim.client();
    create_world(&client, 1000).await;
    let first = ControllerProcess::spawn(&kubeconfig, "replica-a", true);
    let second = ControllerProcess::spawn(&kubeconfig, "replica-b", true);
    wait_all_bound(&client, 1000, Duration::from_secs(180)).await;

    let lease: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), "default");
    let lease = lease
        .get("berth-controller")
        .await
        .expect("the lease exists");
    let leader = lease
        .spec
        .and_then(|s| s.holder_identity)
        .expect("someone holds the lease");
    let follower = if leader == "replica-a" {
        "replica-b"
    } else {
        "replica-a"
    };
    let follower_writes: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.user_agent.contains(&format!("({follower})")))
        .filter(|r| WRITE_VERBS.contains(&r.verb.as_str()) && r.resource != "leases")
        .collect();
    assert!(
        follower_writes.is_empty(),
        "the follower {follower} wrote: {follower_writes:?}"
    );
    let leader_writes = sim
        .requests()
        .into_iter()
        .filter(|r| r.user_agent.contains(&format!("({leader})")) && r.verb == "update")
        .count();
    assert!(
        leader_writes >= 4000,
        "the leader made {leader_writes} updates for 1000 binds"
    );
    drop((first, second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_killed_at_random_points_converges_without_double_binding() {
    let (sim, _dir, kubeconfig) = sim_with_kubeconfig().await;
    let client = sim.client();
    create_world(&client, 300).await;
    // 20 kills at pseudo-random moments while binding is in progress; each restart rebuilds from the API.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..20 {
        let process = ControllerProcess::spawn(&kubeconfig, &format!("crash-{round}"), false);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(150 + seed % 400)).await;
        process.kill();
        check_bindings(&client).await;
    }
    let _survivor = ControllerProcess::spawn(&kubeconfig, "survivor", false);
    wait_all_bound(&client, 300, Duration::from_secs(120)).await;
}
