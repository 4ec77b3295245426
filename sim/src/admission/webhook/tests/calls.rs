//! Calling webhooks: patches, denials, failure policies, TLS, dry run, service routes, validating webhooks.

use std::time::Duration;

use serde_json::{Value, json};

use super::super::test_server::{Answer, Pki, patch_base64, response_to};
use super::*;
use crate::admission::{ServiceKey, validate};

#[tokio::test]
async fn base64_patch_is_applied_and_the_review_is_upstream_shaped() {
    let server = serving(|review| Answer::json(patch_base64(review, &add_class_patch()))).await;
    let lookup = lookup();
    register(
        &lookup,
        "berth",
        vec![webhook(
            "default-class.berth.dev",
            &server.url("/mutate"),
            &server.pki.ca_bundle,
            json!({}),
        )],
    );
    let admitted = admit_claim(&lookup).await.expect("admitted");
    assert_eq!(admitted["spec"]["storageClassName"], "berth-local");
    assert_eq!(
        admitted["metadata"]["finalizers"],
        json!(["kubernetes.io/pvc-protection"])
    );

    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path_and_query, "/mutate?timeout=10s");
    let review = &received[0].review;
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(review["kind"], "AdmissionReview");
    assert_eq!(review["request"]["operation"], "CREATE");
    assert_eq!(review["request"]["namespace"], "ns");
    assert_eq!(
        review["request"]["object"]["metadata"]["finalizers"],
        json!(["kubernetes.io/pvc-protection"])
    );
    assert_eq!(review["request"]["oldObject"], Value::Null);
    assert_eq!(
        review["request"]["resource"],
        json!({"group": "", "version": "v1", "resource": "persistentvolumeclaims"})
    );
    assert_eq!(review["request"]["uid"].as_str().map(str::len), Some(36));
}

#[tokio::test]
async fn kube_rs_byte_array_patch_is_applied() {
    let server = serving(|review| {
        let review: kube::core::admission::AdmissionReview<kube::core::DynamicObject> =
            serde_json::from_value(review.clone()).unwrap();
        let request: kube::core::admission::AdmissionRequest<kube::core::DynamicObject> =
            review.try_into().unwrap();
        let response = kube::core::admission::AdmissionResponse::from(&request)
            .with_patch(serde_json::from_str(ADD_CLASS).unwrap())
            .unwrap();
        let body = serde_json::to_value(response.into_review()).unwrap();
        assert!(
            body["response"]["patch"].is_array(),
            "kube-rs sends the patch as a byte array: {body}"
        );
        Answer::json(body)
    })
    .await;
    let lookup = lookup();
    register(
        &lookup,
        "berth",
        vec![webhook(
            "kube-rs.berth.dev",
            &server.url("/"),
            &server.pki.ca_bundle,
            json!({}),
        )],
    );
    let admitted = admit_claim(&lookup).await.expect("admitted");
    assert_eq!(admitted["spec"]["storageClassName"], "berth-local");
}

#[tokio::test]
async fn denial_carries_the_webhook_status() {
    let server = serving(|review| {
        Answer::json(response_to(review, json!({"allowed": false, "status": {"message": "no", "code": 403, "reason": "Forbidden"}})))
    })
    .await;
    let lookup = lookup();
    register(
        &lookup,
        "c",
        vec![webhook(
            "deny.example.com",
            &server.url("/"),
            &server.pki.ca_bundle,
            json!({}),
        )],
    );
    let err = admit_claim(&lookup).await.expect_err("denied");
    assert_eq!((err.http_status(), err.reason()), (403, "Forbidden"));
    assert_eq!(
        err.message(),
        "admission webhook \"deny.example.com\" denied the request: no"
    );

    let plain = serving(|review| {
        Answer::json(response_to(
            review,
            json!({"allowed": false, "status": {"message": "no"}}),
        ))
    })
    .await;
    let lookup = self::lookup();
    register(
        &lookup,
        "c",
        vec![webhook(
            "deny.example.com",
            &plain.url("/"),
            &plain.pki.ca_bundle,
            json!({}),
        )],
    );
    let err = admit_claim(&lookup).await.expect_err("denied");
    assert_eq!((err.http_status(), err.reason()), (400, ""));
    assert_eq!(
        err.message(),
        "admission webhook \"deny.example.com\" denied the request: no"
    );
}

/// An https URL nobody listens on.
async fn unreachable_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("https://{address}/mutate")
}

