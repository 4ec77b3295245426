//! Exact Kubernetes `resource.Quantity` values: parsing, comparison by value, canonical formatting.
//!
//! A quantity is held as a whole number of nano-units in an `i128`. That is exact for everything upstream can
//! represent: upstream rounds every value up to a multiple of 1n when parsing, so no finer precision ever
//! exists. The range is about ±1.7×10^29 units, far beyond upstream's documented limit of 2^63-1; a decimal
//! value beyond it is rejected instead of being held as a big decimal (upstream's `inf.Dec` has no limit).
//!
//! Deliberate differences from upstream `ParseQuantity`, all for inputs a real API server never stores:
//! a number with no digits at all ("", "-", ".", "Ki") is rejected where upstream reads 0; an exponent beyond
//! i32 is rejected where upstream truncates it; a binary quantity with a fraction of more than ~20 significant
//! digits is rejected; a decimal quantity of 10^21 or more keeps the "E" suffix where upstream drops the suffix.
use std::cmp::Ordering;
use std::fmt;

/// Nano-units per unit: upstream's smallest representable step is 1n.
const NANOS_PER_UNIT: i128 = 1_000_000_000;
/// Upstream caps BinarySI quantities at 2^63-1 units (in magnitude) instead of failing.
const BINARY_CAP_NANOS: i128 = i64::MAX as i128 * NANOS_PER_UNIT;
/// Characters upstream accepts in a suffix before its optional signed exponent digits.
const SUFFIX_CHARS: &[u8] = b"eEinumkKMGTP";

/// Errors from reading a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The string is not a quantity this module can hold.
    #[error("invalid quantity {input:?}: {problem}")]
    Parse {
        input: String,
        problem: ParseProblem,
    },
}

pub type Result<T, E = QuantityError> = std::result::Result<T, E>;

/// What exactly is wrong with a quantity string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseProblem {
    #[error("empty string")]
    Empty,
    #[error("no digits")]
    NoDigits,
    #[error("unexpected character {found:?} at byte {at}")]
    UnexpectedChar { found: char, at: usize },
    #[error(
        "unknown suffix {0:?} (expected one of n u m k M G T P E Ki Mi Gi Ti Pi Ei, or e<exponent>)"
    )]
    UnknownSuffix(String),
    #[error("exponent out of range")]
    ExponentOutOfRange,
    #[error("magnitude too large (at most about 1.7e29)")]
    OutOfRange,
    #[error("too many significant digits for a binary suffix")]
    TooPrecise,
}

/// How a quantity was written; decides its canonical form (upstream `Format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantityFormat {
    /// Powers of ten with SI suffixes: "1500m", "5G".
    DecimalSI,
    /// Powers of two: "1536Mi".
    BinarySI,
    /// Powers of ten as an exponent: "12e6".
    DecimalExponent,
}

/// An exact quantity. Equality, ordering and hashing are by value only: "1000m" == "1", "1Gi" > "1G".
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    nanos: i128,
    format: QuantityFormat,
}

impl Quantity {
    /// Reads a quantity exactly as upstream `ParseQuantity` does (no surrounding whitespace allowed).
    pub fn parse(input: &str) -> Result<Quantity> {
        parse_str(input).map_err(|problem| QuantityError::Parse {
            input: input.to_owned(),
            problem,
        })
    }

    /// A whole number of bytes (or other units), formatted like upstream `NewQuantity(n, BinarySI)`.
    /// Values beyond 2^63-1 in magnitude are capped, as upstream caps every BinarySI quantity.
    pub fn from_bytes(bytes: i128) -> Quantity {
        let units = bytes.clamp(-(i64::MAX as i128), i64::MAX as i128);
        Quantity {
            nanos: units * NANOS_PER_UNIT,
            format: QuantityFormat::BinarySI,
        }
    }

    /// Zero, as upstream's zero value of a missing quantity.
    pub fn zero() -> Quantity {
        Quantity {
            nanos: 0,
            format: QuantityFormat::DecimalSI,
        }
    }

