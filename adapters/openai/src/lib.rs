//! The assistant port over OpenAI-compatible Chat Completions: `POST {base}/chat/completions`
//! with `model` and `messages`, a bearer key, and `"stream": true`. Works with LiteLLM's
//! proxy, vLLM, Ollama and OpenAI alike.

use std::time::Duration;

use ai_message_core::ports::{Assistant, AssistantError, AssistantPrompt};
use async_trait::async_trait;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

/// Where the model is and how long to wait for it.
#[derive(Clone, PartialEq, Eq)]
pub struct ModelConfig {
    /// `https://api.openai.com/v1`, `http://localhost:4000` (LiteLLM), `http://localhost:11434/v1`
    /// (Ollama)…
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    /// For the whole reply, from the request to its last piece.
    pub timeout: Duration,
}

impl std::fmt::Debug for ModelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// LiteLLM names OpenAI-compatible models `openai/<model>`; the endpoint itself knows them
/// as `<model>`. Other slashes are part of names (`meta-llama/Llama-3-8B` on vLLM).
pub fn endpoint_model(model: &str) -> &str {
    model.strip_prefix("openai/").unwrap_or(model)
}

pub struct OpenAiAssistant {
    http: reqwest::Client,
    endpoint: String,
    config: ModelConfig,
}

impl OpenAiAssistant {
    pub fn new(config: ModelConfig) -> Result<Self, String> {
        let base = config.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!("{base:?} is not an http(s) URL"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            endpoint: format!("{base}/chat/completions"),
            config,
        })
    }

    async fn complete(
        &self,
        prompt: AssistantPrompt,
        deltas: Option<UnboundedSender<String>>,
    ) -> Result<String, AssistantError> {
        let mut messages = vec![json!({"role": "system", "content": prompt.system})];
        messages.extend(
            prompt
                .turns
                .iter()
                .map(|turn| json!({"role": turn.role.as_str(), "content": turn.content})),
        );
        let body = json!({
            "model": endpoint_model(&self.config.model),
            "messages": messages,
            "stream": true,
        });
        let mut request = self.http.post(&self.endpoint).json(&body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        // The error's text names the URL, never the key or the prompt.
        let response = request
            .send()
            .await
            .map_err(|e| AssistantError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(AssistantError::Status(status.as_u16()));
        }
        let streamed = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        let text = if streamed {
            read_stream(response, deltas).await?
        } else {
            // A server that ignores `stream` answers one JSON object.
            let value: Value = response
                .json()
                .await
                .map_err(|e| AssistantError::Malformed(e.without_url().to_string()))?;
            let text = value["choices"][0]["message"]["content"]
                .as_str()
                .ok_or_else(|| AssistantError::Malformed("no choices[0].message.content".into()))?
                .to_string();
            if let Some(deltas) = deltas {
                let _ = deltas.send(text.clone());
            }
            text
        };
        if text.trim().is_empty() {
            return Err(AssistantError::Malformed("an empty reply".into()));
        }
        Ok(text)
    }
}

/// The text of a streamed completion: `data: {json}` lines until `data: [DONE]`.
async fn read_stream(
    response: reqwest::Response,
    deltas: Option<UnboundedSender<String>>,
) -> Result<String, AssistantError> {
    let mut body = response.bytes_stream();
    let mut pending = Vec::new();
    let mut text = String::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| AssistantError::Unreachable(e.without_url().to_string()))?;
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            match data_line(line.trim_end()) {
                Some(Piece::Done) => return Ok(text),
                Some(Piece::Text(piece)) => {
                    if let Some(deltas) = &deltas {
                        let _ = deltas.send(piece.clone());
                    }
                    text.push_str(&piece);
                }
                Some(Piece::Error(message)) => return Err(AssistantError::Malformed(message)),
                None => {}
            }
        }
    }
    // The stream ended without `[DONE]`: keep what came, if anything did.
    Ok(text)
}

#[derive(Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Done,
    Error(String),
}

