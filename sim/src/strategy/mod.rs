//! Per-type behaviour applied around every write: defaulting, status reset and spec/status separation,
//! validation and immutability.

pub mod defaults;
pub mod prepare;
pub mod validate;
pub mod views;
