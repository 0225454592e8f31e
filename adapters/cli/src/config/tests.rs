use super::*;
use std::collections::HashMap;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(&move |name| map.get(name).cloned())
}

#[test]
fn defaults_follow_the_contract() {
    let config = config(&[]).unwrap();
    assert_eq!(
        config.database,
        DatabaseUrl::parse("sqlite:///./backend.db").unwrap()
    );
    assert_eq!(config.host.to_string(), "127.0.0.1");
    assert_eq!(config.port, 8000);
    assert!(matches!(config.secret_key, SecretKey::Ephemeral(_)));
    assert_eq!(config.access_token_ttl, TimeDelta::minutes(30));
    assert_eq!(config.refresh_token_ttl, TimeDelta::days(7));
    assert_eq!(config.refresh_reuse_grace, TimeDelta::seconds(10));
    assert_eq!(config.bcrypt_cost, 12);
    assert_eq!(config.first_superuser, None);
    assert_eq!(config.cors, CorsOrigins::Any);
    assert_eq!(config.database_pool_size, 10);
}

#[test]
fn values_are_read_with_their_original_aliases() {
    let config = config(&[
        ("AI_MESSAGE_DATABASE_URL", "memory://"),
        ("AI_MESSAGE_HOST", "0.0.0.0"),
        ("AI_MESSAGE_PORT", "9000"),
        ("SECRET_KEY", "k9Qv2LxR7tWm4ZpB8nYc3HdF6sJg1AeU"),
        ("BCRYPT_COST", "4"),
        ("CORS_ALLOW_ORIGINS", "https://a.example, https://b.example"),
    ])
    .unwrap();
    assert_eq!(config.database, DatabaseUrl::Memory);
    assert_eq!(config.host.to_string(), "0.0.0.0");
    assert_eq!(config.port, 9000);
    assert_eq!(
        config.secret_key,
        SecretKey::Configured("k9Qv2LxR7tWm4ZpB8nYc3HdF6sJg1AeU".into())
    );
    assert_eq!(config.bcrypt_cost, 4);
    assert_eq!(
        config.cors,
        CorsOrigins::List(vec!["https://a.example".into(), "https://b.example".into()])
    );
    // DATABASE_URL wins over the original's name.
    let config = config_pair();
    assert_eq!(config.database, DatabaseUrl::Memory);
}

fn config_pair() -> Config {
    config(&[
        ("DATABASE_URL", "memory://"),
        ("AI_MESSAGE_DATABASE_URL", "postgresql://x@y/z"),
    ])
    .unwrap()
}

#[test]
fn bad_values_name_their_variable() {
    let err = config(&[("PORT", "eighty")]).unwrap_err();
    assert_eq!(err.to_string(), "PORT: 'eighty' is not a whole number");
    let err = config(&[("BCRYPT_COST", "3")]).unwrap_err();
    assert_eq!(err.to_string(), "BCRYPT_COST: 3 is out of range (4 to 31)");
    let err = config(&[("DATABASE_URL", "mysql://x")]).unwrap_err();
    assert_eq!(err.variable, "DATABASE_URL");
    let err = config(&[("HOST", "localhost:80")]).unwrap_err();
    assert_eq!(err.variable, "HOST");
    let err = config(&[("ACCESS_TOKEN_EXPIRE_MINUTES", "0")]).unwrap_err();
    assert_eq!(err.variable, "ACCESS_TOKEN_EXPIRE_MINUTES");
}

#[test]
fn first_superuser_needs_all_three_variables() {
    let config_ok = config(&[
        ("FIRST_SUPERUSER_USERNAME", "root"),
        ("FIRST_SUPERUSER_EMAIL", "root@example.com"),
        ("FIRST_SUPERUSER_PASSWORD", "rootroot"),
    ])
    .unwrap();
    assert_eq!(config_ok.first_superuser.unwrap().username, "root");
    let err = config(&[("FIRST_SUPERUSER_USERNAME", "root")]).unwrap_err();
    assert_eq!(err.variable, "FIRST_SUPERUSER_EMAIL");
}