    /// Upstream `Value()`: the value as an integer, rounded up (away from zero); None outside the i64 range.
    pub fn to_bytes_ceil(&self) -> Option<i128> {
        let units = self.ceil_units();
        (i64::MIN as i128..=i64::MAX as i128)
            .contains(&units)
            .then_some(units)
    }

    /// The value as an integer, rounded up (away from zero), without upstream's i64 limit.
    pub fn ceil_units(&self) -> i128 {
        let units = self.nanos / NANOS_PER_UNIT;
        match self.nanos % NANOS_PER_UNIT {
            0 => units,
            rest if rest > 0 => units + 1,
            _ => units - 1,
        }
    }

    /// The format the quantity was written in; decides its canonical form.
    pub fn format(&self) -> QuantityFormat {
        self.format
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// The canonical form as the k8s-openapi wrapper, e.g. for a status field.
    pub fn to_k8s(&self) -> k8s_openapi::apimachinery::pkg::api::resource::Quantity {
        k8s_openapi::apimachinery::pkg::api::resource::Quantity(self.to_string())
    }
}

/// Reads a k8s-openapi quantity. Surrounding whitespace is trimmed first, as upstream's JSON decoding does.
pub fn parse_k8s_quantity(
    q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity,
) -> Result<Quantity> {
    Quantity::parse(q.0.trim())
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl std::hash::Hash for Quantity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self> {
        Quantity::parse(s)
    }
}

/// The scale a suffix applies.
#[derive(Debug, Clone, Copy)]
enum Suffix {
    /// Multiply by 10^exponent.
    Decimal(i32, QuantityFormat),
    /// Multiply by 2^bits.
    Binary(u32),
}

/// The pieces of a quantity string: sign, digits before and after the point, suffix.
struct Parts<'a> {
    negative: bool,
    integer: &'a str,
    fraction: &'a str,
    suffix: &'a str,
}

fn parse_str(input: &str) -> Result<Quantity, ParseProblem> {
    let parts = split(input)?;
    let (nanos, format) = match interpret_suffix(parts.suffix)? {
        Suffix::Decimal(exponent, format) => (decimal_nanos(&parts, exponent)?, format),
        Suffix::Binary(bits) => {
            let nanos = binary_nanos(&parts, bits)?;
            // Upstream shows a BinarySI value strictly between 0 and 1 as DecimalSI rather than round it.
            let format = if nanos > 0 && nanos < NANOS_PER_UNIT {
                QuantityFormat::DecimalSI
            } else {
                QuantityFormat::BinarySI
            };
            (nanos, format)
        }
    };
    Ok(Quantity {
        nanos: if parts.negative { -nanos } else { nanos },
        format,
    })
}

