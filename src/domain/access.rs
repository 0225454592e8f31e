//! Who may act: what an access token claims, the session check every authenticated request
//! makes, and the proof that it was made.
//!
//! Storage jobs that check a session together with their own work (one trip, one
//! transaction) receive a [`SessionGate`] and must hand back an [`Admitted`] with their
//! result. Only [`SessionGate::check`] makes an `Admitted`, so an adapter cannot return what
//! it read or wrote for a request without having run the session rule on the row it read.

use super::{Session, SessionId, Timestamp, User, UserId};

/// What a verified access token claims: a user, and the session the token was issued in.
/// Not yet a caller: the session must still be checked in storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessClaim {
    pub(crate) user_id: UserId,
    pub(crate) session_id: SessionId,
}

impl AccessClaim {
    pub fn new(user_id: UserId, session_id: SessionId) -> Self {
        Self {
            user_id,
            session_id,
        }
    }

    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    pub fn session_id(&self) -> SessionId {
        self.session_id
    }
}

/// An authenticated caller: the user as of this request and the session its token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: User,
    pub session_id: SessionId,
}

impl Caller {
    /// What this caller's access token claims.
    pub fn claim(&self) -> AccessClaim {
        AccessClaim::new(self.user.id, self.session_id)
    }
}

/// Why a session does not admit a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionRefusal {
    /// Unknown session or user, a session of someone else, or one that ended or expired.
    #[error("the session is unknown, ended, expired or someone else's")]
    InvalidCredentials,
    #[error("the user is disabled")]
    UserDisabled,
}

/// Admits a claim when its session exists, belongs to the claimed user, is active and
/// unexpired at `now`, and its user is active: the check of every authenticated request.
pub fn admit(
    found: Option<(Session, User)>,
    claim: AccessClaim,
    now: Timestamp,
) -> Result<Caller, SessionRefusal> {
    let (session, user) = found.ok_or(SessionRefusal::InvalidCredentials)?;
    if session.id != claim.session_id || session.user_id != claim.user_id {
        return Err(SessionRefusal::InvalidCredentials);
    }
    if !user.is_active {
        return Err(SessionRefusal::UserDisabled);
    }
    if !session.is_live(now) {
        return Err(SessionRefusal::InvalidCredentials);
    }
    Ok(Caller {
        user,
        session_id: claim.session_id,
    })
}

/// The session check a storage job runs on the session row it reads (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionGate {
    claim: AccessClaim,
    now: Timestamp,
}

impl SessionGate {
    pub fn new(claim: AccessClaim, now: Timestamp) -> Self {
        Self { claim, now }
    }

    /// The session to read.
    pub fn session_id(&self) -> SessionId {
        self.claim.session_id
    }

    /// The user the claim names: whose data the job may prepare, to be shown only once the
    /// session admits them.
    pub fn user_id(&self) -> UserId {
        self.claim.user_id
    }

    /// Runs the session rule on what the job read for [`Self::session_id`].
    pub fn check(&self, found: Option<(Session, User)>) -> Result<Admitted, SessionRefusal> {
        admit(found, self.claim, self.now).map(|caller| Admitted { caller })
    }
}

/// Who a write acts for, checked by the write's own transaction on the rows it reads (see
/// the module doc), so that an actor disabled or deleted meanwhile writes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorGate {
    /// A request: its session must still admit its claim ([`SessionGate`]).
    Session(SessionGate),
    /// The assistant's tools acting for a user who has no session in it (a reply written in
    /// the background, a phone chat): the account must still exist and be active.
    Account(UserId),
}

impl ActorGate {
    /// The acting user, whose row the write reads (and, where storage locks, locks).
    pub fn user_id(&self) -> UserId {
        match self {
            Self::Session(gate) => gate.user_id(),
            Self::Account(user_id) => *user_id,
        }
    }

    /// The session to read beside the user, for a request.
    pub fn session_id(&self) -> Option<SessionId> {
        match self {
            Self::Session(gate) => Some(gate.session_id()),
            Self::Account(_) => None,
        }
    }

    /// Runs the rule on what the write read: the row of [`Self::user_id`], if any, with the
    /// session of [`Self::session_id`] if it exists and belongs to that user. A refusal is
    /// what the session check of a request would answer.
    pub fn check(
        &self,
        found: Option<(User, Option<Session>)>,
    ) -> Result<Admitted, SessionRefusal> {
        match self {
            Self::Session(gate) => {
                gate.check(found.and_then(|(user, session)| Some((session?, user))))
            }
            Self::Account(user_id) => {
                let (user, _) = found
                    .filter(|(user, _)| user.id == *user_id)
                    .ok_or(SessionRefusal::InvalidCredentials)?;
                if !user.is_active {
                    return Err(SessionRefusal::UserDisabled);
                }
                let caller = Caller {
                    user,
                    session_id: SessionId::new(0),
                };
                Ok(Admitted { caller })
            }
        }
    }
}

/// Proof that a [`SessionGate`] (or an [`ActorGate`]) admitted its claim; made only by their
/// `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    caller: Caller,
}

impl Admitted {
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    pub fn into_caller(self) -> Caller {
        self.caller
    }
}

