//! DELETE and DELETE-collection: preconditions, finalizers, pod grace periods, propagation finalizers.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Attributes, Registry, WRITE_RETRIES, WriteOptions, scoped, store_error};
use crate::admission::Operation;
use crate::catalog::ResourceType;
use crate::meta;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::{Result, StatusError};
use crate::store;
use crate::strategy::views;

/// How dependents are treated when their owner is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

/// `DeleteOptions`, from the JSON body or the query string.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<Propagation>,
    pub orphan_dependents: Option<bool>,
    pub preconditions: Option<Preconditions>,
    #[serde(default)]
    pub dry_run: Vec<String>,
}

/// What a DELETE answers with.
#[derive(Debug, Clone, PartialEq)]
pub enum DeleteOutcome {
    /// The object (still present with `deletionTimestamp`, or removed, for types that return objects).
    Object { object: Value, accepted: bool },
    /// A `Status` of kind Success (types that do not return the deleted object).
    Status(Value),
}

/// The decision for one DELETE of an existing object.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DeleteAction {
    RemoveNow,
    /// Keep the object, marked as being deleted.
    MarkDeleting {
        grace: i64,
        add_finalizers: Vec<&'static str>,
    },
    /// Already being deleted and this request changes nothing.
    Unchanged,
}

impl Registry {
    pub async fn delete(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
        opts: &WriteOptions,
    ) -> Result<DeleteOutcome> {
        for _ in 0..WRITE_RETRIES {
            let current = self
                .stored(rt, namespace, name)
                .ok_or_else(|| StatusError::not_found(rt, name))?;
            check_preconditions(rt, name, &current, options)?;
            let attrs = Attributes {
                rt,
                sub: None,
                namespace,
                name,
                opts,
            };
            let current_view = views::to_view(rt, &current);
            self.admit(&attrs, Operation::Delete, Value::Null, Some(&current_view))
                .await?;
            self.validate_admission(&attrs, Operation::Delete, &Value::Null, Some(&current_view))
                .await?;
            let accepted = options.orphan_dependents == Some(false);
            let action = decide(rt, &current, options);
            let expected = meta::resource_version_number(&current);
            match action {
                DeleteAction::Unchanged => {
                    return Ok(DeleteOutcome::Object {
                        object: current_view,
                        accepted,
                    });
                }
                DeleteAction::MarkDeleting {
                    grace,
                    add_finalizers,
                } => {
                    let marked = mark_deleting(rt, &current, grace, &add_finalizers);
                    if opts.dry_run {
                        return Ok(DeleteOutcome::Object {
                            object: views::to_view(rt, &marked),
                            accepted,
                        });
                    }
                    if let Some(stored) = self.write_system(rt, &current, marked)? {
                        return Ok(DeleteOutcome::Object {
                            object: views::to_view(rt, &stored),
                            accepted,
                        });
                    }
                }
                DeleteAction::RemoveNow => {
                    if opts.dry_run {
                        return Ok(removed_outcome(rt, &current_view));
                    }
                    match self
                        .store
                        .delete(rt.storage, scoped(rt, namespace), name, Some(expected))
                    {
                        Ok(gone) => return Ok(removed_outcome(rt, &views::to_view(rt, &gone))),
                        Err(store::Error::Conflict { .. }) => {}
                        Err(e) => return Err(store_error(rt, name, e)),
                    }
                }
            }
        }
        Err(StatusError::stale_resource_version(rt, name))
    }

