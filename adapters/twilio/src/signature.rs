//! Twilio's request signature: HMAC-SHA1, keyed with the auth token, over the URL Twilio
//! called followed by each POST parameter's name and value, sorted by name; base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

type HmacSha1 = Hmac<Sha1>;

fn mac_of(token: &str, url: &str, params: &[(String, String)]) -> HmacSha1 {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = HmacSha1::new_from_slice(token.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The signature Twilio sends for a POST of `params` to `url`.
pub fn signature(token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac_of(token, url, params).finalize().into_bytes())
}

/// Whether `claimed` (the header's value) signs `params` posted to one of `urls`, each
/// compared in constant time.
pub(crate) fn signed_by(
    token: &str,
    urls: &[String],
    params: &[(String, String)],
    claimed: &str,
) -> bool {
    let Ok(claimed) = STANDARD.decode(claimed.trim()) else {
        return false;
    };
    urls.iter()
        .any(|url| mac_of(token, url, params).verify_slice(&claimed).is_ok())
}

/// `url` and the same URL with its default port written or left out: Twilio signs the URL
/// as it was configured in its console, which may differ from ours in just that.
pub(crate) fn with_port_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return variants,
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 literal's colons are inside its brackets.
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let other = match port {
        Some(port) if port == default_port => host.to_string(),
        Some(_) => return variants,
        None => format!("{authority}:{default_port}"),
    };
    variants.push(format!("{scheme}://{other}{tail}"));
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The example of Twilio's security documentation ("Validating Requests are coming
    /// from Twilio"): auth token `12345`.
    #[test]
    fn twilio_documentation_example_signs_as_documented() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675310"),
            ("Digits", "1234"),
            ("From", "+14158675310"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &params),
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        );
        assert!(signed_by(
            "12345",
            &[url.to_string()],
            &params,
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        ));
    }

    /// A voice request from the test suite of Twilio's own Ruby library.
    #[test]
    fn twilio_library_vector_is_accepted_in_any_parameter_order() {
        let params = pairs(&[
            ("ToState", "California"),
            ("CalledState", "California"),
            ("Direction", "inbound"),
            ("FromState", "CA"),
            ("AccountSid", "ACba8bc05eacf94afdae398e642c9cc32d"),
            ("Caller", "+14153595711"),
            ("CallerZip", "94108"),
            ("CallerCountry", "US"),
            ("From", "+14153595711"),
            ("FromCity", "SAN FRANCISCO"),
            ("CallerCity", "SAN FRANCISCO"),
            ("To", "+14157669926"),
            ("FromZip", "94108"),
            ("FromCountry", "US"),
            ("ToCity", ""),
            ("CallStatus", "ringing"),
            ("CalledCity", ""),
            ("CallerState", "CA"),
            ("CalledZip", ""),
            ("ToZip", ""),
            ("ToCountry", "US"),
            ("CallSid", "CA136d09cd59a3c0ec8dbff44da5c03f31"),
            ("CalledCountry", "US"),
            ("Called", "+14157669926"),
            ("ApiVersion", "2010-04-01"),
            ("ApplicationSid", "AP44efecad51364e80b133bb7c07eb8204"),
        ]);
        let url = ["http://twiliotests.heroku.com/validate/voice".to_string()];
        let token = "2bd9e9638872de601313dc77410d3b23";
        assert!(signed_by(
            token,
            &url,
            &params,
            "oVb2kXoVy8GEfwBDjR8bk/ZZ6eA="
        ));
        let mut reversed = params.clone();
        reversed.reverse();
        assert!(signed_by(
            token,
            &url,
            &reversed,
            "oVb2kXoVy8GEfwBDjR8bk/ZZ6eA="
        ));
    }

    #[test]
    fn a_changed_parameter_url_or_token_breaks_the_signature() {
        let params = pairs(&[("Body", "hello"), ("From", "+60123456789")]);
        let url = "https://school.example/twilio_webhook";
        let good = signature("token", url, &params);
        assert!(signed_by("token", &[url.into()], &params, &good));
        let other_body = pairs(&[("Body", "hellO"), ("From", "+60123456789")]);
        assert!(!signed_by("token", &[url.into()], &other_body, &good));
        let extra = pairs(&[("Body", "hello"), ("From", "+60123456789"), ("X", "")]);
        assert!(!signed_by("token", &[url.into()], &extra, &good));
        assert!(!signed_by("token", &[format!("{url}?a=1")], &params, &good));
        assert!(!signed_by("other", &[url.into()], &params, &good));
        assert!(!signed_by("token", &[url.into()], &params, ""));
        assert!(!signed_by("token", &[url.into()], &params, "not base64!"));
        assert!(!signed_by(
            "token",
            &[url.into()],
            &params,
            &good[..good.len() - 4]
        ));
    }

    #[test]
    fn default_ports_are_tried_written_and_left_out() {
        assert_eq!(
            with_port_variants("https://a.example/hook?x=1"),
            [
                "https://a.example/hook?x=1",
                "https://a.example:443/hook?x=1"
            ]
        );
        assert_eq!(
            with_port_variants("https://a.example:443/hook"),
            ["https://a.example:443/hook", "https://a.example/hook"]
        );
        assert_eq!(
            with_port_variants("http://a.example:8080/hook"),
            ["http://a.example:8080/hook"]
        );
        assert_eq!(
            with_port_variants("http://[::1]/hook"),
            ["http://[::1]/hook", "http://[::1]:80/hook"]
        );
    }
}
