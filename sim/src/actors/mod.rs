//! Simulated control-plane actors. (being written)
pub mod gc;
pub mod kubelet;
pub mod namespace;
pub mod protection;
pub mod scheduler;
pub mod statefulset;
