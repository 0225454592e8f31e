//! Entities of the tables, their ids, and the validated values that go into them.

/// `value == "text"` for a newtype over `String` (tests and lookups read naturally).
macro_rules! compares_with_str {
    ($name:ident) => {
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

mod access;
mod chat;
mod credentials;
mod delivery;
mod entities;
mod events;
mod identity;
mod ids;
mod phone_proof;
mod reports;
mod values;

pub use access::*;
pub use chat::*;
pub use credentials::*;
pub use delivery::*;
pub use entities::*;
pub use events::*;
pub use identity::{KeyCollision, assign_identity_keys, email_key, username_key};
pub use ids::*;
pub use phone_proof::*;
pub use reports::*;
pub use values::*;
