//! What `#[derive(Session)]` expands to names. Not public API: no semver guarantees.

pub use crate::record::Fields;
pub use crate::schema::{FieldVisitor, decode_field};
