//! ControllerRevisions of a StatefulSet: the stored pod templates, their stable names, which ones are
//! current and updated, and history truncation (upstream `getStatefulSetRevisions`, `history.go`).

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::{Value, json};

use super::identity::{LABEL_REVISION, controller_ref, namespace, set_name};

pub(super) const LABEL_HASH: &str = "controller.kubernetes.io/hash";
/// The alphabet of upstream `rand.SafeEncodeString` (no vowels, no look-alike digits).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Upstream `getPatch`: the revision stores the template as a strategic-merge "replace" patch.
pub(super) fn revision_data(set: &StatefulSet) -> Value {
    let template = set
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let mut template = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Some(object) = template.as_object_mut() {
        object.insert("$patch".to_owned(), json!("replace"));
    }
    json!({"spec": {"template": template}})
}

/// The pod template a revision stores.
pub(super) fn template_of(revision: &ControllerRevision) -> PodTemplateSpec {
    let mut template = revision
        .data
        .as_ref()
        .map(|d| d.0["spec"]["template"].clone())
        .unwrap_or(Value::Null);
    if let Some(object) = template.as_object_mut() {
        object.remove("$patch");
    }
    serde_json::from_value(template).unwrap_or_default()
}

fn data_of(revision: &ControllerRevision) -> &Value {
    revision.data.as_ref().map_or(&Value::Null, |d| &d.0)
}

/// Upstream `HashControllerRevision`: FNV-1 (32 bit) over the data and the collision count, printed in
/// decimal and mapped onto the safe alphabet.
pub(super) fn revision_hash(data: &Value, collision_count: i32) -> String {
    let mut bytes = serde_json::to_vec(data).unwrap_or_default();
    bytes.extend(collision_count.to_string().bytes());
    fnv1_32(&bytes)
        .to_string()
        .bytes()
        .map(|b| char::from(SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()]))
        .collect()
}

/// 32-bit FNV-1 (multiply, then xor), as Go's `hash/fnv.New32`.
fn fnv1_32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, byte| {
        hash.wrapping_mul(0x0100_0193) ^ u32::from(*byte)
    })
}

/// The revisions of the set, the writes needed to establish them, and the collision count to report.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct RevisionPlan {
    pub current: Arc<ControllerRevision>,
    pub update: Arc<ControllerRevision>,
    pub collision_count: i32,
    pub write: Option<RevisionWrite>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum RevisionWrite {
    Create(Box<ControllerRevision>),
    /// Rolling back to an older template: the old revision becomes the newest (upstream bumps its number).
    Renumber {
        name: String,
        revision: i64,
    },
}

/// Upstream `SortControllerRevisions`: by revision number, then age, then name.
pub(super) fn sort_revisions(revisions: &mut [Arc<ControllerRevision>]) {
    revisions.sort_by(|a, b| {
        (a.revision, &a.metadata.creation_timestamp, &a.metadata.name).cmp(&(
            b.revision,
            &b.metadata.creation_timestamp,
            &b.metadata.name,
        ))
    });
}

/// Upstream `getStatefulSetRevisions`. `ours` are the set's revisions sorted with [`sort_revisions`];
/// `in_namespace` finds any revision of the namespace by name (for hash collisions).
pub(super) fn plan_revisions<'a>(
    set: &StatefulSet,
    ours: &[Arc<ControllerRevision>],
    in_namespace: impl Fn(&str) -> Option<&'a Arc<ControllerRevision>>,
) -> RevisionPlan {
    let status = set.status.clone().unwrap_or_default();
    let mut collision_count = status.collision_count.unwrap_or(0);
    let data = revision_data(set);
    let next = ours.last().map_or(1, |r| r.revision + 1);
    let equal: Vec<&Arc<ControllerRevision>> =
        ours.iter().filter(|r| *data_of(r) == data).collect();
    let (update, write) = match (equal.last(), ours.last()) {
        // the newest revision already stores this template
        (Some(newest_equal), Some(newest))
            if newest_equal.metadata.name == newest.metadata.name =>
        {
            ((*newest).clone(), None)
        }
        (Some(older), _) => {
            let mut renumbered = ControllerRevision::clone(older);
            renumbered.revision = next;
            let name = renumbered.metadata.name.clone().unwrap_or_default();
            (
                Arc::new(renumbered),
                Some(RevisionWrite::Renumber {
                    name,
                    revision: next,
                }),
            )
        }
        (None, _) => loop {
            let candidate = new_revision(set, &data, next, collision_count);
            let name = candidate.metadata.name.clone().unwrap_or_default();
            match in_namespace(&name) {
                None => {
                    break (
                        Arc::new(candidate.clone()),
                        Some(RevisionWrite::Create(Box::new(candidate))),
                    );
                }
                // upstream reuses an existing revision with the same data, whoever owns it
                Some(existing) if *data_of(existing) == data => break (existing.clone(), None),
                Some(_) => collision_count += 1,
            }
        },
    };
    let current_name = status.current_revision.unwrap_or_default();
    let current = ours
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(current_name.as_str()))
        .cloned()
        .unwrap_or_else(|| update.clone());
    RevisionPlan {
        current,
        update,
        collision_count,
        write,
    }
}

/// Upstream `history.NewControllerRevision`.
fn new_revision(
    set: &StatefulSet,
    data: &Value,
    revision: i64,
    collision_count: i32,
) -> ControllerRevision {
    let hash = revision_hash(data, collision_count);
    let mut labels = set
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref()?.labels.clone())
        .unwrap_or_default();
    labels.insert(LABEL_HASH.to_owned(), hash.clone());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", set_name(set))),
            namespace: Some(namespace(set).to_owned()),
            labels: Some(labels),
            owner_references: Some(vec![controller_ref(set)]),
            ..ObjectMeta::default()
        },
        data: Some(RawExtension(data.clone())),
        revision,
    }
}

/// Upstream `truncateHistory`: revisions not used by the current/update revision or any pod, oldest first,
/// beyond `revisionHistoryLimit`.
pub(super) fn revisions_to_delete<'p>(
    set: &StatefulSet,
    ours: &[Arc<ControllerRevision>],
    plan: &RevisionPlan,
    pod_labels: impl Iterator<Item = Option<&'p String>>,
) -> Vec<String> {
    let mut live: Vec<&str> = pod_labels.flatten().map(String::as_str).collect();
    live.push(plan.current.metadata.name.as_deref().unwrap_or_default());
    live.push(plan.update.metadata.name.as_deref().unwrap_or_default());
    let history: Vec<&str> = ours
        .iter()
        .filter_map(|r| r.metadata.name.as_deref())
        .filter(|name| !live.contains(name))
        .collect();
    let limit = set
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(10)
        .max(0) as usize;
    let excess = history.len().saturating_sub(limit);
    history[..excess]
        .iter()
        .map(|name| (*name).to_owned())
        .collect()
}

/// The revision label a pod carries.
pub(super) fn pod_revision(pod: &k8s_openapi::api::core::v1::Pod) -> Option<&String> {
    pod.metadata.labels.as_ref()?.get(LABEL_REVISION)
}

#[cfg(test)]
#[path = "revision_tests.rs"]
mod tests;
