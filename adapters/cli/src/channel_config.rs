//! WhatsApp and SMS through Twilio, and how phone numbers are read, from the environment.

use std::time::Duration;

use ai_message_core::usecases::channels::ChannelSettings;
use ai_message_core::{PhoneRegion, PhoneRules};
use ai_message_twilio::TwilioSettings;

use crate::config::{ConfigError, number, read};

/// `PHONE_DEFAULT_REGION`: unset, only international numbers are accepted.
pub fn phone_rules(lookup: &dyn Fn(&str) -> Option<String>) -> Result<PhoneRules, ConfigError> {
    let Some((name, code)) = read(lookup, &["PHONE_DEFAULT_REGION"]) else {
        return Ok(PhoneRules::default());
    };
    let region = PhoneRegion::parse(&code).ok_or_else(|| {
        ConfigError::new(
            name,
            format!("'{code}' is no region with a numbering plan (an ISO 3166 code such as MY)"),
        )
    })?;
    Ok(PhoneRules::new(Some(region)))
}

/// The `TWILIO_*` settings, and the channel's fixed replies.
pub fn channel_config(
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(TwilioSettings, ChannelSettings), ConfigError> {
    let defaults = TwilioSettings::default();
    let text = |name| read(lookup, &[name]).map(|(_, value)| value.trim().to_string());
    let webhook_url = match read(lookup, &["TWILIO_WEBHOOK_URL"]) {
        Some((name, url)) => Some(public_url(url.trim()).map_err(|p| ConfigError::new(name, p))?),
        None => None,
    };
    let webhook_path = match read(lookup, &["TWILIO_WEBHOOK_PATH"]) {
        Some((name, path)) => {
            Some(webhook_path(path.trim()).map_err(|p| ConfigError::new(name, p))?)
        }
        None => None,
    };
    crate::config::names::note_default(&["TWILIO_ALLOW_UNSIGNED"], "false");
    let allow_unsigned = match read(lookup, &["TWILIO_ALLOW_UNSIGNED"]) {
        Some((name, raw)) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => {
                return Err(ConfigError::new(
                    name,
                    format!("'{raw}' is not true or false"),
                ));
            }
        },
        None => false,
    };
    crate::config::names::note_default(&["TWILIO_API_BASE"], &defaults.api_base);
    let api_base = text("TWILIO_API_BASE").unwrap_or(defaults.api_base);
    if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
        return Err(ConfigError::new(
            "TWILIO_API_BASE",
            format!("'{api_base}' is not an http(s) URL"),
        ));
    }
    let auth_token = read(lookup, &["TWILIO_AUTH_TOKEN"]).map(|(_, token)| token);
    if auth_token.is_some() && webhook_url.is_none() {
        // Otherwise a signature could only be checked against the URL a request names, and
        // its `Host` is the caller's to choose.
        return Err(ConfigError::new(
            "TWILIO_WEBHOOK_URL",
            "required with TWILIO_AUTH_TOKEN: the exact URL configured in Twilio, which \
             Twilio signs (such as https://chat.example.org/twilio_webhook)",
        ));
    }
    let twilio = TwilioSettings {
        account_sid: text("TWILIO_ACCOUNT_SID"),
        auth_token,
        phone_number: text("TWILIO_PHONE_NUMBER"),
        api_base,
        webhook_url,
        webhook_path,
        allow_unsigned,
        send_attempts: number(
            lookup,
            &["TWILIO_SEND_ATTEMPTS"],
            defaults.send_attempts,
            1..=10,
        )?,
        retry_delay: Duration::from_millis(number(
            lookup,
            &["TWILIO_RETRY_DELAY_MS"],
            defaults.retry_delay.as_millis() as u64,
            0..=600_000,
        )?),
        request_timeout: defaults.request_timeout,
    };
    let fixed = ChannelSettings::default();
    let channels = ChannelSettings {
        unregistered_reply: read(lookup, &["TWILIO_UNREGISTERED_REPLY"])
            .map_or(fixed.unregistered_reply, |(_, reply)| reply),
        ..fixed
    };
    Ok((twilio, channels))
}

/// An absolute http(s) URL with a host: what Twilio is told to call.
fn public_url(url: &str) -> Result<String, String> {
    let parsed: poem::http::Uri = url.parse().map_err(|_| format!("'{url}' is not a URL"))?;
    let scheme_ok = matches!(parsed.scheme_str(), Some("http" | "https"));
    if !scheme_ok || parsed.host().is_none_or(str::is_empty) {
        return Err(format!(
            "'{url}' must be the full http(s) URL Twilio calls, such as \
             https://chat.example.org/twilio_webhook"
        ));
    }
    Ok(url.to_string())
}

