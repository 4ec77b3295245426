//! Berth: a Kubernetes PersistentVolume binder and node-local dynamic provisioner.
//!
//! Layout: [`k8s`] holds helpers shared by every component (well-known keys, quantities, selectors);
//! [`binder`] is the claim-to-volume binder, pure decisions with no I/O; [`admission`] is the default-StorageClass
//! webhook; [`agent`] is the node agent's disk layer (hostPath and LVM volumes, quotas, intent records).
pub mod admission;
pub mod agent;
pub mod binder;
pub mod controller;
pub mod k8s;
pub mod why;
