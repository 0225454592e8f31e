//! Secrets from the operating system's random generator.

use ai_message_core::ports::{PortError, SecretSource};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Secrets of 256 bits from the operating system's CSPRNG, as 43 URL-safe base64 characters.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsSecretSource;

impl OsSecretSource {
    pub const SECRET_BYTES: usize = 32;
}

impl SecretSource for OsSecretSource {
    fn secret(&self) -> Result<String, PortError> {
        let mut bytes = [0u8; Self::SECRET_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| PortError::unexpected(e.to_string()))?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn secrets_carry_256_bits_and_do_not_repeat() {
        let source = OsSecretSource;
        let secrets: HashSet<String> = (0..1000).map(|_| source.secret().unwrap()).collect();
        assert_eq!(secrets.len(), 1000);
        for secret in &secrets {
            let decoded = URL_SAFE_NO_PAD.decode(secret).unwrap();
            assert_eq!(decoded.len(), 32);
        }
    }
}
