//! Kubernetes resource quantities (`1Gi`, `500M`, `100m`, `1e3`), parsed far enough to compare them.

/// The value of a quantity in base units, or `None` when it is not a valid quantity.
pub fn parse(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    if number.is_empty() || number.starts_with('.') && number.len() == 1 {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => 10f64.powi(exp[1..].parse().ok()?),
        _ => return None,
    };
    Some(value * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse("1Gi"), Some(1073741824.0));
        assert_eq!(parse("500M"), Some(5e8));
        assert_eq!(parse("100m"), Some(0.1));
        assert_eq!(parse("1e3"), Some(1000.0));
        assert_eq!(parse("2"), Some(2.0));
        assert_eq!(parse("1Gb"), None);
        assert_eq!(parse("Gi"), None);
        assert_eq!(parse(""), None);
    }
}
