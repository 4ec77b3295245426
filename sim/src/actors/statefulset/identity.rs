//! Stable identity of StatefulSet members: ordinals, pod and claim names, and the pods and claims the
//! controller creates for an ordinal (upstream `stateful_set_utils.go`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

pub(super) const LABEL_POD_NAME: &str = "statefulset.kubernetes.io/pod-name";
pub(super) const LABEL_POD_INDEX: &str = "apps.kubernetes.io/pod-index";
pub(super) const LABEL_REVISION: &str = "controller-revision-hash";

pub(super) fn set_name(set: &StatefulSet) -> &str {
    set.metadata.name.as_deref().unwrap_or_default()
}

pub(super) fn namespace(set: &StatefulSet) -> &str {
    set.metadata.namespace.as_deref().unwrap_or_default()
}

/// Upstream `getParentNameAndOrdinal`: `<parent>-<digits>`; `None` when the name has no ordinal.
pub(super) fn parent_and_ordinal(pod_name: &str) -> Option<(&str, i32)> {
    let (parent, digits) = pod_name.rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, digits.parse().ok()?))
}

pub(super) fn ordinal_of(pod: &Pod) -> Option<i32> {
    parent_and_ordinal(pod.metadata.name.as_deref().unwrap_or_default()).map(|(_, ordinal)| ordinal)
}

/// Upstream `isMemberOf`: the pod's name derives from the set's.
pub(super) fn is_member_of(set: &StatefulSet, pod: &Pod) -> bool {
    parent_and_ordinal(pod.metadata.name.as_deref().unwrap_or_default())
        .is_some_and(|(parent, _)| parent == set_name(set))
}

pub(super) fn pod_name(set: &StatefulSet, ordinal: i32) -> String {
    format!("{}-{ordinal}", set_name(set))
}

pub(super) fn claim_name(
    template: &PersistentVolumeClaim,
    set: &StatefulSet,
    ordinal: i32,
) -> String {
    format!(
        "{}-{}-{ordinal}",
        template.metadata.name.as_deref().unwrap_or_default(),
        set_name(set)
    )
}

pub(super) fn claim_templates(set: &StatefulSet) -> &[PersistentVolumeClaim] {
    set.spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.as_deref())
        .unwrap_or_default()
}

/// The controller reference the set puts on its pods and revisions (upstream `NewControllerRef`).
pub(super) fn controller_ref(set: &StatefulSet) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".to_owned(),
        kind: "StatefulSet".to_owned(),
        name: set_name(set).to_owned(),
        uid: set.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Upstream `getPersistentVolumeClaims`: the claims of one ordinal, in template order, with the template's
/// labels plus the set selector's matchLabels.
pub(super) fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    let selector_labels = set
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    claim_templates(set)
        .iter()
        .map(|template| {
            let mut labels = template.metadata.labels.clone().unwrap_or_default();
            labels.extend(selector_labels.clone());
            PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(claim_name(template, set, ordinal)),
                    namespace: Some(namespace(set).to_owned()),
                    labels: Some(labels),
                    annotations: template.metadata.annotations.clone(),
                    ..ObjectMeta::default()
                },
                spec: template.spec.clone(),
                status: None,
            }
        })
        .collect()
}

