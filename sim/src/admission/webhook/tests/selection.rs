//! Selecting webhooks: rules, selectors, exemptions, ordering and reinvocation.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::super::test_server::{Answer, patch_base64};
use super::*;

#[tokio::test]
async fn non_matching_rules_and_selectors_skip_the_webhook() {
    let server = denying().await;
    let (url, ca) = (server.url("/"), server.pki.ca_bundle.clone());
    let lookup = lookup();
    let update_only = json!({"rules": [{"operations": ["UPDATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["persistentvolumeclaims"]}]});
    let pods_only = json!({"rules": [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["pods"]}]});
    let status_only = json!({"rules": [{"operations": ["*"], "apiGroups": [""], "apiVersions": ["*"], "resources": ["*/status"]}]});
    let cluster_only = json!({"rules": [{"operations": ["*"], "apiGroups": [""], "apiVersions": ["*"], "resources": ["*"], "scope": "Cluster"}]});
    let other_namespace =
        json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}}});
    let other_team = json!({"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]}});
    let other_app = json!({"objectSelector": {"matchLabels": {"app": "web"}}});
    for (index, extra) in [
        update_only,
        pods_only,
        status_only,
        cluster_only,
        other_namespace,
        other_team,
        other_app,
    ]
    .into_iter()
    .enumerate()
    {
        register(
            &lookup,
            &format!("c{index}"),
            vec![webhook(
                &format!("skip{index}.example.com"),
                &url,
                &ca,
                extra,
            )],
        );
    }
    let admitted = admit_claim(&lookup).await.expect("no webhook matches");
    assert_eq!(
        admitted["metadata"]["finalizers"],
        json!(["kubernetes.io/pvc-protection"])
    );
    assert!(server.received().is_empty());

    // the same webhook with matching selectors is called (and denies)
    let matching = json!({
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ns"}, "matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]},
        "objectSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
        "rules": [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["persistentvolumeclaims/*"], "scope": "Namespaced"}],
    });
    register(
        &lookup,
        "zz",
        vec![webhook("match.example.com", &url, &ca, matching)],
    );
    let err = admit_claim(&lookup).await.expect_err("called");
    assert_eq!(
        err.message(),
        "admission webhook \"match.example.com\" denied the request: called"
    );
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn status_rule_matches_the_status_subresource_and_sees_the_old_object() {
    let server = denying().await;
    let lookup = lookup();
    let status_rule = json!({"rules": [{"operations": ["UPDATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["persistentvolumeclaims/status"]}]});
    register(
        &lookup,
        "c",
        vec![webhook(
            "status.example.com",
            &server.url("/"),
            &server.pki.ca_bundle,
            status_rule,
        )],
    );
    let mut req = request(
        Operation::Update,
        "",
        "persistentvolumeclaims",
        Some("ns"),
        "data",
    );
    let old = claim();
    assert!(
        admit(
            &AdmissionConfig::default(),
            &lookup,
            &req,
            claim(),
            Some(&old)
        )
        .await
        .is_ok()
    );
    req.subresource = "status";
    let err = admit(
        &AdmissionConfig::default(),
        &lookup,
        &req,
        claim(),
        Some(&old),
    )
    .await
    .expect_err("called");
    assert_eq!(err.http_status(), 400);
    let review = &server.received()[0].review;
    assert_eq!(review["request"]["subResource"], "status");
    assert_eq!(review["request"]["oldObject"], old);
}

#[tokio::test]
async fn webhook_configurations_are_exempt() {
    let server = denying().await;
    let lookup = lookup();
    let everything = json!({"rules": [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"]}]});
    register(
        &lookup,
        "c",
        vec![webhook(
            "all.example.com",
            &server.url("/"),
            &server.pki.ca_bundle,
            everything,
        )],
    );
    let req = request(
        Operation::Create,
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        None,
        "x",
    );
    assert!(
        admit(&AdmissionConfig::default(), &lookup, &req, json!({}), None)
            .await
            .is_ok()
    );
    assert!(server.received().is_empty());
}

/// A webhook appending `tag` to the "order" annotation.
fn tagging(review: &Value, tag: &str) -> Answer {
    let object = &review["request"]["object"];
    let previous = object
        .pointer("/metadata/annotations/order")
        .and_then(Value::as_str)
        .unwrap_or("");
    let patch = if object.pointer("/metadata/annotations").is_some() {
        json!([{"op": "add", "path": "/metadata/annotations/order", "value": format!("{previous}{tag}")}])
    } else {
        json!([{"op": "add", "path": "/metadata/annotations", "value": {"order": tag}}])
    };
    Answer::json(patch_base64(review, &patch))
}

#[tokio::test]
async fn configurations_run_by_name_then_webhook_order() {
    let a = serving(|review| tagging(review, "a")).await;
    let b = serving(|review| tagging(review, "b")).await;
    let c = serving(|review| tagging(review, "c")).await;
    let lookup = lookup();
    register(
        &lookup,
        "2-second",
        vec![webhook(
            "c.example.com",
            &c.url("/"),
            &c.pki.ca_bundle,
            json!({}),
        )],
    );
    register(
        &lookup,
        "1-first",
        vec![
            webhook("b.example.com", &b.url("/"), &b.pki.ca_bundle, json!({})),
            webhook("a.example.com", &a.url("/"), &a.pki.ca_bundle, json!({})),
        ],
    );
    let admitted = admit_claim(&lookup).await.expect("admitted");
    assert_eq!(admitted["metadata"]["annotations"]["order"], "bac");
}

/// Labels the claim with whether the "order" annotation existed when it was called.
fn observer(calls: &AtomicUsize, review: &Value) -> Answer {
    calls.fetch_add(1, Ordering::SeqCst);
    let saw = review["request"]["object"]
        .pointer("/metadata/annotations/order")
        .is_some();
    Answer::json(patch_base64(
        review,
        &json!([{"op": "add", "path": "/metadata/labels/saw-order", "value": saw.to_string()}]),
    ))
}

#[tokio::test]
async fn reinvocation_if_needed_calls_again_after_later_changes() {
    for (policy, expected_calls, expected_label) in [("IfNeeded", 2, "true"), ("Never", 1, "false")]
    {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let first = serving(move |review| observer(&counter, review)).await;
        let second = serving(|review| tagging(review, "x")).await;
        let lookup = lookup();
        register(
            &lookup,
            "a",
            vec![webhook(
                "observer.example.com",
                &first.url("/"),
                &first.pki.ca_bundle,
                json!({"reinvocationPolicy": policy}),
            )],
        );
        register(
            &lookup,
            "b",
            vec![webhook(
                "tagger.example.com",
                &second.url("/"),
                &second.pki.ca_bundle,
                json!({}),
            )],
        );
        let admitted = admit_claim(&lookup).await.expect("admitted");
        assert_eq!(calls.load(Ordering::SeqCst), expected_calls, "{policy}");
        assert_eq!(
            admitted["metadata"]["labels"]["saw-order"], expected_label,
            "{policy}"
        );
        assert_eq!(second.received().len(), 1, "{policy}");
    }
}

#[tokio::test]
async fn reinvocation_is_not_triggered_by_the_webhook_itself() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let only = serving(move |review| observer(&counter, review)).await;
    let lookup = lookup();
    register(
        &lookup,
        "a",
        vec![webhook(
            "observer.example.com",
            &only.url("/"),
            &only.pki.ca_bundle,
            json!({"reinvocationPolicy": "IfNeeded"}),
        )],
    );
    admit_claim(&lookup).await.expect("admitted");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
