//! Test controls through the Rust handle and the `/_sim` admin endpoint, the request log, and the
//! `berth-sim serve` command line.

mod common;

use std::time::Duration;

use berth_sim::controls::{Fault, Latency, RequestMatch};
use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn injected_faults_fail_matching_requests_with_status_bodies() {
    let sim = api_only().await;
    sim.inject_fault(Fault {
        code: 500,
        matches: RequestMatch {
            verb: Some("create".into()),
            resource: Some("configmaps".into()),
            ..RequestMatch::default()
        },
        rate: 1.0,
        count: Some(2),
    });
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let cms = "/api/v1/namespaces/default/configmaps";
    for _ in 0..2 {
        let r = Raw::post(&sim, cms, &body).await;
        assert_eq!(r.status, 500);
        assert_eq!(r.json()["kind"], "Status");
        assert_eq!(r.json()["reason"], "InternalError");
    }
    assert_eq!(
        Raw::post(&sim, cms, &body).await.status,
        201,
        "the fault was limited to two requests"
    );
    assert_eq!(
        Raw::get(&sim, &format!("{cms}/c")).await.status,
        200,
        "other verbs are unaffected"
    );

    let throttled = Raw::send(
        &sim,
        "POST",
        "/_sim/faults",
        &[("Content-Type", "application/json")],
        Some(br#"{"code":429,"verb":"list"}"#),
    )
    .await;
    assert_eq!(throttled.status, 200);
    let r = Raw::get(&sim, cms).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["details"]["retryAfterSeconds"], 1);
    assert_eq!(
        Raw::send(&sim, "DELETE", "/_sim/faults", &[], None)
            .await
            .status,
        200
    );
    assert_eq!(Raw::get(&sim, cms).await.status, 200);
}

#[tokio::test]
async fn request_log_records_user_agents_and_latency_applies() {
    let sim = api_only().await;
    sim.clear_requests();
    let client = sim.client_with_user_agent("berth-binder/0.1").unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.list(&ListParams::default()).await.unwrap();
    let entries = sim.requests();
    let listed = entries
        .iter()
        .find(|r| r.verb == "list" && r.resource == "configmaps")
        .unwrap();
    assert_eq!(listed.user_agent, "berth-binder/0.1");
    assert_eq!(listed.namespace, "default");
    let over_http = Raw::get(&sim, "/_sim/requests").await.json();
    assert!(
        over_http
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["userAgent"] == "berth-binder/0.1")
    );

    // a create held back by a long injected latency has not happened while other verbs still answer
    sim.inject_latency(Latency {
        millis: 60_000,
        matches: RequestMatch {
            verb: Some("create".into()),
            ..RequestMatch::default()
        },
    });
    let slow_api = api.clone();
    let slow = tokio::spawn(async move {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "slow"}})).unwrap();
        slow_api.create(&PostParams::default(), &cm).await
    });
    for _ in 0..20 {
        if sim.requests().iter().any(|r| r.verb == "create") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        sim.requests().iter().any(|r| r.verb == "create"),
        "the create never reached the server"
    );
    assert!(
        api.get_opt("slow").await.unwrap().is_none(),
        "the delayed create was applied"
    );
    slow.abort();
    sim.clear_latency();
}

#[tokio::test]
async fn admin_endpoint_controls_watches_and_quiescence() {
    let sim = api_only().await;
    let rv = sim.resource_version();
    let mut w = WatchStream::open(
        &sim,
        &format!("{PVCS}?watch=true&resourceVersion={rv}"),
        &[],
    )
    .await;
    assert_eq!(
        Raw::send(&sim, "POST", "/_sim/watches/close", &[], None)
            .await
            .status,
        200
    );
    assert_eq!(w.next_line(Duration::from_secs(5)).await, None);
    assert!(w.ended, "closing watches must end the stream cleanly");

    let mut w = WatchStream::open(
        &sim,
        &format!("{PVCS}?watch=true&resourceVersion={rv}"),
        &[],
    )
    .await;
    assert_eq!(
        Raw::send(&sim, "POST", "/_sim/watches/expire", &[], None)
            .await
            .status,
        200
    );
    let e = w.next_event(Duration::from_secs(5)).await;
    assert_eq!(e["type"], "ERROR");
    assert_eq!(e["object"]["code"], 410);

    let q = Raw::get(&sim, "/_sim/quiescent?quietMillis=200&timeoutMillis=5000")
        .await
        .json();
    assert_eq!(q["quiescent"], true);
}

#[tokio::test]
async fn serve_command_writes_kubeconfig_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_berth-sim"))
        .args(["serve", "--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(&kubeconfig)
        .args(["--nodes", "2", "--node-root"])
        .arg(dir.path().join("nodes"))
        .args([
            "--no-scheduler",
            "--no-statefulset-controller",
            "--no-kubelets",
            "--builtin-default-class",
        ])
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut ready = false;
    for _ in 0..100 {
        if kubeconfig.exists() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "no kubeconfig was written");
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&kubeconfig).unwrap(),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client);
    let names: Vec<String> = nodes
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert_eq!(names, vec!["node-1", "node-2"]);
    assert!(dir.path().join("nodes").join("node-2").is_dir());
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "serve exited with {status}");
}