#[test]
fn debug_output_hides_secrets() {
    let config = config(&[
        ("SECRET_KEY", "top-secret-key-of-at-least-32-bytes"),
        ("FIRST_SUPERUSER_USERNAME", "root"),
        ("FIRST_SUPERUSER_EMAIL", "root@example.com"),
        ("FIRST_SUPERUSER_PASSWORD", "hunter2hunter2"),
    ])
    .unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("top-secret-key"));
    assert!(!shown.contains("hunter2hunter2"));
}

#[test]
fn forwarded_allow_ips_takes_addresses_and_networks() {
    assert_eq!(config(&[]).unwrap().trusted_proxies, TrustedProxies::none());
    let config_ok = config(&[("FORWARDED_ALLOW_IPS", "127.0.0.1, 10.0.0.0/8")]).unwrap();
    assert_eq!(
        config_ok.trusted_proxies,
        TrustedProxies::parse("127.0.0.1,10.0.0.0/8").unwrap()
    );
    let err = config(&[("FORWARDED_ALLOW_IPS", "10.0.0.0/33")]).unwrap_err();
    assert_eq!(err.variable, "FORWARDED_ALLOW_IPS");
}

#[test]
fn login_limits_are_read_with_the_old_name_as_an_alias() {
    let limits = config(&[
        ("LOGIN_MAX_FAILURES_PER_USERNAME", "7"),
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "50"),
        ("LOGIN_FAILURE_WINDOW_SECONDS", "60"),
    ])
    .unwrap()
    .login_limits;
    assert_eq!(limits.per_account_and_address.max, 7);
    assert_eq!(limits.per_account.max, 50);
    assert_eq!(limits.per_address.max, 20);
    assert_eq!(limits.per_account.window, TimeDelta::seconds(60));
    assert_eq!(config(&[]).unwrap().login_limits, LoginLimits::default());
}

#[test]
fn a_short_secret_key_is_refused_with_its_name() {
    let err = config(&[("SECRET_KEY", "changeme")]).unwrap_err();
    assert_eq!(err.variable, "SECRET_KEY");
    assert!(err.problem.contains("at least 32 bytes"), "{err}");
    let err = config(&[("SECRET_KEY", &"x".repeat(31))]).unwrap_err();
    assert_eq!(err.variable, "SECRET_KEY");
    assert!(config(&[("SECRET_KEY", "h7Rq2mXc9LpV4tWz8KbN3sJd6FgY1aEu")]).is_ok());
    // Unset still means a random key for this process.
    assert!(matches!(
        config(&[]).unwrap().secret_key,
        SecretKey::Ephemeral(key) if key.len() >= 32
    ));
}

#[test]
fn password_min_length_is_8_and_may_be_set_from_6_to_72() {
    let min = |vars: &[(&str, &str)]| config(vars).map(|c| c.password_rules.min_bytes());
    assert_eq!(min(&[]).unwrap(), 8);
    assert_eq!(min(&[("PASSWORD_MIN_LENGTH", "6")]).unwrap(), 6);
    assert_eq!(min(&[("PASSWORD_MIN_LENGTH", "72")]).unwrap(), 72);
    for refused in ["5", "73", "0", "six", "-6"] {
        let err = config(&[("PASSWORD_MIN_LENGTH", refused)]).unwrap_err();
        assert_eq!(err.variable, "PASSWORD_MIN_LENGTH", "{refused}");
    }
}