/// Splits like upstream's scanner: `[+-]? digits* (. digits*)? [eEinumkKMGTP]* [+-]? digits*`, nothing after.
fn split(input: &str) -> Result<Parts<'_>, ParseProblem> {
    let bytes = input.as_bytes();
    if bytes.is_empty() {
        return Err(ParseProblem::Empty);
    }
    let digits_from = |start: usize| {
        start
            + bytes[start..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
    };
    let (negative, integer_start) = match bytes[0] {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let integer_end = digits_from(integer_start);
    let (fraction, number_end) = match bytes.get(integer_end) {
        Some(b'.') => {
            let end = digits_from(integer_end + 1);
            (&input[integer_end + 1..end], end)
        }
        _ => ("", integer_end),
    };
    let integer = &input[integer_start..integer_end];
    let mut pos = number_end
        + bytes[number_end..]
            .iter()
            .take_while(|b| SUFFIX_CHARS.contains(b))
            .count();
    if matches!(bytes.get(pos), Some(b'+' | b'-')) {
        pos += 1;
    }
    let end = digits_from(pos);
    if let Some(found) = input[end..].chars().next() {
        return Err(ParseProblem::UnexpectedChar { found, at: end });
    }
    if integer.is_empty() && fraction.is_empty() {
        return Err(ParseProblem::NoDigits);
    }
    Ok(Parts {
        negative,
        integer,
        fraction,
        suffix: &input[number_end..],
    })
}

fn interpret_suffix(suffix: &str) -> Result<Suffix, ParseProblem> {
    use QuantityFormat::{DecimalExponent, DecimalSI};
    let scale = match suffix {
        "n" => Suffix::Decimal(-9, DecimalSI),
        "u" => Suffix::Decimal(-6, DecimalSI),
        "m" => Suffix::Decimal(-3, DecimalSI),
        "" => Suffix::Decimal(0, DecimalSI),
        "k" => Suffix::Decimal(3, DecimalSI),
        "M" => Suffix::Decimal(6, DecimalSI),
        "G" => Suffix::Decimal(9, DecimalSI),
        "T" => Suffix::Decimal(12, DecimalSI),
        "P" => Suffix::Decimal(15, DecimalSI),
        "E" => Suffix::Decimal(18, DecimalSI),
        "Ki" => Suffix::Binary(10),
        "Mi" => Suffix::Binary(20),
        "Gi" => Suffix::Binary(30),
        "Ti" => Suffix::Binary(40),
        "Pi" => Suffix::Binary(50),
        "Ei" => Suffix::Binary(60),
        _ if suffix.len() > 1 && suffix.starts_with(['e', 'E']) => {
            let exponent: i64 = suffix[1..]
                .parse()
                .map_err(|_| ParseProblem::UnknownSuffix(suffix.to_owned()))?;
            let exponent = i32::try_from(exponent).map_err(|_| ParseProblem::ExponentOutOfRange)?;
            Suffix::Decimal(exponent, DecimalExponent)
        }
        _ => return Err(ParseProblem::UnknownSuffix(suffix.to_owned())),
    };
    Ok(scale)
}

/// The significant digits of a number: leading and trailing zeros removed, with the power of ten that
/// multiplies them (`digits × 10^exponent` is the number's magnitude). None for zero.
fn significant_digits(parts: &Parts<'_>) -> Option<(String, i64)> {
    let all: String = parts
        .integer
        .chars()
        .chain(parts.fraction.chars())
        .collect();
    let trimmed = all.trim_start_matches('0');
    let digits = trimmed.trim_end_matches('0');
    if digits.is_empty() {
        return None;
    }
    let trailing_zeros = (trimmed.len() - digits.len()) as i64;
    Some((
        digits.to_owned(),
        trailing_zeros - parts.fraction.len() as i64,
    ))
}

/// `digits × 10^(exponent+9)`, rounded up to a whole nano-unit as upstream does.
fn decimal_nanos(parts: &Parts<'_>, exponent: i32) -> Result<i128, ParseProblem> {
    let Some((digits, power)) = significant_digits(parts) else {
        return Ok(0);
    };
    let shift = power + i64::from(exponent) + 9;
    let magnitude = if shift >= 0 {
        let digits: u128 = digits.parse().map_err(|_| ParseProblem::OutOfRange)?;
        u32::try_from(shift)
            .ok()
            .and_then(|shift| 10u128.checked_pow(shift))
            .and_then(|scale| digits.checked_mul(scale))
            .ok_or(ParseProblem::OutOfRange)?
    } else {
        // Trailing zeros are gone, so any digit shifted below 1n is non-zero: always round up by one.
        let kept = digits.len() as i64 + shift;
        if kept <= 0 {
            1
        } else {
            let head: u128 = digits[..kept as usize]
                .parse()
                .map_err(|_| ParseProblem::OutOfRange)?;
            head.checked_add(1).ok_or(ParseProblem::OutOfRange)?
        }
    };
    i128::try_from(magnitude).map_err(|_| ParseProblem::OutOfRange)
}

/// `digits × 10^power × 2^bits` in nano-units, rounded up, capped at 2^63-1 units as upstream caps BinarySI.
fn binary_nanos(parts: &Parts<'_>, bits: u32) -> Result<i128, ParseProblem> {
    let Some((digits, power)) = significant_digits(parts) else {
        return Ok(0);
    };
    let is_whole = power >= 0;
    // A whole number of 10^19 or more, times at least 2^10, is far beyond the cap.
    if is_whole && digits.len() as i64 + power > 19 {
        return Ok(BINARY_CAP_NANOS);
    }
    let digits: u128 = digits.parse().map_err(|_| ParseProblem::TooPrecise)?;
    let Some(scaled) = digits.checked_mul(1u128 << bits) else {
        return if is_whole {
            Ok(BINARY_CAP_NANOS)
        } else {
            Err(ParseProblem::TooPrecise)
        };
    };
    let shift = power + 9;
    let nanos = if shift >= 0 {
        u32::try_from(shift)
            .ok()
            .and_then(|shift| 10u128.checked_pow(shift))
            .and_then(|scale| scaled.checked_mul(scale))
            .unwrap_or(u128::MAX)
    } else {
        match u32::try_from(-shift)
            .ok()
            .and_then(|shift| 10u128.checked_pow(shift))
        {
            Some(divisor) => scaled / divisor + u128::from(scaled % divisor != 0),
            // The divisor exceeds any u128, so the value is below 1n: round up to 1n.
            None => 1,
        }
    };
    Ok(i128::try_from(nanos).map_or(BINARY_CAP_NANOS, |nanos| nanos.min(BINARY_CAP_NANOS)))
}

impl fmt::Display for Quantity {
    /// Upstream's canonical form: no fractional digits, the largest exponent that loses nothing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let as_binary = self.format == QuantityFormat::BinarySI
            && self.nanos.abs() >= 1024 * NANOS_PER_UNIT
            && self.nanos % NANOS_PER_UNIT == 0;
        if as_binary {
            return write_binary(f, self.nanos / NANOS_PER_UNIT);
        }
        let (mantissa, exponent) = decimal_mantissa(self.nanos);
        match self.format {
            QuantityFormat::DecimalExponent if exponent == 0 => write!(f, "{mantissa}"),
            QuantityFormat::DecimalExponent => write!(f, "{mantissa}e{exponent}"),
            // A BinarySI value below 1024 or with a fraction is shown as DecimalSI, like upstream.
            QuantityFormat::DecimalSI | QuantityFormat::BinarySI => {
                write_decimal_si(f, mantissa, exponent)
            }
        }
    }
}

