//! The Terraform type system as plain Rust data: types, values (known, null, unknown),
//! schemas and attribute paths, and their wire encodings (msgpack `DynamicValue`, raw JSON
//! state, cty type JSON).
//!
//! This layer knows nothing about gRPC or HTTP: the plugin server converts these structs to
//! and from protobuf messages, and resources read and build [`Value`]s.

mod conform;
mod error;
mod in_step;
pub mod json;
pub mod msgpack;
mod path;
#[cfg(test)]
mod properties;
mod schema;
mod types;
mod value;

pub use error::CodecError;
pub(crate) use path::Trail;
pub use path::{AttributePath, PathStep};
pub use schema::{Attribute, Block, NestedBlock, Nesting, Schema};
pub use types::Type;
pub use value::{Entries, Key, Number, Value};