#[tokio::test]
async fn unreachable_webhook_obeys_failure_policy() {
    let url = unreachable_url().await;
    let ca = Pki::new(&["127.0.0.1"]).ca_bundle;
    let lookup = lookup();
    register(
        &lookup,
        "c",
        vec![webhook("down.example.com", &url, &ca, json!({}))],
    );
    let err = admit_claim(&lookup)
        .await
        .expect_err("failurePolicy defaults to Fail");
    assert_eq!((err.http_status(), err.reason()), (500, "InternalError"));
    assert!(
        err.message().starts_with(&format!("Internal error occurred: failed calling webhook \"down.example.com\": failed to call webhook: Post \"{url}?timeout=10s\"")),
        "{}",
        err.message()
    );

    register(
        &lookup,
        "c",
        vec![webhook(
            "down.example.com",
            &url,
            &ca,
            json!({"failurePolicy": "Ignore"}),
        )],
    );
    let admitted = admit_claim(&lookup).await.expect("ignored");
    assert_eq!(admitted["spec"].get("storageClassName"), None);
    assert_eq!(
        admitted["metadata"]["finalizers"],
        json!(["kubernetes.io/pvc-protection"])
    );
}

#[tokio::test]
async fn slow_webhook_times_out_per_failure_policy() {
    let server = serving(|review| Answer {
        delay: Some(Duration::from_secs(5)),
        http_status: 200,
        body: patch_base64(review, &add_class_patch()),
    })
    .await;
    let lookup = lookup();
    let hook = |policy: &str| {
        webhook(
            "slow.example.com",
            &server.url("/"),
            &server.pki.ca_bundle,
            json!({"timeoutSeconds": 1, "failurePolicy": policy}),
        )
    };
    register(&lookup, "c", vec![hook("Fail")]);
    let err = admit_claim(&lookup).await.expect_err("timed out");
    assert_eq!(err.http_status(), 500);
    assert!(
        err.message().ends_with("context deadline exceeded"),
        "{}",
        err.message()
    );
    assert!(err.message().contains("?timeout=1s"), "{}", err.message());

    register(&lookup, "c", vec![hook("Ignore")]);
    let admitted = admit_claim(&lookup).await.expect("ignored");
    assert_eq!(admitted["spec"].get("storageClassName"), None);
}

#[tokio::test]
async fn certificate_from_another_ca_is_rejected() {
    let server = serving(|review| Answer::json(patch_base64(review, &add_class_patch()))).await;
    let wrong_ca = Pki::new(&["127.0.0.1"]).ca_bundle;
    let lookup = lookup();
    register(
        &lookup,
        "c",
        vec![webhook(
            "tls.example.com",
            &server.url("/"),
            &wrong_ca,
            json!({}),
        )],
    );
    let err = admit_claim(&lookup).await.expect_err("untrusted server");
    assert_eq!(err.http_status(), 500);
    assert!(
        err.message().contains("tls: invalid peer certificate"),
        "{}",
        err.message()
    );
    assert!(server.received().is_empty());

    register(
        &lookup,
        "c",
        vec![webhook(
            "tls.example.com",
            &server.url("/"),
            &wrong_ca,
            json!({"failurePolicy": "Ignore"}),
        )],
    );
    assert_eq!(
        admit_claim(&lookup)
            .await
            .map(|o| o["spec"].get("storageClassName").cloned()),
        Ok(None)
    );
}

#[tokio::test]
async fn bad_responses_are_call_failures() {
    let wrong_uid = serving(|_| {
        Answer::json(response_to(
            &json!({"request": {"uid": "bogus"}}),
            json!({"allowed": true}),
        ))
    })
    .await;
    let lookup = lookup();
    register(
        &lookup,
        "c",
        vec![webhook(
            "uid.example.com",
            &wrong_uid.url("/"),
            &wrong_uid.pki.ca_bundle,
            json!({}),
        )],
    );
    let err = admit_claim(&lookup).await.expect_err("uid mismatch");
    assert_eq!(err.http_status(), 500);
    assert!(
        err.message().contains("expected response.uid="),
        "{}",
        err.message()
    );

    let server_error = serving(|_| Answer {
        delay: None,
        http_status: 500,
        body: json!("boom"),
    })
    .await;
    register(
        &lookup,
        "c",
        vec![webhook(
            "500.example.com",
            &server_error.url("/"),
            &server_error.pki.ca_bundle,
            json!({}),
        )],
    );
    let err = admit_claim(&lookup).await.expect_err("HTTP 500");
    assert!(
        err.message()
            .contains("failed calling webhook \"500.example.com\""),
        "{}",
        err.message()
    );

    register(
        &lookup,
        "c",
        vec![webhook(
            "500.example.com",
            &server_error.url("/"),
            &server_error.pki.ca_bundle,
            json!({"failurePolicy": "Ignore"}),
        )],
    );
    assert!(admit_claim(&lookup).await.is_ok());
}