fn data_line(line: &str) -> Option<Piece> {
    let data = line.strip_prefix("data:")?.trim();
    if data == "[DONE]" {
        return Some(Piece::Done);
    }
    let value: Value = serde_json::from_str(data).ok()?;
    if value.get("error").is_some() {
        return Some(Piece::Error("the stream reported an error".into()));
    }
    value["choices"][0]["delta"]["content"]
        .as_str()
        .filter(|piece| !piece.is_empty())
        .map(|piece| Piece::Text(piece.to_string()))
}

#[async_trait]
impl Assistant for OpenAiAssistant {
    async fn reply(
        &self,
        prompt: AssistantPrompt,
        deltas: Option<UnboundedSender<String>>,
    ) -> Result<String, AssistantError> {
        let in_flight = CallUnderWay::start();
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(self.config.timeout, self.complete(prompt, deltas))
            .await
            .map_err(|_| AssistantError::Timeout(self.config.timeout.as_secs()))
            .and_then(|answer| answer);
        drop(in_flight);
        let outcome = match &answer {
            Ok(_) => "ok",
            Err(AssistantError::Timeout(_)) => "timeout",
            Err(_) => "error",
        };
        metrics::counter!(CALLS, "outcome" => outcome).increment(1);
        metrics::histogram!(CALL_DURATION, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        answer
    }
}

/// Calls to the model, by outcome (`ok`, `error`, `timeout`), their duration, and those
/// under way.
pub const CALLS: &str = "assistant_model_calls_total";
pub const CALL_DURATION: &str = "assistant_model_call_duration_seconds";
pub const CALLS_IN_FLIGHT: &str = "assistant_model_calls_in_flight";

/// One call counted in [`CALLS_IN_FLIGHT`] until it ends or is dropped.
struct CallUnderWay;

impl CallUnderWay {
    fn start() -> Self {
        metrics::gauge!(CALLS_IN_FLIGHT).increment(1.0);
        Self
    }
}

impl Drop for CallUnderWay {
    fn drop(&mut self) {
        metrics::gauge!(CALLS_IN_FLIGHT).decrement(1.0);
    }
}

/// Describes the model calls' metrics for the exposition's `# HELP` lines.
pub fn describe_metrics() {
    metrics::describe_counter!(CALLS, "Calls to the assistant's model, by outcome");
    metrics::describe_histogram!(
        CALL_DURATION,
        metrics::Unit::Seconds,
        "Duration of calls to the assistant's model, by outcome"
    );
    metrics::describe_gauge!(CALLS_IN_FLIGHT, "Calls to the assistant's model under way");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn litellm_openai_prefixes_are_stripped_and_other_slashes_kept() {
        assert_eq!(endpoint_model("openai/gpt-4o-mini"), "gpt-4o-mini");
        assert_eq!(endpoint_model("gpt-4o-mini"), "gpt-4o-mini");
        assert_eq!(
            endpoint_model("meta-llama/Llama-3-8B"),
            "meta-llama/Llama-3-8B"
        );
    }

    #[test]
    fn stream_lines_are_read_as_openai_writes_them() {
        assert_eq!(
            data_line(r#"data: {"choices":[{"delta":{"content":"Bonjour"}}]}"#),
            Some(Piece::Text("Bonjour".into()))
        );
        assert_eq!(data_line("data: [DONE]"), Some(Piece::Done));
        assert_eq!(
            data_line(r#"data: {"choices":[{"delta":{"role":"assistant"}}]}"#),
            None
        );
        assert_eq!(data_line(": keep-alive"), None);
        assert!(matches!(
            data_line(r#"data: {"error":{"message":"quota"}}"#),
            Some(Piece::Error(_))
        ));
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let config = ModelConfig {
            base_url: "http://127.0.0.1:1".into(),
            api_key: Some("sk-secret".into()),
            model: "m".into(),
            timeout: Duration::from_secs(1),
        };
        assert!(!format!("{config:?}").contains("sk-secret"));
    }
}
