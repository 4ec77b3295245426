//! PATCH: JSON patch (with the missing-member `test` quirk), merge patch, strategic merge patch and
//! server-side apply, each applied to the current object and then written like an update.

use serde_json::Value;

use super::create::decode_for_create;
use super::update::{Attempt, Ownership, Precondition};
use super::{Registry, WRITE_RETRIES, WriteOptions, Written};
use crate::catalog::{ResourceType, Subresource};
use crate::meta;
use crate::patch::{self, ApplyOptions, PatchError, PatchType};
use crate::status::{FieldError, Result, StatusError};
use crate::strategy::{defaults, views};

/// A PATCH request's body and patch-specific options.
#[derive(Debug, Clone)]
pub struct PatchRequest {
    pub patch_type: PatchType,
    pub body: Vec<u8>,
    /// `force=true` (apply only).
    pub force: bool,
}

/// A parsed patch document.
enum ParsedPatch {
    Json(Vec<json_patch::PatchOperation>),
    Document(Value),
}

impl Registry {
    /// PATCH of the main resource or `/status`.
    pub async fn patch(
        &self,
        rt: &'static ResourceType,
        sub: Option<Subresource>,
        namespace: &str,
        name: &str,
        request: &PatchRequest,
        opts: &WriteOptions,
    ) -> Result<Written> {
        let parsed = parse_patch(request)?;
        check_patch_options(request, opts)?;
        for _ in 0..WRITE_RETRIES {
            let Some(current) = self.stored(rt, namespace, name) else {
                return match (&parsed, sub) {
                    (ParsedPatch::Document(applied), None)
                        if request.patch_type == PatchType::Apply =>
                    {
                        self.apply_create(rt, namespace, name, applied, request, opts)
                            .await
                    }
                    _ => Err(StatusError::not_found(rt, name)),
                };
            };
            let current_view = views::to_view(rt, &current);
            let patched = apply_patch(rt, sub, &current_view, &parsed, request, opts)?;
            let current_rv = meta::resource_version_number(&current);
            let precondition = patch_precondition(&parsed, &patched, current_rv);
            if let Precondition::Exact(rv) = precondition
                && rv != current_rv
            {
                return Err(StatusError::stale_resource_version(rt, name));
            }
            let mut object = views::from_view(rt, patched);
            meta::set_meta(
                &mut object,
                "resourceVersion",
                Value::String(current_rv.to_string()),
            );
            meta::normalize(&mut object);
            defaults::apply(rt, &mut object);
            let ownership = if request.patch_type == PatchType::Apply {
                Ownership::AlreadySet
            } else {
                Ownership::RecordUpdate
            };
            match self
                .write(rt, sub, namespace, name, current, object, opts, ownership)
                .await?
            {
                Attempt::Done(w) => return Ok(w),
                Attempt::Raced if precondition == Precondition::Latest => continue,
                Attempt::Raced => return Err(StatusError::stale_resource_version(rt, name)),
            }
        }
        Err(StatusError::stale_resource_version(rt, name))
    }

    /// Server-side apply of an object that does not exist yet: creates it (201).
    async fn apply_create(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        applied: &Value,
        request: &PatchRequest,
        opts: &WriteOptions,
    ) -> Result<Written> {
        let manager = opts.manager();
        let apply_opts = ApplyOptions {
            field_manager: &manager,
            force: request.force,
        };
        let mut object =
            patch::server_side_apply(rt.kind, None, applied, &apply_opts).map_err(patch_error)?;
        meta::set_meta(&mut object, "name", Value::String(name.to_string()));
        meta::remove_meta(&mut object, "resourceVersion");
        let decoded = decode_for_create(rt, namespace, object)?;
        self.create_decoded(rt, namespace, decoded, opts, true)
            .await
    }
}

/// Parses the body per patch type (apply bodies may be YAML).
fn parse_patch(request: &PatchRequest) -> Result<ParsedPatch> {
    let bad =
        |e: &dyn std::fmt::Display| StatusError::bad_request(format!("error decoding patch: {e}"));
    match request.patch_type {
        PatchType::Json => {
            let ops: Vec<json_patch::PatchOperation> =
                serde_json::from_slice(&request.body).map_err(|e| bad(&e))?;
            Ok(ParsedPatch::Json(ops))
        }
        PatchType::Merge | PatchType::StrategicMerge => {
            let doc: Value = serde_json::from_slice(&request.body).map_err(|e| bad(&e))?;
            Ok(ParsedPatch::Document(doc))
        }
        PatchType::Apply => {
            let doc: Value = match serde_json::from_slice(&request.body) {
                Ok(v) => v,
                Err(_) => serde_yaml::from_slice(&request.body).map_err(|e| bad(&e))?,
            };
            if !doc.is_object() {
                return Err(StatusError::bad_request(
                    "error decoding patch: apply patch must be an object",
                ));
            }
            if doc.pointer("/metadata/managedFields").is_some() {
                return Err(StatusError::bad_request(
                    "metadata.managedFields must be nil",
                ));
            }
            Ok(ParsedPatch::Document(doc))
        }
    }
}

