//! Starts berth-sim with the binder controller running in-process.
use std::time::Duration;

use berth::controller::run::{Handle, Options, TaskGuard, start};
use berth_sim::Sim;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::api::Api;

pub struct Cluster {
    pub sim: Sim,
    pub client: kube::Client,
    pub controller: Option<(Handle, TaskGuard)>,
}

impl Cluster {
    /// An API server with the protection and garbage-collection controllers but no scheduler, StatefulSet
    /// controller or kubelets: the tests play those parts where they need them.
    pub async fn start() -> Self {
        // RUST_LOG=berth=debug shows the controller's decisions when a test fails.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let sim = Sim::builder()
            .scheduler(false)
            .statefulset_controller(false)
            .kubelets(false)
            .start()
            .await
            .expect("start berth-sim");
        let client = sim.client();
        let mut cluster = Cluster {
            sim,
            client,
            controller: None,
        };
        cluster.start_controller("berth-controller-test");
        cluster
    }

    pub fn start_controller(&mut self, user_agent: &str) {
        let client = self
            .sim
            .client_with_user_agent(user_agent)
            .expect("controller client");
        let options = Options {
            sync: Default::default(),
            resync: Duration::from_secs(1),
            leader_election: None,
            identity: user_agent.to_string(),
        };
        self.controller = Some(start(client, options));
    }

    pub fn volumes(&self) -> Api<PersistentVolume> {
        Api::all(self.client.clone())
    }

    pub fn claims(&self, namespace: &str) -> Api<PersistentVolumeClaim> {
        Api::namespaced(self.client.clone(), namespace)
    }
}
