//! Tests for label and node selectors.
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn strings(values: &[&str]) -> Option<Vec<String>> {
    Some(values.iter().map(|v| v.to_string()).collect())
}

fn expression(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: key.into(),
        operator: operator.into(),
        values: strings(values),
    }
}

fn selector(
    match_labels: &[(&str, &str)],
    expressions: Vec<LabelSelectorRequirement>,
) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels(match_labels)),
        match_expressions: Some(expressions),
    }
}

fn reason(result: Result<bool>) -> String {
    match result {
        Err(
            SelectorError::ParseLabelSelector { reason }
            | SelectorError::ParseNodeSelector { reason },
        ) => reason,
        Ok(matched) => panic!("expected an error, got Ok({matched})"),
    }
}

#[test]
fn empty_selector_matches_everything() {
    assert_eq!(
        selector_matches(&LabelSelector::default(), &NO_LABELS),
        Ok(true)
    );
    assert_eq!(
        selector_matches(&selector(&[], vec![]), &labels(&[("a", "b")])),
        Ok(true)
    );
}

#[test]
fn match_labels_require_equal_values() {
    let gold = selector(&[("tier", "gold")], vec![]);
    assert_eq!(
        selector_matches(&gold, &labels(&[("tier", "gold"), ("x", "y")])),
        Ok(true)
    );
    assert_eq!(
        selector_matches(&gold, &labels(&[("tier", "silver")])),
        Ok(false)
    );
    assert_eq!(selector_matches(&gold, &NO_LABELS), Ok(false));
}

#[test]
fn expression_operators_follow_upstream() {
    let cases = [
        (
            expression("tier", "In", &["gold", "silver"]),
            &[("tier", "silver")][..],
            true,
        ),
        (expression("tier", "In", &["gold"]), &[][..], false),
        (
            expression("tier", "NotIn", &["gold"]),
            &[("tier", "silver")][..],
            true,
        ),
        // NotIn matches objects without the key.
        (expression("tier", "NotIn", &["gold"]), &[][..], true),
        (
            expression("tier", "NotIn", &["gold"]),
            &[("tier", "gold")][..],
            false,
        ),
        (expression("tier", "Exists", &[]), &[("tier", "")][..], true),
        (expression("tier", "Exists", &[]), &[][..], false),
        (expression("tier", "DoesNotExist", &[]), &[][..], true),
        (
            expression("tier", "DoesNotExist", &[]),
            &[("tier", "x")][..],
            false,
        ),
    ];
    for (requirement, have, expected) in cases {
        let description = format!("{requirement:?} on {have:?}");
        let result = selector_matches(&selector(&[], vec![requirement]), &labels(have));
        assert_eq!(result, Ok(expected), "{description}");
    }
}

#[test]
fn labels_and_expressions_are_anded() {
    let both = selector(&[("tier", "gold")], vec![expression("zone", "In", &["a"])]);
    assert_eq!(
        selector_matches(&both, &labels(&[("tier", "gold"), ("zone", "a")])),
        Ok(true)
    );
    assert_eq!(
        selector_matches(&both, &labels(&[("tier", "gold"), ("zone", "b")])),
        Ok(false)
    );
}

#[test]
fn invalid_label_selectors_say_why() {
    let cases = [
        (
            expression("tier", "Foo", &[]),
            "\"Foo\" is not a valid label selector operator",
        ),
        (
            expression("tier", "Gt", &["1"]),
            "\"Gt\" is not a valid label selector operator",
        ),
        (
            expression("tier", "In", &[]),
            "key \"tier\": for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            expression("tier", "NotIn", &[]),
            "key \"tier\": for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            expression("tier", "Exists", &["x"]),
            "key \"tier\": values set must be empty for exists and does not exist",
        ),
        (
            expression("tier", "DoesNotExist", &["x"]),
            "key \"tier\": values set must be empty for exists and does not exist",
        ),
        (
            expression("bad key", "Exists", &[]),
            "key \"bad key\": name part may contain only alphanumerics, '-', '_' and '.'",
        ),
        (
            expression("Example.com/tier", "Exists", &[]),
            "key \"Example.com/tier\": prefix \"Example.com\" must be a lowercase DNS-1123 subdomain",
        ),
        (
            expression("tier", "In", &["-gold"]),
            "key \"tier\": value \"-gold\" must start and end with an alphanumeric character",
        ),
    ];
    for (requirement, expected) in cases {
        let result = selector_matches(&selector(&[], vec![requirement]), &NO_LABELS);
        assert_eq!(reason(result), expected);
    }
    let bad_match_label = selector(&[("tier", "a b")], vec![]);
    assert_eq!(
        reason(selector_matches(&bad_match_label, &NO_LABELS)),
        "key \"tier\": value \"a b\" may contain only alphanumerics, '-', '_' and '.'"
    );
}

#[test]
fn first_mismatch_names_the_failing_requirement() {
    let matcher = LabelSelectorMatcher::parse(&selector(
        &[("tier", "gold")],
        vec![
            expression("zone", "NotIn", &["a", "b"]),
            expression("ssd", "DoesNotExist", &[]),
        ],
    ))
    .map_err(|err| err.to_string());
    let Ok(matcher) = matcher else {
        panic!("{matcher:?}")
    };
    let have = labels(&[("tier", "gold"), ("zone", "b")]);
    assert_eq!(
        matcher
            .first_mismatch(&have)
            .map(ToString::to_string)
            .as_deref(),
        Some("zone notin (a,b)")
    );
    let have = labels(&[("tier", "gold"), ("ssd", "")]);
    assert_eq!(
        matcher
            .first_mismatch(&have)
            .map(ToString::to_string)
            .as_deref(),
        Some("!ssd")
    );
}