/// A path of plain segments: it must not shadow the API's own routes.
fn webhook_path(path: &str) -> Result<String, String> {
    let plain = path.len() > 1
        && path.starts_with('/')
        && !path.contains("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.' | b'~'));
    if !plain {
        return Err(format!(
            "'{path}' must be a path such as /hooks/twilio (letters, digits, / _ - . ~)"
        ));
    }
    Ok(path.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        let vars = vars.to_vec();
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_channel_is_off_until_a_token_or_unsigned_mode_is_set() {
        let (twilio, channels) = channel_config(&lookup(&[])).unwrap();
        assert!(!twilio.webhook_enabled());
        assert_eq!(twilio.webhook_paths(), ["/twilio_webhook"]);
        assert_eq!(channels, ChannelSettings::default());
        let (twilio, _) = channel_config(&lookup(&[
            ("TWILIO_AUTH_TOKEN", "t"),
            (
                "TWILIO_WEBHOOK_URL",
                "https://chat.example.org/twilio_webhook",
            ),
        ]))
        .unwrap();
        assert!(twilio.webhook_enabled());
        let (twilio, _) = channel_config(&lookup(&[("TWILIO_ALLOW_UNSIGNED", "true")])).unwrap();
        assert!(twilio.webhook_enabled() && twilio.auth_token.is_none());
    }

    #[test]
    fn every_setting_is_read_and_a_bad_one_names_itself() {
        let (twilio, channels) = channel_config(&lookup(&[
            ("TWILIO_ACCOUNT_SID", "AC123"),
            ("TWILIO_AUTH_TOKEN", "secret"),
            ("TWILIO_PHONE_NUMBER", "+14155238886"),
            ("TWILIO_API_BASE", "http://127.0.0.1:9999"),
            (
                "TWILIO_WEBHOOK_URL",
                "https://chat.example.org/hooks/twilio",
            ),
            ("TWILIO_WEBHOOK_PATH", "/hooks/twilio/"),
            ("TWILIO_SEND_ATTEMPTS", "2"),
            ("TWILIO_RETRY_DELAY_MS", "10"),
            ("TWILIO_UNREGISTERED_REPLY", "Who is this?"),
        ]))
        .unwrap();
        assert_eq!(twilio.webhook_paths(), ["/twilio_webhook", "/hooks/twilio"]);
        assert_eq!(twilio.send_attempts, 2);
        assert_eq!(twilio.retry_delay, Duration::from_millis(10));
        assert_eq!(channels.unregistered_reply, "Who is this?");
        assert!(
            !format!("{twilio:?}").contains("secret"),
            "the token is redacted"
        );
        for (name, value) in [
            ("TWILIO_WEBHOOK_URL", "/twilio_webhook"),
            ("TWILIO_WEBHOOK_URL", "ftp://x/y"),
            ("TWILIO_WEBHOOK_PATH", "twilio"),
            ("TWILIO_WEBHOOK_PATH", "/"),
            ("TWILIO_WEBHOOK_PATH", "/a b"),
            ("TWILIO_ALLOW_UNSIGNED", "maybe"),
            ("TWILIO_SEND_ATTEMPTS", "0"),
            ("TWILIO_API_BASE", "api.twilio.com"),
        ] {
            let error = channel_config(&lookup(&[(name, value)])).unwrap_err();
            assert_eq!(error.variable, name, "{value}");
        }
    }

    /// Without the URL Twilio signs, the server could only check a signature against the
    /// URL each request names, and a request names whatever host its sender likes.
    #[test]
    fn a_token_needs_the_url_twilio_signs() {
        for vars in [
            &[("TWILIO_AUTH_TOKEN", "t")][..],
            &[
                ("TWILIO_AUTH_TOKEN", "t"),
                ("TWILIO_ALLOW_UNSIGNED", "true"),
            ],
        ] {
            let error = channel_config(&lookup(vars)).unwrap_err();
            assert_eq!(error.variable, "TWILIO_WEBHOOK_URL");
            assert!(
                error
                    .to_string()
                    .contains("required with TWILIO_AUTH_TOKEN"),
                "{error}"
            );
        }
        let unsigned_only = channel_config(&lookup(&[("TWILIO_ALLOW_UNSIGNED", "true")]));
        assert!(unsigned_only.is_ok(), "no token, nothing to check");
    }

    #[test]
    fn the_default_region_must_have_a_numbering_plan() {
        assert_eq!(phone_rules(&lookup(&[])).unwrap(), PhoneRules::default());
        let rules = phone_rules(&lookup(&[("PHONE_DEFAULT_REGION", "my")])).unwrap();
        assert_eq!(rules.default_region().unwrap().to_string(), "MY");
        let error = phone_rules(&lookup(&[("PHONE_DEFAULT_REGION", "Malaysia")])).unwrap_err();
        assert_eq!(error.variable, "PHONE_DEFAULT_REGION");
    }
}
