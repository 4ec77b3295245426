//! The `scale` (StatefulSets) and `binding` (pods) subresources.

use serde_json::{Value, json};

use super::patch::{json_patch_with_quirks, patch_error};
use super::update::{Attempt, Ownership};
use super::{Registry, WRITE_RETRIES, WriteOptions, Written};
use crate::catalog::{ResourceType, Subresource};
use crate::meta;
use crate::patch::{self, ApplyOptions, PatchType};
use crate::selectors::label_selector_text;
use crate::status::{Result, StatusError};

use super::PatchRequest;

/// The `autoscaling/v1` Scale view of a StatefulSet.
pub fn scale_of(sts: &Value) -> Value {
    let mut metadata = serde_json::Map::new();
    for key in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = sts.pointer(&format!("/metadata/{key}")) {
            metadata.insert(key.to_string(), v.clone());
        }
    }
    let selector = sts
        .pointer("/spec/selector")
        .map(label_selector_text)
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": sts.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": sts.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

impl Registry {
    /// GET `/scale`.
    pub async fn get_scale(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Value> {
        let sts = self
            .stored(rt, namespace, name)
            .ok_or_else(|| StatusError::not_found(rt, name))?;
        Ok(scale_of(&sts))
    }

    /// PUT `/scale`: sets `spec.replicas` (a resourceVersion in the Scale is a precondition).
    pub async fn update_scale(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        scale: Value,
        opts: &WriteOptions,
    ) -> Result<Written> {
        self.write_scale(rt, namespace, name, opts, |_| Ok(scale.clone()))
            .await
    }

    /// PATCH `/scale`: the patch applies to the Scale view.
    pub async fn patch_scale(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        request: &PatchRequest,
        opts: &WriteOptions,
    ) -> Result<Written> {
        let bad = |e: &dyn std::fmt::Display| {
            StatusError::bad_request(format!("error decoding patch: {e}"))
        };
        self.write_scale(rt, namespace, name, opts, |current| {
            match request.patch_type {
                PatchType::Json => {
                    let ops: Vec<json_patch::PatchOperation> =
                        serde_json::from_slice(&request.body).map_err(|e| bad(&e))?;
                    json_patch_with_quirks(current, &ops)
                }
                PatchType::Merge | PatchType::StrategicMerge => {
                    let doc: Value = serde_json::from_slice(&request.body).map_err(|e| bad(&e))?;
                    let mut out = current.clone();
                    json_patch::merge(&mut out, &doc);
                    Ok(out)
                }
                PatchType::Apply => {
                    let doc: Value = serde_json::from_slice(&request.body)
                        .or_else(|_| serde_yaml::from_slice(&request.body))
                        .map_err(|e| bad(&e))?;
                    let manager = opts.manager();
                    let apply = ApplyOptions {
                        field_manager: &manager,
                        force: request.force,
                    };
                    patch::server_side_apply(rt.kind, Some(current), &doc, &apply)
                        .map_err(patch_error)
                }
            }
        })
        .await
    }

    async fn write_scale(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        opts: &WriteOptions,
        new_scale: impl Fn(&Value) -> Result<Value>,
    ) -> Result<Written> {
        for _ in 0..WRITE_RETRIES {
            let sts = self
                .stored(rt, namespace, name)
                .ok_or_else(|| StatusError::not_found(rt, name))?;
            let scale = new_scale(&scale_of(&sts))?;
            let requested_rv = meta::resource_version(&scale);
            if !requested_rv.is_empty() && requested_rv != meta::resource_version(&sts) {
                return Err(StatusError::stale_resource_version(rt, name));
            }
            let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
            if replicas.as_i64().is_none_or(|r| r < 0) {
                return Err(StatusError::invalid(
                    "Scale.autoscaling",
                    "autoscaling",
                    "Scale",
                    name,
                    &[crate::status::FieldError::invalid(
                        "spec.replicas",
                        &replicas,
                        "must be greater than or equal to 0",
                    )],
                ));
            }
            let mut updated = (*sts).clone();
            if let Some(spec) = updated.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("replicas".into(), replicas);
            }
            match self
                .write(
                    rt,
                    Some(Subresource::Scale),
                    namespace,
                    name,
                    sts,
                    updated,
                    opts,
                    Ownership::RecordUpdate,
                )
                .await?
            {
                Attempt::Done(w) => {
                    return Ok(Written {
                        object: scale_of(&w.object),
                        ..w
                    });
                }
                Attempt::Raced if requested_rv.is_empty() => continue,
                Attempt::Raced => return Err(StatusError::stale_resource_version(rt, name)),
            }
        }
        Err(StatusError::stale_resource_version(rt, name))
    }

    /// POST `/binding`: assigns a pod to a node (sets `spec.nodeName` and `PodScheduled=True`).
    pub async fn bind(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        binding: Value,
        opts: &WriteOptions,
    ) -> Result<Value> {
        let node = binding
            .pointer("/target/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if node.is_empty() {
            return Err(StatusError::invalid(
                "Binding",
                "",
                "Binding",
                name,
                &[crate::status::FieldError::required("target.name", "")],
            ));
        }
        for _ in 0..WRITE_RETRIES {
            let pod = self
                .stored(rt, namespace, name)
                .ok_or_else(|| StatusError::not_found(rt, name))?;
            if meta::deletion_timestamp(&pod).is_some() {
                return Err(StatusError::conflict(
                    rt,
                    name,
                    &format!("pod {name} is being deleted, cannot be assigned to a host"),
                ));
            }
            if let Some(assigned) = meta::str_at(&pod, "/spec/nodeName").filter(|n| !n.is_empty()) {
                return Err(StatusError::conflict(
                    rt,
                    name,
                    &format!("pod {name} is already assigned to node \"{assigned}\""),
                ));
            }
            let mut bound = (*pod).clone();
            if let Some(spec) = bound.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("nodeName".into(), json!(node));
            }
            set_condition(
                &mut bound,
                json!({
                    "type": "PodScheduled",
                    "status": "True",
                    "lastProbeTime": null,
                    "lastTransitionTime": meta::now_rfc3339(),
                }),
            );
            meta::normalize(&mut bound);
            if opts.dry_run {
                break;
            }
            if self.write_system(rt, &pod, bound)?.is_some() {
                return Ok(
                    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
                );
            }
        }
        Ok(
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        )
    }
}

/// Replaces (or appends) the status condition of the same type.
fn set_condition(object: &mut Value, condition: Value) {
    let kind = condition.get("type").cloned();
    let status = meta::as_map(object)
        .entry("status")
        .or_insert_with(|| json!({}));
    let conditions = meta::as_map(status)
        .entry("conditions")
        .or_insert_with(|| json!([]));
    if let Some(list) = conditions.as_array_mut() {
        match list.iter_mut().find(|c| c.get("type") == kind.as_ref()) {
            Some(existing) => *existing = condition,
            None => list.push(condition),
        }
    }
}
