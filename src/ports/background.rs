//! Work that outlives the request that started it.

use std::future::Future;
use std::pin::Pin;

/// A piece of work to run to its end on its own.
pub type Work = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs work after the request that started it has been answered: the assistant's reply to
/// a message sent to it. The work handles its own failures.
pub trait Background: Send + Sync {
    fn spawn(&self, work: Work);
}
