//! Selector matching as the API defines it: label selectors, node selector terms, topology terms,
//! taints and tolerations.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    NodeSelector, NodeSelectorRequirement, Taint, Toleration, TopologySelectorTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub(crate) type Labels = BTreeMap<String, String>;

/// Does a `metav1.LabelSelector` select these labels? `{}` selects everything; a malformed
/// requirement (unknown operator, `In` without values, `Exists` with values) selects nothing.
pub(crate) fn label_selector_matches(selector: &LabelSelector, labels: &Labels) -> bool {
    let labels_match = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    let expressions_match = selector.match_expressions.iter().flatten().all(|req| {
        let values = req.values.as_deref().unwrap_or_default();
        set_requirement_matches(&req.operator, values, labels.get(&req.key))
    });
    labels_match && expressions_match
}

/// The set-based operators shared by label selectors and node selector requirements.
fn set_requirement_matches(operator: &str, values: &[String], label: Option<&String>) -> bool {
    match (operator, label) {
        ("In", Some(value)) => !values.is_empty() && values.contains(value),
        ("In", None) => false,
        ("NotIn", Some(value)) => !values.is_empty() && !values.contains(value),
        ("NotIn", None) => !values.is_empty(),
        ("Exists", found) => values.is_empty() && found.is_some(),
        ("DoesNotExist", found) => values.is_empty() && found.is_none(),
        _ => false,
    }
}

/// Does a node (its labels and name) satisfy a `NodeSelector`? Terms are ORed, the requirements
/// inside a term ANDed; a term without any requirement matches nothing (upstream semantics).
pub(crate) fn node_selector_matches(
    selector: &NodeSelector,
    labels: &Labels,
    node_name: &str,
) -> bool {
    selector.node_selector_terms.iter().any(|term| {
        let expressions = term.match_expressions.as_deref().unwrap_or_default();
        let fields = term.match_fields.as_deref().unwrap_or_default();
        !(expressions.is_empty() && fields.is_empty())
            && expressions
                .iter()
                .all(|req| node_requirement_matches(req, labels))
            && fields
                .iter()
                .all(|req| field_requirement_matches(req, node_name))
    })
}

fn node_requirement_matches(req: &NodeSelectorRequirement, labels: &Labels) -> bool {
    let values = req.values.as_deref().unwrap_or_default();
    let label = labels.get(&req.key);
    match req.operator.as_str() {
        "Gt" | "Lt" => {
            let (Some(label), [bound]) = (label, values) else {
                return false;
            };
            match (label.parse::<i64>(), bound.parse::<i64>()) {
                (Ok(label), Ok(bound)) if req.operator == "Gt" => label > bound,
                (Ok(label), Ok(bound)) => label < bound,
                _ => false,
            }
        }
        operator => set_requirement_matches(operator, values, label),
    }
}

/// `matchFields` supports only `metadata.name` with `In` / `NotIn`.
fn field_requirement_matches(req: &NodeSelectorRequirement, node_name: &str) -> bool {
    let values = req.values.as_deref().unwrap_or_default();
    match (req.key.as_str(), req.operator.as_str()) {
        ("metadata.name", "In") => values.iter().any(|v| v == node_name),
        ("metadata.name", "NotIn") => !values.is_empty() && values.iter().all(|v| v != node_name),
        _ => false,
    }
}

/// A StorageClass's `allowedTopologies`: no terms allows every node; otherwise some term must have
/// all of its label expressions satisfied.
pub(crate) fn topology_terms_match(terms: &[TopologySelectorTerm], labels: &Labels) -> bool {
    terms.is_empty()
        || terms.iter().any(|term| {
            term.match_label_expressions.iter().flatten().all(|req| {
                labels
                    .get(&req.key)
                    .is_some_and(|value| req.values.contains(value))
            })
        })
}

/// Upstream `Toleration.ToleratesTaint`.
pub(crate) fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    let key = toleration.key.as_deref().unwrap_or_default();
    if (!effect.is_empty() && effect != taint.effect) || (!key.is_empty() && key != taint.key) {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or_default() {
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or_default()
                == taint.value.as_deref().unwrap_or_default()
        }
        "Exists" => true,
        _ => false,
    }
}

