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

/// Proof that a [`SessionGate`] admitted its session; made only by [`SessionGate::check`].
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
}