#[tokio::test]
async fn unappliable_patch_fails_even_with_ignore() {
    let server = serving(|review| {
        Answer::json(patch_base64(
            review,
            &json!([{"op": "remove", "path": "/nope"}]),
        ))
    })
    .await;
    let lookup = lookup();
    register(
        &lookup,
        "c",
        vec![webhook(
            "patch.example.com",
            &server.url("/"),
            &server.pki.ca_bundle,
            json!({"failurePolicy": "Ignore"}),
        )],
    );
    let err = admit_claim(&lookup).await.expect_err("patch cannot apply");
    assert_eq!((err.http_status(), err.reason()), (500, "InternalError"));
    assert!(
        matches!(err, AdmissionError::ApplyWebhookPatch { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn dry_run_only_reaches_side_effect_free_webhooks() {
    let server = serving(|review| Answer::json(patch_base64(review, &add_class_patch()))).await;
    let lookup = lookup();
    let mut req = create_claim();
    req.dry_run = true;
    register(
        &lookup,
        "c",
        vec![webhook(
            "fx.example.com",
            &server.url("/"),
            &server.pki.ca_bundle,
            json!({"sideEffects": "Some"}),
        )],
    );
    let err = admit(&AdmissionConfig::default(), &lookup, &req, claim(), None)
        .await
        .expect_err("side effects");
    assert_eq!((err.http_status(), err.reason()), (400, "BadRequest"));
    assert_eq!(
        err.message(),
        "admission webhook \"fx.example.com\" does not support dry run"
    );

    register(
        &lookup,
        "c",
        vec![webhook(
            "fx.example.com",
            &server.url("/"),
            &server.pki.ca_bundle,
            json!({"sideEffects": "NoneOnDryRun"}),
        )],
    );
    let admitted = admit(&AdmissionConfig::default(), &lookup, &req, claim(), None)
        .await
        .expect("allowed");
    assert_eq!(admitted["spec"]["storageClassName"], "berth-local");
    assert_eq!(server.received()[0].review["request"]["dryRun"], true);
}

#[tokio::test]
async fn service_reference_uses_the_route_table_and_the_service_dns_name() {
    let server = serving(|review| Answer::json(patch_base64(review, &add_class_patch()))).await;
    let lookup = lookup();
    let mut hook = webhook("svc.example.com", "", &server.pki.ca_bundle, json!({}));
    hook["clientConfig"] = json!({"service": {"namespace": "sys", "name": "hook", "path": "/m", "port": 8443}, "caBundle": server.pki.ca_bundle});
    register(&lookup, "c", vec![hook]);
    let err = admit_claim(&lookup).await.expect_err("no route");
    assert!(
        err.message().contains("has no route in the sim"),
        "{}",
        err.message()
    );

    let key = ServiceKey {
        namespace: "sys".into(),
        name: "hook".into(),
        port: 8443,
    };
    let cfg = AdmissionConfig {
        service_routes: [(key, server.address)].into(),
        ..Default::default()
    };
    let admitted = admit(&cfg, &lookup, &create_claim(), claim(), None)
        .await
        .expect("routed");
    assert_eq!(admitted["spec"]["storageClassName"], "berth-local");
    assert_eq!(server.received()[0].path_and_query, "/m?timeout=10s");
}

#[tokio::test]
async fn validating_webhooks_deny_but_may_not_patch() {
    let deny = denying().await;
    let lookup = lookup();
    let config = |name: &str, url: &str, ca: &str| json!({"metadata": {"name": name}, "webhooks": [webhook(&format!("{name}.example.com"), url, ca, json!({}))]});
    lookup.put(
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        config("v", &deny.url("/"), &deny.pki.ca_bundle),
    );
    let err = validate(
        &AdmissionConfig::default(),
        &lookup,
        &create_claim(),
        &claim(),
        None,
    )
    .await
    .expect_err("denied");
    assert_eq!(
        err.message(),
        "admission webhook \"v.example.com\" denied the request: called"
    );

    let patcher = serving(|review| Answer::json(patch_base64(review, &add_class_patch()))).await;
    lookup.put(
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        config("v", &patcher.url("/"), &patcher.pki.ca_bundle),
    );
    let err = validate(
        &AdmissionConfig::default(),
        &lookup,
        &create_claim(),
        &claim(),
        None,
    )
    .await
    .expect_err("patch");
    assert!(
        err.message()
            .contains("validating webhook may not return response.patch"),
        "{}",
        err.message()
    );
}
