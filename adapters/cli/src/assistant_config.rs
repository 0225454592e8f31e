//! The AI assistant's settings from the environment (the original's `LITELLM_*` and
//! `CHAT_HISTORY_MAX` names accepted too).

use std::time::Duration;

use ai_message_core::MessageContent;
use ai_message_core::usecases::assistant::AssistantSettings;
use ai_message_openai::ModelConfig;

use crate::config::{ConfigError, number, read};

/// Time for a reply's write after its model call, in the forgotten-question threshold.
const FORGOTTEN_MARGIN: Duration = Duration::from_secs(5);

/// Where the model is (`None`: the assistant answers 503) and the assistant's policy.
pub fn assistant_config(
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(Option<ModelConfig>, AssistantSettings), ConfigError> {
    let defaults = AssistantSettings::default();
    let timeout = Duration::from_secs(number(lookup, &["AI_TIMEOUT_SECONDS"], 60u64, 1..=3_600)?);
    let max_tool_rounds = number(
        lookup,
        &["AI_MAX_TOOL_ROUNDS"],
        defaults.max_tool_rounds,
        0..=20,
    )?;
    let settings = AssistantSettings {
        name: {
            crate::config::names::note_default(&["AI_ASSISTANT_NAME"], &defaults.name);
            read(lookup, &["AI_ASSISTANT_NAME"])
        }
        .map_or(defaults.name, |(_, v)| v),
        system_prompt: read(lookup, &["AI_SYSTEM_PROMPT"])
            .map_or(defaults.system_prompt, |(_, v)| v),
        history_max: number(
            lookup,
            &["AI_HISTORY_MAX", "CHAT_HISTORY_MAX"],
            defaults.history_max,
            1..=1_000,
        )?,
        max_concurrency: number(
            lookup,
            &["AI_MAX_CONCURRENCY"],
            defaults.max_concurrency,
            1..=10_000,
        )?,
        max_tool_rounds,
        max_tool_calls: number(
            lookup,
            &["AI_MAX_TOOL_CALLS"],
            defaults.max_tool_calls,
            1..=ai_message_openai::MAX_TOOL_CALLS as u32,
        )?,
        max_tool_result_bytes: number(
            lookup,
            &["AI_MAX_TOOL_RESULT_BYTES"],
            defaults.max_tool_result_bytes,
            4 * 1024..=1024 * 1024,
        )?,
        max_prompt_bytes: number(
            lookup,
            &["AI_MAX_PROMPT_BYTES"],
            defaults.max_prompt_bytes,
            64 * 1024..=64 * 1024 * 1024,
        )?,
        // Longer than an answer's model calls (one per round of tools, and the reply), the
        // grace at shutdown, and the reply's write after it.
        forgotten_after: timeout * (max_tool_rounds + 1) + crate::SHUTDOWN_GRACE + FORGOTTEN_MARGIN,
    };
    let base = read(lookup, &["AI_API_BASE", "LITELLM_BASEURL"]);
    let model = read(lookup, &["AI_MODEL", "LITELLM_MODEL"]);
    let model_config = match (base, model) {
        (None, None) => None,
        (Some((name, _)), None) => {
            return Err(ConfigError::new(
                name,
                "needs AI_MODEL (the model to ask) beside it",
            ));
        }
        (None, Some((name, _))) => {
            return Err(ConfigError::new(
                name,
                "needs AI_API_BASE (where the model is) beside it",
            ));
        }
        (Some((base_name, base_url)), Some((_, model))) => {
            let config = ModelConfig {
                base_url,
                api_key: read(lookup, &["AI_API_KEY", "LITELLM_API_KEY"]).map(|(_, key)| key),
                model,
                timeout,
                max_reply_bytes: number(
                    lookup,
                    &["AI_MAX_REPLY_BYTES"],
                    ai_message_openai::DEFAULT_MAX_REPLY_BYTES,
                    256..=MessageContent::MAX_CHARS,
                )?,
            };
            // Checked here so a bad URL stops start-up, not the first question.
            ai_message_openai::OpenAiAssistant::new(config.clone())
                .map_err(|problem| ConfigError::new(base_name, problem.to_string()))?;
            Some(config)
        }
    };
    Ok((model_config, settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        }
    }

    #[test]
    fn unset_means_no_model_and_the_defaults() {
        let (model, settings) = assistant_config(&lookup(&[])).unwrap();
        assert!(model.is_none());
        assert_eq!(settings, AssistantSettings::default());
    }

    #[test]
    fn the_originals_names_are_accepted() {
        let (model, settings) = assistant_config(&lookup(&[
            ("LITELLM_BASEURL", "http://127.0.0.1:4000"),
            ("LITELLM_API_KEY", "sk-test"),
            ("LITELLM_MODEL", "openai/gpt-4o-mini"),
            ("CHAT_HISTORY_MAX", "20"),
        ]))
        .unwrap();
        let model = model.unwrap();
        assert_eq!(model.base_url, "http://127.0.0.1:4000");
        assert_eq!(model.api_key.as_deref(), Some("sk-test"));
        assert_eq!(model.model, "openai/gpt-4o-mini");
        assert_eq!(settings.history_max, 20);
    }

    #[test]
    fn tool_rounds_are_bounded_and_widen_the_forgotten_question_age() {
        let (_, settings) = assistant_config(&lookup(&[
            ("AI_MAX_TOOL_ROUNDS", "2"),
            ("AI_TIMEOUT_SECONDS", "10"),
        ]))
        .unwrap();
        assert_eq!(settings.max_tool_rounds, 2);
        assert_eq!(settings.forgotten_after, Duration::from_secs(3 * 10 + 15));
        let error = assistant_config(&lookup(&[("AI_MAX_TOOL_ROUNDS", "21")])).unwrap_err();
        assert_eq!(error.variable, "AI_MAX_TOOL_ROUNDS");
    }

    #[test]
    fn tool_calls_results_and_the_prompt_are_bounded() {
        let (_, settings) = assistant_config(&lookup(&[
            ("AI_MAX_TOOL_CALLS", "4"),
            ("AI_MAX_TOOL_RESULT_BYTES", "8192"),
            ("AI_MAX_PROMPT_BYTES", "131072"),
        ]))
        .unwrap();
        assert_eq!(settings.max_tool_calls, 4);
        assert_eq!(settings.max_tool_result_bytes, 8192);
        assert_eq!(settings.max_prompt_bytes, 131_072);
        for (name, value) in [
            ("AI_MAX_TOOL_CALLS", "0"),
            ("AI_MAX_TOOL_CALLS", "65"),
            ("AI_MAX_TOOL_RESULT_BYTES", "100"),
            ("AI_MAX_PROMPT_BYTES", "1000"),
        ] {
            let error =
                assistant_config(&|n: &str| (n == name).then(|| value.to_string())).unwrap_err();
            assert_eq!(error.variable, name);
        }
    }

    #[test]
    fn half_a_model_configuration_is_refused_with_its_name() {
        let error =
            assistant_config(&lookup(&[("AI_API_BASE", "http://127.0.0.1:4000")])).unwrap_err();
        assert_eq!(error.variable, "AI_API_BASE");
        let error = assistant_config(&lookup(&[("AI_API_BASE", "ftp://x"), ("AI_MODEL", "m")]))
            .unwrap_err();
        assert_eq!(error.variable, "AI_API_BASE");
    }
}
