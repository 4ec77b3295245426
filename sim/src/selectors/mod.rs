//! Label and field selectors: parsing the query-string forms and matching them against JSON objects.

mod field;
mod label;

pub use field::{FieldRequirement, FieldSelector, field_value};
pub use label::{LabelOp, LabelRequirement, LabelSelector, label_selector_text};

/// A selector that could not be parsed or is not supported for the type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("unable to parse requirement: {detail}")]
    ParseLabelSelector { detail: String },
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    ParseFieldSelector { selector: String, term: String },
    #[error("field label not supported: {key}")]
    UnsupportedField { key: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
