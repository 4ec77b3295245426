//! Label selectors (claims' `spec.selector`) and node selectors (PV node affinity), with upstream semantics.
//!
//! Invalid selectors are errors, never "match nothing" silently: upstream fails the claim sync on an invalid
//! claim selector and treats a PV whose node affinity cannot be parsed as not fitting the node.
use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{NodeSelector, NodeSelectorRequirement, NodeSelectorTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Errors from reading an invalid selector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A claim's label selector is invalid.
    #[error("invalid label selector: {reason}")]
    ParseLabelSelector { reason: String },
    /// No node selector term matched, and at least one term was invalid.
    #[error("invalid node selector: {reason}")]
    ParseNodeSelector { reason: String },
}

pub type Result<T, E = SelectorError> = std::result::Result<T, E>;

/// An empty label set, for objects without labels.
pub static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// Whether `labels` match a label selector. An empty selector matches everything.
pub fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool> {
    Ok(LabelSelectorMatcher::parse(selector)?.matches(labels))
}

/// Whether a node matches a node selector: terms are ORed, the requirements inside a term ANDed.
///
/// `node_name` feeds `matchFields` on `metadata.name`. When it is empty, `matchFields` are not evaluated at
/// all (a term with only `matchFields` then matches), exactly as upstream does for a node without a name;
/// upstream's PV node-affinity check builds such a node from the labels alone.
///
/// # Errors
/// When no term matched and some term was invalid. A valid matching term wins over invalid ones.
pub fn node_selector_matches(
    selector: &NodeSelector,
    node_labels: &BTreeMap<String, String>,
    node_name: &str,
) -> Result<bool> {
    let mut problems = Vec::new();
    for (index, term) in selector.node_selector_terms.iter().enumerate() {
        match node_term_matches(term, node_labels, node_name) {
            // An empty term selects nothing.
            TermVerdict::Empty | TermVerdict::NoMatch => {}
            TermVerdict::Match => return Ok(true),
            TermVerdict::Invalid(problem) => problems.push(format!("term {index}: {problem}")),
        }
    }
    match problems.is_empty() {
        true => Ok(false),
        false => Err(SelectorError::ParseNodeSelector {
            reason: problems.join("; "),
        }),
    }
}

/// A parsed label selector, to match many label sets against one claim's selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelectorMatcher {
    requirements: Vec<Requirement>,
}

impl LabelSelectorMatcher {
    /// Parses and validates like upstream `LabelSelectorAsSelector`.
    pub fn parse(selector: &LabelSelector) -> Result<Self> {
        let invalid = |reason: String| SelectorError::ParseLabelSelector { reason };
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(
                Requirement::new(key, Operator::Equals, std::slice::from_ref(value))
                    .map_err(invalid)?,
            );
        }
        for expression in selector.match_expressions.iter().flatten() {
            let operator = match expression.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(invalid(format!(
                        "{other:?} is not a valid label selector operator"
                    )));
                }
            };
            let values = expression.values.as_deref().unwrap_or_default();
            requirements
                .push(Requirement::new(&expression.key, operator, values).map_err(invalid)?);
        }
        Ok(Self { requirements })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.first_mismatch(labels).is_none()
    }

    /// The first requirement the labels fail, to explain a rejection.
    pub fn first_mismatch(&self, labels: &BTreeMap<String, String>) -> Option<&Requirement> {
        self.requirements
            .iter()
            .find(|requirement| !requirement.matches(labels))
    }
}

/// A selector operator, including node selectors' numeric comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

/// One validated requirement on one label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// Validates like upstream `labels.NewRequirement`; the error names the key and the problem.
    fn new(key: &str, operator: Operator, values: &[String]) -> std::result::Result<Self, String> {
        let problem = |what: &str| format!("key {key:?}: {what}");
        if let Some(bad) = label_key_problem(key) {
            return Err(problem(&bad));
        }
        let arity = match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                Some("for 'in', 'notin' operators, values set can't be empty")
            }
            Operator::Equals if values.len() != 1 => {
                Some("exact-match compatibility requires one single value")
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                Some("values set must be empty for exists and does not exist")
            }
            Operator::Gt | Operator::Lt if values.len() != 1 => {
                Some("for 'Gt', 'Lt' operators, exactly one value is required")
            }
            Operator::Gt | Operator::Lt if values.iter().any(|v| v.parse::<i64>().is_err()) => {
                Some("for 'Gt', 'Lt' operators, the value must be an integer")
            }
            _ => None,
        };
        if let Some(arity) = arity {
            return Err(problem(arity));
        }
        if let Some(bad) = values.iter().find_map(|value| label_value_problem(value)) {
            return Err(problem(&bad));
        }
        Ok(Self {
            key: key.to_owned(),
            operator,
            values: values.to_vec(),
        })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        let has = |value: &String| self.values.contains(value);
        let compare = |value: Option<&String>| -> Option<(i64, i64)> {
            Some((value?.parse().ok()?, self.values.first()?.parse().ok()?))
        };
        match self.operator {
            Operator::Equals | Operator::In => value.is_some_and(has),
            Operator::NotIn => !value.is_some_and(has),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::Gt => compare(value).is_some_and(|(have, bound)| have > bound),
            Operator::Lt => compare(value).is_some_and(|(have, bound)| have < bound),
        }
    }
}

