//! The shapes on the wire: request bodies and response bodies.

mod reports;
mod requests;
mod responses;

pub use reports::*;
pub use requests::*;
pub use responses::*;
