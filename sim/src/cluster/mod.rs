//! The `Sim` handle: builds a cluster (store, API server, initial namespaces and nodes, actors), serves it
//! on loopback, and exposes clients, kubeconfigs and the test controls.

pub mod actors;
mod expiry;
mod kubeconfig;
mod seed;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use actors::ActorSwitches;
pub use seed::{INITIAL_NAMESPACES, node_name};

use crate::admission::{AdmissionConfig, ServiceKey};
use crate::catalog;
use crate::controls::{Controls, Fault, Latency, RequestRecord};
use crate::registry::{Registry, WriteOptions};
use crate::server::{ApiServer, ServerConfig};
use crate::status::StatusError;
use crate::store::{Store, StoreConfig};

/// Why a sim could not be started or a handle operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bind the API server to {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("create the node root directory {path}")]
    NodeRoot {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("create the initial {what}")]
    Seed {
        what: String,
        source: Box<StatusError>,
    },
    #[error("set up HTTPS")]
    Tls { source: crate::tls::Error },
    #[error("build a kube client for {url}")]
    Client {
        url: String,
        source: Box<kube::Error>,
    },
    #[error("write the kubeconfig {path}")]
    WriteKubeconfig {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// User-Agent of [`Sim::client`].
pub const TEST_CLIENT_USER_AGENT: &str = "berth-sim-test/v0";

/// Configures and starts a [`Sim`].
#[derive(Debug, Clone)]
pub struct SimBuilder {
    listen: SocketAddr,
    nodes: usize,
    node_root: Option<PathBuf>,
    actors: ActorSwitches,
    admission: AdmissionConfig,
    server: ServerConfig,
    store: StoreConfig,
    tls: bool,
    event_ttl: Duration,
}

impl Default for SimBuilder {
    fn default() -> Self {
        SimBuilder {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            nodes: 3,
            node_root: None,
            actors: ActorSwitches::default(),
            admission: AdmissionConfig::default(),
            server: ServerConfig::default(),
            store: StoreConfig::default(),
            tls: false,
            event_ttl: Duration::from_secs(3600),
        }
    }
}

impl SimBuilder {
    /// Address to listen on (default `127.0.0.1:0`, an ephemeral port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Number of simulated nodes `node-1..node-N` (default 3).
    pub fn nodes(mut self, n: usize) -> Self {
        self.nodes = n;
        self
    }

    /// Directory holding one root directory per node (`<dir>/node-1`, ...); a temporary one by default.
    pub fn node_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.node_root = Some(dir.into());
        self
    }

    pub fn scheduler(mut self, on: bool) -> Self {
        self.actors.scheduler = on;
        self
    }

    pub fn statefulset_controller(mut self, on: bool) -> Self {
        self.actors.statefulset_controller = on;
        self
    }

    pub fn kubelets(mut self, on: bool) -> Self {
        self.actors.kubelets = on;
        self
    }

    /// Garbage collector, protection controllers and namespace controller (default on).
    pub fn controllers(mut self, on: bool) -> Self {
        self.actors.controllers = on;
        self
    }

    /// Turns every actor off: a bare API server.
    pub fn api_only(mut self) -> Self {
        self.actors = ActorSwitches {
            scheduler: false,
            statefulset_controller: false,
            kubelets: false,
            controllers: false,
        };
        self
    }

    /// Enables the built-in DefaultStorageClass admission plugin (off by default).
    pub fn builtin_default_class(mut self, on: bool) -> Self {
        self.admission.builtin_default_storage_class = on;
        self
    }

    /// Routes a webhook `clientConfig.service` to a loopback address.
    pub fn webhook_service(mut self, service: ServiceKey, addr: SocketAddr) -> Self {
        self.admission.service_routes.insert(service, addr);
        self
    }

    /// Interval of watch BOOKMARK events (default 60 s, like the real server; tests want ~1 s).
    pub fn bookmark_interval(mut self, interval: Duration) -> Self {
        self.server.bookmark_interval = interval;
        self
    }

    /// Changes retained per resource for watch resumption (default 50,000).
    pub fn watch_history(mut self, changes: usize) -> Self {
        self.store.history_limit = changes;
        self
    }

    /// Serves HTTPS with a freshly generated CA (in the kubeconfig) instead of plain HTTP.
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// How long Events live after their last write (default 1 h, as the real server).
    pub fn event_ttl(mut self, ttl: Duration) -> Self {
        self.event_ttl = ttl;
        self
    }

    /// Starts the API server and the actors.
    pub async fn start(self) -> Result<Sim> {
        let store = Arc::new(Store::new(self.store.clone()));
        let registry = Arc::new(Registry::new(store, self.admission.clone()));
        let node_names: Vec<String> = (1..=self.nodes).map(seed::node_name).collect();
        seed_objects(&registry, self.nodes).await?;
        let node_root = match &self.node_root {
            Some(dir) => dir.clone(),
            None => std::env::temp_dir().join(format!(
                "berth-sim-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4()
            )),
        };
        for node in &node_names {
            let dir = node_root.join(node);
            std::fs::create_dir_all(&dir).map_err(|source| Error::NodeRoot {
                path: dir.clone(),
                source,
            })?;
        }
        let controls = Arc::new(Controls::default());
        let api = Arc::new(ApiServer {
            registry: registry.clone(),
            controls: controls.clone(),
            config: self.server.clone(),
        });
        let listener = TcpListener::bind(self.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: self.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: self.listen,
            source,
        })?;
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let app = crate::server::router(api);
        let cert = if self.tls {
            Some(crate::tls::ServingCert::generate().map_err(|source| Error::Tls { source })?)
        } else {
            None
        };
        let (url, ca) = match &cert {
            Some(c) => (
                format!("https://{addr}"),
                Some(Certificate {
                    pem: c.ca_pem.clone(),
                    der: c.ca_der.clone(),
                }),
            ),
            None => (format!("http://{addr}"), None),
        };
        let server_task = tokio::spawn(async move {
            let served = match cert {
                Some(cert) => crate::tls::serve(listener, app, &cert, shutdown_rx)
                    .await
                    .map_err(|e| e.to_string()),
                None => axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = shutdown_rx.await;
                    })
                    .await
                    .map_err(|e| e.to_string()),
            };
            if let Err(e) = served {
                tracing::error!(error = %e, "API server failed");
            }
        });
        let ca_der = ca.as_ref().map(|c| c.der.clone());
        let client = build_client(&url, TEST_CLIENT_USER_AGENT, ca_der.as_deref())?;
        let mut actor_handles = actors::spawn(&self.actors, &node_names, &node_root, &|ua| {
            build_client(&url, ua, ca_der.as_deref()).ok()
        });
        actor_handles.push(actors::ActorHandle {
            name: "event-expiry".into(),
            task: tokio::spawn(expiry::run(registry.store().clone(), self.event_ttl)),
        });
        Ok(Sim {
            url,
            addr,
            ca,
            client,
            registry,
            controls,
            node_names,
            node_root,
            shutdown: Some(shutdown_tx),
            server_task: Some(server_task),
            actors: actor_handles,
        })
    }
}

