//! The garbage collector's ownership graph: every watched object's identity, owner references and deletion
//! state, indexed both ways (owner → dependents), maintained incrementally from watch events.

use std::collections::{BTreeSet, HashMap, HashSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::DynamicObject;

/// One object as the garbage collector sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub uid: String,
    /// Index of the object's resource in the collector's resource list.
    pub resource: usize,
    pub namespace: Option<String>,
    pub name: String,
    pub resource_version: String,
    pub owners: Vec<OwnerReference>,
    pub finalizers: Vec<String>,
    pub deleting: bool,
}

impl Node {
    /// The graph node of a watched object of resource number `resource`; `None` without a uid.
    pub fn from_object(resource: usize, object: &DynamicObject) -> Option<Self> {
        let meta = &object.metadata;
        Some(Self {
            uid: meta.uid.clone()?,
            resource,
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            resource_version: meta.resource_version.clone().unwrap_or_default(),
            owners: meta.owner_references.clone().unwrap_or_default(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
        })
    }

    pub fn has_finalizer(&self, finalizer: &str) -> bool {
        self.finalizers.iter().any(|f| f == finalizer)
    }
}

/// All watched objects by uid, and the dependents of every owner uid (present or not).
#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    dependents: HashMap<String, BTreeSet<String>>,
}

impl Graph {
    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// The objects whose owner references name `owner_uid`.
    pub fn dependents_of<'a>(&'a self, owner_uid: &str) -> impl Iterator<Item = &'a Node> + 'a {
        self.dependents
            .get(owner_uid)
            .into_iter()
            .flatten()
            .filter_map(|uid| self.nodes.get(uid))
    }

    pub fn has_dependents(&self, owner_uid: &str) -> bool {
        self.dependents_of(owner_uid).next().is_some()
    }

    /// Adds or replaces a node; returns the uids whose decisions may have changed (the node, its dependents,
    /// its owners before and after).
    pub fn upsert(&mut self, node: Node) -> Vec<String> {
        let uid = node.uid.clone();
        let old_owners: Vec<String> = self.nodes.get(&uid).map(owner_uids).unwrap_or_default();
        for owner in &old_owners {
            self.unlink(owner, &uid);
        }
        let new_owners = owner_uids(&node);
        for owner in &new_owners {
            self.dependents
                .entry(owner.clone())
                .or_default()
                .insert(uid.clone());
        }
        self.nodes.insert(uid.clone(), node);
        self.affected(&uid, old_owners.into_iter().chain(new_owners))
    }

    /// Removes a node; returns the uids whose decisions may have changed (its dependents and owners).
    pub fn remove(&mut self, uid: &str) -> Vec<String> {
        let Some(node) = self.nodes.remove(uid) else {
            return Vec::new();
        };
        let owners = owner_uids(&node);
        for owner in &owners {
            self.unlink(owner, uid);
        }
        let mut affected = self.affected(uid, owners);
        affected.retain(|u| u != uid);
        affected
    }

    /// The uids of every node of one resource (to find objects that vanished during a relist).
    pub fn uids_of(&self, resource: usize) -> HashSet<String> {
        self.nodes
            .values()
            .filter(|n| n.resource == resource)
            .map(|n| n.uid.clone())
            .collect()
    }

    fn unlink(&mut self, owner: &str, dependent: &str) {
        if let Some(set) = self.dependents.get_mut(owner) {
            set.remove(dependent);
            if set.is_empty() {
                self.dependents.remove(owner);
            }
        }
    }

    fn affected(&self, uid: &str, owners: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut affected: Vec<String> = vec![uid.to_string()];
        affected.extend(self.dependents.get(uid).into_iter().flatten().cloned());
        affected.extend(owners);
        let mut seen = HashSet::new();
        affected.retain(|u| seen.insert(u.clone()));
        affected
    }
}

fn owner_uids(node: &Node) -> Vec<String> {
    node.owners.iter().map(|o| o.uid.clone()).collect()
}
