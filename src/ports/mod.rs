//! The traits the core needs from the outside world. Adapters implement them; use cases
//! hold them as `Arc<dyn …>` so the adapter is chosen at run time.

mod error;
mod security;
mod storage;
mod throttle;

pub use error::*;
pub use security::*;
pub use storage::*;
pub use throttle::*;
