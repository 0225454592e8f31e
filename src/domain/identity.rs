//! What makes two account names "the same" for uniqueness, and which characters a new name
//! may not contain. Names that look alike to a person (case, width, compatibility forms,
//! confusable letters of other scripts) share one key, so only the first of them registers.

use unicode_normalization::UnicodeNormalization;
use unicode_security::GeneralSecurityProfile;
use unicode_security::MixedScript;
use unicode_security::confusable_detection::skeleton;

/// The key under which usernames are unique: NFKC, then lower case, then the UTS #39
/// confusable skeleton (so `Root`, `ｒｏｏｔ` and `rооt` with Cyrillic `о` all key as `root`).
/// Also the key failed logins of an unknown identifier are counted under.
pub fn username_key(name: &str) -> String {
    let folded: String = name.nfkc().flat_map(char::to_lowercase).collect();
    let skeleton: String = skeleton(&folded).collect();
    skeleton.nfkc().flat_map(char::to_lowercase).collect()
}

/// The key under which emails are unique: the address ignoring case.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Why a new username is refused, as the rule of a validation error.
pub(crate) fn username_problem(name: &str) -> Option<&'static str> {
    if name.trim() != name {
        return Some("must not start or end with whitespace");
    }
    if name.contains('@') {
        return Some("must not contain '@' (it would read as an email address at login)");
    }
    // Zero-width joiners are "allowed" in identifiers, but invisible in a name.
    let invisible = |c: char| matches!(c, '\u{200C}' | '\u{200D}');
    let printable_ascii = |c: char| (' '..='~').contains(&c);
    if name
        .chars()
        .any(|c| invisible(c) || !(printable_ascii(c) || c.identifier_allowed()))
    {
        return Some("must not contain control, formatting, invisible or compatibility characters");
    }
    if !name.is_single_script() {
        return Some("must not mix letters of different scripts");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookalikes_share_the_key_of_root() {
        for name in ["root", "Root", "ROOT", "ｒｏｏｔ", "r\u{043e}\u{043e}t"] {
            assert_eq!(username_key(name), username_key("root"), "{name:?}");
        }
        assert_ne!(username_key("rooot"), username_key("root"));
    }

    #[test]
    fn emails_are_keyed_ignoring_case() {
        assert_eq!(
            email_key("Alice@Example.COM"),
            email_key("alice@example.com")
        );
    }

    #[test]
    fn new_names_refuse_what_a_person_cannot_see_or_tell_apart() {
        for name in [
            "root\u{200b}",
            "root\u{00ad}",
            " root",
            "root ",
            "ro\u{200d}ot",
            "ｒｏｏｔ",
            "r\u{043e}\u{043e}t",
            "a@b",
            "tab\there",
        ] {
            assert!(username_problem(name).is_some(), "{name:?} was accepted");
        }
        for name in [
            "root",
            "Jean-Luc O'Neil",
            "élodie_2",
            "李小龙",
            "müller.k",
            "ivan",
        ] {
            assert_eq!(username_problem(name), None, "{name:?} was refused");
        }
    }
}
