//! Resource quantities ("1Gi", "500M", "1.5e3") as exact integers, for size comparisons.

use std::fmt;

/// A quantity in nano-units (value × 10⁹), so that the milli/micro/nano suffixes stay exact.
///
/// Values beyond the range of `i128` saturate, which keeps comparisons meaningful for absurd inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Quantity {
    nanos: i128,
}

const NANOS_PER_UNIT: i128 = 1_000_000_000;

impl Quantity {
    pub(crate) const ZERO: Quantity = Quantity { nanos: 0 };

    /// Parses the Kubernetes quantity grammar: a signed decimal number followed by a binary suffix
    /// (Ki…Ei), a decimal suffix (n, u, m, k, M, G, T, P, E) or a decimal exponent (e3, E-2).
    /// Returns `None` for anything else.
    pub(crate) fn parse(text: &str) -> Option<Quantity> {
        let text = text.trim();
        let number_end = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
            .unwrap_or(text.len());
        let (number, suffix) = text.split_at(number_end);
        let (negative, digits) = match number.as_bytes().first() {
            Some(b'-') => (true, &number[1..]),
            Some(b'+') => (false, &number[1..]),
            _ => (false, number),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction)
        {
            return None;
        }
        // mantissa × 10^exponent10 × 2^exponent2, with the mantissa an integer
        let mut mantissa: i128 = 0;
        for b in whole.bytes().chain(fraction.bytes()) {
            mantissa = mantissa
                .saturating_mul(10)
                .saturating_add(i128::from(b - b'0'));
        }
        let mut exponent10 = -(fraction.len() as i64);
        let exponent2: u32 = match suffix {
            "Ki" => 10,
            "Mi" => 20,
            "Gi" => 30,
            "Ti" => 40,
            "Pi" => 50,
            "Ei" => 60,
            _ => {
                exponent10 += decimal_exponent(suffix)?;
                0
            }
        };
        let mut value = mantissa.saturating_mul(1_i128 << exponent2);
        // scale to nano-units, rounding up what falls below a nano-unit (as upstream rounds up)
        let scale = exponent10 + 9;
        if scale >= 0 {
            for _ in 0..scale {
                value = value.saturating_mul(10);
            }
        } else {
            let divisor = (0..-scale).fold(1_i128, |d, _| d.saturating_mul(10));
            value = value / divisor + i128::from(value % divisor != 0);
        }
        Some(Quantity {
            nanos: if negative { -value } else { value },
        })
    }

    /// Parses an optional quantity, reading a missing or malformed one as zero (as upstream reads a
    /// missing `storage` entry).
    pub(crate) fn parse_or_zero(text: Option<&str>) -> Quantity {
        text.and_then(Quantity::parse).unwrap_or(Quantity::ZERO)
    }

    /// The integer value, rounded up (upstream `Quantity.Value()`).
    pub(crate) fn value(self) -> i128 {
        let whole = self.nanos.div_euclid(NANOS_PER_UNIT);
        whole + i128::from(self.nanos.rem_euclid(NANOS_PER_UNIT) != 0)
    }
}

fn decimal_exponent(suffix: &str) -> Option<i64> {
    Some(match suffix {
        "n" => -9,
        "u" => -6,
        "m" => -3,
        "" => 0,
        "k" => 3,
        "M" => 6,
        "G" => 9,
        "T" => 12,
        "P" => 15,
        "E" => 18,
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E'])?;
            let parsed: i64 = exponent.parse().ok()?;
            // beyond this every value saturates or vanishes anyway
            parsed.clamp(-64, 64)
        }
    })
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value())
    }
}

#[cfg(test)]
mod tests {
    use super::Quantity;

    fn q(text: &str) -> Quantity {
        Quantity::parse(text).unwrap()
    }

    #[test]
    fn parses_suffixes_exactly() {
        let cases: &[(&str, i128)] = &[
            ("0", 0),
            ("1", 1),
            ("1Ki", 1024),
            ("1Mi", 1 << 20),
            ("1Gi", 1 << 30),
            ("2Ti", 2 << 40),
            ("1Ei", 1 << 60),
            ("1k", 1000),
            ("1M", 1_000_000),
            ("1G", 1_000_000_000),
            ("1.5Gi", 3 << 29),
            ("1e3", 1000),
            ("1E3", 1000),
            ("+5", 5),
            ("100m", 1),
            ("1500m", 2),
            ("0.5", 1),
        ];
        for (text, bytes) in cases {
            assert_eq!(q(text).value(), *bytes, "{text}");
        }
    }

    #[test]
    fn compares_across_suffixes() {
        assert!(q("1Gi") > q("1G"));
        assert!(q("1024Mi") == q("1Gi"));
        assert!(q("999m") < q("1"));
        assert!(q("-1") < q("0"));
        assert_eq!(q("-1").value(), -1);
    }

    #[test]
    fn rejects_malformed() {
        for text in ["", "Gi", "1.2.3", "1Gb", "abc", "1e", "--1", "1 Gi"] {
            assert_eq!(Quantity::parse(text), None, "{text}");
        }
        assert_eq!(Quantity::parse_or_zero(Some("junk")), Quantity::ZERO);
        assert_eq!(Quantity::parse_or_zero(None), Quantity::ZERO);
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        assert!(q("1e60") > q("1Ei"));
        assert_eq!(q("1e-30").value(), 1);
    }
}
