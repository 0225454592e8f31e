//! Proving a phone number: the app shows a one-time code, the user texts it from that phone
//! to the service's number. Only a proven number routes texts to an account; a number typed
//! into a profile is a claim until then, so a squatter's claim neither blocks the number's
//! owner nor receives their texts.

use std::fmt;

use sha2::{Digest, Sha256};

use super::{PhoneCodeHash, PhoneNumber};

/// How long a code can be texted back.
pub const PHONE_CODE_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// Wrong codes texted from a claimed number that void the claim's code (a new one must be
/// asked for). With 10^8 codes, guessing one before that succeeds once in 20 million claims.
pub const PHONE_CODE_MAX_FAILURES: u32 = 5;

/// A one-time code: eight digits, easy to type on any phone and unlikely to be a text
/// someone writes for another reason.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneCode(String);

impl PhoneCode {
    pub const DIGITS: usize = 8;

    /// A code drawn from `secret` (a fresh secret of the `SecretSource`, at least 256 random
    /// bits): its SHA-256 read as a number modulo 10^8, whose bias is below 10^-10.
    pub fn from_secret(secret: &str) -> Self {
        let digest = Sha256::digest(secret.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        let value = u64::from_be_bytes(first) % 100_000_000;
        Self(format!("{value:08}"))
    }

    /// The code a text consists of: exactly eight digits once spaces and hyphens are
    /// dropped (`1234 5678` and `1234-5678` are how people copy it). Any other text is an
    /// ordinary message.
    pub fn from_text(text: &str) -> Option<Self> {
        let compact: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        (compact.len() == Self::DIGITS && compact.bytes().all(|b| b.is_ascii_digit()))
            .then_some(Self(compact))
    }

    /// Shown once, to the user who asked for it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What storage keeps: the code bound to the number it proves, so a code is worth
    /// nothing texted from another phone, and a copy of the database holds no code.
    pub fn hash_for(&self, number: &PhoneNumber) -> PhoneCodeHash {
        let digest = Sha256::digest(format!("{}:{}", number.as_str(), self.0).as_bytes());
        PhoneCodeHash::new(
            digest
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect::<String>(),
        )
    }
}

impl fmt::Debug for PhoneCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PhoneCode(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_eight_digits_and_differs_with_the_secret() {
        let one = PhoneCode::from_secret("secret-1");
        let two = PhoneCode::from_secret("secret-2");
        assert_eq!(one.as_str().len(), 8);
        assert!(one.as_str().bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(one, two);
    }

    #[test]
    fn a_text_is_a_code_only_when_it_is_eight_digits() {
        assert_eq!(
            PhoneCode::from_text(" 1234-5678 ").map(|c| c.0),
            Some("12345678".into())
        );
        assert_eq!(
            PhoneCode::from_text("1234 5678").map(|c| c.0),
            Some("12345678".into())
        );
        for other in [
            "1234567",
            "123456789",
            "code 12345678",
            "１２３４５６７８",
            "",
        ] {
            assert_eq!(PhoneCode::from_text(other), None, "{other:?}");
        }
    }

    #[test]
    fn a_code_hash_is_bound_to_its_number() {
        let code = PhoneCode::from_text("12345678").unwrap();
        let alice = PhoneNumber::parse("+60123456789").unwrap();
        let bob = PhoneNumber::parse("+60198765432").unwrap();
        assert_ne!(code.hash_for(&alice), code.hash_for(&bob));
        assert_eq!(code.hash_for(&alice), code.hash_for(&alice));
        assert_eq!(code.hash_for(&alice).expose().len(), 64);
    }
}
