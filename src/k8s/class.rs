//! Which StorageClass an object names, with upstream's nil-versus-"" rules (binder-spec 1.1, 5.1).
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;

use super::annotations::{BETA_IS_DEFAULT_CLASS, BETA_STORAGE_CLASS, IS_DEFAULT_CLASS};

/// The class a claim asks for, as matching sees it: the beta annotation if present (even ""), else
/// `spec.storageClassName`, else "". Nil and "" both read as "no class".
pub fn claim_class(claim: &PersistentVolumeClaim) -> &str {
    if let Some(class) = annotation(&claim.metadata.annotations, BETA_STORAGE_CLASS) {
        return class;
    }
    claim
        .spec
        .as_ref()
        .and_then(|spec| spec.storage_class_name.as_deref())
        .unwrap_or("")
}

/// Whether the claim states a class at all. Differs from `claim_class(c) != ""`: an explicit "" counts as a
/// class ("no class, never default me"), only a nil field without the beta annotation does not.
pub fn claim_has_class(claim: &PersistentVolumeClaim) -> bool {
    annotation(&claim.metadata.annotations, BETA_STORAGE_CLASS).is_some()
        || claim
            .spec
            .as_ref()
            .is_some_and(|spec| spec.storage_class_name.is_some())
}

/// The class of a PV: the beta annotation if present, else `spec.storageClassName`, else "".
pub fn volume_class(volume: &PersistentVolume) -> &str {
    if let Some(class) = annotation(&volume.metadata.annotations, BETA_STORAGE_CLASS) {
        return class;
    }
    volume
        .spec
        .as_ref()
        .and_then(|spec| spec.storage_class_name.as_deref())
        .unwrap_or("")
}

/// Whether a StorageClass is marked default: either annotation with the exact value "true".
pub fn is_default_class(class: &StorageClass) -> bool {
    [IS_DEFAULT_CLASS, BETA_IS_DEFAULT_CLASS]
        .iter()
        .any(|key| annotation(&class.metadata.annotations, key) == Some("true"))
}

/// The cluster default class by the upstream rule: among classes marked default, the newest
/// (creationTimestamp) wins, ties broken by name ascending. None when no class is marked.
pub fn default_class<'a>(
    classes: impl IntoIterator<Item = &'a StorageClass>,
) -> Option<&'a StorageClass> {
    classes
        .into_iter()
        .filter(|class| is_default_class(class))
        .min_by(|a, b| {
            let created = |c: &StorageClass| c.metadata.creation_timestamp.as_ref().map(|t| t.0);
            // Newest first: compare b to a; then name ascending.
            created(b)
                .cmp(&created(a))
                .then_with(|| a.metadata.name.cmp(&b.metadata.name))
        })
}

fn annotation<'a>(
    annotations: &'a Option<std::collections::BTreeMap<String, String>>,
    key: &str,
) -> Option<&'a str> {
    annotations.as_ref()?.get(key).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PersistentVolumeClaimSpec, PersistentVolumeSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use std::collections::BTreeMap;

    fn annotations(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn claim(field: Option<&str>, beta: Option<&str>) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                annotations: beta.and_then(|v| annotations(&[(BETA_STORAGE_CLASS, v)])),
                ..ObjectMeta::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                storage_class_name: field.map(str::to_string),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..PersistentVolumeClaim::default()
        }
    }

    fn class(
        name: &str,
        default_annotation: Option<(&str, &str)>,
        created_secs: i64,
    ) -> StorageClass {
        let created = k8s_openapi::jiff::Timestamp::from_second(created_secs)
            .map(Time)
            .ok();
        StorageClass {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                annotations: default_annotation.and_then(|(k, v)| annotations(&[(k, v)])),
                creation_timestamp: created,
                ..ObjectMeta::default()
            },
            provisioner: "hostpath.berth.dev".to_string(),
            ..StorageClass::default()
        }
    }

    #[test]
    fn nil_and_empty_claim_class_both_read_as_no_class() {
        assert_eq!(claim_class(&claim(None, None)), "");
        assert_eq!(claim_class(&claim(Some(""), None)), "");
        assert_eq!(claim_class(&claim(Some("fast"), None)), "fast");
    }

    #[test]
    fn beta_annotation_overrides_field_even_when_empty() {
        assert_eq!(claim_class(&claim(Some("fast"), Some(""))), "");
        assert_eq!(claim_class(&claim(Some("fast"), Some("slow"))), "slow");
    }

    #[test]
    fn only_nil_without_annotation_has_no_class() {
        assert!(!claim_has_class(&claim(None, None)));
        assert!(claim_has_class(&claim(Some(""), None)));
        assert!(claim_has_class(&claim(None, Some(""))));
        assert!(claim_has_class(&claim(Some("fast"), None)));
    }

    #[test]
    fn volume_class_prefers_beta_annotation() {
        let mut volume = PersistentVolume {
            spec: Some(PersistentVolumeSpec {
                storage_class_name: Some("fast".to_string()),
                ..PersistentVolumeSpec::default()
            }),
            ..PersistentVolume::default()
        };
        assert_eq!(volume_class(&volume), "fast");
        volume.metadata.annotations = annotations(&[(BETA_STORAGE_CLASS, "slow")]);
        assert_eq!(volume_class(&volume), "slow");
        assert_eq!(volume_class(&PersistentVolume::default()), "");
    }

    #[test]
    fn default_annotation_must_be_exactly_true() {
        assert!(is_default_class(&class(
            "a",
            Some((IS_DEFAULT_CLASS, "true")),
            0
        )));
        assert!(is_default_class(&class(
            "a",
            Some((BETA_IS_DEFAULT_CLASS, "true")),
            0
        )));
        assert!(!is_default_class(&class(
            "a",
            Some((IS_DEFAULT_CLASS, "True")),
            0
        )));
        assert!(!is_default_class(&class(
            "a",
            Some((IS_DEFAULT_CLASS, "yes")),
            0
        )));
        assert!(!is_default_class(&class("a", None, 0)));
    }

    #[test]
    fn newest_default_wins_and_ties_go_to_the_first_name() {
        let classes = [
            class("old", Some((IS_DEFAULT_CLASS, "true")), 100),
            class("zeta", Some((IS_DEFAULT_CLASS, "true")), 200),
            class("alpha", Some((BETA_IS_DEFAULT_CLASS, "true")), 200),
            class("newest-not-default", None, 300),
        ];
        let chosen = default_class(&classes).and_then(|c| c.metadata.name.as_deref());
        assert_eq!(chosen, Some("alpha"));
        assert!(default_class(&classes[3..]).is_none());
    }
}
