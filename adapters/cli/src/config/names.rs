//! Every setting as the code reads it (names, default, range), for `serve --help` and for
//! the environment variables that look like a setting but are none (a typo that would
//! otherwise be ignored in silence).

use std::cell::RefCell;
use std::collections::BTreeSet;

use super::Config;

/// One setting as the configuration code reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The name first, then the older names also read.
    pub names: Vec<&'static str>,
    pub default: Option<String>,
    /// For numbers: `low to high`.
    pub range: Option<String>,
}

thread_local! {
    /// The settings read while [`settings`] walks the configuration; `None` otherwise.
    static SEEN: RefCell<Option<Vec<Setting>>> = const { RefCell::new(None) };
}

/// Records a setting as it is read (only while [`settings`] is listing them).
pub(crate) fn note(names: &[&'static str], default: Option<String>, range: Option<String>) {
    SEEN.with(|seen| {
        let mut seen = seen.borrow_mut();
        let Some(seen) = seen.as_mut() else {
            return;
        };
        match seen.iter_mut().find(|setting| setting.names == names) {
            Some(setting) => {
                setting.default = setting.default.take().or(default);
                setting.range = setting.range.take().or(range);
            }
            None => seen.push(Setting {
                names: names.to_vec(),
                default,
                range,
            }),
        }
    });
}

/// Settings with a default that is not a number: said where they are read, for the list.
pub(crate) fn note_default(names: &[&'static str], default: &str) {
    note(names, Some(default.to_string()), None);
}

/// Every setting, in the order the configuration reads them: the configuration is read once
/// with nothing set, and each setting it asks for is noted with its default and range.
pub fn settings() -> Vec<Setting> {
    SEEN.with(|seen| *seen.borrow_mut() = Some(Vec::new()));
    let _ = Config::from_lookup(&|_| None);
    let mut all = SEEN
        .with(|seen| seen.borrow_mut().take())
        .unwrap_or_default();
    for (name, default) in READ_ELSEWHERE_WITH_DEFAULTS {
        all.push(Setting {
            names: vec![name],
            default: default.map(str::to_string),
            range: None,
        });
    }
    all
}

/// `serve --help`'s list of settings.
pub fn settings_help() -> String {
    let mut text = String::from(
        "Settings (environment variables; a .env file too, under the environment; README's \
         Configuration section says what each one does):\n",
    );
    for setting in settings() {
        let mut line = format!("  {}", setting.names[0]);
        if setting.names.len() > 1 {
            line.push_str(&format!(" (also {})", setting.names[1..].join(", ")));
        }
        let mut facts = Vec::new();
        if let Some(default) = &setting.default {
            facts.push(format!("default {default}"));
        }
        if let Some(range) = &setting.range {
            facts.push(range.clone());
        }
        if !facts.is_empty() {
            line = format!("{line:<56} {}", facts.join(", "));
        }
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// Settings read outside [`Config::from_lookup`], or only when another setting is set.
const READ_ELSEWHERE_WITH_DEFAULTS: [(&str, Option<&str>); 7] = [
    ("RUST_LOG", Some("info")),
    ("LOG_FORMAT", Some("text")),
    ("ENV_FILE", Some(".env")),
    ("AI_MESSAGE_SUPERUSER_PASSWORD", None),
    ("AI_API_KEY", None),
    ("LITELLM_API_KEY", None),
    ("AI_MAX_REPLY_BYTES", Some("65536")),
];

/// Prefixes that only our settings use: an unknown name with one is a mistake.
const OUR_PREFIXES: &[&str] = &["AI_MESSAGE_", "TWILIO_"];

/// Every setting's name, older names included.
pub fn known_settings() -> BTreeSet<String> {
    settings()
        .into_iter()
        .flat_map(|setting| setting.names)
        .map(str::to_string)
        .collect()
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
