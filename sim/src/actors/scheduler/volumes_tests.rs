//! Table tests of the VolumeBinding plugin.

use super::super::fixtures::*;
use super::super::snapshot::{ANN_BIND_COMPLETED, ANN_SELECTED_NODE, ClaimKey, Snapshot};
use super::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

fn key(name: &str) -> ClaimKey {
    ClaimKey::new("default", name)
}

fn selected(mut c: PersistentVolumeClaim, node: &str) -> PersistentVolumeClaim {
    annotate(&mut c.metadata, ANN_SELECTED_NODE, node);
    c
}

fn deleting<T: kube::Resource>(mut object: T) -> T {
    object.meta_mut().deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
    object
}

fn classify(pod: &Pod, snapshot: &Snapshot) -> PodClaims {
    classify_claims(pod, snapshot)
}

fn unresolvable(message: &str) -> PodClaims {
    PodClaims::Unresolvable(message.to_owned())
}

#[test]
fn classify_table() {
    let base = || {
        snapshot()
            .standard_classes()
            .class(class("nomode", "x", "p"))
    };
    let mut no_mode = base().build();
    if let Some(c) = no_mode.classes.get_mut("nomode") {
        Arc::make_mut(c).volume_binding_mode = None;
    }
    let mut lost = claim("data", "wffc");
    lost.status.get_or_insert_default().phase = Some("Lost".into());
    set_volume_name(&mut lost, "pv-gone");
    let mut prebound = claim("data", "wffc");
    set_volume_name(&mut prebound, "pv-1");

    let cases: Vec<(&str, Snapshot, PodClaims)> = vec![
        ("no claims", base().build(), PodClaims::NoClaims),
        (
            "missing",
            base().build(),
            unresolvable("persistentvolumeclaim \"data\" not found"),
        ),
        (
            "being deleted",
            base().claim(deleting(claim("data", "wffc"))).build(),
            unresolvable("persistentvolumeclaim \"data\" is being deleted"),
        ),
        (
            "lost",
            base().claim(lost).build(),
            unresolvable(
                "persistentvolumeclaim \"data\" bound to non-existent persistentvolume \"pv-gone\"",
            ),
        ),
        (
            "immediate unbound",
            base().claim(claim("data", "immediate")).build(),
            unresolvable(UNBOUND_IMMEDIATE),
        ),
        (
            "no class is immediate",
            base().claim(claim("data", "")).build(),
            unresolvable(UNBOUND_IMMEDIATE),
        ),
        (
            "unknown class is immediate",
            base().claim(claim("data", "nope")).build(),
            unresolvable(UNBOUND_IMMEDIATE),
        ),
        (
            "pre-bound by name waits for the binder",
            base().claim(prebound).build(),
            unresolvable(UNBOUND_IMMEDIATE),
        ),
        (
            "class without mode",
            {
                let mut s = no_mode.clone();
                let c = claim("data", "nomode");
                s.claims.insert(ClaimKey::of(&c), Arc::new(c));
                s
            },
            PodClaims::Error("VolumeBindingMode not set for StorageClass \"nomode\"".into()),
        ),
    ];
    for (name, snap, expected) in cases {
        let pod = if name == "no claims" {
            pod("web-0", &[])
        } else {
            pod("web-0", &["data"])
        };
        assert_eq!(classify(&pod, &snap), expected, "{name}");
    }
}

#[test]
fn classify_splits_bound_and_delayed_in_volume_order() {
    let snap = snapshot()
        .standard_classes()
        .claim(claim("b", "wffc"))
        .claim(bound_claim("a", "immediate", "pv-a"))
        .claim(claim("c", "static"))
        .build();
    let PodClaims::Claims { bound, delayed } = classify(&pod("web-0", &["b", "a", "c"]), &snap)
    else {
        panic!("expected claims");
    };
    let names = |v: &[Arc<PersistentVolumeClaim>]| {
        v.iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&bound), ["a"]);
    assert_eq!(names(&delayed), ["b", "c"]);
}

#[test]
fn classify_ephemeral_volume() {
    let mut p = pod("web-0", &[]);
    p.spec.as_mut().unwrap().volumes = Some(vec![
        serde_json::from_value(serde_json::json!({
            "name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}
        }))
        .unwrap(),
    ]);
    let snap = snapshot().standard_classes().build();
    assert_eq!(
        classify(&p, &snap),
        unresolvable(
            "waiting for ephemeral volume controller to create the persistentvolumeclaim \"web-0-scratch\""
        )
    );
    let foreign = snapshot()
        .standard_classes()
        .claim(claim("web-0-scratch", "wffc"))
        .build();
    assert_eq!(
        classify(&p, &foreign),
        unresolvable(
            "PVC default/web-0-scratch was not created for pod default/web-0 (pod is not owner)"
        )
    );
}

