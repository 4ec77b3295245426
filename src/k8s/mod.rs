//! Kubernetes helpers shared by every Berth component: well-known keys and StorageClass rules.
pub mod annotations;
pub mod class;