/// The answer of a storage job behind a [`SessionGate`]: its result only with the proof
/// that the session admitted the claim.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a return value moved once per request, never stored in bulk: boxing the \
              caller would allocate on every gated request to save stack bytes"
)]
pub enum Gated<T> {
    Admitted(Admitted, T),
    Refused(SessionRefusal),
}

impl<T> Gated<T> {
    /// `Refused` when `checked` is a refusal, else `Admitted` with what `work` made.
    pub fn after<E>(
        checked: Result<Admitted, SessionRefusal>,
        work: impl FnOnce(&Admitted) -> Result<T, E>,
    ) -> Result<Self, E> {
        match checked {
            Ok(admitted) => {
                let value = work(&admitted)?;
                Ok(Self::Admitted(admitted, value))
            }
            Err(refusal) => Ok(Self::Refused(refusal)),
        }
    }

    /// The caller and the result, or the refusal.
    pub fn into_result(self) -> Result<(Caller, T), SessionRefusal> {
        match self {
            Self::Admitted(admitted, value) => Ok((admitted.caller, value)),
            Self::Refused(refusal) => Err(refusal),
        }
    }
}

/// The address a client is counted under by the abuse limits: an IPv4 address as it is, an
/// IPv6 address by its first `ipv6_prefix` bits (64 by default: one subscriber usually holds a
/// whole /64 and could otherwise take a fresh address per request). Anything else (no
/// address known) as it is.
pub fn address_limit_key(address: &str, ipv6_prefix: u8) -> String {
    match address
        .parse::<std::net::IpAddr>()
        .map(|ip| ip.to_canonical())
    {
        Ok(std::net::IpAddr::V6(ip)) if ipv6_prefix < 128 => {
            let bits = u128::from(ip);
            let mask = u128::MAX
                .checked_shl(u32::from(128 - ipv6_prefix))
                .unwrap_or(0);
            format!("{}/{ipv6_prefix}", std::net::Ipv6Addr::from(bits & mask))
        }
        Ok(ip) => ip.to_string(),
        Err(_) => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_per_prefix() {
        assert_eq!(
            address_limit_key("2001:db8:1:2:aaaa::1", 64),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            address_limit_key("2001:db8:1:2:ffff:ffff:ffff:ffff", 64),
            address_limit_key("2001:db8:1:2::9", 64),
            "one /64, one counter"
        );
        assert_ne!(
            address_limit_key("2001:db8:1:3::1", 64),
            address_limit_key("2001:db8:1:2::1", 64)
        );
        assert_eq!(address_limit_key("2001:db8::1", 128), "2001:db8::1");
        assert_eq!(address_limit_key("203.0.113.7", 64), "203.0.113.7");
        assert_eq!(address_limit_key("::ffff:203.0.113.7", 64), "203.0.113.7");
        assert_eq!(address_limit_key("unknown", 64), "unknown");
    }

    fn user(id: i64, is_active: bool) -> User {
        let at = chrono::DateTime::UNIX_EPOCH;
        User {
            id: UserId::new(id),
            username: super::super::Username::parse(format!("user{id}")).unwrap(),
            email: super::super::Email::parse(format!("user{id}@example.com")).unwrap(),
            hashed_password: super::super::PasswordHash::new("$2b$04$hash"),
            is_active,
            is_superuser: false,
            full_name: None,
            bio: None,
            phone_number: None,
            unverified_phone_number: None,
            created_at: at,
            updated_at: at,
        }
    }

    fn session(id: i64, user_id: i64) -> Session {
        let at = chrono::DateTime::UNIX_EPOCH;
        Session {
            id: SessionId::new(id),
            user_id: UserId::new(user_id),
            session_token: super::super::SessionToken::new(format!("token-{id}")),
            device_info: None,
            ip_address: None,
            is_active: true,
            expires_at: at + chrono::TimeDelta::days(1),
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn an_actor_gate_refuses_as_the_session_check_would() {
        let now = chrono::DateTime::UNIX_EPOCH + chrono::TimeDelta::hours(1);
        let request = ActorGate::Session(SessionGate::new(
            AccessClaim::new(UserId::new(1), SessionId::new(10)),
            now,
        ));
        let account = ActorGate::Account(UserId::new(1));
        let gone = SessionRefusal::InvalidCredentials;
        assert_eq!(request.check(None), Err(gone), "no user");
        assert_eq!(
            request.check(Some((user(1, true), None))),
            Err(gone),
            "no session"
        );
        assert_eq!(
            request.check(Some((user(1, false), Some(session(10, 1))))),
            Err(SessionRefusal::UserDisabled)
        );
        let admitted = request
            .check(Some((user(1, true), Some(session(10, 1)))))
            .unwrap();
        assert_eq!(admitted.caller().session_id, SessionId::new(10));
        assert_eq!(account.check(None), Err(gone), "no user");
        assert_eq!(
            account.check(Some((user(2, true), None))),
            Err(gone),
            "another user"
        );
        assert_eq!(
            account.check(Some((user(1, false), None))),
            Err(SessionRefusal::UserDisabled)
        );
        let admitted = account.check(Some((user(1, true), None))).unwrap();
        assert_eq!(admitted.caller().user.id, UserId::new(1));
        assert_eq!(account.session_id(), None);
        assert_eq!(request.session_id(), Some(SessionId::new(10)));
    }
}
