//! berth-sim: an in-memory Kubernetes API server and simulated cluster for testing Berth.
pub mod actors;
pub mod admission;
pub mod patch;

pub mod catalog;
pub mod cluster;
pub mod controls;
pub mod meta;
pub mod quantity;
pub mod registry;
pub mod selectors;
pub mod server;
pub mod status;
pub mod store;
pub mod strategy;
pub mod tls;

pub use cluster::{Sim, SimBuilder};
