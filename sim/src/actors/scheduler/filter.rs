//! Node filters that do not involve volumes (NodeUnschedulable, TaintToleration, NodeAffinity), and the
//! "0/N nodes are available" message upstream builds from the per-node reasons.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, Taint};

use super::selectors;
use super::snapshot::{labels_of, name_of};

const REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
const REASON_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// The first failing filter's reason, in upstream's plugin order; `None` when the node passes.
pub(super) fn node_rejection(pod: &Pod, node: &Node) -> Option<String> {
    let spec = pod.spec.clone().unwrap_or_default();
    let tolerations = spec.tolerations.unwrap_or_default();
    let node_spec = node.spec.clone().unwrap_or_default();

    // NodeUnschedulable: a pod tolerating the unschedulable taint may still go there
    let unschedulable_taint = taint(TAINT_UNSCHEDULABLE);
    if node_spec.unschedulable == Some(true)
        && !tolerations
            .iter()
            .any(|t| selectors::tolerates(t, &unschedulable_taint))
    {
        return Some(REASON_UNSCHEDULABLE.to_owned());
    }

    // TaintToleration, over the taints the node lifecycle controller would have added as well
    let taints = effective_taints(node);
    if let Some(untolerated) = selectors::first_untolerated(&taints, &tolerations) {
        return Some(format!(
            "node(s) had untolerated taint {{{}: {}}}",
            untolerated.key,
            untolerated.value.as_deref().unwrap_or_default()
        ));
    }

    // NodeAffinity: nodeSelector and required node affinity must both hold
    let labels = labels_of(&node.metadata);
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let affinity_ok = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_none_or(|required| {
            selectors::node_selector_matches(required, &labels, name_of(&node.metadata))
        });
    if !(selector_ok && affinity_ok) {
        return Some(REASON_AFFINITY.to_owned());
    }
    None
}

fn taint(key: &str) -> Taint {
    Taint {
        key: key.to_owned(),
        effect: "NoSchedule".to_owned(),
        value: None,
        time_added: None,
    }
}

/// The node's taints plus the NoSchedule taint upstream's node lifecycle controller (or the kubelet at
/// registration) puts on a node whose Ready condition is not True.
fn effective_taints(node: &Node) -> Vec<Taint> {
    let mut taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.as_str());
    let implied = match ready {
        Some("True") => None,
        Some("Unknown") => Some(TAINT_UNREACHABLE),
        _ => Some(TAINT_NOT_READY),
    };
    if let Some(key) = implied
        && !taints.iter().any(|t| t.key == key)
    {
        taints.push(taint(key));
    }
    taints
}

/// Upstream `FitError.Error()` followed by the DefaultPreemption post-filter message. Every reason the
/// simulation produces is UnschedulableAndUnresolvable, so preemption never helps.
///
/// `prefilter` is a PreFilter rejection that applies to all nodes; otherwise `reasons` counts, per
/// reason, the nodes rejected for it.
pub(super) fn fit_error(
    node_count: usize,
    prefilter: Option<&str>,
    reasons: &BTreeMap<String, usize>,
) -> String {
    let mut message = format!("0/{node_count} nodes are available:");
    match prefilter {
        Some(prefilter) => message.push_str(&format!(" {prefilter}.")),
        None => {
            let mut histogram: Vec<String> = reasons
                .iter()
                .map(|(reason, n)| format!("{n} {reason}"))
                .collect();
            // upstream sorts the rendered strings, counts included
            histogram.sort();
            if !histogram.is_empty() {
                message.push_str(&format!(" {}.", histogram.join(", ")));
            }
        }
    }
    message.push_str(&format!(
        " preemption: 0/{node_count} nodes are available: {node_count} Preemption is not helpful for scheduling."
    ));
    message
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{node, pod};
    use super::*;
    use serde_json::json;

    fn with_spec(mut p: Pod, spec: serde_json::Value) -> Pod {
        let mut value = serde_json::to_value(p.spec.take().unwrap()).unwrap();
        for (k, v) in spec.as_object().unwrap() {
            value[k] = v.clone();
        }
        p.spec = Some(serde_json::from_value(value).unwrap());
        p
    }

    fn node_with(name: &str, spec: serde_json::Value, ready: &str) -> Node {
        let mut n = node(name);
        n.spec = Some(serde_json::from_value(spec).unwrap());
        n.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = ready.into();
        n
    }

    #[test]
    fn node_filter_table() {
        let plain = pod("p", &[]);
        let tolerate_all = with_spec(
            pod("p", &[]),
            json!({"tolerations": [{"operator": "Exists"}]}),
        );
        let selector = with_spec(
            pod("p", &[]),
            json!({"nodeSelector": {"kubernetes.io/hostname": "node-2"}}),
        );
        let affinity = with_spec(
            pod("p", &[]),
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}]
            }}}}),
        );
        let cases: Vec<(&str, &Pod, Node, Option<&str>)> = vec![
            ("ready node", &plain, node("node-1"), None),
            (
                "unschedulable",
                &plain,
                node_with("node-1", json!({"unschedulable": true}), "True"),
                Some(REASON_UNSCHEDULABLE),
            ),
            (
                "unschedulable tolerated",
                &tolerate_all,
                node_with("node-1", json!({"unschedulable": true}), "True"),
                None,
            ),
            (
                "not ready",
                &plain,
                node_with("node-1", json!({}), "False"),
                Some("node(s) had untolerated taint {node.kubernetes.io/not-ready: }"),
            ),
            (
                "unreachable",
                &plain,
                node_with("node-1", json!({}), "Unknown"),
                Some("node(s) had untolerated taint {node.kubernetes.io/unreachable: }"),
            ),
            (
                "tainted",
                &plain,
                node_with(
                    "node-1",
                    json!({"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}),
                    "True",
                ),
                Some("node(s) had untolerated taint {dedicated: db}"),
            ),
            (
                "prefer-no-schedule is ignored",
                &plain,
                node_with(
                    "node-1",
                    json!({"taints": [{"key": "soft", "effect": "PreferNoSchedule"}]}),
                    "True",
                ),
                None,
            ),
            (
                "nodeSelector miss",
                &selector,
                node("node-1"),
                Some(REASON_AFFINITY),
            ),
            ("nodeSelector hit", &selector, node("node-2"), None),
            ("affinity by field hit", &affinity, node("node-1"), None),
            (
                "affinity by field miss",
                &affinity,
                node("node-2"),
                Some(REASON_AFFINITY),
            ),
        ];
        for (name, p, n, expected) in cases {
            assert_eq!(node_rejection(p, &n).as_deref(), expected, "{name}");
        }
    }

    #[test]
    fn fit_error_messages() {
        let reasons: BTreeMap<String, usize> = [
            ("node(s) had volume node affinity conflict".to_owned(), 2),
            (
                "node(s) had untolerated taint {dedicated: db}".to_owned(),
                1,
            ),
        ]
        .into();
        assert_eq!(
            fit_error(3, None, &reasons),
            "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, \
             2 node(s) had volume node affinity conflict. \
             preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
        assert_eq!(
            fit_error(
                1,
                Some("pod has unbound immediate PersistentVolumeClaims"),
                &BTreeMap::new()
            ),
            "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. \
             preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
        );
    }
}
