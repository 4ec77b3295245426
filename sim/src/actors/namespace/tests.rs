//! Tests of the namespace controller decisions.

use serde_json::json;

use super::*;

fn namespace(deleting: bool, finalizers: &[&str]) -> Namespace {
    let mut meta = json!({"name": "team"});
    if deleting {
        meta["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
    }
    serde_json::from_value(json!({"metadata": meta, "spec": {"finalizers": finalizers}})).unwrap()
}

fn content(name: &str, deleting: bool) -> Content {
    Content {
        resource: 0,
        name: name.into(),
        uid: format!("uid-{name}"),
        deleting,
    }
}

#[test]
fn namespace_decisions() {
    let cases = [
        (
            "live namespace",
            namespace(false, &["kubernetes"]),
            vec![content("a", false)],
            NamespaceAction::Ignore,
        ),
        (
            "already finalized",
            namespace(true, &[]),
            vec![content("a", false)],
            NamespaceAction::Ignore,
        ),
        (
            "content to delete",
            namespace(true, &["kubernetes"]),
            vec![content("a", false), content("b", true)],
            NamespaceAction::DeleteContent(vec![content("a", false)]),
        ),
        (
            "content on its way out",
            namespace(true, &["kubernetes"]),
            vec![content("b", true)],
            NamespaceAction::AwaitContent,
        ),
        (
            "empty",
            namespace(true, &["kubernetes"]),
            vec![],
            NamespaceAction::Finalize(vec![]),
        ),
        (
            "empty, other finalizers stay",
            namespace(true, &["example.com/x", "kubernetes"]),
            vec![],
            NamespaceAction::Finalize(vec!["example.com/x".into()]),
        ),
    ];
    for (name, ns, objects, expected) in cases {
        assert_eq!(decide(&ns, &objects), expected, "{name}");
    }
}

#[test]
fn default_resources_are_namespaced_kinds() {
    let kinds: Vec<String> = default_resources().into_iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            "Pod",
            "PersistentVolumeClaim",
            "ConfigMap",
            "StatefulSet",
            "ControllerRevision",
            "CSIStorageCapacity",
            "Lease",
            "Event"
        ]
    );
}
