use async_trait::async_trait;

use super::PortError;
use crate::domain::{Password, PasswordHash, Timestamp};

/// Turns passwords into slow salted hashes and checks candidates against them.
///
/// Implementations run the work off the async runtime and bound how much runs at once.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A new salted hash of `password` (at most 72 bytes by construction; never truncated).
    async fn hash(&self, password: &Password) -> Result<PasswordHash, PortError>;

    /// Whether `candidate` matches `hash`. A candidate that could never have been hashed (over
    /// 72 bytes) or a hash in a format the hasher does not know is `Ok(false)`, not an error.
    async fn verify(&self, candidate: &str, hash: &PasswordHash) -> Result<bool, PortError>;

    /// Whether `hash` was made with other settings than this hasher's (a cost raised since):
    /// the login use case then stores a fresh hash of the password it has just verified.
    fn needs_rehash(&self, hash: &PasswordHash) -> bool;

    /// Spends the time of one `verify` against a real hash of the configured cost, and
    /// discards the result: used for unknown usernames so that timing reveals nothing.
    async fn verify_dummy(&self, candidate: &str) -> Result<(), PortError>;
}

/// The current time, injected so that expiry and grace windows are testable.
#[cfg_attr(test, mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC, truncated to microseconds (what SQL timestamps keep).
    fn now(&self) -> Timestamp;
}

/// Unpredictable secrets from a cryptographically secure generator.
#[cfg_attr(test, mockall::automock)]
pub trait SecretSource: Send + Sync {
    /// A fresh secret of at least 256 random bits, as URL-safe text of at most 255 characters.
    fn secret(&self) -> Result<String, PortError>;
}