fn fits(static_bindings: &[(&str, &str)], provisions: &[&str]) -> NodeVolumes {
    NodeVolumes::Fits(VolumePlan {
        static_bindings: static_bindings
            .iter()
            .map(|(volume, claim)| StaticBinding {
                volume: volume.to_string(),
                claim: key(claim),
            })
            .collect(),
        provisions: provisions.iter().map(|c| key(c)).collect(),
    })
}

fn rejected(reasons: &[&'static str]) -> NodeVolumes {
    NodeVolumes::Rejected(reasons.to_vec())
}

/// Runs FindPodVolumes for a pod using `claims` on `node`.
fn find(snap: &Snapshot, claims: &[&str], node: &str) -> NodeVolumes {
    let PodClaims::Claims { bound, delayed } = classify(&pod("web-0", claims), snap) else {
        panic!("claims not classified");
    };
    find_pod_volumes(&bound, &delayed, snap.node(node).unwrap(), snap)
}

#[test]
fn bound_claims_need_their_volume_on_the_node() {
    let snap = snapshot()
        .nodes(&["node-1", "node-2"])
        .standard_classes()
        .claim(bound_claim("data", "immediate", "pv-1"))
        .volume(pinned(volume("pv-1", "immediate", "1Gi"), "node-1"))
        .claim(bound_claim("orphan", "immediate", "pv-gone"))
        .build();
    assert_eq!(find(&snap, &["data"], "node-1"), fits(&[], &[]));
    assert_eq!(
        find(&snap, &["data"], "node-2"),
        rejected(&[REASON_NODE_CONFLICT])
    );
    assert_eq!(
        find(&snap, &["orphan"], "node-1"),
        rejected(&[REASON_PV_NOT_EXIST])
    );
}

#[test]
fn delayed_claims_table() {
    let nodes = || snapshot().nodes(&["node-1", "node-2"]).standard_classes();
    let cases: Vec<(&str, Snapshot, &[&str], &str, NodeVolumes)> = vec![
        (
            "static PV on this node",
            nodes().claim(claim("data", "static")).volume(pinned(volume("pv-1", "static", "1Gi"), "node-1")).build(),
            &["data"],
            "node-1",
            fits(&[("pv-1", "data")], &[]),
        ),
        (
            "static PV on another node, no provisioner",
            nodes().claim(claim("data", "static")).volume(pinned(volume("pv-1", "static", "1Gi"), "node-1")).build(),
            &["data"],
            "node-2",
            rejected(&[REASON_BIND_CONFLICT]),
        ),
        (
            "no PV: provisioning",
            nodes().claim(claim("data", "wffc")).build(),
            &["data"],
            "node-2",
            fits(&[], &["data"]),
        ),
        (
            "smallest fitting PV wins, ties by name",
            nodes()
                .claim(sized(claim("data", "static"), "2Gi"))
                .volume(volume("pv-big", "static", "10Gi"))
                .volume(volume("pv-small-b", "static", "2Gi"))
                .volume(volume("pv-small-a", "static", "2Gi"))
                .volume(volume("pv-tiny", "static", "1Gi"))
                .build(),
            &["data"],
            "node-1",
            fits(&[("pv-small-a", "data")], &[]),
        ),
        (
            "PV pre-bound to the claim wins over a smaller one",
            nodes()
                .claim(claim("data", "static"))
                .volume(volume("pv-a", "static", "1Gi"))
                .volume({
                    let mut v = volume("pv-mine", "static", "5Gi");
                    set_claim_ref(&mut v, "default", "data", None);
                    v
                })
                .build(),
            &["data"],
            "node-1",
            fits(&[("pv-mine", "data")], &[]),
        ),
        (
            "PV pre-bound to the claim on another node rules the node out",
            nodes()
                .claim(claim("data", "static"))
                .volume(volume("pv-a", "static", "1Gi"))
                .volume({
                    let mut v = pinned(volume("pv-mine", "static", "5Gi"), "node-2");
                    set_claim_ref(&mut v, "default", "data", Some("uid-data"));
                    v
                })
                .build(),
            &["data"],
            "node-1",
            rejected(&[REASON_BIND_CONFLICT]),
        ),
        (
            "PVs that do not match are skipped",
            nodes()
                .claim(claim("data", "static"))
                .volume(volume("pv-small", "static", "500Mi"))
                .volume(volume("pv-other-class", "wffc", "1Gi"))
                .volume({
                    let mut v = volume("pv-block", "static", "1Gi");
                    v.spec.as_mut().unwrap().volume_mode = Some("Block".into());
                    v
                })
                .volume({
                    let mut v = volume("pv-rwx", "static", "1Gi");
                    v.spec.as_mut().unwrap().access_modes = Some(vec!["ReadWriteMany".into()]);
                    v
                })
                .volume({
                    let mut v = volume("pv-released", "static", "1Gi");
                    v.status.as_mut().unwrap().phase = Some("Released".into());
                    v
                })
                .volume({
                    let mut v = volume("pv-taken", "static", "1Gi");
                    set_claim_ref(&mut v, "default", "other", Some("uid-other"));
                    v
                })
                .volume(deleting(volume("pv-deleting", "static", "1Gi")))
                .build(),
            &["data"],
            "node-1",
            rejected(&[REASON_BIND_CONFLICT]),
        ),
        (
            "claim selector filters PVs",
            nodes()
                .claim({
                    let mut c = claim("data", "static");
                    c.spec.as_mut().unwrap().selector = Some(serde_json::from_value(serde_json::json!({
                        "matchLabels": {"tier": "fast"}
                    })).unwrap());
                    c
                })
                .volume(volume("pv-a", "static", "1Gi"))
                .volume({
                    let mut v = volume("pv-b", "static", "1Gi");
                    v.metadata.labels = Some([("tier".to_owned(), "fast".to_owned())].into());
                    v
                })
                .build(),
            &["data"],
            "node-1",
            fits(&[("pv-b", "data")], &[]),
        ),
        (
            "one PV for two claims: the smaller claim gets it, the other is provisioned",
            nodes()
                .claim(sized(claim("big", "wffc"), "5Gi"))
                .claim(claim("small", "wffc"))
                .volume(volume("pv-1", "wffc", "10Gi"))
                .build(),
            &["big", "small"],
            "node-1",
            fits(&[("pv-1", "small")], &["big"]),
        ),
        (
            "selected for another node",
            nodes().claim(selected(claim("data", "wffc"), "node-2")).build(),
            &["data"],
            "node-1",
            rejected(&[REASON_BIND_CONFLICT]),
        ),
        (
            "selected for this node skips static matching",
            nodes().claim(selected(claim("data", "wffc"), "node-1")).volume(volume("pv-1", "wffc", "1Gi")).build(),
            &["data"],
            "node-1",
            fits(&[], &["data"]),
        ),
        (
            "node outside allowedTopologies",
            nodes()
                .class({
                    let mut c = class("zoned", "WaitForFirstConsumer", "berth.io/host");
                    c.allowed_topologies = Some(vec![serde_json::from_value(serde_json::json!({
                        "matchLabelExpressions": [{"key": "kubernetes.io/hostname", "values": ["node-2"]}]
                    })).unwrap()]);
                    c
                })
                .claim(claim("data", "zoned"))
                .build(),
            &["data"],
            "node-1",
            rejected(&[REASON_BIND_CONFLICT]),
        ),
        (
            "bound conflict and bind conflict together",
            nodes()
                .claim(bound_claim("old", "immediate", "pv-old"))
                .volume(pinned(volume("pv-old", "immediate", "1Gi"), "node-2"))
                .claim(claim("new", "static"))
                .build(),
            &["old", "new"],
            "node-1",
            rejected(&[REASON_NODE_CONFLICT, REASON_BIND_CONFLICT]),
        ),
    ];
    for (name, snap, claims, node, expected) in cases {
        assert_eq!(find(&snap, claims, node), expected, "{name}");
    }
}

#[test]
fn storage_capacity_table() {
    let base = || {
        snapshot()
            .nodes(&["node-1", "node-2"])
            .standard_classes()
            .claim(sized(claim("data", "wffc"), "5Gi"))
            .capacity(capacity("cap-1", "wffc", "node-1", "10Gi"))
            .capacity(capacity("cap-2", "wffc", "node-2", "1Gi"))
    };
    let opted_in = base().driver(driver("berth.io/host", true)).build();
    assert_eq!(find(&opted_in, &["data"], "node-1"), fits(&[], &["data"]));
    assert_eq!(
        find(&opted_in, &["data"], "node-2"),
        rejected(&[REASON_NOT_ENOUGH_SPACE])
    );

    let not_opted_in = base().driver(driver("berth.io/host", false)).build();
    assert_eq!(
        find(&not_opted_in, &["data"], "node-2"),
        fits(&[], &["data"])
    );
    let no_driver = base().build();
    assert_eq!(find(&no_driver, &["data"], "node-2"), fits(&[], &["data"]));

    let mut limited = capacity("cap-1", "wffc", "node-1", "10Gi");
    limited.maximum_volume_size = Some(k8s_openapi::apimachinery::pkg::api::resource::Quantity(
        "4Gi".into(),
    ));
    let max_size = snapshot()
        .nodes(&["node-1"])
        .standard_classes()
        .driver(driver("berth.io/host", true))
        .claim(sized(claim("data", "wffc"), "5Gi"))
        .capacity(limited)
        .build();
    assert_eq!(
        find(&max_size, &["data"], "node-1"),
        rejected(&[REASON_NOT_ENOUGH_SPACE])
    );

    let other_class = snapshot()
        .nodes(&["node-1"])
        .standard_classes()
        .driver(driver("berth.io/host", true))
        .claim(sized(claim("data", "wffc"), "5Gi"))
        .capacity(capacity("cap-1", "immediate", "node-1", "10Gi"))
        .build();
    assert_eq!(
        find(&other_class, &["data"], "node-1"),
        rejected(&[REASON_NOT_ENOUGH_SPACE])
    );
}

fn plan(static_bindings: &[(&str, &str)], provisions: &[&str]) -> VolumePlan {
    match fits(static_bindings, provisions) {
        NodeVolumes::Fits(plan) => plan,
        _ => unreachable!(),
    }
}

#[test]
fn check_bindings_table() {
    let prebound = |uid: Option<&str>| {
        let mut v = pinned(volume("pv-1", "static", "1Gi"), "node-1");
        set_claim_ref(&mut v, "default", "data", uid);
        v
    };
    let half_bound = {
        let mut c = claim("data", "static");
        set_volume_name(&mut c, "pv-1");
        c
    };
    let base = || snapshot().nodes(&["node-1", "node-2"]).standard_classes();
    let static_plan = plan(&[("pv-1", "data")], &[]);
    let provision_plan = plan(&[], &["data"]);
    let cases: Vec<(&str, Snapshot, &VolumePlan, BindingProgress)> = vec![
        (
            "static: binder not done",
            base().volume(prebound(Some("uid-data"))).claim(half_bound.clone()).build(),
            &static_plan,
            BindingProgress::Waiting,
        ),
        (
            "static: fully bound",
            base().volume(prebound(Some("uid-data"))).claim(bound_claim("data", "static", "pv-1")).build(),
            &static_plan,
            BindingProgress::Complete,
        ),
        (
            "static: claimRef reset",
            base().volume(pinned(volume("pv-1", "static", "1Gi"), "node-1")).claim(claim("data", "static")).build(),
            &static_plan,
            BindingProgress::Failed("ClaimRef got reset for pv \"pv-1\"".into()),
        ),
        (
            "provision: waiting for the provisioner",
            base().claim(selected(claim("data", "wffc"), "node-1")).build(),
            &provision_plan,
            BindingProgress::Waiting,
        ),
        (
            "provision: selected-node removed",
            base().claim(claim("data", "wffc")).build(),
            &provision_plan,
            BindingProgress::Failed("provisioning failed for PVC \"data\"".into()),
        ),
        (
            "provision: bound to a PV not seen yet",
            base().claim(selected(bound_claim("data", "wffc", "pv-new"), "node-1")).build(),
            &provision_plan,
            BindingProgress::Waiting,
        ),
        (
            "provision: bound on the node",
            base()
                .claim(selected(bound_claim("data", "wffc", "pv-new"), "node-1"))
                .volume(pinned(volume("pv-new", "wffc", "1Gi"), "node-1"))
                .build(),
            &provision_plan,
            BindingProgress::Complete,
        ),
        (
            "provision: bound elsewhere",
            base()
                .claim(selected(bound_claim("data", "wffc", "pv-new"), "node-1"))
                .volume(pinned(volume("pv-new", "wffc", "1Gi"), "node-2"))
                .build(),
            &provision_plan,
            BindingProgress::Failed(
                "pv \"pv-new\" node affinity doesn't match node \"node-1\": no matching NodeSelectorTerms".into(),
            ),
        ),
    ];
    for (name, snap, plan, expected) in cases {
        assert_eq!(
            check_bindings(true, "node-1", plan, &snap),
            expected,
            "{name}"
        );
    }
    let snap = base()
        .claim(selected(claim("data", "wffc"), "node-1"))
        .build();
    assert_eq!(
        check_bindings(false, "node-1", &provision_plan, &snap),
        BindingProgress::Failed("pod does not exist any more".into())
    );
    assert_eq!(
        check_bindings(true, "node-9", &provision_plan, &snap),
        BindingProgress::Failed("failed to get node \"node-9\": node \"node-9\" not found".into())
    );
    let mut bound_static = bound_claim("data", "static", "pv-1");
    annotate(&mut bound_static.metadata, ANN_BIND_COMPLETED, "yes");
    let snap = base().volume(prebound(None)).claim(bound_static).build();
    assert_eq!(
        check_bindings(true, "node-1", &static_plan, &snap),
        BindingProgress::Failed("ClaimRef got reset for pv \"pv-1\"".into())
    );
}
