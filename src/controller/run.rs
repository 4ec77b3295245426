//! Wires the controller together: watches into the cache, two workers (claims and volumes, as upstream), a
//! periodic resync, and leader election gating every write.
use std::sync::{Arc, RwLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::Api;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use tokio::sync::watch;

use super::cache::Cache;
use super::executor::{Executor, is_conflict};
use super::lease::{LeaderElector, Timings};
use super::queue::WorkQueue;
use super::watch::{self as watches, Queues, read};
use crate::binder::actions::{Action, ClaimKey};
use crate::binder::claim_sync::{SyncOptions, sync_claim};
use crate::binder::volume_sync::{LiveClaim, sync_volume};

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The binder's decision switches.
    pub sync: SyncOptions,
    /// Every object is synced again this often (upstream `--pvclaimbinder-sync-period`, 15 s).
    pub resync: Duration,
    /// None: act as the only replica (`--leader-elect=false`).
    pub leader_election: Option<LeaderElection>,
    /// Name of this process in events and the lease (e.g. the pod name).
    pub identity: String,
}

/// Where the lease lives.
#[derive(Debug, Clone)]
pub struct LeaderElection {
    pub namespace: String,
    pub name: String,
    pub timings: Timings,
}

/// What a running controller exposes to its caller (health endpoints, tests).
#[derive(Clone)]
pub struct Handle {
    /// True once every watch delivered its first complete list.
    pub ready: watch::Receiver<bool>,
    /// True while this replica may write.
    pub leading: watch::Receiver<bool>,
}

/// Starts the controller's tasks and returns at once; the tasks end when the returned guard is dropped.
pub fn start(client: kube::Client, options: Options) -> (Handle, TaskGuard) {
    let cache = Arc::new(RwLock::new(Cache::default()));
    let queues = Queues {
        claims: Arc::new(WorkQueue::new()),
        volumes: Arc::new(WorkQueue::new()),
    };
    let mut tasks = Vec::new();

    // Without an election this replica always leads; the sender lives in the guard so the channel never closes.
    let mut always_leading = None;
    let leading = match &options.leader_election {
        Some(election) => {
            let elector = LeaderElector::new(
                client.clone(),
                &election.namespace,
                &election.name,
                &options.identity,
                election.timings,
            );
            let leading = elector.subscribe();
            tasks.push(tokio::spawn(elector.run()));
            leading
        }
        None => always_leading.insert(watch::Sender::new(true)).subscribe(),
    };

    let mut synced = Vec::new();
    let mut watch_kind = |(task, ready): (tokio::task::JoinHandle<()>, watch::Receiver<bool>)| {
        tasks.push(task);
        synced.push(ready);
    };
    let all = watcher::Config::default;
    watch_kind(spawn_watch(
        Api::<PersistentVolume>::all(client.clone()),
        all(),
        &cache,
        &queues,
    ));
    watch_kind(spawn_watch(
        Api::<PersistentVolumeClaim>::all(client.clone()),
        all(),
        &cache,
        &queues,
    ));
    watch_kind(spawn_watch(
        Api::<StorageClass>::all(client.clone()),
        all(),
        &cache,
        &queues,
    ));
    // Only unscheduled pods matter to the binder (WaitForPodScheduled); a pod leaving that set arrives as DELETED.
    let unscheduled = all().fields("spec.nodeName=");
    watch_kind(spawn_watch(
        Api::<Pod>::all(client.clone()),
        unscheduled,
        &cache,
        &queues,
    ));

    let (ready_tx, ready) = watch::channel(false);
    let reporter = Reporter {
        controller: "persistentvolume-controller".into(),
        instance: Some(options.identity.clone()),
    };
    let executor = Arc::new(Executor {
        client: client.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        cache: cache.clone(),
        claim_queue: queues.claims.clone(),
        leading: leading.clone(),
    });
    let worker = Arc::new(Worker {
        client,
        cache,
        queues,
        executor,
        options,
    });
    tasks.push(tokio::spawn(worker.clone().supervise(
        synced,
        ready_tx,
        leading.clone(),
    )));
    (
        Handle { ready, leading },
        TaskGuard {
            tasks,
            _always_leading: always_leading,
        },
    )
}

