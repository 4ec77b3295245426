//! berth-sim: an in-memory Kubernetes API server and simulated cluster for testing Berth.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use k8s_openapi::api::core::v1::PersistentVolumeClaim;
//! let sim = berth_sim::Sim::builder().nodes(3).start().await?;
//! let claims: kube::Api<PersistentVolumeClaim> = kube::Api::namespaced(sim.client(), "default");
//! sim.write_kubeconfig("/tmp/berth-sim.kubeconfig")?; // for kubectl
//! sim.expire_watches(); // test control: every watcher relists
//! # Ok(())
//! # }
//! ```
//!
//! Layout (request path from the socket inwards):
//! - [`server`]: HTTP routing, content negotiation, watch streaming, discovery/OpenAPI, `/_sim` admin;
//! - [`registry`]: REST semantics per verb (create/update/patch/delete/get/list, subresources), calling
//!   [`admission`], [`patch`] and [`strategy`] (defaults, spec/status separation, validation);
//! - [`store`]: JSON objects, the global resourceVersion, watch history and fan-out;
//! - [`catalog`]: what is known per resource type; [`selectors`], [`status`] (error bodies);
//! - [`cluster`]: the [`Sim`] handle that wires it together and starts the [`actors`].
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
