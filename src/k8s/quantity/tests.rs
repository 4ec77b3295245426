//! Tests for quantity parsing, ordering and canonical formatting.
use proptest::prelude::*;

use super::*;

fn q(input: &str) -> Quantity {
    Quantity::parse(input).unwrap_or_else(|err| panic!("{err}"))
}

fn problem(input: &str) -> ParseProblem {
    match Quantity::parse(input) {
        Err(QuantityError::Parse { problem, .. }) => problem,
        Ok(parsed) => panic!("{input:?} parsed as {parsed}"),
    }
}

#[test]
fn canonical_forms_match_upstream() {
    let cases = [
        ("1024Mi", "1Gi"),
        ("1500m", "1500m"),
        ("1000", "1k"),
        ("1.5", "1500m"),
        ("1.5Gi", "1536Mi"),
        ("0.5Gi", "512Mi"),
        ("1536", "1536"),
        ("1024", "1024"),
        ("1Ki", "1Ki"),
        ("+1Ki", "1Ki"),
        ("-1Ki", "-1Ki"),
        ("-1500m", "-1500m"),
        ("1e3", "1e3"),
        ("1e+3", "1e3"),
        ("10e3", "10e3"),
        ("1.5e3", "1500"),
        ("1000e-3", "1"),
        ("1e0", "1"),
        ("12E-3", "12e-3"),
        ("1E", "1E"),
        ("100E", "100E"),
        ("1000k", "1M"),
        ("1M", "1M"),
        ("0.001", "1m"),
        ("1000u", "1m"),
        ("1u", "1u"),
        ("0", "0"),
        ("0Ki", "0"),
        ("-0", "0"),
        ("000", "0"),
        ("001", "1"),
        ("1.", "1"),
        (".5", "500m"),
        ("0.1n", "1n"),
        ("-0.1n", "-1n"),
        ("1e-20", "1e-9"),
        ("0.00000000001", "1n"),
        // BinarySI below 1024 or with a fraction is shown as DecimalSI.
        ("0.5Ki", "512"),
        ("1.1Ki", "1126400m"),
        ("0.0001Ki", "102400u"),
        // BinarySI is capped at 2^63-1 units.
        ("7Ei", "7Ei"),
        ("8Ei", "9223372036854775807"),
        ("100000000000000000000000Ki", "9223372036854775807"),
        // Beyond "E" the value keeps the largest suffix rather than losing it.
        ("1e24", "1e24"),
        ("1000000E", "1000000E"),
    ];
    for (input, canonical) in cases {
        assert_eq!(
            q(input).to_string(),
            canonical,
            "canonical form of {input:?}"
        );
    }
}

#[test]
fn malformed_input_is_rejected_with_the_reason() {
    let cases = [
        ("", ParseProblem::Empty),
        ("-", ParseProblem::NoDigits),
        (".", ParseProblem::NoDigits),
        ("Ki", ParseProblem::NoDigits),
        ("1K", ParseProblem::UnknownSuffix("K".into())),
        ("1ki", ParseProblem::UnknownSuffix("ki".into())),
        ("1e", ParseProblem::UnknownSuffix("e".into())),
        ("1e-", ParseProblem::UnknownSuffix("e-".into())),
        ("1Mi5", ParseProblem::UnknownSuffix("Mi5".into())),
        ("1eE3", ParseProblem::UnknownSuffix("eE3".into())),
        ("1 Gi", ParseProblem::UnexpectedChar { found: ' ', at: 1 }),
        (" 1Gi", ParseProblem::UnexpectedChar { found: ' ', at: 0 }),
        ("1Gi ", ParseProblem::UnexpectedChar { found: ' ', at: 3 }),
        ("1.5.5", ParseProblem::UnexpectedChar { found: '.', at: 3 }),
        ("1e3.5", ParseProblem::UnexpectedChar { found: '.', at: 3 }),
        ("--1", ParseProblem::NoDigits),
        ("1Gé", ParseProblem::UnexpectedChar { found: 'é', at: 2 }),
        ("1e99999999999", ParseProblem::ExponentOutOfRange),
        ("1e30", ParseProblem::OutOfRange),
        (
            "1000000000000000000000000000000000000000000",
            ParseProblem::OutOfRange,
        ),
        ("1.0000000000000000000000001Ei", ParseProblem::TooPrecise),
    ];
    for (input, expected) in cases {
        assert_eq!(problem(input), expected, "problem with {input:?}");
    }
}

#[test]
fn error_message_names_the_input_and_the_reason() {
    let err = Quantity::parse("12Q").err().map(|err| err.to_string());
    assert_eq!(
        err.as_deref(),
        Some("invalid quantity \"12Q\": unexpected character 'Q' at byte 2")
    );
}

#[test]
fn comparison_is_by_exact_value() {
    assert!(q("1Gi") > q("1G"));
    assert_eq!(q("1000m"), q("1"));
    assert_eq!(q("1Ki"), q("1024"));
    assert_eq!(q("1e3"), q("1k"));
    assert!(q("999m") < q("1"));
    assert!(q("1n") > q("0"));
    assert!(q("-1") < q("0"));
    assert!(q("8Ei") > q("7Ei"));
}

