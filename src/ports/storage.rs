//! Storage, one repository trait per aggregate. Every change that touches several rows is one
//! method, which each adapter runs as one transaction: no transaction handle crosses into
//! the core.
//!
//! Contracts shared by every method: timestamps are stored and returned at microsecond
//! precision; ids are assigned by storage, increasing; an infrastructure failure is a
//! [`PortError`], never a panic.

use async_trait::async_trait;

use super::{InsertError, PortError};
use crate::domain::{
    Bio, ChannelMessageId, DeviceInfo, Email, FullName, IpAddress, Page, PasswordHash,
    PhoneCodeHash, PhoneNumber, RefreshToken, RefreshTokenHash, RefreshTokenId, Role,
    RoleDescription, RoleId, RoleName, Session, SessionId, SessionToken, StreamTicketHash,
    Timestamp, User, UserId, Username,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub hashed_password: PasswordHash,
    pub is_superuser: bool,
    pub full_name: Option<FullName>,
    /// A proven number (a superuser's roster): unique among proven numbers.
    pub phone_number: Option<PhoneNumber>,
    /// A claimed number, without a code yet (self-registration).
    pub unverified_phone_number: Option<PhoneNumber>,
    /// Also the initial `updated_at`.
    pub created_at: Timestamp,
}

/// Profile fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    pub full_name: Option<FullName>,
    pub bio: Option<Bio>,
    /// Claimed, without a code, unless it is already the user's proven number or their
    /// claim (both stay as they are, a claim with its code).
    pub phone_number: Option<PhoneNumber>,
}

/// A one-time code issued for a claimed number: only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedPhoneCode {
    pub code_hash: PhoneCodeHash,
    pub expires_at: Timestamp,
}

/// A number an account claims, with the code that will prove it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPhoneClaim {
    pub phone_number: PhoneNumber,
    pub code: IssuedPhoneCode,
}

/// A text that may prove a number: it came from `phone_number` and held a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneProof {
    pub phone_number: PhoneNumber,
    /// The texted code, hashed for this number.
    pub code_hash: PhoneCodeHash,
    /// The channel's id of the text, taken once.
    pub receipt: ChannelMessageId,
}

/// Outcome of [`UserRepository::prove_phone_number`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofOutcome {
    /// The text's id was taken before: nothing changed.
    AlreadyReceived,
    /// The number is now this (active) user's proven number.
    Proven(Box<User>),
    /// No live code of the number matches. `counted`: the number had live codes, and each
    /// counted one failure.
    NotProven { counted: bool },
}

/// Outcome of a change that could take away the last active superuser.
///
/// The "at least one active superuser remains" check runs in the change's own transaction,
/// serialised against every other such change, so two superusers demoting (disabling,
/// deleting) each other at once cannot both succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    Changed,
    UserNotFound,
    /// Nothing changed: afterwards no active superuser would remain.
    LastSuperuser,
}

impl AccountChange {
    /// From the rows an `UPDATE`/`DELETE` of the user touched (none: no such user).
    pub fn from_affected_rows(rows: u64) -> Self {
        if rows > 0 {
            Self::Changed
        } else {
            Self::UserNotFound
        }
    }
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Inserts an active user with the keys of its username and email. `Err(Duplicate)` when
    /// the username, the email or one of their keys is already taken (also when another
    /// insert won a race for it). A proven `phone_number` is `Err(PhoneTaken)` when another
    /// account has proven it, and otherwise deletes other accounts' claims of it; an
    /// `unverified_phone_number` is stored as the user's claim, without a code.
    async fn create_user(&self, new: NewUser) -> Result<User, InsertError>;

    /// The user with this id, if any.
    async fn get_user(&self, id: UserId) -> Result<Option<User>, PortError>;

    /// Exact (case-sensitive) match on `username`.
    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, PortError>;

    /// Exact (case-sensitive) match on `email`.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, PortError>;

    /// The user whose username is unique under this [`username_key`] (lookalikes of one
    /// name share a key). Users adopted with a colliding name hold no key.
    ///
    /// [`username_key`]: crate::domain::username_key
    async fn find_user_by_username_key(&self, key: &str) -> Result<Option<User>, PortError>;

    /// The user whose email is unique under this [`email_key`] (case ignored).
    ///
    /// [`email_key`]: crate::domain::email_key
    async fn find_user_by_email_key(&self, key: &str) -> Result<Option<User>, PortError>;

    /// The user whose proven phone number is exactly `phone` (proven numbers are unique;
    /// claims are never found).
    async fn find_user_by_phone(&self, phone: &PhoneNumber) -> Result<Option<User>, PortError>;

    /// Users ordered by id, `page.skip()` skipped, at most `page.limit()` returned.
    async fn list_users(&self, page: Page) -> Result<Vec<User>, PortError>;

