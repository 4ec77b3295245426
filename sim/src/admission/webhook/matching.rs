//! Which webhooks a request reaches: rules, scope, namespaceSelector and objectSelector, as upstream matches them.

use std::collections::BTreeMap;

use serde_json::Value;

use super::config::{LabelSelector, LabelSelectorRequirement, Rule, Webhook};
use crate::admission::{AdmissionError, AdmissionLookup, AdmissionRequest, Operation};

/// The label every namespace carries with its own name (set by namespace defaulting upstream).
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Webhooks are never called for the objects that configure admission itself (so a broken webhook can be removed).
pub(crate) fn is_exempt(req: &AdmissionRequest<'_>) -> bool {
    req.group == "admissionregistration.k8s.io"
        && matches!(
            req.resource,
            "mutatingwebhookconfigurations"
                | "validatingwebhookconfigurations"
                | "validatingadmissionpolicies"
                | "validatingadmissionpolicybindings"
                | "mutatingadmissionpolicies"
                | "mutatingadmissionpolicybindings"
        )
}

fn operation_name(operation: Operation) -> &'static str {
    match operation {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
        Operation::Connect => "CONNECT",
    }
}

fn lists(values: &[String], wanted: &str) -> bool {
    values.iter().any(|v| v == "*" || v == wanted)
}

fn is_namespace_request(req: &AdmissionRequest<'_>) -> bool {
    req.group.is_empty() && req.resource == "namespaces"
}

/// `resources` entries are `res` or `res/sub`; `*` matches any name and a bare name means "no subresource".
fn resource_matches(rule: &Rule, req: &AdmissionRequest<'_>) -> bool {
    rule.resources.iter().any(|entry| {
        let (resource, subresource) = entry.split_once('/').unwrap_or((entry.as_str(), ""));
        (resource == "*" || resource == req.resource)
            && (subresource == "*" || subresource == req.subresource)
    })
}

/// Namespace objects are cluster-scoped even though their requests carry their own name as namespace upstream.
fn scope_matches(rule: &Rule, req: &AdmissionRequest<'_>) -> bool {
    let cluster_scoped = is_namespace_request(req) || req.namespace.is_none_or(str::is_empty);
    match rule.scope.as_deref() {
        None | Some("*") => true,
        Some("Cluster") => cluster_scoped,
        Some("Namespaced") => !cluster_scoped,
        Some(_) => false,
    }
}

pub(crate) fn rule_matches(rule: &Rule, req: &AdmissionRequest<'_>) -> bool {
    lists(&rule.operations, operation_name(req.operation))
        && lists(&rule.api_groups, req.group)
        && lists(&rule.api_versions, req.version)
        && resource_matches(rule, req)
        && scope_matches(rule, req)
}

/// Any rule matching is enough. matchPolicy Equivalent would also try the same resource under other versions or
/// groups, but the sim serves every resource at exactly one version, so Equivalent and Exact coincide here.
pub(crate) fn rules_match(webhook: &Webhook, req: &AdmissionRequest<'_>) -> bool {
    webhook.rules.iter().any(|rule| rule_matches(rule, req))
}

fn requirement_matches(
    requirement: &LabelSelectorRequirement,
    labels: &BTreeMap<String, String>,
) -> bool {
    let value = labels.get(&requirement.key);
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| requirement.values.contains(v)),
        "NotIn" => value.is_none_or(|v| !requirement.values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        // Stored configurations were validated; an unknown operator cannot select anything.
        _ => false,
    }
}

/// A missing selector, like an empty one, selects everything.
pub(crate) fn selector_matches(
    selector: Option<&LabelSelector>,
    labels: &BTreeMap<String, String>,
) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    selector
        .match_labels
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value))
        && selector
            .match_expressions
            .iter()
            .all(|requirement| requirement_matches(requirement, labels))
}

fn is_empty_selector(selector: Option<&LabelSelector>) -> bool {
    selector.is_none_or(|s| s.match_labels.is_empty() && s.match_expressions.is_empty())
}

