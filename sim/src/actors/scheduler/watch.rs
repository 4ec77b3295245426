//! Reflector plumbing shared by the simulated controllers: a store kept current by a background watch
//! that wakes the controller on every change.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// Starts a list+watch of `api` feeding a store, in a task owned by `tasks` (aborted with it); every
/// applied event notifies `wake`. Watch errors are retried with kube-runtime's default backoff.
pub(crate) fn spawn_reflector<K>(
    tasks: &mut JoinSet<()>,
    api: Api<K>,
    wake: Arc<Notify>,
) -> Store<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default()).default_backoff(),
    );
    tasks.spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => wake.notify_one(),
                Err(error) => tracing::debug!(%error, kind = %K::kind(&K::DynamicType::default()), "watch failed"),
            }
        }
    });
    reader
}
