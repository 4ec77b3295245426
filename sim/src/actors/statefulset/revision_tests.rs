//! Tests of revision naming, selection and pruning.

use super::super::fixtures::*;
use super::*;

#[test]
fn hash_is_stable_and_changes_with_template_and_collisions() {
    let set = set_with_claims("web", 1, &[]);
    let data = revision_data(&set);
    assert_eq!(
        revision_hash(&data, 0),
        revision_hash(&revision_data(&set.clone()), 0)
    );
    assert_ne!(revision_hash(&data, 0), revision_hash(&data, 1));
    assert_ne!(
        revision_hash(&data, 0),
        revision_hash(&revision_data(&with_image(set, "img:2")), 0)
    );
    assert!(
        revision_hash(&data, 0)
            .bytes()
            .all(|b| SAFE_ALPHABET.contains(&b))
    );
}

#[test]
fn fnv1_matches_the_reference_vectors() {
    assert_eq!(fnv1_32(b""), 0x811c_9dc5);
    assert_eq!(fnv1_32(b"a"), 0x050c_5d7e);
    assert_eq!(fnv1_32(b"foobar"), 0x31f0_b262);
}

#[test]
fn revision_stores_the_template() {
    let set = set_with_claims("web", 1, &[]);
    let revision = revision_of(&set);
    assert_eq!(template_of(&revision), set.spec.as_ref().unwrap().template);
    assert_eq!(
        revision.data.as_ref().unwrap().0["spec"]["template"]["$patch"],
        "replace"
    );
    let labels = revision.metadata.labels.clone().unwrap();
    assert_eq!(labels.get("app").map(String::as_str), Some("web"));
    let name = revision.metadata.name.clone().unwrap();
    assert_eq!(name, format!("web-{}", labels[LABEL_HASH]));
    assert_eq!(revision.revision, 1);
}

#[test]
fn collisions_pick_the_next_name() {
    let set = set_with_claims("web", 1, &[]);
    let mut taken = (*revision_of(&with_image(set.clone(), "other"))).clone();
    let wanted = revision_name(&set);
    taken.metadata.name = Some(wanted.clone());
    let taken = Arc::new(taken);
    let plan = plan_revisions(&set, &[], |name| (name == wanted).then_some(&taken));
    assert_eq!(plan.collision_count, 1);
    let Some(RevisionWrite::Create(created)) = plan.write else {
        panic!("expected a creation")
    };
    assert_ne!(created.metadata.name, Some(wanted.clone()));
    // a same-named revision with the same data is reused instead
    let same = revision_of(&set);
    let plan = plan_revisions(&set, &[], |name| (name == wanted).then_some(&same));
    assert_eq!((plan.write, plan.collision_count), (None, 0));
    assert_eq!(plan.update.metadata.name, Some(wanted));
}

#[test]
fn current_revision_comes_from_status() {
    let old_set = set_with_claims("web", 1, &[]);
    let old = revision_of(&old_set);
    let mut set = with_image(old_set, "img:2");
    set.status = Some(k8s_openapi::api::apps::v1::StatefulSetStatus {
        current_revision: old.metadata.name.clone(),
        ..Default::default()
    });
    let plan = plan_revisions(&set, std::slice::from_ref(&old), |_| None);
    assert_eq!(plan.current, old);
    assert_ne!(plan.update.metadata.name, old.metadata.name);
    assert_eq!(plan.update.revision, 2);
}
