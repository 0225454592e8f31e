//! Entities of the six tables and the validated values that go into them.

mod entities;
mod identity;
mod values;

pub use entities::*;
pub use identity::{KeyCollision, assign_identity_keys, email_key, username_key};
pub use values::*;