impl fmt::Display for Requirement {
    /// Upstream's selector syntax: `tier=gold`, `tier in (a,b)`, `!tier`, `rank>5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        let values = self.values.join(",");
        match self.operator {
            Operator::Equals => write!(f, "{key}={values}"),
            Operator::In => write!(f, "{key} in ({values})"),
            Operator::NotIn => write!(f, "{key} notin ({values})"),
            Operator::Exists => write!(f, "{key}"),
            Operator::DoesNotExist => write!(f, "!{key}"),
            Operator::Gt => write!(f, "{key}>{values}"),
            Operator::Lt => write!(f, "{key}<{values}"),
        }
    }
}

enum TermVerdict {
    Empty,
    Match,
    NoMatch,
    Invalid(String),
}

fn node_term_matches(
    term: &NodeSelectorTerm,
    labels: &BTreeMap<String, String>,
    node_name: &str,
) -> TermVerdict {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return TermVerdict::Empty;
    }
    let parsed_expressions: std::result::Result<Vec<_>, _> =
        expressions.iter().map(node_requirement).collect();
    let parsed_fields: std::result::Result<Vec<_>, _> =
        fields.iter().map(field_requirement).collect();
    let (expressions, fields) = match (parsed_expressions, parsed_fields) {
        (Ok(expressions), Ok(fields)) => (expressions, fields),
        (Err(problem), _) | (_, Err(problem)) => return TermVerdict::Invalid(problem),
    };
    let labels_match = expressions
        .iter()
        .all(|requirement| requirement.matches(labels));
    // Upstream evaluates field requirements only when the node has a name (see `node_selector_matches`).
    let fields_match = node_name.is_empty() || fields.iter().all(|field| field.matches(node_name));
    match labels_match && fields_match {
        true => TermVerdict::Match,
        false => TermVerdict::NoMatch,
    }
}

fn node_requirement(
    requirement: &NodeSelectorRequirement,
) -> std::result::Result<Requirement, String> {
    let operator = match requirement.operator.as_str() {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        "Gt" => Operator::Gt,
        "Lt" => Operator::Lt,
        other => {
            return Err(format!(
                "unsupported operator {other:?} in matchExpressions"
            ));
        }
    };
    Requirement::new(
        &requirement.key,
        operator,
        requirement.values.as_deref().unwrap_or_default(),
    )
}

/// A `matchFields` requirement: the only field a node has is `metadata.name`; any other key reads as "".
struct FieldRequirement {
    key: String,
    equal: bool,
    value: String,
}

impl FieldRequirement {
    fn matches(&self, node_name: &str) -> bool {
        let actual = if self.key == "metadata.name" {
            node_name
        } else {
            ""
        };
        (actual == self.value) == self.equal
    }
}

fn field_requirement(
    requirement: &NodeSelectorRequirement,
) -> std::result::Result<FieldRequirement, String> {
    let equal = match requirement.operator.as_str() {
        "In" => true,
        "NotIn" => false,
        other => {
            return Err(format!(
                "unsupported operator {other:?} in matchFields (only In, NotIn)"
            ));
        }
    };
    match requirement.values.as_deref().unwrap_or_default() {
        [value] => Ok(FieldRequirement {
            key: requirement.key.clone(),
            equal,
            value: value.clone(),
        }),
        _ => Err(format!(
            "matchFields key {:?}: values must have one element",
            requirement.key
        )),
    }
}

/// Upstream `IsQualifiedName`: an optional DNS-1123 subdomain prefix and "/", then a name part.
fn label_key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && !is_dns_subdomain(prefix)
    {
        return Some(format!(
            "prefix {prefix:?} must be a lowercase DNS-1123 subdomain"
        ));
    }
    name_problem(name).map(|problem| format!("name part {problem}"))
}

/// Upstream `IsValidLabelValue`: empty, or a valid name part.
fn label_value_problem(value: &str) -> Option<String> {
    match value.is_empty() {
        true => None,
        false => name_problem(value).map(|problem| format!("value {value:?} {problem}")),
    }
}

/// At most 63 characters from [A-Za-z0-9-_.], starting and ending alphanumeric.
fn name_problem(name: &str) -> Option<String> {
    let alphanumeric = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > 63 {
        return Some("must be 1-63 characters".to_owned());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Some("may contain only alphanumerics, '-', '_' and '.'".to_owned());
    }
    if !alphanumeric(name.chars().next()) || !alphanumeric(name.chars().last()) {
        return Some("must start and end with an alphanumeric character".to_owned());
    }
    None
}

/// At most 253 characters of dot-separated lowercase RFC 1123 labels.
fn is_dns_subdomain(prefix: &str) -> bool {
    let is_label = |label: &str| {
        let edge_ok =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        edge_ok(label.chars().next())
            && edge_ok(label.chars().last())
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    !prefix.is_empty() && prefix.len() <= 253 && prefix.split('.').all(is_label)
}

#[cfg(test)]
mod tests;
