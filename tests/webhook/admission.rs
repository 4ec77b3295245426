//! The default-class webhook served in-process and called by berth-sim's MutatingAdmissionWebhook over TLS. The
//! sim only trusts the webhook through the caBundle that `server::run` publishes from its generated CA.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use berth::admission::server::{self, Options};
use berth::admission::tls::ServingCert;
use berth_sim::Sim;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, Patch, PatchParams, PostParams};
use tokio::task::JoinHandle;

use crate::common::*;

const CONFIGURATION: &str = "berth-default-class";
const IS_DEFAULT: &str = "storageclass.kubernetes.io/is-default-class";
const NAMESPACE: &str = "default";

/// A bare API server (built-in DefaultStorageClass plugin off, its default).
async fn sim() -> Sim {
    Sim::builder()
        .api_only()
        .start()
        .await
        .expect("start berth-sim")
}

fn class(name: &str, default: bool) -> serde_json::Value {
    let mut class = class_json(name, "hostpath.berth.dev", "WaitForFirstConsumer", "Delete");
    if default {
        class["metadata"]["annotations"] = serde_json::json!({ IS_DEFAULT: "true" });
    }
    class
}

/// The configuration as deployed, without a caBundle. UPDATE is registered too, so that the sim really asks the
/// webhook about updates and the update test shows the webhook itself declines to mutate them.
fn configuration(url: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": CONFIGURATION},
        "webhooks": [{
            "name": "default-class.berth.dev",
            "clientConfig": {"url": url},
            "rules": [{
                "operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
                "resources": ["persistentvolumeclaims"]
            }],
            "failurePolicy": "Ignore",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"]
        }]
    })
}

/// The sim with the webhook registered and serving; the webhook task is aborted on drop.
struct Cluster {
    sim: Sim,
    webhook: JoinHandle<server::Result<()>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.webhook.abort();
    }
}

impl Cluster {
    /// Registers the configuration, starts the webhook with a generated certificate, checks that it published
    /// its CA as the caBundle, then points the configuration's URL at the port it bound.
    async fn serve(sim: Sim) -> Self {
        let client = sim.client();
        let configurations: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
        // The port is only known once run() has bound it: the URL starts as a placeholder.
        create(&configurations, configuration("https://127.0.0.1:1/mutate")).await;
        // rcgen turns "127.0.0.1" into an IP SAN, which rustls verifies for an IP address URL.
        let cert = ServingCert::generate(&["127.0.0.1".into(), "localhost".into()])
            .expect("generate the serving certificate");
        let ca = cert.generated_ca_pem.clone().expect("a generated CA");
        let options = Options {
            listen: "127.0.0.1:0".parse().expect("listen address"),
            cert,
            webhook_configuration: Some(CONFIGURATION.into()),
        };
        let (listening_tx, listening_rx) = tokio::sync::oneshot::channel();
        let mut webhook = tokio::spawn(server::run(client, options, move |address| {
            let _ = listening_tx.send(address);
        }));
        let address = match tokio::time::timeout(CONVERGE, listening_rx).await {
            Ok(Ok(address)) => address,
            Ok(Err(_)) => panic!(
                "webhook stopped before listening: {:?}",
                (&mut webhook).await
            ),
            Err(_) => panic!("webhook did not listen within {CONVERGE:?}"),
        };

        let mut published = configurations
            .get(CONFIGURATION)
            .await
            .expect("read the configuration");
        let entry = &mut published.webhooks.as_mut().expect("webhooks")[0];
        let bundle = entry.client_config.ca_bundle.as_ref().map(|b| b.0.clone());
        assert_eq!(bundle.as_deref(), Some(ca.as_bytes()), "published caBundle");
        entry.client_config.url = Some(format!("https://{address}/mutate"));
        configurations
            .replace(CONFIGURATION, &PostParams::default(), &published)
            .await
            .expect("point the configuration at the webhook");
        Cluster { sim, webhook }
    }