    /// Applies the fields present in `update` and sets `updated_at = now`. `None` when the
    /// user does not exist. A phone number is claimed (see [`ProfileUpdate::phone_number`]);
    /// claiming another number than the proven one gives the proven one up.
    async fn update_profile(
        &self,
        id: UserId,
        update: ProfileUpdate,
        now: Timestamp,
    ) -> Result<Option<User>, PortError>;

    /// Sets the user's phone number and `updated_at = now`, in one transaction. `None`
    /// removes both the proven number and any claim. A claim of the user's proven number
    /// changes nothing; a claim of any other number gives the proven one up and replaces
    /// the user's claim (its code and failure count too), whoever else claims or has
    /// proven that number. `None` when the user does not exist.
    async fn claim_phone_number(
        &self,
        id: UserId,
        claim: Option<NewPhoneClaim>,
        now: Timestamp,
    ) -> Result<Option<User>, PortError>;

    /// In one transaction, serialised against other proofs of the number: when the
    /// receipt was taken before, `AlreadyReceived`. Otherwise, when an active user's claim
    /// of `proof.phone_number` has this code hash, unexpired at `now` and with fewer than
    /// `max_failures` failures, the number becomes that user's proven number (taken from
    /// whoever had proven it, `updated_at = now` on both), every claim of the number and
    /// that user's claim are deleted, and the receipt is taken: `Proven`. Otherwise each
    /// such live claim of the number counts one failure, nothing else changes: `NotProven`.
    async fn prove_phone_number(
        &self,
        proof: PhoneProof,
        now: Timestamp,
        max_failures: u32,
    ) -> Result<ProofOutcome, PortError>;

    /// In one transaction: stores the new password hash and ends every session of the user
    /// except `keep_session` (see [`SessionRepository::end_session`]). `false` when the user
    /// does not exist (nothing changes).
    async fn change_password(
        &self,
        id: UserId,
        hashed_password: PasswordHash,
        keep_session: SessionId,
        now: Timestamp,
    ) -> Result<bool, PortError>;

    /// Replaces the password hash with an equivalent one (same password, current hashing
    /// settings) if it is still `old_hash`; sessions stay. `false` when the hash changed
    /// meanwhile or the user is gone (nothing changes).
    async fn upgrade_password_hash(
        &self,
        id: UserId,
        old_hash: PasswordHash,
        new_hash: PasswordHash,
    ) -> Result<bool, PortError>;

    /// Sets `is_active`. Deactivating also ends all the user's sessions and uses up their
    /// refresh tokens, in the same transaction. Deactivating the last active superuser is
    /// refused (see [`AccountChange::LastSuperuser`]).
    async fn set_user_active(
        &self,
        id: UserId,
        active: bool,
        now: Timestamp,
    ) -> Result<AccountChange, PortError>;

    /// Sets `is_superuser`. Demoting the last active superuser is refused.
    async fn set_user_superuser(
        &self,
        id: UserId,
        superuser: bool,
        now: Timestamp,
    ) -> Result<AccountChange, PortError>;

    /// Deletes the user with its sessions, refresh tokens and role links, in one transaction.
    /// Messages sent or received by the user stay. Deleting the last active superuser is
    /// refused.
    async fn delete_user(&self, id: UserId) -> Result<AccountChange, PortError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRole {
    pub name: RoleName,
    pub description: Option<RoleDescription>,
    pub created_at: Timestamp,
}

/// Outcome of [`RoleRepository::replace_user_roles`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleReplacement {
    Replaced,
    UserNotFound,
    /// These ids (ascending, without repeats) name no role; nothing was changed.
    UnknownRoles(Vec<RoleId>),
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait RoleRepository: Send + Sync {
    /// Inserts a role. `Err(InsertError::Duplicate)` when the name is taken.
    async fn create_role(&self, new: NewRole) -> Result<Role, InsertError>;

    /// Every role, ordered by id.
    async fn list_roles(&self) -> Result<Vec<Role>, PortError>;

    /// The role with this id, if any.
    async fn get_role(&self, id: RoleId) -> Result<Option<Role>, PortError>;

    /// Deletes the role and its links to users in one transaction. `false` when it does not
    /// exist.
    async fn delete_role(&self, id: RoleId) -> Result<bool, PortError>;

    /// In one transaction: the user's roles become exactly `role_ids` (repeats ignored).
    /// When the user or any role is unknown nothing changes and the outcome says why.
    async fn replace_user_roles(
        &self,
        user_id: UserId,
        role_ids: Vec<RoleId>,
        now: Timestamp,
    ) -> Result<RoleReplacement, PortError>;

    /// The user's roles, ordered by role id (empty for an unknown user).
    async fn roles_of_user(&self, user_id: UserId) -> Result<Vec<Role>, PortError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub user_id: UserId,
    /// The password hash the login verified. The session is opened only while the user
    /// still has exactly this hash and is active, so a password change, a disable or a delete
    /// that commits while the login was hashing wins over it.
    pub verified_password_hash: PasswordHash,
    pub session_token: SessionToken,
    pub device_info: Option<DeviceInfo>,
    pub ip_address: Option<IpAddress>,
    pub expires_at: Timestamp,
    /// Also the initial `updated_at`.
    pub created_at: Timestamp,
}

/// A refresh token to store; its user and session come from the operation that stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    pub token_hash: RefreshTokenHash,
    pub expires_at: Timestamp,
    /// Also the initial `updated_at`.
    pub created_at: Timestamp,
}