/// `nanos × 10^-9` as `mantissa × 10^exponent`, exponent a multiple of 3 and as large as possible.
fn decimal_mantissa(nanos: i128) -> (i128, i32) {
    let (mut mantissa, mut exponent) = (nanos, -9i32);
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exponent += 1;
    }
    // Lowering the exponent to a multiple of 3 re-multiplies by factors of ten just removed: cannot overflow.
    let excess = exponent.rem_euclid(3);
    (mantissa * 10i128.pow(excess as u32), exponent - excess)
}

fn write_decimal_si(f: &mut fmt::Formatter<'_>, mantissa: i128, exponent: i32) -> fmt::Result {
    let (mantissa, exponent) = if exponent > 18 {
        // Beyond "E" there is no suffix; keep the value exact with a larger mantissa.
        (mantissa * 10i128.pow((exponent - 18) as u32), 18)
    } else {
        (mantissa, exponent)
    };
    let suffix = match exponent {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => "",
    };
    write!(f, "{mantissa}{suffix}")
}

fn write_binary(f: &mut fmt::Formatter<'_>, units: i128) -> fmt::Result {
    const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let (mut mantissa, mut power) = (units, 0usize);
    while power + 1 < SUFFIXES.len() && mantissa % 1024 == 0 {
        mantissa /= 1024;
        power += 1;
    }
    write!(f, "{mantissa}{}", SUFFIXES[power])
}

#[cfg(test)]
mod tests;