/// Upstream `newStatefulSetPod` + `setPodRevision`: a pod for `ordinal` from `template` (the current or
/// update revision's), owned by the set, with its stable identity and its claims mounted.
pub(super) fn new_pod(
    set: &StatefulSet,
    template: &PodTemplateSpec,
    ordinal: i32,
    revision: &str,
) -> Pod {
    let name = pod_name(set, ordinal);
    let mut labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(LABEL_POD_NAME.to_owned(), name.clone());
    labels.insert(LABEL_POD_INDEX.to_owned(), ordinal.to_string());
    labels.insert(LABEL_REVISION.to_owned(), revision.to_owned());
    let template_meta = template.metadata.clone().unwrap_or_default();
    let mut spec = template.spec.clone().unwrap_or_default();
    spec.hostname = Some(name.clone());
    spec.subdomain = set
        .spec
        .as_ref()
        .and_then(|s| s.service_name.clone())
        .filter(|s| !s.is_empty());
    spec.volumes = Some(volumes_with_claims(
        set,
        ordinal,
        spec.volumes.take().unwrap_or_default(),
    ));
    Pod {
        metadata: ObjectMeta {
            name: Some(name),
            generate_name: Some(format!("{}-", set_name(set))),
            namespace: Some(namespace(set).to_owned()),
            labels: Some(labels),
            annotations: template_meta.annotations,
            finalizers: template_meta.finalizers,
            owner_references: Some(vec![controller_ref(set)]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// Upstream `updateStorage`: one volume per claim template, then the template's other volumes.
fn volumes_with_claims(
    set: &StatefulSet,
    ordinal: i32,
    template_volumes: Vec<Volume>,
) -> Vec<Volume> {
    let templates = claim_templates(set);
    let mut volumes: Vec<Volume> = templates
        .iter()
        .map(|template| Volume {
            name: template.metadata.name.clone().unwrap_or_default(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(template, set, ordinal),
                read_only: None,
            }),
            ..Volume::default()
        })
        .collect();
    volumes.extend(template_volumes.into_iter().filter(|v| {
        !templates
            .iter()
            .any(|t| t.metadata.name.as_deref() == Some(v.name.as_str()))
    }));
    volumes
}

/// Upstream `identityMatches` (plus the pod-index label it maintains): the labels the controller would
/// need to fix, or `None` when the pod already carries its identity.
pub(super) fn identity_labels_to_fix(
    set: &StatefulSet,
    pod: &Pod,
) -> Option<BTreeMap<String, String>> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let ordinal = ordinal_of(pod)?;
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let wanted = [
        (LABEL_POD_NAME, name.to_owned()),
        (LABEL_POD_INDEX, ordinal.to_string()),
    ];
    let fixes: BTreeMap<String, String> = wanted
        .into_iter()
        .filter(|(key, value)| labels.get(*key) != Some(value))
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
    (is_member_of(set, pod) && !fixes.is_empty()).then_some(fixes)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn ordinals() {
        let cases = [
            ("web-0", Some(("web", 0))),
            ("web-12", Some(("web", 12))),
            ("my-web-3", Some(("my-web", 3))),
            ("web", None),
            ("web-", None),
            ("web-x1", None),
            ("web-1a", None),
        ];
        for (name, expected) in cases {
            assert_eq!(parent_and_ordinal(name), expected, "{name}");
        }
    }

    #[test]
    fn claims_carry_template_and_selector_labels() {
        let set = set_with_claims("web", 3, &["data"]);
        let claims = claims_for(&set, 2);
        assert_eq!(claims.len(), 1);
        let claim = &claims[0];
        assert_eq!(claim.metadata.name.as_deref(), Some("data-web-2"));
        assert_eq!(claim.metadata.namespace.as_deref(), Some("default"));
        let labels = claim.metadata.labels.clone().unwrap();
        assert_eq!(labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(labels.get("tier").map(String::as_str), Some("storage"));
        assert_eq!(claim.metadata.owner_references, None);
        assert_eq!(
            claim.spec.as_ref().unwrap().storage_class_name.as_deref(),
            Some("wffc")
        );
    }

    #[test]
    fn new_pod_has_identity_owner_and_claims() {
        let mut set = set_with_claims("web", 3, &["data"]);
        let spec = set.spec.as_mut().unwrap();
        spec.service_name = Some("web-svc".into());
        spec.template.spec.as_mut().unwrap().volumes = Some(vec![
            Volume {
                name: "data".into(),
                ..Volume::default()
            },
            Volume {
                name: "config".into(),
                ..Volume::default()
            },
        ]);
        let template = set.spec.as_ref().unwrap().template.clone();
        let pod = new_pod(&set, &template, 1, "web-abc");
        assert_eq!(pod.metadata.name.as_deref(), Some("web-1"));
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-"));
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(
            labels,
            [
                ("app", "web"),
                (LABEL_POD_INDEX, "1"),
                (LABEL_REVISION, "web-abc"),
                (LABEL_POD_NAME, "web-1"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
        );
        assert_eq!(
            pod.metadata.owner_references,
            Some(vec![controller_ref(&set)])
        );
        let spec = pod.spec.unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("web-1"));
        assert_eq!(spec.subdomain.as_deref(), Some("web-svc"));
        let volumes: Vec<(String, Option<String>)> = spec
            .volumes
            .unwrap()
            .into_iter()
            .map(|v| (v.name, v.persistent_volume_claim.map(|c| c.claim_name)))
            .collect();
        assert_eq!(
            volumes,
            [
                ("data".to_owned(), Some("data-web-1".to_owned())),
                ("config".to_owned(), None)
            ]
        );
    }

    #[test]
    fn identity_fixes() {
        let set = set_with_claims("web", 3, &[]);
        let template = set.spec.as_ref().unwrap().template.clone();
        let mut pod = new_pod(&set, &template, 0, "r");
        assert_eq!(identity_labels_to_fix(&set, &pod), None);
        pod.metadata.labels.as_mut().unwrap().remove(LABEL_POD_NAME);
        assert_eq!(
            identity_labels_to_fix(&set, &pod),
            Some([(LABEL_POD_NAME.to_owned(), "web-0".to_owned())].into())
        );
    }
}
