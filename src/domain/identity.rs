//! What makes two account names "the same" for uniqueness, and which characters a new name
//! may not contain. Names that look alike to a person (case, width, compatibility forms,
//! confusable letters of other scripts) share one key, so only the first of them registers.

use super::UserId;
use unicode_normalization::UnicodeNormalization;
use unicode_security::GeneralSecurityProfile;
use unicode_security::MixedScript;
use unicode_security::confusable_detection::skeleton;

/// The key under which usernames are unique: NFKC, then lower case, then diacritics dropped,
/// then the UTS #39 confusable skeleton (so `Root`, `ｒｏｏｔ`, `rооt` with Cyrillic `о` and
/// `rȯot` with a combining dot all key as `root`). Also the key failed logins of an unknown
/// identifier are counted under. Changing it needs a migration that clears the stored keys
/// (they are computed again at start-up, as for adopted rows; see V8).
pub fn username_key(name: &str) -> String {
    let folded: String = name
        .nfkc()
        .flat_map(char::to_lowercase)
        .nfd()
        .filter(|c| !is_diacritic(*c))
        .collect();
    let skeleton: String = skeleton(&folded).collect();
    skeleton.nfkc().flat_map(char::to_lowercase).collect()
}

/// A mark of the generic combining-diacritics blocks (accents, dots, rings, overlays), which
/// hardly changes how a name looks. Marks of a script's own block (Indic vowel signs, say)
/// are letters of their names and stay.
fn is_diacritic(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}'
            | '\u{1AB0}'..='\u{1AFF}'
            | '\u{1DC0}'..='\u{1DFF}'
            | '\u{20D0}'..='\u{20FF}'
            | '\u{FE20}'..='\u{FE2F}'
    )
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

/// A stored account whose name or email collides under its key with an earlier account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCollision {
    pub user_id: UserId,
    /// `"username"` or `"email"`.
    pub field: &'static str,
    pub value: String,
    /// The account that holds the key.
    pub holder: UserId,
}

impl std::fmt::Display for KeyCollision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "user {} has the {} {:?}, which collides with user {}; both keep logging in, and \
             no new account may take it",
            self.user_id, self.field, self.value, self.holder
        )
    }
}

/// The keys one account stores: `(user id, username key, email key)`, `None` where the key
/// belongs to an earlier account.
pub type AssignedKeys = (UserId, Option<String>, Option<String>);

/// The keys to store for accounts that have none (adopted or older rows), given the keys
/// already stored. In id order the first holder of a key keeps it; a later account whose key
/// is taken stores `None` for it and is reported as a collision.
pub fn assign_identity_keys(
    pending: &[(UserId, String, String)],
    mut username_holders: std::collections::HashMap<String, UserId>,
    mut email_holders: std::collections::HashMap<String, UserId>,
) -> (Vec<AssignedKeys>, Vec<KeyCollision>) {
    let mut sorted: Vec<&(UserId, String, String)> = pending.iter().collect();
    sorted.sort_by_key(|(id, _, _)| *id);
    let mut assigned = Vec::with_capacity(sorted.len());
    let mut collisions = Vec::new();
    for (id, username, email) in sorted {
        let mut claim = |holders: &mut std::collections::HashMap<String, UserId>,
                         key: String,
                         field: &'static str,
                         value: &str| {
            match holders.get(&key) {
                Some(holder) => {
                    collisions.push(KeyCollision {
                        user_id: *id,
                        field,
                        value: value.to_string(),
                        holder: *holder,
                    });
                    None
                }
                None => {
                    holders.insert(key.clone(), *id);
                    Some(key)
                }
            }
        };
        let username_key = claim(
            &mut username_holders,
            username_key(username),
            "username",
            username,
        );
        let email_key = claim(&mut email_holders, email_key(email), "email", email);
        assigned.push((*id, username_key, email_key));
    }
    (assigned, collisions)
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
    fn combining_marks_do_not_make_a_new_name() {
        for name in [
            "ali\u{0307}ce",
            "ali\u{0301}ce",
            "alíce",
            "a\u{0323}lice",
            "alice\u{20DD}",
        ] {
            assert_eq!(username_key(name), username_key("alice"), "{name:?}");
        }
        // A script's own marks are letters: these Hindi names differ by a vowel sign.
        assert_ne!(username_key("कुमार"), username_key("कमार"));
    }

    #[test]
    fn adopted_collisions_keep_the_first_holder_and_are_reported() {
        let mut stored = std::collections::HashMap::new();
        stored.insert(username_key("root"), UserId::new(1));
        let pending = vec![
            (
                UserId::new(3),
                "ROOT".to_string(),
                "b@example.com".to_string(),
            ),
            (
                UserId::new(2),
                "bob".to_string(),
                "B@example.com".to_string(),
            ),
        ];
        let (assigned, collisions) =
            assign_identity_keys(&pending, stored, std::collections::HashMap::new());
        assert_eq!(
            assigned,
            vec![
                (
                    UserId::new(2),
                    Some("bob".to_string()),
                    Some("b@example.com".to_string())
                ),
                (UserId::new(3), None, None),
            ]
        );
        assert_eq!(collisions.len(), 2);
        assert_eq!(
            (collisions[0].field, collisions[0].holder),
            ("username", UserId::new(1))
        );
        assert_eq!(
            (collisions[1].field, collisions[1].holder),
            ("email", UserId::new(2))
        );
        assert!(collisions[0].to_string().contains("\"ROOT\""));
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
