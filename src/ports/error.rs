use std::error::Error as StdError;

pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A failure of an outbound port that the caller cannot fix by changing its request.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The backing service (the database) cannot be reached right now; retrying later may work.
    #[error("{what} is unavailable")]
    Unavailable {
        what: &'static str,
        #[source]
        source: BoxError,
    },
    /// Too much work is already queued (password hashing); retrying after a pause may work.
    #[error("{what} is overloaded")]
    Overloaded { what: &'static str },
    /// Anything else: a bug, a broken invariant, a corrupt row.
    #[error("unexpected failure: {0}")]
    Unexpected(#[source] BoxError),
}

impl PortError {
    pub fn unexpected(error: impl Into<BoxError>) -> Self {
        Self::Unexpected(error.into())
    }
}

/// Outcome of inserting a row guarded by unique constraints.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    /// A unique constraint (username, email, role name…) already holds this value.
    #[error("a unique value is already taken")]
    Duplicate,
    /// Another account holds this phone number (users' unique `phone_number`).
    #[error("the phone number is taken")]
    PhoneTaken,
    #[error(transparent)]
    Port(#[from] PortError),
}