fn node_requirement(key: &str, operator: &str, values: &[&str]) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.into(),
        operator: operator.into(),
        values: strings(values),
    }
}

fn term(
    expressions: Vec<NodeSelectorRequirement>,
    fields: Vec<NodeSelectorRequirement>,
) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: Some(expressions),
        match_fields: Some(fields),
    }
}

fn node_selector(terms: Vec<NodeSelectorTerm>) -> NodeSelector {
    NodeSelector {
        node_selector_terms: terms,
    }
}

#[test]
fn node_selector_terms_are_ored_and_expressions_anded() {
    let selector = node_selector(vec![
        term(
            vec![
                node_requirement("zone", "In", &["a"]),
                node_requirement("disk", "Exists", &[]),
            ],
            vec![],
        ),
        term(vec![node_requirement("zone", "In", &["b"])], vec![]),
    ]);
    let matches = |have: &[(&str, &str)]| node_selector_matches(&selector, &labels(have), "node-1");
    assert_eq!(matches(&[("zone", "a"), ("disk", "ssd")]), Ok(true));
    assert_eq!(matches(&[("zone", "a")]), Ok(false));
    assert_eq!(matches(&[("zone", "b")]), Ok(true));
    assert_eq!(matches(&[("zone", "c"), ("disk", "ssd")]), Ok(false));
}

#[test]
fn node_selector_gt_and_lt_compare_integers() {
    let selector = node_selector(vec![term(
        vec![
            node_requirement("cores", "Gt", &["4"]),
            node_requirement("cores", "Lt", &["16"]),
        ],
        vec![],
    )]);
    let matches = |cores: &str| node_selector_matches(&selector, &labels(&[("cores", cores)]), "");
    assert_eq!(matches("8"), Ok(true));
    assert_eq!(matches("4"), Ok(false));
    assert_eq!(matches("16"), Ok(false));
    // A label that is not an integer never satisfies Gt/Lt.
    assert_eq!(matches("eight"), Ok(false));
    assert_eq!(node_selector_matches(&selector, &NO_LABELS, ""), Ok(false));
}

#[test]
fn node_selector_match_fields_use_the_node_name_when_known() {
    let selector = node_selector(vec![term(
        vec![],
        vec![node_requirement("metadata.name", "In", &["node-1"])],
    )]);
    assert_eq!(
        node_selector_matches(&selector, &NO_LABELS, "node-1"),
        Ok(true)
    );
    assert_eq!(
        node_selector_matches(&selector, &NO_LABELS, "node-2"),
        Ok(false)
    );
    // Upstream skips matchFields for a node without a name (how the PV node-affinity check calls it).
    assert_eq!(node_selector_matches(&selector, &NO_LABELS, ""), Ok(true));
    let not_in = node_selector(vec![term(
        vec![],
        vec![node_requirement("metadata.name", "NotIn", &["node-1"])],
    )]);
    assert_eq!(
        node_selector_matches(&not_in, &NO_LABELS, "node-1"),
        Ok(false)
    );
    assert_eq!(
        node_selector_matches(&not_in, &NO_LABELS, "node-2"),
        Ok(true)
    );
}

#[test]
fn empty_node_selector_terms_select_nothing() {
    assert_eq!(
        node_selector_matches(&node_selector(vec![]), &NO_LABELS, "n"),
        Ok(false)
    );
    assert_eq!(
        node_selector_matches(&node_selector(vec![term(vec![], vec![])]), &NO_LABELS, "n"),
        Ok(false)
    );
}

#[test]
fn invalid_node_selector_terms_lose_to_a_matching_term() {
    let invalid = term(vec![node_requirement("zone", "Near", &["a"])], vec![]);
    let valid = term(vec![node_requirement("zone", "In", &["a"])], vec![]);
    let zone_a = labels(&[("zone", "a")]);
    assert_eq!(
        node_selector_matches(&node_selector(vec![invalid.clone(), valid]), &zone_a, ""),
        Ok(true)
    );
    assert_eq!(
        reason(node_selector_matches(
            &node_selector(vec![invalid]),
            &zone_a,
            ""
        )),
        "term 0: unsupported operator \"Near\" in matchExpressions"
    );
}

#[test]
fn invalid_node_selector_requirements_say_why() {
    let cases = [
        (
            term(vec![node_requirement("cores", "Gt", &["1", "2"])], vec![]),
            "term 0: key \"cores\": for 'Gt', 'Lt' operators, exactly one value is required",
        ),
        (
            term(vec![node_requirement("cores", "Lt", &["many"])], vec![]),
            "term 0: key \"cores\": for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            term(
                vec![],
                vec![node_requirement("metadata.name", "Exists", &[])],
            ),
            "term 0: unsupported operator \"Exists\" in matchFields (only In, NotIn)",
        ),
        (
            term(
                vec![],
                vec![node_requirement("metadata.name", "In", &["a", "b"])],
            ),
            "term 0: matchFields key \"metadata.name\": values must have one element",
        ),
    ];
    for (term, expected) in cases {
        assert_eq!(
            reason(node_selector_matches(
                &node_selector(vec![term]),
                &NO_LABELS,
                "n"
            )),
            expected
        );
    }
}
