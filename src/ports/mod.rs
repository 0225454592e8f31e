//! The traits the core needs from the outside world. Adapters implement them; use cases
//! hold them as `Arc<dyn …>` so the adapter is chosen at run time.

mod assembly;
mod error;
mod live;
mod security;
mod storage;
mod throttle;

pub use assembly::*;
pub use error::*;
pub use live::*;
pub use security::*;
pub use storage::*;
pub use throttle::*;
