//! Test-only object tweaks the shared fixtures do not cover: nodes, PV node affinity, VolumeAttributesClasses,
//! selector expressions.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PersistentVolume,
    PersistentVolumeClaim, VolumeNodeAffinity,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};

pub fn node(name: &str, labels: &[(&str, &str)]) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        ..Node::default()
    }
}

/// Requires node label `key` to be one of `values`.
pub fn with_affinity(mut volume: PersistentVolume, key: &str, values: &[&str]) -> PersistentVolume {
    let term = NodeSelectorTerm {
        match_expressions: Some(vec![NodeSelectorRequirement {
            key: key.to_owned(),
            operator: "In".to_owned(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }]),
        match_fields: None,
    };
    volume
        .spec
        .get_or_insert_with(Default::default)
        .node_affinity = Some(VolumeNodeAffinity {
        required: Some(NodeSelector {
            node_selector_terms: vec![term],
        }),
    });
    volume
}

pub fn volume_with_attributes_class(mut volume: PersistentVolume, name: &str) -> PersistentVolume {
    volume
        .spec
        .get_or_insert_with(Default::default)
        .volume_attributes_class_name = Some(name.to_owned());
    volume
}

pub fn claim_with_attributes_class(
    mut claim: PersistentVolumeClaim,
    name: &str,
) -> PersistentVolumeClaim {
    claim
        .spec
        .get_or_insert_with(Default::default)
        .volume_attributes_class_name = Some(name.to_owned());
    claim
}

pub fn with_volume_beta_class(mut volume: PersistentVolume, class: &str) -> PersistentVolume {
    volume
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(
            crate::k8s::annotations::BETA_STORAGE_CLASS.to_owned(),
            class.to_owned(),
        );
    volume
}

/// Replaces the claim's selector with one match expression.
pub fn with_expression(
    mut claim: PersistentVolumeClaim,
    key: &str,
    operator: &str,
    values: &[&str],
) -> PersistentVolumeClaim {
    claim.spec.get_or_insert_with(Default::default).selector = Some(LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: key.to_owned(),
            operator: operator.to_owned(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }]),
        match_labels: None,
    });
    claim
}