#[test]
fn bytes_are_rounded_up_like_upstream_value() {
    assert_eq!(q("1500m").to_bytes_ceil(), Some(2));
    assert_eq!(q("1").to_bytes_ceil(), Some(1));
    assert_eq!(q("1n").to_bytes_ceil(), Some(1));
    assert_eq!(q("-1500m").to_bytes_ceil(), Some(-2));
    assert_eq!(q("1Gi").to_bytes_ceil(), Some(1 << 30));
    assert_eq!(q("8Ei").to_bytes_ceil(), Some(i64::MAX as i128));
    assert_eq!(q("100E").to_bytes_ceil(), None);
}

#[test]
fn from_bytes_is_binary_and_capped() {
    assert_eq!(Quantity::from_bytes(1 << 30).to_string(), "1Gi");
    assert_eq!(Quantity::from_bytes(1536).to_string(), "1536");
    assert_eq!(Quantity::from_bytes(1 << 70), q("8Ei"));
    assert_eq!(Quantity::from_bytes(0).to_string(), "0");
}

#[test]
fn k8s_quantities_are_trimmed_like_upstream_json_decoding() {
    let raw = k8s_openapi::apimachinery::pkg::api::resource::Quantity(" 5Gi\n".into());
    assert_eq!(parse_k8s_quantity(&raw), Ok(q("5Gi")));
    assert_eq!(q("5Gi").to_k8s().0, "5Gi");
}

/// Nano-units per suffix, for the suffixes whose multiplier is a whole number of nano-units.
const SUFFIXES: [(&str, i128); 19] = [
    ("n", 1),
    ("u", 1_000),
    ("m", 1_000_000),
    ("", 1_000_000_000),
    ("k", 1_000_000_000_000),
    ("M", 1_000_000_000_000_000),
    ("G", 1_000_000_000_000_000_000),
    ("T", 1_000_000_000_000_000_000_000),
    ("P", 1_000_000_000_000_000_000_000_000),
    ("E", 1_000_000_000_000_000_000_000_000_000),
    ("Ki", 1_000_000_000 << 10),
    ("Mi", 1_000_000_000 << 20),
    ("Gi", 1_000_000_000 << 30),
    ("Ti", 1_000_000_000 << 40),
    ("Pi", 1_000_000_000 << 50),
    ("Ei", 1_000_000_000 << 60),
    ("e3", 1_000_000_000_000),
    ("e-3", 1_000_000),
    ("E6", 1_000_000_000_000_000),
];

fn quantity_string() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        (any::<i32>()).prop_map(|n| n.to_string()),
        (0u64..1_000_000, "[0-9]{0,12}").prop_map(|(int, frac)| format!("{int}.{frac}")),
        (-(1i64 << 40)..(1i64 << 40)).prop_map(|n| n.to_string()),
    ];
    let suffix = prop_oneof![
        proptest::sample::select(SUFFIXES.map(|(s, _)| s).to_vec()).prop_map(str::to_owned),
        (-12i32..25).prop_map(|e| format!("e{e}")),
    ];
    (number, suffix).prop_map(|(number, suffix)| format!("{number}{suffix}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn integer_mantissas_have_the_exact_value(mantissa in -(1i64 << 40)..(1i64 << 40), index in 0..SUFFIXES.len()) {
        let (suffix, nanos) = SUFFIXES[index];
        let input = format!("{mantissa}{suffix}");
        let exact = i128::from(mantissa).checked_mul(nanos);
        if suffix.ends_with('i') {
            let capped = exact.map_or(BINARY_CAP_NANOS * i128::from(mantissa.signum()), |exact| {
                exact.clamp(-BINARY_CAP_NANOS, BINARY_CAP_NANOS)
            });
            prop_assert_eq!(q(&input).nanos, capped);
        } else if let Some(exact) = exact {
            prop_assert_eq!(q(&input).nanos, exact);
        } else {
            prop_assert_eq!(problem(&input), ParseProblem::OutOfRange);
        }
    }

    #[test]
    fn canonical_form_parses_back_to_the_same_value(input in quantity_string()) {
        if let Ok(parsed) = Quantity::parse(&input) {
            let canonical = parsed.to_string();
            let reparsed = q(&canonical);
            prop_assert_eq!(reparsed, parsed, "{} -> {}", input, canonical);
            prop_assert_eq!(reparsed.to_string(), canonical);
        }
    }

    #[test]
    fn ordering_of_whole_values_matches_integer_bytes(a in quantity_string(), b in quantity_string()) {
        let whole = |q: &Quantity| q.nanos % NANOS_PER_UNIT == 0;
        if let (Ok(a), Ok(b)) = (Quantity::parse(&a), Quantity::parse(&b))
            && let (Some(a_bytes), Some(b_bytes)) = (a.to_bytes_ceil(), b.to_bytes_ceil())
            && whole(&a)
            && whole(&b)
        {
            prop_assert_eq!(a.cmp(&b), a_bytes.cmp(&b_bytes));
        }
    }

    #[test]
    fn from_bytes_round_trips_through_its_canonical_form(bytes in -(1i128 << 62)..(1i128 << 62)) {
        let quantity = Quantity::from_bytes(bytes);
        prop_assert_eq!(quantity.to_bytes_ceil(), Some(bytes));
        prop_assert_eq!(q(&quantity.to_string()), quantity);
    }

    #[test]
    fn arbitrary_strings_never_panic(input in "[-+0-9.eEinumkKMGTP ]{0,12}") {
        let _ = Quantity::parse(&input);
    }
}