/// Outcome of [`SessionRepository::rotate_refresh_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The old token is now used; this is its successor.
    Rotated(RefreshToken),
    /// The old token was already used (or is gone): another rotation won, nothing changed.
    AlreadyUsed,
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// In one transaction: inserts an active session and its first refresh token, if the user
    /// exists, is active and still has `new.verified_password_hash`; otherwise `None` and
    /// nothing is stored. Serialised against password changes, disabling and deleting the
    /// user: whichever commits first decides.
    async fn create_session(
        &self,
        new: NewSession,
        first_token: NewRefreshToken,
    ) -> Result<Option<(Session, RefreshToken)>, PortError>;

    /// The session with this id together with its user (one round trip: this runs on every
    /// authenticated request). `None` when the session does not exist.
    async fn get_session_with_user(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, User)>, PortError>;

    /// The user's active sessions whose `expires_at` is after `now`, newest first (ties by
    /// descending id).
    async fn list_live_sessions(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> Result<Vec<Session>, PortError>;

    /// In one transaction: marks the session inactive and every refresh token of it used
    /// (`updated_at = now`). `false`, with nothing changed, when no *active* session with
    /// this id belongs to `user_id`.
    async fn end_session(
        &self,
        user_id: UserId,
        session_id: SessionId,
        now: Timestamp,
    ) -> Result<bool, PortError>;

    /// In one transaction: ends every active session of the user (as `end_session`) and uses
    /// up all the user's refresh tokens. Returns how many sessions were ended.
    async fn end_all_sessions(&self, user_id: UserId, now: Timestamp) -> Result<u64, PortError>;

    /// The refresh token stored under this hash, used or not.
    async fn find_refresh_token(
        &self,
        token_hash: &RefreshTokenHash,
    ) -> Result<Option<RefreshToken>, PortError>;

    /// In one transaction, atomically against concurrent callers: if token `used` is still
    /// unused, marks it used (`updated_at = now`), stores `next` for the same user and session,
    /// and moves the session's `expires_at` to `next.expires_at`. Of two concurrent rotations
    /// of one token exactly one gets `Rotated`.
    async fn rotate_refresh_token(
        &self,
        used: RefreshTokenId,
        next: NewRefreshToken,
        now: Timestamp,
    ) -> Result<Rotation, PortError>;

    /// Marks one refresh token used (`updated_at = now`) if it is not already.
    async fn revoke_refresh_token(
        &self,
        id: RefreshTokenId,
        now: Timestamp,
    ) -> Result<(), PortError>;

    /// Stores a single-use stream ticket, and forgets tickets that expired before `now`.
    async fn create_stream_ticket(
        &self,
        ticket: NewStreamTicket,
        now: Timestamp,
    ) -> Result<(), PortError>;

    /// Takes the ticket stored under this hash if it has not expired at `now`: atomically
    /// against every other caller, on every instance, so a ticket opens one stream at most.
    /// `None` when it is unknown, taken or expired.
    async fn redeem_stream_ticket(
        &self,
        ticket_hash: &StreamTicketHash,
        now: Timestamp,
    ) -> Result<Option<(UserId, SessionId)>, PortError>;
}

/// A live-stream ticket to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStreamTicket {
    pub ticket_hash: StreamTicketHash,
    pub user_id: UserId,
    pub session_id: SessionId,
    pub expires_at: Timestamp,
}

/// A cheap round trip to storage, for health checks.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait StorageHealth: Send + Sync {
    async fn ping(&self) -> Result<(), PortError>;

    /// The versions of the migrations this binary carries that the database has not
    /// applied, oldest first; empty when its schema is current (for readiness).
    async fn pending_migrations(&self) -> Result<Vec<i64>, PortError>;
}

/// Why no snapshot was taken.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// This store is not copied by the server; the text says how it is backed up.
    #[error("{0}")]
    Unsupported(&'static str),
    #[error(transparent)]
    Port(#[from] PortError),
}

/// A consistent copy of the whole database, taken while it serves.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait StorageSnapshots: Send + Sync {
    /// Writes the database as of one moment, every write acknowledged before the call
    /// included, into the new file `to` (which must not exist), without stopping writes
    /// for longer than a read takes.
    async fn snapshot(&self, to: &std::path::Path) -> Result<(), SnapshotError>;
}
