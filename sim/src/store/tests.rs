use super::*;
use serde_json::json;

fn cm(name: &str, data: &str) -> Value {
    json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":name,"namespace":"ns"},"data":{"k":data}})
}

#[test]
fn create_assigns_increasing_resource_versions() {
    let store = Store::new(StoreConfig::default());
    let a = store.create("configmaps", cm("a", "1")).unwrap();
    let b = store.create("configmaps", cm("b", "1")).unwrap();
    assert_eq!(a["metadata"]["resourceVersion"], "1");
    assert_eq!(b["metadata"]["resourceVersion"], "2");
    assert_eq!(
        store.create("configmaps", cm("a", "2")).unwrap_err(),
        Error::AlreadyExists {
            namespace: "ns".into(),
            name: "a".into()
        }
    );
}

#[test]
fn no_op_update_keeps_resource_version_and_emits_nothing() {
    let store = Store::new(StoreConfig::default());
    store.create("configmaps", cm("a", "1")).unwrap();
    let mut sub = store
        .subscribe("configmaps", None, WatchStart::After(1))
        .unwrap();
    let w = store.update("configmaps", 1, cm("a", "1")).unwrap();
    assert!(matches!(w, Write::Unchanged(_)));
    assert_eq!(store.current_rv(), 1);
    assert!(sub.receiver.try_recv().is_err());
    let w = store.update("configmaps", 1, cm("a", "2")).unwrap();
    assert_eq!(w.object()["metadata"]["resourceVersion"], "2");
    assert!(matches!(sub.receiver.try_recv(), Ok(WatchMessage::Change(c)) if c.rv == 2));
}

#[test]
fn stale_update_conflicts() {
    let store = Store::new(StoreConfig::default());
    store.create("configmaps", cm("a", "1")).unwrap();
    store.update("configmaps", 1, cm("a", "2")).unwrap();
    assert!(matches!(
        store.update("configmaps", 1, cm("a", "3")),
        Err(Error::Conflict { current: 2, .. })
    ));
}

#[test]
fn deleted_change_carries_the_deletion_resource_version() {
    let store = Store::new(StoreConfig::default());
    store.create("configmaps", cm("a", "1")).unwrap();
    let mut sub = store
        .subscribe("configmaps", None, WatchStart::After(1))
        .unwrap();
    let gone = store.delete("configmaps", "ns", "a", None).unwrap();
    assert_eq!(gone["metadata"]["resourceVersion"], "2");
    match sub.receiver.try_recv() {
        Ok(WatchMessage::Change(c)) => {
            assert_eq!(c.change, ChangeType::Deleted);
            assert_eq!(c.object["metadata"]["resourceVersion"], "2");
            assert_eq!(
                c.previous.as_ref().unwrap()["metadata"]["resourceVersion"],
                "1"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn replay_and_expiry() {
    let store = Store::new(StoreConfig::default());
    for i in 0..3 {
        store
            .create("configmaps", cm(&format!("c{i}"), "1"))
            .unwrap();
    }
    let sub = store
        .subscribe("configmaps", None, WatchStart::After(1))
        .unwrap();
    assert_eq!(
        sub.replay.iter().map(|c| c.rv).collect::<Vec<_>>(),
        vec![2, 3]
    );
    store.compact();
    assert_eq!(
        store
            .subscribe("configmaps", None, WatchStart::After(1))
            .unwrap_err(),
        Error::Expired {
            requested: 1,
            oldest: 4
        }
    );
    assert!(
        store
            .subscribe("configmaps", None, WatchStart::After(3))
            .is_ok()
    );
}

#[test]
fn history_limit_compacts_oldest() {
    let store = Store::new(StoreConfig {
        history_limit: 2,
        ..StoreConfig::default()
    });
    for i in 0..4 {
        store
            .create("configmaps", cm(&format!("c{i}"), "1"))
            .unwrap();
    }
    assert!(
        store
            .subscribe("configmaps", None, WatchStart::After(1))
            .is_err()
    );
    assert_eq!(
        store
            .subscribe("configmaps", None, WatchStart::After(2))
            .unwrap()
            .replay
            .len(),
        2
    );
}

#[test]
fn namespaced_listing_uses_key_order() {
    let store = Store::new(StoreConfig::default());
    let mut other = cm("z", "1");
    other["metadata"]["namespace"] = json!("aa");
    store.create("configmaps", cm("b", "1")).unwrap();
    store.create("configmaps", other).unwrap();
    store.create("configmaps", cm("a", "1")).unwrap();
    let (rv, items) = store.list("configmaps", Some("ns"));
    assert_eq!(rv, 3);
    assert_eq!(
        items
            .iter()
            .map(|o| meta::name(o).to_string())
            .collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    assert_eq!(store.list("configmaps", None).1.len(), 3);
}
