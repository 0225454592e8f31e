//! The names of every setting, and the environment variables that look like one of them but
//! are not (a typo that would otherwise be ignored in silence).

use std::cell::RefCell;
use std::collections::BTreeSet;

use super::Config;

/// Settings read outside [`Config::from_lookup`], or only when another setting is set.
const READ_ELSEWHERE: &[&str] = &[
    "RUST_LOG",
    "LOG_FORMAT",
    "ENV_FILE",
    "AI_MESSAGE_SUPERUSER_PASSWORD",
    "AI_API_KEY",
    "LITELLM_API_KEY",
    "AI_MAX_REPLY_BYTES",
];

/// Prefixes that only our settings use: an unknown name with one is a mistake.
const OUR_PREFIXES: &[&str] = &["AI_MESSAGE_", "TWILIO_"];

/// Every setting's name: each one [`Config::from_lookup`] asks for, and the others.
pub fn known_settings() -> BTreeSet<String> {
    let asked = RefCell::new(BTreeSet::new());
    // Nothing set: every unconditional setting is asked for and takes its default.
    let _ = Config::from_lookup(&|name| {
        asked.borrow_mut().insert(name.to_string());
        None
    });
    let mut known = asked.into_inner();
    known.extend(READ_ELSEWHERE.iter().map(|name| name.to_string()));
    known
}

/// `(given, meant)` for each of `names` that is no setting but looks like `meant`: one
/// character off (two in names over six characters), or unknown under our own prefixes.
pub fn lookalikes(
    names: impl IntoIterator<Item = String>,
    known: &BTreeSet<String>,
) -> Vec<(String, String)> {
    names
        .into_iter()
        .filter(|name| !known.contains(name))
        .filter_map(|name| {
            let (distance, closest) = known
                .iter()
                .map(|setting| (strsim::levenshtein(&name, setting), setting))
                .min()?;
            let allowed = if name.chars().count() > 6 { 2 } else { 1 };
            let ours = OUR_PREFIXES.iter().any(|prefix| name.starts_with(prefix));
            (distance <= allowed || ours).then(|| (name.clone(), closest.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn misspelt_settings_are_found_with_the_one_meant() {
        let known = known_settings();
        let found = lookalikes(
            names(&[
                "DATABSE_URL",
                "AI_MESAGE_PORT",
                "TWILIO_AUTH_TOKN",
                "TWILIO_WEBHOOK",
                "SECRETKEY",
                "PORT",
                "HOME",
                "PATH",
                "USER",
                "HOSTNAME",
                "LANG",
                "TERM",
                "CARGO_HOME",
            ]),
            &known,
        );
        let meant: Vec<(&str, &str)> = found
            .iter()
            .map(|(given, meant)| (given.as_str(), meant.as_str()))
            .collect();
        assert_eq!(
            meant,
            [
                ("DATABSE_URL", "DATABASE_URL"),
                ("AI_MESAGE_PORT", "AI_MESSAGE_PORT"),
                ("TWILIO_AUTH_TOKN", "TWILIO_AUTH_TOKEN"),
                ("TWILIO_WEBHOOK", "TWILIO_WEBHOOK_URL"),
                ("SECRETKEY", "SECRET_KEY"),
            ]
        );
    }

    /// Every name the configuration's sources quote as a setting is known, so none is
    /// ever reported as a typo.
    #[test]
    fn every_quoted_setting_is_known() {
        let known = known_settings();
        let sources = [
            include_str!("../config.rs"),
            include_str!("../assistant_config.rs"),
            include_str!("../channel_config.rs"),
            include_str!("../main.rs"),
        ];
        let mut quoted = BTreeSet::new();
        for source in sources {
            for piece in source.split('"').skip(1).step_by(2) {
                let setting_like = piece.len() > 3
                    && piece.contains('_')
                    && piece
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
                if setting_like {
                    quoted.insert(piece.to_string());
                }
            }
        }
        let unknown: Vec<&String> = quoted.iter().filter(|q| !known.contains(*q)).collect();
        assert!(unknown.is_empty(), "read but not known: {unknown:?}");
        assert!(known.contains("DATABASE_URL") && known.contains("TWILIO_AUTH_TOKEN"));
    }

    /// `.env.example` lists every setting, so a newcomer's copy can name any of them.
    #[test]
    fn the_example_env_file_lists_every_setting() {
        let example = include_str!("../../../../.env.example");
        let listed: BTreeSet<&str> = example
            .lines()
            .filter_map(|line| line.trim_start_matches(['#', ' ']).split_once('='))
            .map(|(name, _)| name.trim())
            .collect();
        let missing: Vec<String> = known_settings()
            .into_iter()
            .filter(|name| name != "ENV_FILE" && !listed.contains(name.as_str()))
            .collect();
        assert!(missing.is_empty(), ".env.example lacks {missing:?}");
    }
}
