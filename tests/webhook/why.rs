//! `berth why` as the real binary against berth-sim (no binder running): what it prints and its exit status.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use berth_sim::Sim;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::api::{Api, Patch, PatchParams};

use crate::common::*;

/// A bare API server and a kubeconfig file for it.
struct Cluster {
    sim: Sim,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Cluster {
    async fn start() -> Self {
        let sim = Sim::builder()
            .api_only()
            .start()
            .await
            .expect("start berth-sim");
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).expect("write kubeconfig");
        Cluster {
            sim,
            _dir: dir,
            kubeconfig,
        }
    }

    /// A class-less PV in phase Available, as the binder would have left it.
    async fn available_volume(&self, name: &str, size: &str) {
        let volumes: Api<PersistentVolume> = Api::all(self.sim.client());
        create(&volumes, pv_json(name, size, "", &["ReadWriteOnce"])).await;
        let status = serde_json::json!({"status": {"phase": "Available"}});
        volumes
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .expect("set the PV Available");
    }

    /// A claim with storageClassName "": only class-less PVs can bind it, and nothing provisions for it.
    async fn claim(&self, name: &str, size: &str) {
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(self.sim.client(), "default");
        create(&claims, claim_json("default", name, size, Some(""))).await;
    }

    /// Runs `berth why <target>` without blocking the runtime that serves the sim.
    async fn why(&self, target: &str) -> Why {
        let (kubeconfig, target) = (self.kubeconfig.clone(), target.to_string());
        let output = tokio::task::spawn_blocking(move || run_berth_why(&kubeconfig, &target))
            .await
            .expect("join berth why");
        Why {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

#[derive(Debug)]
struct Why {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

// The test runs the real binary to check its exit status (clippy.toml reserves Command for src/agent).
#[allow(clippy::disallowed_methods)]
fn run_berth_why(kubeconfig: &Path, target: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["why", target, "--kubeconfig"])
        .arg(kubeconfig)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run berth why")
}

#[tokio::test]
async fn claim_larger_than_every_volume_is_stuck_and_exits_1() {
    let cluster = Cluster::start().await;
    cluster.available_volume("pv-small", "1Gi").await;
    cluster.available_volume("pv-medium", "2Gi").await;
    cluster.claim("big", "5Gi").await;

    let why = cluster.why("default/big").await;
    assert_eq!(why.code, Some(1), "{why:#?}");
    assert!(
        why.stdout.contains("Claim:   default/big (Pending)"),
        "{why:#?}"
    );
    assert!(why.stdout.contains("too small (1Gi < 5Gi)"), "{why:#?}");
    assert!(why.stdout.contains("too small (2Gi < 5Gi)"), "{why:#?}");
    assert!(why.stdout.contains("Next:    STUCK: "), "{why:#?}");
}

#[tokio::test]
async fn claim_with_a_fitting_volume_will_bind_and_exits_0() {
    let cluster = Cluster::start().await;
    cluster.available_volume("pv-small", "1Gi").await;
    cluster.available_volume("pv-fit", "5Gi").await;
    cluster.claim("data", "2Gi").await;

    let why = cluster.why("default/data").await;
    assert_eq!(why.code, Some(0), "{why:#?}");
    let fitting = why
        .stdout
        .lines()
        .find(|line| line.trim_start().starts_with("pv-fit "));
    assert!(
        fitting.is_some_and(|line| line.ends_with("fits: the binder picks this one")),
        "{why:#?}"
    );
    assert!(
        why.stdout
            .contains("Next:    the binder binds pv-fit on its next sync"),
        "{why:#?}"
    );
    assert!(why.stdout.contains("too small (1Gi < 2Gi)"), "{why:#?}");
}

#[tokio::test]
async fn missing_claim_fails_naming_the_claim() {
    let cluster = Cluster::start().await;

    let why = cluster.why("default/absent").await;
    assert_ne!(why.code, Some(0), "{why:#?}");
    assert!(
        why.stderr.contains("claim default/absent not found"),
        "{why:#?}"
    );
    assert_eq!(why.stdout, "", "{why:#?}");
}
