//! Object builders for the StatefulSet controller's unit tests.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use super::decide::SetView;
use super::identity::{LABEL_POD_INDEX, LABEL_POD_NAME, LABEL_REVISION, controller_ref};
use super::revision::{RevisionWrite, plan_revisions};

fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).unwrap()
}

/// A set `name` in `default` (uid `uid-set-<name>`, generation 1) selecting `app: <name>`, with one claim
/// template (`tier: storage`, class `wffc`, 1Gi) per entry of `templates`.
pub fn set_with_claims(name: &str, replicas: i32, templates: &[&str]) -> StatefulSet {
    let templates: Vec<_> = templates
        .iter()
        .map(|t| {
            json!({
                "metadata": {"name": t, "labels": {"tier": "storage"}},
                "spec": {"storageClassName": "wffc", "accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}
            })
        })
        .collect();
    from_json(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-set-{name}"), "generation": 1,
                     "resourceVersion": "3"},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": "img:1"}]}},
            "volumeClaimTemplates": templates,
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
        }
    }))
}

pub fn with_policy(mut set: StatefulSet, when_deleted: &str, when_scaled: &str) -> StatefulSet {
    set.spec
        .as_mut()
        .unwrap()
        .persistent_volume_claim_retention_policy = Some(from_json(
        json!({"whenDeleted": when_deleted, "whenScaled": when_scaled}),
    ));
    set
}

pub fn parallel(mut set: StatefulSet) -> StatefulSet {
    set.spec.as_mut().unwrap().pod_management_policy = Some("Parallel".into());
    set
}

pub fn with_image(mut set: StatefulSet, image: &str) -> StatefulSet {
    set.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .image = Some(image.into());
    set
}

/// The revision the controller creates for the set's current template.
pub fn revision_of(set: &StatefulSet) -> Arc<ControllerRevision> {
    match plan_revisions(set, &[], |_| None).write {
        Some(RevisionWrite::Create(revision)) => Arc::new(*revision),
        other => panic!("expected a new revision, got {other:?}"),
    }
}

pub fn revision_name(set: &StatefulSet) -> String {
    revision_of(set).metadata.name.clone().unwrap()
}

fn owned_pod(name: &str, revision: &str, phase: Option<&str>) -> Pod {
    let (parent, ordinal) = name.rsplit_once('-').unwrap();
    let owner = OwnerReference {
        api_version: "apps/v1".into(),
        kind: "StatefulSet".into(),
        name: parent.into(),
        uid: format!("uid-set-{parent}"),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let labels: BTreeMap<String, String> = [
        ("app", parent),
        (LABEL_POD_NAME, name),
        (LABEL_POD_INDEX, ordinal),
        (LABEL_REVISION, revision),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut pod: Pod = from_json(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "resourceVersion": "20"},
        "spec": {"containers": [{"name": "c", "image": "img:1"}]},
        "status": {"phase": phase}
    }));
    pod.metadata.labels = Some(labels);
    pod.metadata.owner_references = Some(vec![owner]);
    pod
}

/// Running and Ready since `ready_since` (seconds after the epoch).
pub fn ready_pod(name: &str, revision: &str, ready_since: i64) -> Pod {
    let mut pod = owned_pod(name, revision, Some("Running"));
    pod.status.as_mut().unwrap().conditions = Some(vec![from_json(json!({
        "type": "Ready", "status": "True",
        "lastTransitionTime": Timestamp::from_second(ready_since).unwrap().to_string()
    }))]);
    pod
}

pub fn pending_pod(name: &str, revision: &str) -> Pod {
    owned_pod(name, revision, Some("Pending"))
}

pub fn running_not_ready(name: &str, revision: &str) -> Pod {
    owned_pod(name, revision, Some("Running"))
}

pub fn failed_pod(name: &str, revision: &str) -> Pod {
    owned_pod(name, revision, Some("Failed"))
}

/// A pod object without a phase (never seen by the API server).
pub fn placeholder(name: &str, revision: &str) -> Pod {
    owned_pod(name, revision, None)
}

pub fn terminating(mut pod: Pod) -> Pod {
    pod.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
    pod
}

/// A claim as the controller creates it for `template` of `set` at `ordinal`, with a uid.
pub fn claim_of(set: &StatefulSet, ordinal: i32) -> PersistentVolumeClaim {
    let mut claim = super::identity::claims_for(set, ordinal).remove(0);
    claim.metadata.uid = Some(format!("uid-{}", claim.metadata.name.clone().unwrap()));
    claim
}

pub fn owned_by(mut claim: PersistentVolumeClaim, owner: OwnerReference) -> PersistentVolumeClaim {
    claim
        .metadata
        .owner_references
        .get_or_insert_default()
        .push(owner);
    claim
}

pub fn set_owner(set: &StatefulSet) -> OwnerReference {
    controller_ref(set)
}

pub fn pod_owner(name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Pod".into(),
        name: name.into(),
        uid: uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// A view of `set` with its current revision stored, plus `pods` and `claims`; `now` is 1000 s.
pub fn view<'a>(
    set: &'a StatefulSet,
    pods: Vec<Pod>,
    claims: Vec<PersistentVolumeClaim>,
) -> SetView<'a> {
    SetView {
        set,
        pods: pods.into_iter().map(Arc::new).collect(),
        claims: claims
            .into_iter()
            .map(|c| (c.metadata.name.clone().unwrap(), Arc::new(c)))
            .collect(),
        revisions: vec![revision_of(set)],
        now: Timestamp::from_second(1_000).unwrap(),
    }
}
