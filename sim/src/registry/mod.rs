//! REST semantics on top of the store: create, update, patch, delete, get and list of every served type,
//! with defaulting, validation, admission and the subresources. Independent of HTTP.
//!
//! Objects enter and leave this layer in their *view* form (what clients of the resource type see); they
//! are stored in their storage form (see `strategy::views`).

mod create;
mod delete;
mod patch;
mod read;
mod subresources;
mod update;

#[cfg(test)]
mod tests;

use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::admission::{
    self, AdmissionConfig, AdmissionError, AdmissionLookup, AdmissionRequest, Operation,
};
use crate::catalog::{self, ResourceType, Subresource};
use crate::status::{Result, StatusError};
use crate::store::{self, Store};
use crate::strategy::views;

pub use delete::{DeleteOptions, DeleteOutcome, Propagation};
pub use patch::PatchRequest;
pub use read::{ListOptions, ListPage, RvMatch};

/// Who is writing and how (query parameters of a write request).
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    /// `fieldManager`; defaults to the User-Agent's product name.
    pub field_manager: Option<String>,
    pub user_agent: String,
}

impl WriteOptions {
    /// The field manager recorded in managedFields (`kubectl-label/v1.33 (…)` → `kubectl-label`).
    pub fn manager(&self) -> String {
        match &self.field_manager {
            Some(m) if !m.is_empty() => m.clone(),
            _ => {
                let ua = self.user_agent.split('/').next().unwrap_or_default();
                let ua = if ua.is_empty() { "unknown" } else { ua };
                ua.chars().take(128).collect()
            }
        }
    }
}

/// The result of a successful write.
#[derive(Debug, Clone)]
pub struct Written {
    /// The object as stored (view form).
    pub object: Value,
    /// True when the write created the object (201).
    pub created: bool,
    /// Admission warnings to send as `Warning` headers.
    pub warnings: Vec<String>,
}

/// The API's object registry.
pub struct Registry {
    store: Arc<Store>,
    admission: RwLock<Arc<AdmissionConfig>>,
}

impl Registry {
    pub fn new(store: Arc<Store>, admission: AdmissionConfig) -> Registry {
        Registry {
            store,
            admission: RwLock::new(Arc::new(admission)),
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The admission configuration in effect (a snapshot).
    pub fn admission_config(&self) -> Arc<AdmissionConfig> {
        self.admission
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Replaces the admission configuration (test hooks such as webhook service routes).
    pub fn set_admission_config(&self, config: AdmissionConfig) {
        let mut guard = self.admission.write().unwrap_or_else(|p| p.into_inner());
        *guard = Arc::new(config);
    }

    /// Runs the mutating admission chain.
    async fn admit(
        &self,
        attrs: &Attributes<'_>,
        operation: Operation,
        object: Value,
        old: Option<&Value>,
    ) -> Result<admission::Admitted> {
        let cfg = self.admission_config();
        let req = attrs.request(operation);
        admission::admit_with_warnings(&cfg, self, &req, object, old)
            .await
            .map_err(admission_error)
    }

    /// Runs the validating admission chain; returns webhook warnings.
    async fn validate_admission(
        &self,
        attrs: &Attributes<'_>,
        operation: Operation,
        object: &Value,
        old: Option<&Value>,
    ) -> Result<Vec<String>> {
        let cfg = self.admission_config();
        let req = attrs.request(operation);
        admission::validate(&cfg, self, &req, object, old)
            .await
            .map_err(admission_error)
    }

    fn stored(&self, rt: &ResourceType, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.store.get(rt.storage, scoped(rt, namespace), name)
    }
}

/// The request attributes admission needs.
struct Attributes<'a> {
    rt: &'static ResourceType,
    sub: Option<Subresource>,
    namespace: &'a str,
    name: &'a str,
    opts: &'a WriteOptions,
}

impl Attributes<'_> {
    fn request(&self, operation: Operation) -> AdmissionRequest<'_> {
        AdmissionRequest {
            operation,
            group: self.rt.group,
            version: self.rt.version,
            resource: self.rt.resource,
            subresource: self.sub.map(Subresource::segment).unwrap_or_default(),
            kind: self.rt.kind,
            namespace: if self.rt.namespaced {
                Some(self.namespace)
            } else {
                None
            },
            name: self.name,
            dry_run: self.opts.dry_run,
            user_agent: &self.opts.user_agent,
            uid: uuid::Uuid::new_v4().to_string(),
        }
    }
}

impl AdmissionLookup for Registry {
    fn list(&self, group: &str, resource: &str) -> Vec<Value> {
        let Some(rt) = catalog::find_by_group_resource(group, resource) else {
            return Vec::new();
        };
        self.store
            .list(rt.storage, None)
            .1
            .iter()
            .map(|o| views::to_view(rt, o))
            .collect()
    }

    fn get(
        &self,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let rt = catalog::find_by_group_resource(group, resource)?;
        let ns = if rt.namespaced {
            namespace.unwrap_or_default()
        } else {
            ""
        };
        self.store
            .get(rt.storage, ns, name)
            .map(|o| views::to_view(rt, &o))
    }
}

/// The namespace part of a store key: empty for cluster-scoped types.
fn scoped<'a>(rt: &ResourceType, namespace: &'a str) -> &'a str {
    if rt.namespaced { namespace } else { "" }
}

fn admission_error(e: AdmissionError) -> StatusError {
    let mut status = StatusError::new(e.http_status(), e.reason(), e.message());
    status.details = e.details();
    status
}

/// Maps a store failure of a write on `name` to its API error.
fn store_error(rt: &ResourceType, name: &str, e: store::Error) -> StatusError {
    match e {
        store::Error::NotFound { .. } => StatusError::not_found(rt, name),
        store::Error::AlreadyExists { .. } => StatusError::already_exists(rt, name),
        store::Error::Conflict { .. } => StatusError::stale_resource_version(rt, name),
        store::Error::Expired { requested, oldest } => {
            StatusError::too_old_resource_version(requested, oldest)
        }
    }
}

/// How often an unconditional write is retried when another writer got in between.
const WRITE_RETRIES: usize = 8;