/// Creates the initial namespaces and the nodes through the normal write path.
async fn seed_objects(registry: &Registry, nodes: usize) -> Result<()> {
    let opts = WriteOptions {
        user_agent: "berth-sim".into(),
        ..WriteOptions::default()
    };
    let namespaces = catalog::find("", "v1", "namespaces");
    let node_type = catalog::find("", "v1", "nodes");
    let (Some(namespaces), Some(node_type)) = (namespaces, node_type) else {
        return Ok(());
    };
    for ns in INITIAL_NAMESPACES {
        registry
            .create(namespaces, "", seed::namespace(ns), &opts)
            .await
            .map_err(|source| Error::Seed {
                what: format!("namespace {ns}"),
                source: Box::new(source),
            })?;
    }
    let kubelet = WriteOptions {
        user_agent: "kubelet/v1.33.1".into(),
        ..WriteOptions::default()
    };
    for i in 1..=nodes {
        registry
            .create(node_type, "", seed::node(i), &kubelet)
            .await
            .map_err(|source| Error::Seed {
                what: format!("node {}", seed::node_name(i)),
                source: Box::new(source),
            })?;
    }
    Ok(())
}

/// A kube client for `url` sending `user_agent`, trusting `ca_der` for HTTPS.
pub fn build_client(url: &str, user_agent: &str, ca_der: Option<&[u8]>) -> Result<kube::Client> {
    let fail = |source: kube::Error| Error::Client {
        url: url.to_string(),
        source: Box::new(source),
    };
    let uri = url
        .parse()
        .map_err(|e: axum::http::uri::InvalidUri| fail(kube::Error::HttpError(e.into())))?;
    let mut config = kube::Config::new(uri);
    config.root_cert = ca_der.map(|der| vec![der.to_vec()]);
    if let Ok(v) = HeaderValue::from_str(user_agent) {
        config
            .headers
            .push((HeaderName::from_static("user-agent"), v));
    }
    kube::Client::try_from(config).map_err(fail)
}

