//! The sim over HTTPS: a generated CA in the kubeconfig, trusted by kube-rs and kubectl.

mod common;

use berth_sim::Sim;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};

#[tokio::test]
async fn kube_rs_and_kubectl_talk_https() {
    let sim = Sim::builder().api_only().tls(true).start().await.unwrap();
    assert!(sim.url().starts_with("https://127.0.0.1:"));
    let namespaces: Api<Namespace> = Api::all(sim.client());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert_eq!(
        names,
        vec!["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    assert!(sim.kubeconfig_yaml().contains("certificate-authority-data"));

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let out = tokio::process::Command::new("kubectl")
        .args(["get", "namespaces", "-o", "name"])
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .await
        .expect("kubectl is required for this test but could not be run");
    assert!(
        out.status.success(),
        "kubectl over HTTPS failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/kube-system"));
}