#[test]
fn published_and_trivially_weak_secret_keys_are_refused() {
    for weak in [
        "your-secret-key-change-in-production",
        "  YOUR-SECRET-KEY-CHANGE-IN-PRODUCTION ",
        &"x".repeat(64),
        &"ab".repeat(20),
        "my-default-secret-key-for-this-server",
        "replace_this_with_a_real_secret_value",
        "insecure jwt signing key for local use",
    ] {
        let err = config(&[("SECRET_KEY", weak)]).unwrap_err();
        assert_eq!(err.variable, "SECRET_KEY", "{weak}");
        assert!(err.to_string().contains("openssl rand -base64 48"), "{err}");
    }
    for strong in [
        "Zp8v1sXk3QmT9rWc4LnB7yHd2FgJ6uEa0",
        "correct-horse-battery-staple-orbit-lantern",
        "fuzzing-key-of-at-least-thirty-two-bytes",
    ] {
        assert!(config(&[("SECRET_KEY", strong)]).is_ok(), "{strong}");
    }
}

/// Long enough and no published sample, yet guessed in far fewer tries than a brute force:
/// a word repeated, a run of digits or letters, a walk along the keyboard. Keys from
/// `openssl rand` (base64 or hex) and word phrases pass.
#[test]
fn guessable_secret_keys_are_refused_by_their_estimated_strength() {
    for guessable in [
        "passwordpasswordpasswordpassword",
        "mysecretkeymysecretkeymysecretkey",
        "01234567890123456789012345678901",
        "abcdefghijklmnopqrstuvwxyz012345",
        "qwertyuiopasdfghjklzxcvbnm123456",
        "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9",
        "qazwsxedcrfvtgbyhnujmikolp123456",
        "asdfghjklasdfghjklasdfghjklasdfg",
    ] {
        let err = config(&[("SECRET_KEY", guessable)]).unwrap_err();
        assert_eq!(err.variable, "SECRET_KEY", "{guessable}");
        assert!(err.problem.contains("guessed"), "{guessable}: {err}");
        assert!(err.to_string().contains("openssl rand -base64 48"), "{err}");
    }
    for strong in [
        // `openssl rand -base64 48`, `-hex 32`, `-base64 32`.
        "ef9mw4aD7ThH3KTIzOp6ONAuUQAL23UHWhNp50UNgI/K3GUJewvulfxAz8QyAeEW",
        "7f8dc65d51532dbf93470d7a530e4355addd1dc6250d8f39f0fabd41e0bcd5c0",
        "W4+FegoNdknXwSiz8maFrtJHw5tO9V98mDnFCuiVoBY=",
        "correct-horse-battery-staple-orbit-lantern",
    ] {
        assert!(config(&[("SECRET_KEY", strong)]).is_ok(), "{strong}");
    }
}

#[test]
fn what_an_address_and_the_process_may_hold_has_defaults_and_a_floor() {
    let rules = config(&[]).unwrap().limits.connection;
    assert_eq!(rules.address_held_bytes, 64 * 1024 * 1024);
    assert_eq!(rules.address_connections, 256);
    assert_eq!(rules.process_held_bytes, 256 * 1024 * 1024);
    let rules = config(&[
        ("ADDRESS_MAX_HELD_BYTES", "33554432"),
        ("ADDRESS_MAX_CONNECTIONS", "8"),
        ("MAX_HELD_BYTES", "1073741824"),
    ])
    .unwrap()
    .limits
    .connection;
    assert_eq!(rules.address_held_bytes, 32 * 1024 * 1024);
    assert_eq!(rules.address_connections, 8);
    assert_eq!(rules.process_held_bytes, 1024 * 1024 * 1024);
    // Below one connection's bound the largest page could never be sent.
    for name in ["ADDRESS_MAX_HELD_BYTES", "MAX_HELD_BYTES"] {
        assert_eq!(config(&[(name, "1048576")]).unwrap_err().variable, name);
    }
    assert_eq!(
        config(&[("ADDRESS_MAX_CONNECTIONS", "0")])
            .unwrap_err()
            .variable,
        "ADDRESS_MAX_CONNECTIONS"
    );
}