    fn claims(&self) -> Api<PersistentVolumeClaim> {
        Api::namespaced(self.sim.client(), NAMESPACE)
    }

    /// Creates a claim and returns the class it was admitted with.
    async fn admitted_class(&self, name: &str, class: Option<&str>) -> Option<String> {
        let claim = create(&self.claims(), claim_json(NAMESPACE, name, "1Gi", class)).await;
        claim.spec.and_then(|spec| spec.storage_class_name)
    }
}

async fn create_classes(sim: &Sim, classes: &[serde_json::Value]) {
    let api: Api<StorageClass> = Api::all(sim.client());
    for class in classes {
        create(&api, class.clone()).await;
    }
}

#[tokio::test]
async fn classless_claim_gets_the_default_and_stated_classes_are_kept() {
    let sim = sim().await;
    create_classes(&sim, &[class("hostpath", true), class("lvm", false)]).await;
    let cluster = Cluster::serve(sim).await;

    assert_eq!(
        cluster.admitted_class("no-class", None).await.as_deref(),
        Some("hostpath")
    );
    assert_eq!(
        cluster
            .admitted_class("empty-class", Some(""))
            .await
            .as_deref(),
        Some("")
    );
    assert_eq!(
        cluster
            .admitted_class("named-class", Some("lvm"))
            .await
            .as_deref(),
        Some("lvm")
    );
}

#[tokio::test]
async fn newest_of_two_default_classes_wins_over_the_name_order() {
    let sim = sim().await;
    // creationTimestamp has second precision: wait past the next second so the two differ. The older class
    // sorts first by name, so picking it would mean the name tie-break was applied before the age.
    create_classes(&sim, &[class("a-older", true)]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    create_classes(&sim, &[class("b-newer", true)]).await;
    let classes: Api<StorageClass> = Api::all(sim.client());
    let created = |class: StorageClass| class.metadata.creation_timestamp.map(|t| t.0);
    let older = created(classes.get("a-older").await.expect("a-older"));
    let newer = created(classes.get("b-newer").await.expect("b-newer"));
    assert!(older < newer, "timestamps {older:?} and {newer:?}");
    let cluster = Cluster::serve(sim).await;

    assert_eq!(
        cluster.admitted_class("claim", None).await.as_deref(),
        Some("b-newer")
    );
}

#[tokio::test]
async fn without_a_default_the_class_stays_nil_and_updates_are_never_mutated() {
    let sim = sim().await;
    create_classes(&sim, &[class("hostpath", false)]).await;
    let cluster = Cluster::serve(sim).await;
    assert_eq!(cluster.admitted_class("early", None).await, None);

    let classes: Api<StorageClass> = Api::all(cluster.sim.client());
    let make_default = serde_json::json!({"metadata": {"annotations": { IS_DEFAULT: "true" }}});
    classes
        .patch(
            "hostpath",
            &PatchParams::default(),
            &Patch::Merge(&make_default),
        )
        .await
        .expect("mark hostpath default");
    // Once the webhook's cache sees the default, new claims get it; this shows the webhook is live and
    // would mutate, so an unchanged update below is its decision.
    let probes = AtomicUsize::new(0);
    eventually("a new claim gets the new default class", || async {
        let name = format!("probe-{}", probes.fetch_add(1, Ordering::Relaxed));
        let class = cluster.admitted_class(&name, None).await;
        (class.as_deref() == Some("hostpath")).then_some(())
    })
    .await;

    let label = serde_json::json!({"metadata": {"labels": {"touched": "yes"}}});
    let updated = cluster
        .claims()
        .patch("early", &PatchParams::default(), &Patch::Merge(&label))
        .await
        .expect("update the early claim");
    assert_eq!(touched_label(&updated), Some("yes"));
    assert_eq!(updated.spec.and_then(|s| s.storage_class_name), None);
}

fn touched_label(claim: &PersistentVolumeClaim) -> Option<&str> {
    claim
        .metadata
        .labels
        .as_ref()?
        .get("touched")
        .map(String::as_str)
}