/// The first taint with a scheduling effect (NoSchedule / NoExecute) that no toleration tolerates.
pub(crate) fn first_untolerated<'t>(
    taints: &'t [Taint],
    tolerations: &[Toleration],
) -> Option<&'t Taint> {
    taints
        .iter()
        .filter(|taint| matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute"))
        .find(|taint| !tolerations.iter().any(|tol| tolerates(tol, taint)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeSelectorTerm, TopologySelectorLabelRequirement};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn strings(values: &[&str]) -> Option<Vec<String>> {
        (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect())
    }

    fn expr(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: strings(values),
        }
    }

    fn node_req(key: &str, operator: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: strings(values),
        }
    }

    #[test]
    fn label_selector_table() {
        let pv = labels(&[("tier", "fast"), ("zone", "a")]);
        let cases: Vec<(&str, LabelSelector, bool)> = vec![
            ("empty selects all", LabelSelector::default(), true),
            (
                "matchLabels hit",
                LabelSelector {
                    match_labels: Some(labels(&[("tier", "fast")])),
                    ..Default::default()
                },
                true,
            ),
            (
                "matchLabels miss",
                LabelSelector {
                    match_labels: Some(labels(&[("tier", "slow")])),
                    ..Default::default()
                },
                false,
            ),
            ("In hit", sel(expr("zone", "In", &["a", "b"])), true),
            ("In absent key", sel(expr("rack", "In", &["a"])), false),
            (
                "In without values is invalid",
                sel(expr("zone", "In", &[])),
                false,
            ),
            ("NotIn hit", sel(expr("zone", "NotIn", &["b"])), true),
            ("NotIn miss", sel(expr("zone", "NotIn", &["a"])), false),
            ("NotIn absent key", sel(expr("rack", "NotIn", &["a"])), true),
            ("Exists", sel(expr("tier", "Exists", &[])), true),
            (
                "Exists with values is invalid",
                sel(expr("tier", "Exists", &["fast"])),
                false,
            ),
            ("DoesNotExist", sel(expr("rack", "DoesNotExist", &[])), true),
            (
                "DoesNotExist miss",
                sel(expr("tier", "DoesNotExist", &[])),
                false,
            ),
            ("unknown operator", sel(expr("tier", "Gt", &["1"])), false),
        ];
        for (name, selector, expected) in cases {
            assert_eq!(label_selector_matches(&selector, &pv), expected, "{name}");
        }
    }

    fn sel(req: LabelSelectorRequirement) -> LabelSelector {
        LabelSelector {
            match_expressions: Some(vec![req]),
            ..Default::default()
        }
    }

    fn term(
        exprs: Vec<NodeSelectorRequirement>,
        fields: Vec<NodeSelectorRequirement>,
    ) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: (!exprs.is_empty()).then_some(exprs),
            match_fields: (!fields.is_empty()).then_some(fields),
        }
    }

    #[test]
    fn node_selector_table() {
        let node = labels(&[("kubernetes.io/hostname", "node-1"), ("cpus", "8")]);
        let host = |op, v: &[&str]| node_req("kubernetes.io/hostname", op, v);
        let cases: Vec<(&str, Vec<NodeSelectorTerm>, bool)> = vec![
            ("no terms", vec![], false),
            (
                "empty term matches nothing",
                vec![term(vec![], vec![])],
                false,
            ),
            (
                "hostname In",
                vec![term(vec![host("In", &["node-1"])], vec![])],
                true,
            ),
            (
                "hostname In other",
                vec![term(vec![host("In", &["node-2"])], vec![])],
                false,
            ),
            (
                "terms are ORed",
                vec![
                    term(vec![host("In", &["node-2"])], vec![]),
                    term(vec![host("Exists", &[])], vec![]),
                ],
                true,
            ),
            (
                "requirements are ANDed",
                vec![term(
                    vec![host("In", &["node-1"]), node_req("cpus", "Gt", &["8"])],
                    vec![],
                )],
                false,
            ),
            (
                "Gt",
                vec![term(vec![node_req("cpus", "Gt", &["4"])], vec![])],
                true,
            ),
            (
                "Lt",
                vec![term(vec![node_req("cpus", "Lt", &["4"])], vec![])],
                false,
            ),
            (
                "Gt non-integer",
                vec![term(vec![node_req("cpus", "Gt", &["x"])], vec![])],
                false,
            ),
            (
                "Gt absent",
                vec![term(vec![node_req("gpus", "Gt", &["0"])], vec![])],
                false,
            ),
            (
                "DoesNotExist",
                vec![term(vec![node_req("gpus", "DoesNotExist", &[])], vec![])],
                true,
            ),
            (
                "matchFields name",
                vec![term(
                    vec![],
                    vec![node_req("metadata.name", "In", &["node-1"])],
                )],
                true,
            ),
            (
                "matchFields NotIn",
                vec![term(
                    vec![],
                    vec![node_req("metadata.name", "NotIn", &["node-1"])],
                )],
                false,
            ),
            (
                "matchFields other field",
                vec![term(
                    vec![],
                    vec![node_req("metadata.uid", "In", &["node-1"])],
                )],
                false,
            ),
        ];
        for (name, terms, expected) in cases {
            let selector = NodeSelector {
                node_selector_terms: terms,
            };
            assert_eq!(
                node_selector_matches(&selector, &node, "node-1"),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn topology_terms() {
        let node = labels(&[("zone", "a")]);
        let term = |key: &str, values: &[&str]| TopologySelectorTerm {
            match_label_expressions: Some(vec![TopologySelectorLabelRequirement {
                key: key.into(),
                values: values.iter().map(|v| v.to_string()).collect(),
            }]),
        };
        assert!(topology_terms_match(&[], &node));
        assert!(topology_terms_match(&[term("zone", &["a", "b"])], &node));
        assert!(!topology_terms_match(&[term("zone", &["b"])], &node));
        assert!(!topology_terms_match(&[term("rack", &["a"])], &node));
        assert!(topology_terms_match(
            &[term("zone", &["b"]), term("zone", &["a"])],
            &node
        ));
    }

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: value.map(Into::into),
            effect: effect.into(),
            time_added: None,
        }
    }

    fn toleration(
        key: Option<&str>,
        operator: Option<&str>,
        value: Option<&str>,
        effect: Option<&str>,
    ) -> Toleration {
        Toleration {
            key: key.map(Into::into),
            operator: operator.map(Into::into),
            value: value.map(Into::into),
            effect: effect.map(Into::into),
            toleration_seconds: None,
        }
    }

    #[test]
    fn toleration_table() {
        let t = taint("dedicated", Some("db"), "NoSchedule");
        let cases = [
            (
                "equal key/value",
                toleration(Some("dedicated"), None, Some("db"), None),
                true,
            ),
            (
                "equal wrong value",
                toleration(Some("dedicated"), Some("Equal"), Some("web"), None),
                false,
            ),
            (
                "exists on key",
                toleration(Some("dedicated"), Some("Exists"), None, None),
                true,
            ),
            (
                "exists on everything",
                toleration(None, Some("Exists"), None, None),
                true,
            ),
            (
                "other effect",
                toleration(Some("dedicated"), Some("Exists"), None, Some("NoExecute")),
                false,
            ),
            (
                "same effect",
                toleration(Some("dedicated"), Some("Exists"), None, Some("NoSchedule")),
                true,
            ),
            (
                "other key",
                toleration(Some("gpu"), Some("Exists"), None, None),
                false,
            ),
            (
                "unknown operator",
                toleration(Some("dedicated"), Some("Gt"), Some("db"), None),
                false,
            ),
        ];
        for (name, tol, expected) in cases {
            assert_eq!(tolerates(&tol, &t), expected, "{name}");
        }
    }

    #[test]
    fn first_untolerated_skips_prefer_no_schedule_and_tolerated() {
        let taints = [
            taint("soft", None, "PreferNoSchedule"),
            taint("a", None, "NoSchedule"),
            taint("b", Some("x"), "NoExecute"),
        ];
        let tolerate_a = [toleration(Some("a"), Some("Exists"), None, None)];
        assert_eq!(
            first_untolerated(&taints, &[]).map(|t| t.key.as_str()),
            Some("a")
        );
        assert_eq!(
            first_untolerated(&taints, &tolerate_a).map(|t| t.key.as_str()),
            Some("b")
        );
        let all = [toleration(None, Some("Exists"), None, None)];
        assert_eq!(first_untolerated(&taints, &all), None);
    }
}
