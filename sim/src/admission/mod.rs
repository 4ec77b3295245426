//! Admission chain: built-in admission plugins plus mutating/validating webhook dispatch.
//!
//! Built-in plugins: NamespaceLifecycle, DefaultStorageClass, StorageObjectInUseProtection,
//! PersistentVolumeClaimResize.
//!
//! Two entry points mirror the two upstream phases: [`admit`] (mutating, before defaulting and object validation)
//! and [`validate`] (validating, after object validation, right before the write).

mod default_class;
mod error;
mod lifecycle;
mod protection;
mod quantity;
mod resize;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
mod webhook;

pub use self::error::{AdmissionError, ResizeRejection};

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::Value;

/// What the admission chain needs to read from the store (sim-core implements it on its store).
pub trait AdmissionLookup: Send + Sync {
    /// All objects of a resource across namespaces, e.g. ("storage.k8s.io", "storageclasses").
    fn list(&self, group: &str, resource: &str) -> Vec<Value>;
    /// One object; `namespace` is None for cluster-scoped resources.
    fn get(
        &self,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value>;
}

/// The admission operation, as in `AdmissionReview.request.operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

/// Attributes of the API request being admitted.
#[derive(Debug, Clone)]
pub struct AdmissionRequest<'a> {
    pub operation: Operation,
    /// API group, "" for core.
    pub group: &'a str,
    pub version: &'a str,
    /// Plural resource name, e.g. "persistentvolumeclaims".
    pub resource: &'a str,
    /// "" for the main resource, else e.g. "status".
    pub subresource: &'a str,
    /// Kind of the object sent/returned, e.g. "PersistentVolumeClaim".
    pub kind: &'a str,
    /// None for cluster-scoped resources.
    pub namespace: Option<&'a str>,
    /// May be empty for generateName creates.
    pub name: &'a str,
    pub dry_run: bool,
    pub user_agent: &'a str,
    /// Identifies the API request (logs); each webhook call gets its own fresh review uid, as upstream.
    pub uid: String,
}

/// Switches of the admission chain.
#[derive(Debug, Clone, Default)]
pub struct AdmissionConfig {
    /// Enables the built-in DefaultStorageClass plugin (off by default: Berth ships its own webhook).
    pub builtin_default_storage_class: bool,
    /// Test hook: the sim has no cluster network, so a webhook's `clientConfig.service` is reached at the
    /// address mapped here (TLS is still verified for the name `<service>.<namespace>.svc`). Unmapped
    /// services count as unreachable.
    pub service_routes: BTreeMap<ServiceKey, SocketAddr>,
}

/// A Service port a webhook `clientConfig.service` refers to (port defaults to 443 as upstream).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    pub namespace: String,
    pub name: String,
    pub port: u16,
}

/// Result of the mutating phase: the object plus webhook warnings (to send as `Warning: 299 - "<text>"` headers).
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    pub object: Value,
    pub warnings: Vec<String>,
}

pub type Result<T, E = AdmissionError> = std::result::Result<T, E>;

/// Runs the mutating chain in upstream order (NamespaceLifecycle, built-in DefaultStorageClass if enabled,
/// StorageObjectInUseProtection, then MutatingAdmissionWebhook), returning the mutated object or an error carrying
/// the HTTP status + Status reason/message the API must answer with.
///
/// PersistentVolumeClaimResize is a validating plugin that upstream runs after object validation. So that callers
/// that only call `admit` still get its 403s, `admit` applies it to claims whose stored phase is Bound, on the
/// final object: for other claims object validation answers first (422 "spec is immutable ...") upstream.
/// [`validate`] runs the complete plugin.
///
/// For DELETE, `object` may be the stored object (or null) and `old_object` None: webhooks then receive
/// `object: null` and the stored object as `oldObject`, and the object is returned unchanged.
pub async fn admit(
    cfg: &AdmissionConfig,
    lookup: &dyn AdmissionLookup,
    req: &AdmissionRequest<'_>,
    object: Value,
    old_object: Option<&Value>,
) -> Result<Value> {
    admit_with_warnings(cfg, lookup, req, object, old_object)
        .await
        .map(|admitted| admitted.object)
}

/// Like [`admit`], also returning the warnings the webhooks sent.
pub async fn admit_with_warnings(
    cfg: &AdmissionConfig,
    lookup: &dyn AdmissionLookup,
    req: &AdmissionRequest<'_>,
    mut object: Value,
    old_object: Option<&Value>,
) -> Result<Admitted> {
    lifecycle::admit(lookup, req)?;
    let deleted = deleted_object(req, &object, old_object);
    let old_object = old_object.or(deleted.as_ref());
    run_builtin_mutators(cfg, lookup, req, &mut object);
    let rerun_builtins = |object: &mut Value| run_builtin_mutators(cfg, lookup, req, object);
    let (object, warnings) =
        webhook::mutate(cfg, lookup, req, object, old_object, &rerun_builtins).await?;
    resize::validate(
        lookup,
        req,
        &object,
        old_object,
        resize::Checks::BoundClaimsOnly,
    )?;
    Ok(Admitted { object, warnings })
}

/// Validating phase, to run AFTER defaulting and object validation (the 422s), right before the write:
/// PersistentVolumeClaimResize with all its checks, then ValidatingAdmissionWebhook. Returns webhook warnings.
pub async fn validate(
    cfg: &AdmissionConfig,
    lookup: &dyn AdmissionLookup,
    req: &AdmissionRequest<'_>,
    object: &Value,
    old_object: Option<&Value>,
) -> Result<Vec<String>> {
    let deleted = deleted_object(req, object, old_object);
    let old_object = old_object.or(deleted.as_ref());
    resize::validate(lookup, req, object, old_object, resize::Checks::All)?;
    webhook::validate(cfg, lookup, req, object, old_object).await
}

/// For a DELETE passed without `old_object`, the object being deleted (given as `object`) is the old object.
fn deleted_object(
    req: &AdmissionRequest<'_>,
    object: &Value,
    old_object: Option<&Value>,
) -> Option<Value> {
    match (req.operation, old_object) {
        (Operation::Delete, None) if !object.is_null() => Some(object.clone()),
        _ => None,
    }
}

/// The built-in mutating plugins, in upstream order. They are idempotent, so webhook reinvocation re-runs them.
fn run_builtin_mutators(
    cfg: &AdmissionConfig,
    lookup: &dyn AdmissionLookup,
    req: &AdmissionRequest<'_>,
    object: &mut Value,
) {
    if cfg.builtin_default_storage_class {
        default_class::admit(lookup, req, object);
    }
    protection::admit(req, object);
}

/// `<resource>` or `<resource>.<group>`, as Kubernetes prints a GroupResource.
fn qualified_resource(req: &AdmissionRequest<'_>) -> String {
    if req.group.is_empty() {
        req.resource.to_string()
    } else {
        format!("{}.{}", req.resource, req.group)
    }
}