/// The CA of an HTTPS sim.
#[derive(Debug, Clone)]
pub struct Certificate {
    pub pem: String,
    pub der: Vec<u8>,
}

/// A running simulated cluster. Dropping it stops the server and the actors.
pub struct Sim {
    url: String,
    addr: SocketAddr,
    ca: Option<Certificate>,
    client: kube::Client,
    registry: Arc<Registry>,
    controls: Arc<Controls>,
    node_names: Vec<String>,
    node_root: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    server_task: Option<JoinHandle<()>>,
    actors: Vec<actors::ActorHandle>,
}

impl Sim {
    pub fn builder() -> SimBuilder {
        SimBuilder::default()
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kube client for this cluster (User-Agent [`TEST_CLIENT_USER_AGENT`]).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A kube client sending another User-Agent (to tell clients apart in the request log).
    pub fn client_with_user_agent(&self, user_agent: &str) -> Result<kube::Client> {
        build_client(
            &self.url,
            user_agent,
            self.ca.as_ref().map(|c| c.der.as_slice()),
        )
    }

    /// The CA clients must trust (HTTPS sims only).
    pub fn ca(&self) -> Option<&Certificate> {
        self.ca.as_ref()
    }

    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig::render(&self.url, self.ca.as_ref().map(|c| c.pem.as_str()))
    }

    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.kubeconfig_yaml()).map_err(|source| Error::WriteKubeconfig {
            path: path.to_path_buf(),
            source,
        })
    }

    /// `node-1..node-N`.
    pub fn node_names(&self) -> &[String] {
        &self.node_names
    }

    /// The directory holding the nodes' root directories.
    pub fn node_root(&self) -> &Path {
        &self.node_root
    }

    /// The root directory of one node (where its kubelet resolves PV paths).
    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.node_root.join(node)
    }

    /// The registry, for in-process access without HTTP.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Names of the running actors.
    pub fn actor_names(&self) -> Vec<String> {
        self.actors.iter().map(|a| a.name.clone()).collect()
    }

    /// Ends every open watch cleanly (clients resume from their last resourceVersion).
    pub fn close_watches(&self) {
        self.registry.store().close_watches();
    }

    /// Drops watch history and sends ERROR 410 into every open watch: kube-rs watchers relist.
    pub fn expire_watches(&self) {
        self.registry.store().expire_watches();
    }

    /// Drops watch history: resuming from an older resourceVersion gets 410 Expired.
    pub fn compact_history(&self) {
        self.registry.store().compact();
    }

    pub fn inject_fault(&self, fault: Fault) {
        self.controls.add_fault(fault);
    }

    pub fn clear_faults(&self) {
        self.controls.clear_faults();
    }

    pub fn inject_latency(&self, latency: Latency) {
        self.controls.add_latency(latency);
    }

    pub fn clear_latency(&self) {
        self.controls.clear_latencies();
    }

    /// Every API request so far (verb, resource, namespace, user agent, ...).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.controls.requests()
    }

    pub fn clear_requests(&self) {
        self.controls.clear_requests();
    }

    /// Routes a webhook `clientConfig.service` to a loopback address (takes effect immediately).
    pub fn set_webhook_service(&self, service: ServiceKey, addr: SocketAddr) {
        let mut cfg = (*self.registry.admission_config()).clone();
        cfg.service_routes.insert(service, addr);
        self.registry.set_admission_config(cfg);
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.registry.store().current_rv()
    }

    /// Waits until no write happened for `quiet`; false if that did not happen within `limit`.
    pub async fn wait_quiescent(&self, quiet: Duration, limit: Duration) -> bool {
        self.registry.store().wait_quiescent(quiet, limit).await
    }

    /// Stops the actors and the server (open watches are closed first so shutdown does not wait for them).
    pub async fn shutdown(mut self) {
        self.stop_actors();
        self.registry.store().close_watches();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.server_task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }

    fn stop_actors(&mut self) {
        for actor in self.actors.drain(..) {
            actor.task.abort();
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop_actors();
        self.registry.store().close_watches();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.server_task.take() {
            task.abort();
        }
    }
}