    /// DELETE on a collection: deletes every object matching the selectors, returns them as a list.
    pub async fn delete_collection(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        options: &DeleteOptions,
        opts: &WriteOptions,
    ) -> Result<Value> {
        let (_, items) = self
            .store
            .list(rt.storage, namespace.filter(|_| rt.namespaced));
        let mut deleted = Vec::new();
        for item in items
            .iter()
            .filter(|o| labels.matches(o) && fields.matches(o))
        {
            let outcome = self
                .delete(rt, meta::namespace(item), meta::name(item), options, opts)
                .await;
            match outcome {
                Ok(DeleteOutcome::Object { object, .. }) => deleted.push(object),
                Ok(DeleteOutcome::Status(_)) => deleted.push(views::to_view(rt, item)),
                // deleted concurrently: nothing left to do for this one
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(json!({
            "kind": format!("{}List", rt.kind),
            "apiVersion": rt.api_version(),
            "metadata": {"resourceVersion": self.store.current_rv().to_string()},
            "items": deleted,
        }))
    }
}

fn check_preconditions(
    rt: &ResourceType,
    name: &str,
    current: &Value,
    options: &DeleteOptions,
) -> Result<()> {
    let Some(pre) = &options.preconditions else {
        return Ok(());
    };
    if let Some(uid) = &pre.uid
        && uid != meta::uid(current)
    {
        return Err(StatusError::conflict(
            rt,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta::uid(current)
            ),
        ));
    }
    if let Some(rv) = &pre.resource_version
        && rv != meta::resource_version(current)
    {
        return Err(StatusError::conflict(
            rt,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta::resource_version(current)
            ),
        ));
    }
    Ok(())
}

/// Classifies a DELETE of `current`: grace period (pods), pending finalizers, propagation.
fn decide(rt: &ResourceType, current: &Value, options: &DeleteOptions) -> DeleteAction {
    let is_pod = rt.group.is_empty() && rt.resource == "pods";
    let is_namespace = rt.group.is_empty() && rt.resource == "namespaces";
    let grace = if is_pod {
        pod_grace(current, options)
    } else {
        0
    };
    let propagation = match (options.propagation_policy, options.orphan_dependents) {
        (Some(p), _) => p,
        (None, Some(true)) => Propagation::Orphan,
        (None, _) => Propagation::Background,
    };
    let finalizers = meta::finalizers(current);
    let wanted = match propagation {
        Propagation::Orphan => Some("orphan"),
        Propagation::Foreground => Some("foregroundDeletion"),
        Propagation::Background => None,
    };
    let add_finalizers: Vec<&'static str> = wanted
        .into_iter()
        .filter(|f| !finalizers.iter().any(|x| x == f))
        .collect();
    let spec_finalizers_pending = is_namespace
        && current
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
    let blocked = !finalizers.is_empty() || !add_finalizers.is_empty() || spec_finalizers_pending;
    let current_grace = current
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64);
    match (meta::deletion_timestamp(current).is_some(), current_grace) {
        // already deleting: a DELETE may only shorten the grace period
        (true, Some(g)) if grace < g => {
            if grace == 0 && !blocked {
                DeleteAction::RemoveNow
            } else {
                DeleteAction::MarkDeleting {
                    grace,
                    add_finalizers,
                }
            }
        }
        (true, g) if g.unwrap_or(0) == 0 && !blocked => DeleteAction::RemoveNow,
        (true, _) if !add_finalizers.is_empty() => DeleteAction::MarkDeleting {
            grace: current_grace.unwrap_or(0),
            add_finalizers,
        },
        (true, _) => DeleteAction::Unchanged,
        (false, _) if grace > 0 || blocked => DeleteAction::MarkDeleting {
            grace,
            add_finalizers,
        },
        (false, _) => DeleteAction::RemoveNow,
    }
}

