//! Update (PUT) and the write path every modification of an existing object goes through.

use std::sync::Arc;

use serde_json::Value;

use super::create::{apply_namespace, check_kind, decode_for_create};
use super::{Attributes, Registry, WRITE_RETRIES, WriteOptions, Written, store_error};
use crate::admission::Operation;
use crate::catalog::{ResourceType, Subresource};
use crate::meta;
use crate::patch;
use crate::status::{FieldError, Result, StatusError};
use crate::store::{self, Write};
use crate::strategy::{defaults, prepare, validate, views};

/// Whether a write must be based on a specific resourceVersion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Precondition {
    /// The client named a resourceVersion: a concurrent change is a 409.
    Exact(u64),
    /// Apply to whatever is current; retry when another writer got in between.
    Latest,
}

/// What the write path should do with managedFields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ownership {
    /// Record the fields this manager changed (operation Update).
    RecordUpdate,
    /// Already computed by server-side apply.
    AlreadySet,
}

/// The outcome of one attempt of the write path.
pub(super) enum Attempt {
    Done(Written),
    /// The stored object changed since `current` was read.
    Raced,
}

impl Registry {
    /// PUT of a whole object (main resource or `/status`, `/finalize`).
    pub async fn update(
        &self,
        rt: &'static ResourceType,
        sub: Option<Subresource>,
        namespace: &str,
        name: &str,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<Written> {
        if !body.is_object() {
            return Err(StatusError::bad_request(
                "the object provided is not a JSON object",
            ));
        }
        check_kind(rt, &body)?;
        let body_name = meta::name(&body);
        if !body_name.is_empty() && body_name != name {
            return Err(StatusError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let requested_rv = meta::resource_version(&body).to_string();
        let precondition = match requested_rv.as_str() {
            "" => None,
            rv => Some(Precondition::Exact(rv.parse().map_err(|_| {
                StatusError::bad_request(format!("invalid resourceVersion {rv:?}"))
            })?)),
        };
        let mut object = views::from_view(rt, body);
        meta::set_meta(&mut object, "name", Value::String(name.to_string()));
        apply_namespace(rt, namespace, &mut object)?;
        meta::normalize(&mut object);
        defaults::apply(rt, &mut object);

        for _ in 0..WRITE_RETRIES {
            let Some(current) = self.stored(rt, namespace, name) else {
                if !(rt.allow_create_on_update && sub.is_none()) {
                    return Err(StatusError::not_found(rt, name));
                }
                // Leases and core Events: PUT of a missing object creates it
                let mut fresh = object.clone();
                meta::remove_meta(&mut fresh, "resourceVersion");
                let decoded = decode_for_create(rt, namespace, views::to_view(rt, &fresh))?;
                return self
                    .create_decoded(rt, namespace, decoded, opts, false)
                    .await;
            };
            let precondition = match precondition {
                Some(p) => p,
                None if rt.allow_unconditional_update => Precondition::Latest,
                None => {
                    return Err(StatusError::invalid_object(
                        rt,
                        name,
                        &[FieldError::invalid_raw(
                            "metadata.resourceVersion",
                            "0x0",
                            "must be specified for an update",
                        )],
                    ));
                }
            };
            if let Precondition::Exact(rv) = precondition
                && rv != meta::resource_version_number(&current)
            {
                return Err(StatusError::stale_resource_version(rt, name));
            }
            match self
                .write(
                    rt,
                    sub,
                    namespace,
                    name,
                    current,
                    object.clone(),
                    opts,
                    Ownership::RecordUpdate,
                )
                .await?
            {
                Attempt::Done(w) => return Ok(w),
                Attempt::Raced if precondition == Precondition::Latest => continue,
                Attempt::Raced => return Err(StatusError::stale_resource_version(rt, name)),
            }
        }
        Err(StatusError::stale_resource_version(rt, name))
    }

    /// The write path of an update: mutating admission, spec/status separation and system metadata,
    /// validation, validating admission, managedFields, then the store (or the deletion, when the write
    /// removed the last finalizer of an object being deleted).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn write(
        &self,
        rt: &'static ResourceType,
        sub: Option<Subresource>,
        namespace: &str,
        name: &str,
        current: Arc<Value>,
        body: Value,
        opts: &WriteOptions,
        ownership: Ownership,
    ) -> Result<Attempt> {
        let attrs = Attributes {
            rt,
            sub,
            namespace,
            name,
            opts,
        };
        let current_view = views::to_view(rt, &current);
        let admitted = self
            .admit(
                &attrs,
                Operation::Update,
                views::to_view(rt, &body),
                Some(&current_view),
            )
            .await?;
        let mut object = views::from_view(rt, admitted.object);
        defaults::apply(rt, &mut object);
        let mut object = prepare::prepare_update(rt, sub, &current, object);
        meta::normalize(&mut object);
        let errs = validate::validate_update(rt, sub, &current, &object);
        if !errs.is_empty() {
            return Err(StatusError::invalid_object(rt, name, &errs));
        }
        let mut warnings = admitted.warnings;
        warnings.extend(
            self.validate_admission(
                &attrs,
                Operation::Update,
                &views::to_view(rt, &object),
                Some(&current_view),
            )
            .await?,
        );
        if ownership == Ownership::RecordUpdate {
            let subresource = match sub {
                Some(Subresource::Status) => "status",
                _ => "",
            };
            patch::record_update(
                rt.kind,
                Some(&current),
                &mut object,
                &opts.manager(),
                subresource,
                &meta::now_rfc3339(),
            );
        }
        let expected = meta::resource_version_number(&current);
        if should_delete_during_update(rt, &current, &object) {
            if opts.dry_run {
                return Ok(Attempt::Done(Written {
                    object: views::to_view(rt, &current),
                    created: false,
                    warnings,
                }));
            }
            return match self.store.delete(
                rt.storage,
                meta::namespace(&current),
                name,
                Some(expected),
            ) {
                Ok(gone) => Ok(Attempt::Done(Written {
                    object: views::to_view(rt, &gone),
                    created: false,
                    warnings,
                })),
                Err(store::Error::Conflict { .. } | store::Error::NotFound { .. }) => {
                    Ok(Attempt::Raced)
                }
                Err(e) => Err(store_error(rt, name, e)),
            };
        }
        if opts.dry_run {
            let mut preview = object;
            meta::set_meta(
                &mut preview,
                "resourceVersion",
                current["metadata"]["resourceVersion"].clone(),
            );
            return Ok(Attempt::Done(Written {
                object: views::to_view(rt, &preview),
                created: false,
                warnings,
            }));
        }
        match self.store.update(rt.storage, expected, object) {
            Ok(Write::Changed(o) | Write::Unchanged(o)) => Ok(Attempt::Done(Written {
                object: views::to_view(rt, &o),
                created: false,
                warnings,
            })),
            Err(store::Error::Conflict { .. } | store::Error::NotFound { .. }) => {
                Ok(Attempt::Raced)
            }
            Err(e) => Err(store_error(rt, name, e)),
        }
    }

    /// Writes a change the server itself makes (deletion marks, binding) straight to the store: no
    /// admission, no validation, system metadata taken from `object` as given.
    pub(super) fn write_system(
        &self,
        rt: &ResourceType,
        current: &Value,
        object: Value,
    ) -> Result<Option<Arc<Value>>> {
        let name = meta::name(current).to_string();
        match self
            .store
            .update(rt.storage, meta::resource_version_number(current), object)
        {
            Ok(w) => Ok(Some(w.object().clone())),
            Err(store::Error::Conflict { .. }) => Ok(None),
            Err(e) => Err(store_error(rt, &name, e)),
        }
    }
}

/// An object whose deletion was only waiting for its finalizers goes away when the last one is removed
/// (`ShouldDeleteDuringUpdate`; namespaces also wait for their spec finalizers).
fn should_delete_during_update(rt: &ResourceType, current: &Value, new: &Value) -> bool {
    let grace_zero = current
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
        == Some(0);
    let namespace_done = !(rt.group.is_empty() && rt.resource == "namespaces")
        || new
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
    meta::deletion_timestamp(current).is_some()
        && grace_zero
        && meta::finalizers(new).is_empty()
        && namespace_done
}
