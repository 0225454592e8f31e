use std::time::Duration;

use ai_message_bcrypt::{BcryptHasher, ConfigError};
use ai_message_core::ports::PasswordHasher;
use ai_message_core::{Password, PasswordHash};

fn hash_of(text: &str) -> PasswordHash {
    PasswordHash::new(text)
}

/// Made with Python's `bcrypt` 5.0.0:
/// `bcrypt.hashpw(b"correct horse battery", bcrypt.gensalt(rounds=N))`.
const PYTHON_COST_4: &str = "$2b$04$xJk7aUKjADnp5iV.7uhQc.Y4sdQ7XuClz.GQW9JZ3SLCnBLVNTbAO";
const PYTHON_COST_12: &str = "$2b$12$ebb5B.UQd22ooSHhr70.Tu15G5McItEzMLlEOwy.aPYhG3LlHThnq";
const PYTHON_PASSWORD: &str = "correct horse battery";

fn hasher() -> BcryptHasher {
    BcryptHasher::new(4, 2).unwrap()
}

#[tokio::test]
async fn verifies_hashes_written_by_pythons_bcrypt() {
    let hasher = hasher();
    assert!(
        hasher
            .verify(PYTHON_PASSWORD, &hash_of(PYTHON_COST_4))
            .await
            .unwrap()
    );
    assert!(
        hasher
            .verify(PYTHON_PASSWORD, &hash_of(PYTHON_COST_12))
            .await
            .unwrap()
    );
    assert!(
        !hasher
            .verify("correct horse batterY", &hash_of(PYTHON_COST_4))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn hashes_in_2b_format_at_the_configured_cost_and_verifies_them() {
    let hasher = hasher();
    let password = Password::parse("s3cret-passphrase").unwrap();
    let hash = hasher.hash(&password).await.unwrap();
    assert!(hash.expose().starts_with("$2b$04$"), "{hash:?}");
    assert!(hasher.verify("s3cret-passphrase", &hash).await.unwrap());
    assert!(!hasher.verify("s3cret-passphrasE", &hash).await.unwrap());
    let again = hasher.hash(&password).await.unwrap();
    assert_ne!(hash, again, "every hash has its own salt");
}

#[tokio::test]
async fn a_candidate_longer_than_72_bytes_never_matches_even_by_its_prefix() {
    let hasher = hasher();
    let exactly_72 = "a".repeat(72);
    let hash = hasher
        .hash(&Password::parse(exactly_72.clone()).unwrap())
        .await
        .unwrap();
    assert!(hasher.verify(&exactly_72, &hash).await.unwrap());
    let longer = format!("{exactly_72}b");
    assert!(!hasher.verify(&longer, &hash).await.unwrap());
}

#[tokio::test]
async fn a_malformed_hash_is_a_mismatch_not_an_error() {
    let hasher = hasher();
    assert!(
        !hasher
            .verify("whatever", &hash_of("not-a-bcrypt-hash"))
            .await
            .unwrap()
    );
    assert!(!hasher.verify("whatever", &hash_of("")).await.unwrap());
}

#[tokio::test]
async fn dummy_verification_completes_for_any_candidate() {
    let hasher = hasher();
    hasher.verify_dummy("anything").await.unwrap();
    hasher.verify_dummy(&"x".repeat(500)).await.unwrap();
    hasher.verify_dummy("").await.unwrap();
}

#[test]
fn cost_must_be_between_4_and_31() {
    assert!(matches!(
        BcryptHasher::new(3, 1),
        Err(ConfigError::CostOutOfRange(3))
    ));
    assert!(matches!(
        BcryptHasher::new(32, 1),
        Err(ConfigError::CostOutOfRange(32))
    ));
    assert_eq!(BcryptHasher::new(5, 1).unwrap().cost(), 5);
}

/// On a single-threaded runtime, a ticker keeps ticking while a slow hash runs: the hash is
/// not on the runtime's thread.
#[tokio::test(flavor = "current_thread")]
async fn hashing_does_not_block_the_async_runtime() {
    let hasher = BcryptHasher::new(10, 1).unwrap();
    let ticker = tokio::spawn(async {
        let mut ticks = 0u32;
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
            ticks += 1;
            if ticks == 5 {
                return ticks;
            }
        }
    });
    let password = Password::parse("long enough").unwrap();
    hasher.hash(&password).await.unwrap();
    // The ticker finished its five ticks while the hash (tens of milliseconds) ran.
    assert!(
        ticker.is_finished(),
        "the runtime was blocked during hashing"
    );
    assert_eq!(ticker.await.unwrap(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_at_once_instead_of_waiting() {
    use ai_message_core::PortError;
    // One hash may run and one may wait; a third concurrent one is refused.
    let hasher = BcryptHasher::with_queue(10, 1, 1).unwrap();
    let password = Password::parse("long enough").unwrap();
    let (a, b, c) = tokio::join!(hasher.hash(&password), hasher.hash(&password), async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        hasher.hash(&password).await
    });
    assert!(a.is_ok());
    assert!(b.is_ok());
    assert!(matches!(c, Err(PortError::Overloaded { .. })), "{c:?}");
    // Places free up when the work is done.
    hasher.hash(&password).await.unwrap();
}

#[tokio::test]
async fn a_hash_of_another_cost_needs_an_upgrade() {
    let hasher = BcryptHasher::new(5, 1).unwrap();
    let password = ai_message_core::Password::parse("password1").unwrap();
    let own = hasher.hash(&password).await.unwrap();
    assert!(!hasher.needs_rehash(&own));
    let cheaper = BcryptHasher::new(4, 1)
        .unwrap()
        .hash(&password)
        .await
        .unwrap();
    assert!(hasher.needs_rehash(&cheaper));
    assert!(!hasher.needs_rehash(&hash_of("not a bcrypt hash")));
}
