//! Kubernetes resource quantities ("10Gi", "1.5G", "100m", "1e3") as exact nano-unit integers, for comparisons.

/// A parsed quantity in units of 10^-9 (the finest precision Kubernetes keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Quantity {
    nanos: i128,
}

/// Multiplier of a suffix: either a power of 1024 or a power of ten.
enum Scale {
    Binary(u32),
    Decimal(i32),
}

fn suffix_scale(suffix: &str) -> Option<Scale> {
    let scale = match suffix {
        "Ki" => Scale::Binary(1),
        "Mi" => Scale::Binary(2),
        "Gi" => Scale::Binary(3),
        "Ti" => Scale::Binary(4),
        "Pi" => Scale::Binary(5),
        "Ei" => Scale::Binary(6),
        "n" => Scale::Decimal(-9),
        "u" => Scale::Decimal(-6),
        "m" => Scale::Decimal(-3),
        "" => Scale::Decimal(0),
        "k" => Scale::Decimal(3),
        "M" => Scale::Decimal(6),
        "G" => Scale::Decimal(9),
        "T" => Scale::Decimal(12),
        "P" => Scale::Decimal(15),
        "E" => Scale::Decimal(18),
        exponent if exponent.starts_with(['e', 'E']) => Scale::Decimal(exponent[1..].parse().ok()?),
        _ => return None,
    };
    Some(scale)
}

impl Quantity {
    /// Parses the canonical and non-canonical forms; None for malformed or absurdly large values.
    /// Digits below nano precision round up, as Kubernetes does.
    pub(crate) fn parse(text: &str) -> Option<Quantity> {
        let text = text.trim();
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let number_end = unsigned
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(unsigned.len());
        let (number, suffix) = unsigned.split_at(number_end);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        // digits as one integer, with `fraction.len()` implied decimal places
        let mut mantissa: i128 = 0;
        for digit in whole.bytes().chain(fraction.bytes()) {
            if !digit.is_ascii_digit() {
                return None;
            }
            mantissa = mantissa
                .checked_mul(10)?
                .checked_add(i128::from(digit - b'0'))?;
        }
        let decimal_places = i32::try_from(fraction.len()).ok()?;
        let nanos = match suffix_scale(suffix)? {
            Scale::Binary(power) => {
                let factor = 1024_i128.checked_pow(power)?;
                shift_decimal(mantissa.checked_mul(factor)?, 9 - decimal_places)?
            }
            Scale::Decimal(exponent) => shift_decimal(
                mantissa,
                exponent.checked_add(9)?.checked_sub(decimal_places)?,
            )?,
        };
        Some(Quantity {
            nanos: if negative { -nanos } else { nanos },
        })
    }
}

/// value * 10^shift, rounding up when shift is negative and digits are dropped.
fn shift_decimal(value: i128, shift: i32) -> Option<i128> {
    if shift >= 0 {
        return value.checked_mul(10_i128.checked_pow(u32::try_from(shift).ok()?)?);
    }
    let divisor = 10_i128.checked_pow(u32::try_from(-shift).ok()?);
    match divisor {
        Some(divisor) => {
            let quotient = value / divisor;
            Some(if value % divisor == 0 {
                quotient
            } else {
                quotient + 1
            })
        }
        // more than 38 dropped digits: anything non-zero rounds up to one nano unit
        None => Some(i128::from(value != 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> i128 {
        Quantity::parse(text).expect(text).nanos
    }

    #[test]
    fn parses_suffixes_fractions_and_exponents() {
        const GIB: i128 = 1024 * 1024 * 1024;
        assert_eq!(q("1Gi"), GIB * 1_000_000_000);
        assert_eq!(q("1073741824"), GIB * 1_000_000_000);
        assert_eq!(q("1.5Gi"), GIB * 3 / 2 * 1_000_000_000);
        assert_eq!(q("1G"), 1_000_000_000 * 1_000_000_000);
        assert_eq!(q("100m"), 100_000_000);
        assert_eq!(q("1e3"), 1000 * 1_000_000_000);
        assert_eq!(q("2E"), 2 * 10_i128.pow(27));
        assert_eq!(q("-5k"), -5000 * 1_000_000_000);
        assert_eq!(q(".5"), 500_000_000);
        assert_eq!(q("0.0000000001"), 1);
        assert!(Quantity::parse("1Gi") > Quantity::parse("1G"));
        assert!(Quantity::parse("2Gi") > Quantity::parse("1Gi"));
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "Gi", "1 Gi", "1GB", "abc", "1..2", "1e", "1e999"] {
            assert_eq!(Quantity::parse(bad), None, "{bad}");
        }
    }
}
