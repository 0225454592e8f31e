//! The core of the AI Message backend: the domain, the ports it needs from the outside world,
//! and the use cases built on them.
//!
//! Nothing here knows HTTP, JSON, JWT, SQL or bcrypt; adapters plug into the traits of
//! [`ports`], and the composition root wires them into [`usecases::Services`].

pub mod domain;
pub mod ports;
pub mod usecases;

pub use domain::*;
pub use ports::PortError;