fn check_patch_options(request: &PatchRequest, opts: &WriteOptions) -> Result<()> {
    match request.patch_type {
        PatchType::Apply if opts.field_manager.as_deref().is_none_or(str::is_empty) => {
            Err(StatusError::invalid_options(
                "PatchOptions",
                &[FieldError::required(
                    "fieldManager",
                    "is required for apply patch",
                )],
            ))
        }
        PatchType::Json | PatchType::Merge | PatchType::StrategicMerge if request.force => {
            Err(StatusError::invalid_options(
                "PatchOptions",
                &[FieldError::forbidden(
                    "force",
                    "may not be specified for non-apply patch",
                )],
            ))
        }
        _ => Ok(()),
    }
}

/// Applies the patch to the current object (view form) and returns the patched object.
fn apply_patch(
    rt: &ResourceType,
    sub: Option<Subresource>,
    current: &Value,
    parsed: &ParsedPatch,
    request: &PatchRequest,
    opts: &WriteOptions,
) -> Result<Value> {
    match (parsed, request.patch_type) {
        (ParsedPatch::Json(ops), _) => json_patch_with_quirks(current, ops),
        (ParsedPatch::Document(doc), PatchType::Merge) => {
            let mut out = current.clone();
            json_patch::merge(&mut out, doc);
            Ok(out)
        }
        (ParsedPatch::Document(doc), PatchType::StrategicMerge) => {
            patch::strategic_merge(rt.kind, current, doc).map_err(patch_error)
        }
        (ParsedPatch::Document(doc), _) => {
            let manager = opts.manager();
            let apply_opts = ApplyOptions {
                field_manager: &manager,
                force: request.force,
            };
            let subresource = match sub {
                Some(Subresource::Status) => "status",
                _ => "",
            };
            patch::server_side_apply_at(
                rt.kind,
                Some(current),
                doc,
                &apply_opts,
                subresource,
                &meta::now_rfc3339(),
            )
            .map_err(patch_error)
        }
    }
}

/// RFC 6902 patch as the real server (evanphx/json-patch) applies it: a `test` of a missing member
/// against `null` succeeds, because that library reads missing members as null.
pub(super) fn json_patch_with_quirks(
    current: &Value,
    ops: &[json_patch::PatchOperation],
) -> Result<Value> {
    let mut doc = current.clone();
    for op in ops {
        if let json_patch::PatchOperation::Test(test) = op
            && test.value.is_null()
            && doc.pointer(test.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch(&mut doc, std::slice::from_ref(op))
            .map_err(|e| StatusError::new(422, "Invalid", e.to_string()))?;
    }
    Ok(doc)
}

/// A resourceVersion the patch itself sets acts as a precondition; otherwise the patch applies to
/// whatever is current (and is re-applied if another writer got in between).
fn patch_precondition(parsed: &ParsedPatch, patched: &Value, current_rv: u64) -> Precondition {
    let requested = match parsed {
        ParsedPatch::Document(doc) => meta::resource_version(doc).parse().ok(),
        ParsedPatch::Json(_) => meta::resource_version(patched)
            .parse()
            .ok()
            .filter(|rv| *rv != current_rv),
    };
    match requested {
        Some(rv) => Precondition::Exact(rv),
        None => Precondition::Latest,
    }
}

pub(super) fn patch_error(e: PatchError) -> StatusError {
    let mut status = StatusError::new(e.http_status(), e.reason(), e.message());
    let causes = e.status_causes();
    if !causes.is_empty() {
        status.details = Some(serde_json::json!({ "causes": causes }));
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ops(v: Value) -> Vec<json_patch::PatchOperation> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn test_of_missing_member_against_null_succeeds() {
        let pvc = json!({"metadata": {"name": "a"}});
        let add = ops(
            json!([{"op":"test","path":"/metadata/finalizers","value":null},
                             {"op":"add","path":"/metadata/finalizers","value":["x.io/f"]}]),
        );
        let out = json_patch_with_quirks(&pvc, &add).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["x.io/f"]));
        let again = json_patch_with_quirks(&out, &add).unwrap_err();
        assert_eq!(again.code, 422);
    }
}
