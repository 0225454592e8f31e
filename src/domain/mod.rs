//! Entities of the six tables and the validated values that go into them.

mod entities;
mod values;

pub use entities::*;
pub use values::*;