/// Starts one watch feeding the cache; the receiver turns true after its first complete list.
fn spawn_watch<K: watches::Watched>(
    api: Api<K>,
    config: watcher::Config,
    cache: &Arc<RwLock<Cache>>,
    queues: &Queues,
) -> (tokio::task::JoinHandle<()>, watch::Receiver<bool>) {
    let (synced, ready) = watch::channel(false);
    let task = tokio::spawn(watches::run(
        api,
        config,
        cache.clone(),
        queues.clone(),
        synced,
    ));
    (task, ready)
}

/// Aborts the controller's tasks when dropped.
pub struct TaskGuard {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _always_leading: Option<watch::Sender<bool>>,
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct Worker {
    client: kube::Client,
    cache: Arc<RwLock<Cache>>,
    queues: Queues,
    executor: Arc<Executor>,
    options: Options,
}

impl Worker {
    /// Waits for every first list (deciding on a partial cache could provision a claim whose PV is simply not
    /// listed yet), then runs the workers and the resync while this replica leads.
    async fn supervise(
        self: Arc<Self>,
        synced: Vec<watch::Receiver<bool>>,
        ready: watch::Sender<bool>,
        mut leading: watch::Receiver<bool>,
    ) {
        for mut receiver in synced {
            if receiver.wait_for(|synced| *synced).await.is_err() {
                return;
            }
        }
        ready.send_replace(true);
        tracing::info!("caches synced");
        loop {
            if leading.wait_for(|leading| *leading).await.is_err() {
                return;
            }
            tracing::info!("leading: starting workers");
            let claims = tokio::spawn(self.clone().claim_worker());
            let volumes = tokio::spawn(self.clone().volume_worker());
            let resync = tokio::spawn(self.clone().resync());
            let lost = leading.wait_for(|leading| !*leading).await;
            // Writes already check leadership one by one; stopping the workers also stops deciding.
            claims.abort();
            volumes.abort();
            resync.abort();
            if lost.is_err() {
                return;
            }
            tracing::warn!("lost leadership: workers stopped");
        }
    }

    async fn resync(self: Arc<Self>) {
        let mut ticks = tokio::time::interval(self.options.resync);
        loop {
            ticks.tick().await;
            let (claims, volumes) = {
                let cache = read(&self.cache);
                (cache.claim_keys(), cache.volume_names())
            };
            for (namespace, name) in claims {
                self.queues.claims.add(ClaimKey::new(&namespace, &name));
            }
            for name in volumes {
                self.queues.volumes.add(name);
            }
        }
    }

    async fn claim_worker(self: Arc<Self>) {
        loop {
            let key = self.queues.claims.next().await;
            let actions = {
                let cache = read(&self.cache);
                let Some(claim) = cache.cached_claim(&key.namespace, &key.name).cloned() else {
                    continue;
                };
                sync_claim(&claim, &*cache, &self.options.sync)
            };
            self.execute(actions, "claim", &key.to_string()).await;
        }
    }

    async fn volume_worker(self: Arc<Self>) {
        loop {
            let name = self.queues.volumes.next().await;
            let Some(volume) = read(&self.cache).volume(&name).cloned() else {
                continue;
            };
            let actions = sync_volume(&volume, &*read(&self.cache), LiveClaim::NotFetched);
            let actions = match actions.as_slice() {
                [Action::LookUpClaimLive(key)] => {
                    let api: Api<PersistentVolumeClaim> =
                        Api::namespaced(self.client.clone(), &key.namespace);
                    match api.get_opt(&key.name).await {
                        Ok(Some(claim)) => {
                            sync_volume(&volume, &*read(&self.cache), LiveClaim::Found(&claim))
                        }
                        Ok(None) => sync_volume(&volume, &*read(&self.cache), LiveClaim::NotFound),
                        Err(error) => {
                            tracing::warn!(volume = %name, claim = %key, %error, "live lookup of claim failed");
                            continue;
                        }
                    }
                }
                _ => actions,
            };
            self.execute(actions, "volume", &name).await;
        }
    }

    async fn execute(&self, actions: Vec<Action>, kind: &'static str, name: &str) {
        match self.executor.execute(actions).await {
            Ok(_) => {}
            Err(super::executor::Error::Write { source, .. }) if is_conflict(&source) => {
                // Expected under concurrency: the next event for the object re-drives the decision.
                tracing::debug!(kind, object = %name, "conflict; will decide again on the next event");
            }
            Err(error) => {
                tracing::warn!(kind, object = %name, category = error.category(), error = %error, "sync failed")
            }
        }
    }
}
