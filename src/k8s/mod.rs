//! Kubernetes helpers shared by every Berth component: well-known keys, quantities, selectors, class lookups.
pub mod annotations;
pub mod class;
pub mod client;
pub mod quantity;
pub mod selector;
