//! Request ids: each request carries one, from the client's `X-Request-Id` when it is a
//! plain token, else made here. It is echoed in the response and set on a tracing span, so
//! every log line of the request names it (`request_id`).

use poem::Request;
use poem::http::HeaderValue;

pub const HEADER: &str = "x-request-id";

/// The longest id taken from a client; a longer one is replaced.
const MAX_LEN: usize = 128;

/// The client's id when it is 1 to 128 characters of `A-Z a-z 0-9 - _ . :` (nothing that
/// could forge a log line or a header), otherwise a new UUID.
pub fn of(request: &Request) -> String {
    request
        .headers()
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_plain(id))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string)
}

fn is_plain(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The id as a header value (it is plain ASCII by construction).
pub fn header_value(id: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(value: &[u8]) -> Request {
        Request::builder()
            .header(HEADER, HeaderValue::from_bytes(value).unwrap())
            .finish()
    }

    #[test]
    fn a_plain_client_id_is_kept() {
        for id in ["abc-123", "0f8e:trace.7_x", &"a".repeat(128)] {
            assert_eq!(of(&with_header(id.as_bytes())), id);
        }
    }

    #[test]
    fn anything_else_gets_a_new_uuid() {
        let too_long = "a".repeat(129);
        for bad in [
            &b"has space"[..],
            b"line\tbreak",
            b"quote\"d",
            b"{\"json\":1}",
            too_long.as_bytes(),
            "caf\u{e9}".as_bytes(),
        ] {
            let id = of(&with_header(bad));
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{bad:?} gave {id}");
        }
        let none = of(&Request::builder().finish());
        assert!(uuid::Uuid::parse_str(&none).is_ok());
        assert_ne!(none, of(&Request::builder().finish()), "fresh each time");
    }
}
