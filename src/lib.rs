//! Berth: a Kubernetes PersistentVolume binder and node-local dynamic provisioner.
//!
//! Layout: [`k8s`] holds helpers shared by every component (well-known keys, StorageClass rules).
pub mod k8s;