pub(crate) fn labels_of(object: Option<&Value>) -> BTreeMap<String, String> {
    object
        .and_then(|o| o.pointer("/metadata/labels"))
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Labels of the namespace the request is in (the new Namespace object itself for namespace create/update), with
/// the name label the real apiserver always defaults. None: the namespace does not exist.
fn namespace_labels(
    lookup: &dyn AdmissionLookup,
    req: &AdmissionRequest<'_>,
    object: Option<&Value>,
) -> Option<BTreeMap<String, String>> {
    let namespace_write = is_namespace_request(req)
        && req.subresource.is_empty()
        && matches!(req.operation, Operation::Create | Operation::Update);
    let name = if is_namespace_request(req) {
        req.name
    } else {
        req.namespace.unwrap_or("")
    };
    let mut labels = if namespace_write {
        labels_of(object)
    } else {
        labels_of(Some(&lookup.get("", "namespaces", None, name)?))
    };
    labels
        .entry(NAMESPACE_NAME_LABEL.to_string())
        .or_insert_with(|| name.to_string());
    Some(labels)
}

/// Cluster-scoped requests other than namespaces always pass; a missing namespace is a 404 (as upstream), which
/// only surfaces if the webhook's rules match too.
pub(crate) fn namespace_selector_matches(
    webhook: &Webhook,
    lookup: &dyn AdmissionLookup,
    req: &AdmissionRequest<'_>,
    object: Option<&Value>,
) -> Result<bool, AdmissionError> {
    let cluster_scoped = req.namespace.is_none_or(str::is_empty);
    if (cluster_scoped && !is_namespace_request(req))
        || is_empty_selector(webhook.namespace_selector.as_ref())
    {
        return Ok(true);
    }
    match namespace_labels(lookup, req, object) {
        Some(labels) => Ok(selector_matches(
            webhook.namespace_selector.as_ref(),
            &labels,
        )),
        None => {
            let namespace = if is_namespace_request(req) {
                req.name
            } else {
                req.namespace.unwrap_or("")
            };
            Err(AdmissionError::NamespaceNotFound {
                namespace: namespace.to_string(),
            })
        }
    }
}

/// The new or the old object matching is enough (DELETE has only the old one).
pub(crate) fn object_selector_matches(
    webhook: &Webhook,
    object: Option<&Value>,
    old_object: Option<&Value>,
) -> bool {
    if is_empty_selector(webhook.object_selector.as_ref()) {
        return true;
    }
    [object, old_object]
        .into_iter()
        .flatten()
        .any(|o| selector_matches(webhook.object_selector.as_ref(), &labels_of(Some(o))))
}

/// Whether to call `webhook` for this request (upstream `ShouldCallHook` order: selectors, then rules; selector
/// lookup errors only count for webhooks whose rules match).
pub(crate) fn should_call(
    webhook: &Webhook,
    lookup: &dyn AdmissionLookup,
    req: &AdmissionRequest<'_>,
    object: Option<&Value>,
    old_object: Option<&Value>,
) -> Result<bool, AdmissionError> {
    let namespace_match = namespace_selector_matches(webhook, lookup, req, object);
    if matches!(namespace_match, Ok(false))
        || !object_selector_matches(webhook, object, old_object)
        || !rules_match(webhook, req)
    {
        return Ok(false);
    }
    namespace_match
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::admission::testing::{MemoryLookup, request};

    fn rule(resources: &[&str], scope: Option<&str>) -> Rule {
        Rule {
            operations: vec!["*".into()],
            api_groups: vec!["*".into()],
            api_versions: vec!["*".into()],
            resources: resources.iter().map(|r| r.to_string()).collect(),
            scope: scope.map(str::to_string),
        }
    }

    fn with_subresource<'a>(
        mut req: AdmissionRequest<'a>,
        subresource: &'a str,
    ) -> AdmissionRequest<'a> {
        req.subresource = subresource;
        req
    }

    #[test]
    fn resource_wildcards_follow_upstream() {
        let main = request(
            Operation::Update,
            "",
            "persistentvolumeclaims",
            Some("ns"),
            "d",
        );
        let status = with_subresource(main.clone(), "status");
        let cases: [(&[&str], bool, bool); 6] = [
            (&["*"], true, false),
            (&["*/*"], true, true),
            (&["*/status"], false, true),
            (&["persistentvolumeclaims/*"], true, true),
            (&["persistentvolumeclaims/status"], false, true),
            (&["pods", "pods/status"], false, false),
        ];
        for (resources, on_main, on_status) in cases {
            let rule = rule(resources, None);
            assert_eq!(rule_matches(&rule, &main), on_main, "{resources:?} main");
            assert_eq!(
                rule_matches(&rule, &status),
                on_status,
                "{resources:?} status"
            );
        }
    }

    #[test]
    fn operations_groups_and_versions_must_all_match() {
        let req = request(Operation::Create, "apps", "statefulsets", Some("ns"), "web");
        let mut rule = rule(&["statefulsets"], None);
        assert!(rule_matches(&rule, &req));
        rule.api_groups = vec!["".into()];
        assert!(!rule_matches(&rule, &req));
        rule.api_groups = vec!["apps".into()];
        rule.api_versions = vec!["v1beta1".into()];
        assert!(!rule_matches(&rule, &req));
        rule.api_versions = vec!["v1".into()];
        rule.operations = vec!["UPDATE".into(), "DELETE".into()];
        assert!(!rule_matches(&rule, &req));
        rule.operations = vec!["CREATE".into()];
        assert!(rule_matches(&rule, &req));
    }

    #[test]
    fn scope_treats_namespaces_as_cluster_scoped() {
        let pvc = request(
            Operation::Create,
            "",
            "persistentvolumeclaims",
            Some("ns"),
            "d",
        );
        let pv = request(Operation::Create, "", "persistentvolumes", None, "pv");
        let namespace = request(Operation::Create, "", "namespaces", Some("new"), "new");
        let cluster = rule(&["*"], Some("Cluster"));
        let namespaced = rule(&["*"], Some("Namespaced"));
        assert_eq!(
            [&pvc, &pv, &namespace].map(|r| rule_matches(&cluster, r)),
            [false, true, true]
        );
        assert_eq!(
            [&pvc, &pv, &namespace].map(|r| rule_matches(&namespaced, r)),
            [true, false, false]
        );
    }

    #[test]
    fn selector_operators() {
        let labels: BTreeMap<String, String> = [("app".to_string(), "db".to_string())].into();
        let requirement = |key: &str, operator: &str, values: &[&str]| LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![LabelSelectorRequirement {
                key: key.into(),
                operator: operator.into(),
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
        };
        let cases = [
            (requirement("app", "In", &["db", "web"]), true),
            (requirement("app", "In", &["web"]), false),
            (requirement("app", "NotIn", &["web"]), true),
            (requirement("tier", "NotIn", &["web"]), true),
            (requirement("app", "Exists", &[]), true),
            (requirement("tier", "Exists", &[]), false),
            (requirement("tier", "DoesNotExist", &[]), true),
            (requirement("app", "Bogus", &[]), false),
        ];
        for (selector, expected) in cases {
            assert_eq!(
                selector_matches(Some(&selector), &labels),
                expected,
                "{selector:?}"
            );
        }
        assert!(selector_matches(None, &labels));
        assert!(selector_matches(
            Some(&LabelSelector::default()),
            &BTreeMap::new()
        ));
    }

    fn webhook_with_namespace_selector(name: &str) -> Webhook {
        let selector = LabelSelector {
            match_labels: [(NAMESPACE_NAME_LABEL.to_string(), name.to_string())].into(),
            match_expressions: Vec::new(),
        };
        Webhook {
            namespace_selector: Some(selector),
            rules: vec![rule(&["*"], None)],
            ..Default::default()
        }
    }

    #[test]
    fn namespace_selector_uses_the_namespace_and_its_name_label() {
        let lookup = MemoryLookup::default();
        lookup.put("", "namespaces", json!({"metadata": {"name": "ns"}}));
        let req = request(
            Operation::Create,
            "",
            "persistentvolumeclaims",
            Some("ns"),
            "d",
        );
        assert_eq!(
            should_call(
                &webhook_with_namespace_selector("ns"),
                &lookup,
                &req,
                None,
                None
            ),
            Ok(true)
        );
        assert_eq!(
            should_call(
                &webhook_with_namespace_selector("x"),
                &lookup,
                &req,
                None,
                None
            ),
            Ok(false)
        );
        // a Namespace create is matched against the new object's labels
        let create_ns = request(Operation::Create, "", "namespaces", None, "fresh");
        let object = json!({"metadata": {"name": "fresh"}});
        assert_eq!(
            should_call(
                &webhook_with_namespace_selector("fresh"),
                &lookup,
                &create_ns,
                Some(&object),
                None
            ),
            Ok(true)
        );
        // cluster-scoped objects other than namespaces ignore the selector
        let pv = request(Operation::Create, "", "persistentvolumes", None, "pv");
        assert_eq!(
            should_call(
                &webhook_with_namespace_selector("x"),
                &lookup,
                &pv,
                None,
                None
            ),
            Ok(true)
        );
    }

    #[test]
    fn missing_namespace_is_an_error_only_when_rules_match() {
        let lookup = MemoryLookup::default();
        let req = request(
            Operation::Update,
            "",
            "persistentvolumeclaims",
            Some("gone"),
            "d",
        );
        let hook = webhook_with_namespace_selector("gone");
        assert_eq!(
            should_call(&hook, &lookup, &req, None, None),
            Err(AdmissionError::NamespaceNotFound {
                namespace: "gone".into()
            })
        );
        let unrelated = Webhook {
            rules: vec![rule(&["pods"], None)],
            ..hook
        };
        assert_eq!(
            should_call(&unrelated, &lookup, &req, None, None),
            Ok(false)
        );
    }

    #[test]
    fn object_selector_accepts_old_or_new() {
        let selector = LabelSelector {
            match_labels: [("app".to_string(), "db".to_string())].into(),
            match_expressions: vec![],
        };
        let hook = Webhook {
            object_selector: Some(selector),
            ..Default::default()
        };
        let db = json!({"metadata": {"labels": {"app": "db"}}});
        let web = json!({"metadata": {"labels": {"app": "web"}}});
        assert!(object_selector_matches(&hook, Some(&web), Some(&db)));
        assert!(object_selector_matches(&hook, None, Some(&db)));
        assert!(!object_selector_matches(&hook, Some(&web), None));
        assert!(!object_selector_matches(&hook, None, None));
    }
}
