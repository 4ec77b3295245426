//! Server-side printing (`as=Table`): the columns `kubectl get` shows for the served types.

use serde_json::{Value, json};

use super::respond::metadata_only;
use crate::catalog::ResourceType;
use crate::meta;

/// (name, type, priority) of a column; priority 1 columns show with `-o wide`.
type Column = (&'static str, &'static str, u8);

fn columns(rt: &ResourceType) -> Vec<Column> {
    let name = ("Name", "string", 0);
    let age = ("Age", "string", 0);
    match (rt.group, rt.resource) {
        ("", "persistentvolumeclaims") => vec![
            name,
            ("Status", "string", 0),
            ("Volume", "string", 0),
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("StorageClass", "string", 0),
            ("VolumeAttributesClass", "string", 0),
            age,
            ("VolumeMode", "string", 1),
        ],
        ("", "persistentvolumes") => vec![
            name,
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("Reclaim Policy", "string", 0),
            ("Status", "string", 0),
            ("Claim", "string", 0),
            ("StorageClass", "string", 0),
            ("VolumeAttributesClass", "string", 0),
            ("Reason", "string", 0),
            age,
            ("VolumeMode", "string", 1),
        ],
        ("", "pods") => vec![
            name,
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            age,
            ("IP", "string", 1),
            ("Node", "string", 1),
        ],
        ("apps", "statefulsets") => vec![name, ("Ready", "string", 0), age],
        ("storage.k8s.io", "storageclasses") => vec![
            name,
            ("Provisioner", "string", 0),
            ("ReclaimPolicy", "string", 0),
            ("VolumeBindingMode", "string", 0),
            ("AllowVolumeExpansion", "string", 0),
            age,
        ],
        ("", "nodes") => vec![
            name,
            ("Status", "string", 0),
            ("Roles", "string", 0),
            age,
            ("Version", "string", 0),
        ],
        ("", "namespaces") => vec![name, ("Status", "string", 0), age],
        ("", "configmaps") => vec![name, ("Data", "integer", 0), age],
        ("coordination.k8s.io", "leases") => vec![name, ("Holder", "string", 0), age],
        _ => vec![name, age],
    }
}

/// The column definitions of a type.
pub fn column_definitions(rt: &ResourceType) -> Value {
    Value::Array(
        columns(rt)
            .into_iter()
            .map(|(name, kind, priority)| {
                let format = if name == "Name" { "name" } else { "" };
                json!({"name": name, "type": kind, "format": format, "description": name, "priority": priority})
            })
            .collect(),
    )
}

/// One table row for a stored object.
pub fn row(rt: &ResourceType, object: &Value) -> Value {
    let s = |p: &str| meta::str_at(object, p).unwrap_or_default().to_string();
    let or_none = |v: String| {
        if v.is_empty() {
            "<none>".to_string()
        } else {
            v
        }
    };
    let age = age_of(object);
    let name = meta::name(object).to_string();
    let cells: Vec<Value> = match (rt.group, rt.resource) {
        ("", "persistentvolumeclaims") => vec![
            json!(name),
            json!(s("/status/phase")),
            json!(s("/spec/volumeName")),
            json!(s("/status/capacity/storage")),
            json!(access_modes(object.pointer("/status/accessModes"))),
            json!(s("/spec/storageClassName")),
            json!(or_unset(s("/spec/volumeAttributesClassName"))),
            json!(age),
            json!(s("/spec/volumeMode")),
        ],
        ("", "persistentvolumes") => {
            let claim = match (s("/spec/claimRef/namespace"), s("/spec/claimRef/name")) {
                (_, n) if n.is_empty() => String::new(),
                (ns, n) => format!("{ns}/{n}"),
            };
            vec![
                json!(name),
                json!(s("/spec/capacity/storage")),
                json!(access_modes(object.pointer("/spec/accessModes"))),
                json!(s("/spec/persistentVolumeReclaimPolicy")),
                json!(s("/status/phase")),
                json!(claim),
                json!(s("/spec/storageClassName")),
                json!(or_unset(s("/spec/volumeAttributesClassName"))),
                json!(s("/status/reason")),
                json!(age),
                json!(s("/spec/volumeMode")),
            ]
        }
        ("", "pods") => {
            let statuses = object
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let total = object
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map(Vec::len)
                .unwrap_or(0);
            let ready = statuses
                .iter()
                .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
                .count();
            let restarts: i64 = statuses
                .iter()
                .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
                .sum();
            let status = if meta::deletion_timestamp(object).is_some() {
                "Terminating".to_string()
            } else {
                s("/status/phase")
            };
            vec![
                json!(name),
                json!(format!("{ready}/{total}")),
                json!(status),
                json!(restarts.to_string()),
                json!(age),
                json!(or_none(s("/status/podIP"))),
                json!(or_none(s("/spec/nodeName"))),
            ]
        }
        ("apps", "statefulsets") => {
            let ready = object
                .pointer("/status/readyReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let wanted = object
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            vec![json!(name), json!(format!("{ready}/{wanted}")), json!(age)]
        }
        ("storage.k8s.io", "storageclasses") => {
            let default = meta::str_at(
                object,
                "/metadata/annotations/storageclass.kubernetes.io~1is-default-class",
            ) == Some("true");
            let shown = if default {
                format!("{name} (default)")
            } else {
                name
            };
            let expand = object
                .get("allowVolumeExpansion")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            vec![
                json!(shown),
                json!(s("/provisioner")),
                json!(s("/reclaimPolicy")),
                json!(s("/volumeBindingMode")),
                json!(expand.to_string()),
                json!(age),
            ]
        }
        ("", "nodes") => {
            let ready = object
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|c| {
                    c.iter()
                        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
                })
                .and_then(|c| c.get("status").and_then(Value::as_str))
                == Some("True");
            let mut status = if ready {
                "Ready".to_string()
            } else {
                "NotReady".to_string()
            };
            if object
                .pointer("/spec/unschedulable")
                .and_then(Value::as_bool)
                == Some(true)
            {
                status.push_str(",SchedulingDisabled");
            }
            vec![
                json!(name),
                json!(status),
                json!("<none>"),
                json!(age),
                json!(s("/status/nodeInfo/kubeletVersion")),
            ]
        }
        ("", "namespaces") => vec![json!(name), json!(s("/status/phase")), json!(age)],
        ("", "configmaps") => {
            let count = |k: &str| {
                object
                    .get(k)
                    .and_then(Value::as_object)
                    .map(|m| m.len())
                    .unwrap_or(0)
            };
            vec![
                json!(name),
                json!(count("data") + count("binaryData")),
                json!(age),
            ]
        }
        ("coordination.k8s.io", "leases") => {
            vec![json!(name), json!(s("/spec/holderIdentity")), json!(age)]
        }
        _ => vec![json!(name), json!(age)],
    };
    json!({"cells": cells, "object": metadata_only(object)})
}

