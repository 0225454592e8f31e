//! The shapes on the wire: request bodies and response bodies.

mod requests;
mod responses;

pub use requests::*;
pub use responses::*;