/// The grace period of a pod deletion (`CheckGracefulDelete`): the option, else the pod's
/// terminationGracePeriodSeconds, forced to 0 for unscheduled or finished pods.
fn pod_grace(pod: &Value, options: &DeleteOptions) -> i64 {
    let unscheduled = meta::str_at(pod, "/spec/nodeName").is_none_or(str::is_empty);
    let finished = matches!(
        meta::str_at(pod, "/status/phase"),
        Some("Succeeded" | "Failed")
    );
    if unscheduled || finished {
        return 0;
    }
    let configured = pod
        .pointer("/spec/terminationGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(30);
    options.grace_period_seconds.unwrap_or(configured).max(0)
}

fn mark_deleting(rt: &ResourceType, current: &Value, grace: i64, add_finalizers: &[&str]) -> Value {
    let mut marked = current.clone();
    let when = chrono::Utc::now() + chrono::Duration::seconds(grace);
    let current_grace = current
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64);
    if meta::deletion_timestamp(current).is_none() || current_grace.is_some_and(|g| grace < g) {
        meta::set_meta(
            &mut marked,
            "deletionTimestamp",
            json!(when.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        );
        meta::set_meta(&mut marked, "deletionGracePeriodSeconds", json!(grace));
    }
    if !add_finalizers.is_empty() {
        let mut finalizers = meta::finalizers(current);
        finalizers.extend(add_finalizers.iter().map(|f| f.to_string()));
        meta::set_meta(&mut marked, "finalizers", json!(finalizers));
    }
    if rt.group.is_empty() && rt.resource == "namespaces" {
        meta::set_field(&mut marked, "status", json!({"phase": "Terminating"}));
    }
    marked
}

fn removed_outcome(rt: &ResourceType, object: &Value) -> DeleteOutcome {
    if rt.delete_returns_object {
        return DeleteOutcome::Object {
            object: object.clone(),
            accepted: false,
        };
    }
    let mut details = serde_json::Map::new();
    details.insert("name".into(), json!(meta::name(object)));
    if !rt.group.is_empty() {
        details.insert("group".into(), json!(rt.group));
    }
    details.insert("kind".into(), json!(rt.resource));
    details.insert("uid".into(), json!(meta::uid(object)));
    DeleteOutcome::Status(json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    fn pods() -> &'static ResourceType {
        catalog::find("", "v1", "pods").unwrap()
    }

    #[test]
    fn scheduled_pod_gets_a_grace_period() {
        let pod = json!({"metadata":{"name":"p"},"spec":{"nodeName":"n"}});
        assert_eq!(
            decide(pods(), &pod, &DeleteOptions::default()),
            DeleteAction::MarkDeleting {
                grace: 30,
                add_finalizers: vec![]
            }
        );
        let unscheduled = json!({"metadata":{"name":"p"},"spec":{}});
        assert_eq!(
            decide(pods(), &unscheduled, &DeleteOptions::default()),
            DeleteAction::RemoveNow
        );
    }

    #[test]
    fn grace_may_only_shorten() {
        let deleting = json!({"metadata":{"name":"p","deletionTimestamp":"t","deletionGracePeriodSeconds":30},
                              "spec":{"nodeName":"n"}});
        let zero = DeleteOptions {
            grace_period_seconds: Some(0),
            ..DeleteOptions::default()
        };
        assert_eq!(decide(pods(), &deleting, &zero), DeleteAction::RemoveNow);
        let longer = DeleteOptions {
            grace_period_seconds: Some(60),
            ..DeleteOptions::default()
        };
        assert_eq!(decide(pods(), &deleting, &longer), DeleteAction::Unchanged);
    }

    #[test]
    fn finalizers_and_propagation_keep_the_object() {
        let cms = catalog::find("", "v1", "configmaps").unwrap();
        let with_finalizer = json!({"metadata":{"name":"c","finalizers":["a.io/f"]}});
        assert!(matches!(
            decide(cms, &with_finalizer, &DeleteOptions::default()),
            DeleteAction::MarkDeleting { .. }
        ));
        let plain = json!({"metadata":{"name":"c"}});
        let fg = DeleteOptions {
            propagation_policy: Some(Propagation::Foreground),
            ..DeleteOptions::default()
        };
        assert_eq!(
            decide(cms, &plain, &fg),
            DeleteAction::MarkDeleting {
                grace: 0,
                add_finalizers: vec!["foregroundDeletion"]
            }
        );
        assert_eq!(
            decide(cms, &plain, &DeleteOptions::default()),
            DeleteAction::RemoveNow
        );
    }
}
