//! Which class a new claim gets: upstream's DefaultStorageClass admission rule (binder-spec 5.1, 5.2).
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::storage::v1::StorageClass;

use crate::k8s::class::{claim_has_class, default_class};

/// What the webhook answers for one admission request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Admit the object unchanged; the reason is logged, never shown to the user.
    Unchanged(Unchanged),
    /// Admit the claim with `spec.storageClassName` set to this class.
    SetClass(String),
}

/// Why a request is admitted unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unchanged {
    /// Not a CREATE of a persistentvolumeclaims object (updates are never mutated, as upstream).
    NotAClaimCreate,
    /// The claim states a class: a name, an explicit "" (no class, never defaulted) or the beta annotation.
    HasClass,
    /// No StorageClass is marked default: the claim keeps a nil class and may get one retroactively later.
    NoDefaultClass,
}

/// The facts of an admission request that the rule depends on.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// True for operation CREATE.
    pub is_create: bool,
    /// `request.resource.resource` (with group "" and version "v1" expected for claims).
    pub resource: &'a str,
    /// `request.subResource`; mutations apply to the main resource only.
    pub sub_resource: Option<&'a str>,
}

/// Decides the class of a claim being created, given every StorageClass the cache holds.
///
/// # Guarantees
/// Only a CREATE of the main `persistentvolumeclaims` resource whose claim has no class at all (nil field and no
/// beta annotation) is changed; the default is the newest class marked default, ties broken by name.
pub fn decide<'a>(
    request: Request<'_>,
    claim: &PersistentVolumeClaim,
    classes: impl IntoIterator<Item = &'a StorageClass>,
) -> Decision {
    let is_claim_create = request.is_create
        && request.resource == "persistentvolumeclaims"
        && request.sub_resource.is_none_or(str::is_empty);
    if !is_claim_create {
        return Decision::Unchanged(Unchanged::NotAClaimCreate);
    }
    if claim_has_class(claim) {
        return Decision::Unchanged(Unchanged::HasClass);
    }
    match default_class(classes).and_then(|class| class.metadata.name.clone()) {
        Some(name) => Decision::SetClass(name),
        None => Decision::Unchanged(Unchanged::NoDefaultClass),
    }
}

/// The RFC 6902 patch that applies a [`Decision::SetClass`]. `add` replaces an existing member and creates a
/// missing one, and a claim always has a `spec` (the API rejects claims without one).
pub fn set_class_patch(class: &str) -> serde_json::Value {
    serde_json::json!([{ "op": "add", "path": "/spec/storageClassName", "value": class }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PersistentVolumeClaimSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    const CREATE: Request<'static> = Request {
        is_create: true,
        resource: "persistentvolumeclaims",
        sub_resource: None,
    };

    fn claim(class: Option<&str>) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some("data".into()),
                namespace: Some("ns".into()),
                ..ObjectMeta::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                storage_class_name: class.map(str::to_string),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..PersistentVolumeClaim::default()
        }
    }

    fn class(name: &str, default: bool, created_secs: i64) -> StorageClass {
        let annotations = default.then(|| {
            [(
                crate::k8s::annotations::IS_DEFAULT_CLASS.to_string(),
                "true".to_string(),
            )]
            .into()
        });
        StorageClass {
            metadata: ObjectMeta {
                name: Some(name.into()),
                annotations,
                creation_timestamp: k8s_openapi::jiff::Timestamp::from_second(created_secs)
                    .map(Time)
                    .ok(),
                ..ObjectMeta::default()
            },
            provisioner: "hostpath.berth.dev".into(),
            ..StorageClass::default()
        }
    }

    #[test]
    fn classless_claim_gets_the_default() {
        let classes = [class("hostpath", true, 10), class("lvm", false, 20)];
        assert_eq!(
            decide(CREATE, &claim(None), &classes),
            Decision::SetClass("hostpath".into())
        );
    }

    #[test]
    fn explicit_empty_class_is_never_changed() {
        let classes = [class("hostpath", true, 10)];
        assert_eq!(
            decide(CREATE, &claim(Some("")), &classes),
            Decision::Unchanged(Unchanged::HasClass)
        );
    }

    #[test]
    fn named_class_is_kept() {
        let classes = [class("hostpath", true, 10)];
        assert_eq!(
            decide(CREATE, &claim(Some("lvm")), &classes),
            Decision::Unchanged(Unchanged::HasClass)
        );
    }

    #[test]
    fn beta_annotation_counts_as_a_class() {
        let mut annotated = claim(None);
        annotated.metadata.annotations = Some(
            [(
                crate::k8s::annotations::BETA_STORAGE_CLASS.to_string(),
                String::new(),
            )]
            .into(),
        );
        let classes = [class("hostpath", true, 10)];
        assert_eq!(
            decide(CREATE, &annotated, &classes),
            Decision::Unchanged(Unchanged::HasClass)
        );
    }

    #[test]
    fn no_default_means_no_change() {
        let classes = [class("hostpath", false, 10)];
        assert_eq!(
            decide(CREATE, &claim(None), &classes),
            Decision::Unchanged(Unchanged::NoDefaultClass)
        );
    }

    #[test]
    fn two_defaults_newest_wins() {
        let classes = [class("older", true, 10), class("newer", true, 20)];
        assert_eq!(
            decide(CREATE, &claim(None), &classes),
            Decision::SetClass("newer".into())
        );
    }

    #[test]
    fn updates_and_subresources_are_untouched() {
        let classes = [class("hostpath", true, 10)];
        let update = Request {
            is_create: false,
            ..CREATE
        };
        let status = Request {
            sub_resource: Some("status"),
            ..CREATE
        };
        let pods = Request {
            resource: "pods",
            ..CREATE
        };
        for request in [update, status, pods] {
            assert_eq!(
                decide(request, &claim(None), &classes),
                Decision::Unchanged(Unchanged::NotAClaimCreate)
            );
        }
    }

    #[test]
    fn patch_sets_the_class_on_a_claim_without_one() {
        let mut object = serde_json::to_value(claim(None)).unwrap();
        let patch: json_patch::Patch = serde_json::from_value(set_class_patch("hostpath")).unwrap();
        json_patch::patch(&mut object, &patch).unwrap();
        assert_eq!(object["spec"]["storageClassName"], "hostpath");
    }
}