/// A Table holding `rows`, with list metadata.
pub fn table(rt: &ResourceType, list_meta: Value, rows: Vec<Value>) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": column_definitions(rt),
        "rows": rows,
    })
}

fn or_unset(v: String) -> String {
    if v.is_empty() {
        "<unset>".to_string()
    } else {
        v
    }
}

fn access_modes(modes: Option<&Value>) -> String {
    let short = |m: &str| match m {
        "ReadWriteOnce" => "RWO",
        "ReadOnlyMany" => "ROX",
        "ReadWriteMany" => "RWX",
        "ReadWriteOncePod" => "RWOP",
        _ => "",
    };
    modes
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(short)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn age_of(object: &Value) -> String {
    let Some(created) = meta::str_at(object, "/metadata/creationTimestamp")
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    else {
        return "<unknown>".to_string();
    };
    let seconds = (chrono::Utc::now() - created.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    human_duration(seconds)
}

/// `duration.HumanDuration` of apimachinery.
fn human_duration(seconds: i64) -> String {
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let days = hours / 24;
    match () {
        _ if seconds < 120 => format!("{seconds}s"),
        _ if minutes < 10 => format!("{minutes}m{}s", seconds % 60),
        _ if minutes < 180 => format!("{minutes}m"),
        _ if hours < 8 => format!("{hours}h{}m", minutes % 60),
        _ if hours < 48 => format!("{hours}h"),
        _ if hours < 192 => format!("{days}d{}h", hours % 24),
        _ if days < 730 => format!("{days}d"),
        _ => format!("{}y{}d", days / 365, days % 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    #[test]
    fn durations_read_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(3600), "60m");
        assert_eq!(human_duration(4 * 3600 + 60), "4h1m");
        assert_eq!(human_duration(3 * 86400), "3d0h");
    }

    #[test]
    fn pvc_row_matches_columns() {
        let rt = catalog::find("", "v1", "persistentvolumeclaims").unwrap();
        let pvc = json!({"metadata": {"name": "data", "creationTimestamp": meta::now_rfc3339()},
            "spec": {"volumeName": "pv-1", "storageClassName": "fast", "volumeMode": "Filesystem"},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}});
        let r = row(rt, &pvc);
        let cells = r["cells"].as_array().unwrap();
        assert_eq!(cells.len(), columns(rt).len());
        assert_eq!(
            cells[..6],
            [
                json!("data"),
                json!("Bound"),
                json!("pv-1"),
                json!("1Gi"),
                json!("RWO"),
                json!("fast")
            ]
        );
        assert_eq!(r["object"]["kind"], "PartialObjectMetadata");
    }
}
