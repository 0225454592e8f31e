//! The traits the core needs from the outside world. Adapters implement them; use cases
//! hold them as `Arc<dyn …>` so the adapter is chosen at run time.

mod assembly;
mod assistant;
mod background;
mod channels;
mod error;
mod live;
mod messages;
mod reports;
mod security;
mod session_reads;
mod storage;
mod throttle;

pub use assembly::*;
pub use assistant::*;
pub use background::*;
pub use channels::*;
pub use error::*;
pub use live::*;
pub use messages::*;
pub use reports::*;
pub use security::*;
pub use session_reads::*;
pub use storage::*;
pub use throttle::*;
