//! The assistant port over OpenAI-compatible Chat Completions: `POST {base}/chat/completions`
//! with `model`, `messages`, the `tools` on offer, a bearer key, and `"stream": true`. Works
//! with LiteLLM's proxy, vLLM, Ollama and OpenAI alike; a model that refuses `tools` is
//! asked without them from then on.

mod tools;

pub use tools::MAX_CALLS as MAX_TOOL_CALLS;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ai_message_core::ports::ReplyPieces;
use ai_message_core::ports::{Assistant, AssistantError, AssistantPrompt, ModelReply};
use async_trait::async_trait;
use futures_util::StreamExt;
use serde_json::{Value, json};

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
    /// The reply is cut here (on a character boundary): what the live stream shows and what
    /// is stored stop at the same place.
    pub max_reply_bytes: usize,
}

/// Default of [`ModelConfig::max_reply_bytes`] (`AI_MAX_REPLY_BYTES`).
pub const DEFAULT_MAX_REPLY_BYTES: usize = 64 * 1024;

/// The longest line a streamed reply may send (an OpenAI chunk is a few hundred bytes).
const MAX_LINE_BYTES: usize = 256 * 1024;

/// The longest non-streamed answer body read, beside the reply bound (JSON escapes can
/// make text six times longer).
fn max_body_bytes(max_reply_bytes: usize) -> usize {
    max_reply_bytes.saturating_mul(6) + 64 * 1024
}

/// The model's text as it may reach users: control characters other than newline and tab
/// dropped (a NUL or an escape sequence has no business in a chat message).
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}

/// Adds `piece` to `text` up to `max` bytes; returns what was added and whether the bound
/// was reached.
fn take_within(text: &mut String, piece: &str, max: usize) -> (String, bool) {
    let room = max.saturating_sub(text.len());
    if piece.len() <= room {
        text.push_str(piece);
        return (piece.to_string(), false);
    }
    let mut cut = room;
    while !piece.is_char_boundary(cut) {
        cut -= 1;
    }
    text.push_str(&piece[..cut]);
    (piece[..cut].to_string(), true)
}

impl std::fmt::Debug for ModelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("max_reply_bytes", &self.max_reply_bytes)
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
    /// The model answered 400 to a request offering tools: it is asked without them.
    tools_refused: AtomicBool,
}

/// Why an assistant could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The base URL (`AI_API_BASE`) is not an http(s) URL.
    #[error("{0:?} is not an http(s) URL")]
    NotHttp(String),
    /// The HTTP client could not be built (its TLS roots, say).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

impl OpenAiAssistant {
    pub fn new(config: ModelConfig) -> Result<Self, SetupError> {
        let base = config.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(SetupError::NotHttp(base.to_string()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(SetupError::Client)?;
        Ok(Self {
            http,
            endpoint: format!("{base}/chat/completions"),
            config,
            tools_refused: AtomicBool::new(false),
        })
    }

    async fn complete(
        &self,
        prompt: AssistantPrompt,
        deltas: Option<ReplyPieces>,
    ) -> Result<ModelReply, AssistantError> {
        let offer_tools = !prompt.tools.is_empty() && !self.tools_refused.load(Ordering::Relaxed);
        let mut response = self.send(&prompt, offer_tools).await?;
        if offer_tools && response.status() == reqwest::StatusCode::BAD_REQUEST {
            tracing::warn!(
                model = %self.config.model,
                "the model refused a request offering tools (400): asking it without tools from now on"
            );
            self.tools_refused.store(true, Ordering::Relaxed);
            response = self.send(&prompt, false).await?;
        }
        let status = response.status();
        if !status.is_success() {
            return Err(AssistantError::Status(status.as_u16()));
        }
        let streamed = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        let max = self.config.max_reply_bytes;
        let answer = if streamed {
            read_stream(response, deltas, max).await?
        } else {
            // A server that ignores `stream` answers one JSON object, read up to a bound.
            let body = read_bounded(response, max_body_bytes(max)).await?;
            let value: Value = serde_json::from_slice(&body)
                .map_err(|e| AssistantError::Malformed(e.to_string()))?;
            let message = &value["choices"][0]["message"];
            let mut answer = Answer::default();
            if let Some(calls) = message["tool_calls"].as_array() {
                for (index, call) in calls.iter().enumerate() {
                    answer.calls.add(index, call);
                }
                answer.calls.check_size()?;
            }
            if let Some(content) = message["content"].as_str() {
                let (piece, _) = take_within(&mut answer.text, &clean(content), max);
                if let Some(deltas) = deltas {
                    deltas.send(piece);
                }
            } else if answer.calls.is_empty() {
                return Err(AssistantError::Malformed(
                    "no choices[0].message.content".into(),
                ));
            }
            answer
        };
        if offer_tools && !answer.calls.is_empty() {
            return Ok(ModelReply::ToolCalls(answer.calls.finish()));
        }
        if answer.text.trim().is_empty() {
            return Err(AssistantError::Malformed("an empty reply".into()));
        }
        Ok(ModelReply::Text(answer.text))
    }

    /// Posts the prompt (with its tools when `offer_tools`); the response, whatever its
    /// status.
    async fn send(
        &self,
        prompt: &AssistantPrompt,
        offer_tools: bool,
    ) -> Result<reqwest::Response, AssistantError> {
        let body = request_body(&self.config.model, prompt, offer_tools);
        let mut request = self.http.post(&self.endpoint).json(&body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        // The error's text names the URL, never the key or the prompt.
        request
            .send()
            .await
            .map_err(|e| AssistantError::Unreachable(e.without_url().to_string()))
    }
}

/// The request's body: the prompt's messages (and, when `offer_tools`, its rounds of tool
/// calls and the tools). It takes at most `prompt.size()` bytes beside the model's name and
/// the tools' descriptions, the bound the assistant keeps prompts within.
fn request_body(model: &str, prompt: &AssistantPrompt, offer_tools: bool) -> Value {
    let mut messages = vec![json!({"role": "system", "content": prompt.system})];
    messages.extend(
        prompt
            .turns
            .iter()
            .map(|turn| json!({"role": turn.role.as_str(), "content": turn.content})),
    );
    if offer_tools {
        tools::add_exchanges(&mut messages, &prompt.exchanges);
    }
    let mut body = json!({
        "model": endpoint_model(model),
        "messages": messages,
        "stream": true,
    });
    if offer_tools {
        body["tools"] = tools::offered(&prompt.tools);
    }
    body
}

/// A completion as read: its text, and the tool calls it makes.
#[derive(Default)]
struct Answer {
    text: String,
    calls: tools::CallsUnderWay,
}

/// A whole answer body, refused past `max` bytes.
async fn read_bounded(response: reqwest::Response, max: usize) -> Result<Vec<u8>, AssistantError> {
    let mut body = response.bytes_stream();
    let mut read = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| AssistantError::Unreachable(e.without_url().to_string()))?;
        if read.len() + chunk.len() > max {
            return Err(AssistantError::Malformed(format!(
                "the answer is over {max} bytes"
            )));
        }
        read.extend_from_slice(&chunk);
    }
    Ok(read)
}

/// A streamed completion: `data: {json}` lines until `data: [DONE]`, its text cut at `max`
/// bytes (the pieces sent to `deltas` stop at the same place) and its tool calls assembled
/// from their pieces.
async fn read_stream(
    response: reqwest::Response,
    deltas: Option<ReplyPieces>,
    max: usize,
) -> Result<Answer, AssistantError> {
    let mut body = response.bytes_stream();
    let mut pending = Vec::new();
    // Bytes of `pending` already searched for a line end: a long line is scanned once.
    let mut scanned = 0;
    let mut answer = Answer::default();
    let mut full = false;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| AssistantError::Unreachable(e.without_url().to_string()))?;
        pending.extend_from_slice(&chunk);
        loop {
            let Some(offset) = pending[scanned..].iter().position(|b| *b == b'\n') else {
                scanned = pending.len();
                if pending.len() > MAX_LINE_BYTES {
                    return Err(AssistantError::Malformed(format!(
                        "a line of the stream is over {MAX_LINE_BYTES} bytes"
                    )));
                }
                break;
            };
            let line: Vec<u8> = pending.drain(..=scanned + offset).collect();
            scanned = 0;
            let line = String::from_utf8_lossy(&line);
            match data_line(line.trim_end()) {
                Some(Piece::Done) => return Ok(answer),
                Some(Piece::Delta { text, tool_calls }) => {
                    for call in &tool_calls {
                        let index = call["index"].as_u64().unwrap_or(0) as usize;
                        answer.calls.add(index, call);
                    }
                    if let Some(piece) = text.filter(|_| !full) {
                        let (taken, reached) = take_within(&mut answer.text, &clean(&piece), max);
                        full = reached;
                        if let Some(deltas) = &deltas
                            && !taken.is_empty()
                        {
                            deltas.send(taken);
                        }
                    }
                    answer.calls.check_size()?;
                }
                Some(Piece::Error(message)) => return Err(AssistantError::Malformed(message)),
                None => {}
            }
        }
    }
    // The stream ended without `[DONE]`: keep what came, if anything did.
    Ok(answer)
}

#[derive(Debug, PartialEq)]
enum Piece {
    /// A chunk's text and tool-call pieces.
    Delta {
        text: Option<String>,
        tool_calls: Vec<Value>,
    },
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
    let delta = &value["choices"][0]["delta"];
    let text = delta["content"]
        .as_str()
        .filter(|piece| !piece.is_empty())
        .map(str::to_string);
    let tool_calls = delta["tool_calls"].as_array().cloned().unwrap_or_default();
    (text.is_some() || !tool_calls.is_empty()).then_some(Piece::Delta { text, tool_calls })
}

#[async_trait]
impl Assistant for OpenAiAssistant {
    async fn reply(
        &self,
        prompt: AssistantPrompt,
        deltas: Option<ReplyPieces>,
    ) -> Result<ModelReply, AssistantError> {
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
            Some(Piece::Delta {
                text: Some("Bonjour".into()),
                tool_calls: Vec::new()
            })
        );
        assert_eq!(
            data_line(
                r#"data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ti"}}]}}]}"#
            ),
            Some(Piece::Delta {
                text: None,
                tool_calls: vec![json!({"index": 0, "function": {"arguments": "{\"ti"}})]
            })
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
    fn model_text_loses_control_characters_but_newlines_and_tabs() {
        assert_eq!(clean("a\u{0}b\u{1b}[31mc\nd\te\r"), "ab[31mc\nd\te");
    }

    #[test]
    fn a_reply_is_cut_on_a_character_boundary_at_the_bound() {
        let mut text = String::from("ab");
        assert_eq!(take_within(&mut text, "cd", 5), ("cd".to_string(), false));
        assert_eq!(take_within(&mut text, "éé", 6), ("é".to_string(), true));
        assert_eq!(text, "abcdé");
        assert_eq!(take_within(&mut text, "x", 6), (String::new(), true));
    }

    fn nasty_report(nasty: &str) -> ai_message_core::ReportView {
        use ai_message_core::*;
        let now: Timestamp = "2026-12-08T01:01:47.043554Z".parse().unwrap();
        ReportView {
            report: Report {
                id: ReportId::new(i64::MAX),
                reporter_id: UserId::new(i64::MAX),
                title: ReportTitle::from_storage(nasty.into()),
                content: ReportContent::from_storage(nasty.into()),
                status: ReportStatus::InProgress,
                comment: Some(ReportComment::from_storage(nasty.into())),
                resolved_at: Some(now),
                resolved_by: Some(UserId::new(i64::MAX)),
                created_at: now,
                updated_at: now,
            },
            reporter_username: Some(Username::from_storage(nasty.into())),
            resolver_username: Some(Username::from_storage(nasty.into())),
        }
    }

    /// Text at its worst for escaping (control characters, quotes, backslashes) in every
    /// place the prompt holds it: the body stays within the size the assistant bounds.
    #[test]
    fn a_request_body_takes_no_more_than_the_prompts_size_beside_its_fixed_parts() {
        use ai_message_core::ports::{Tool, ToolCall, ToolExchange, ToolOutcome, ToolRequest};
        use ai_message_core::{ChatRole, ChatTurn};
        let nasty = "\u{1}\"\\\n".repeat(500);
        let call = ToolCall {
            id: nasty.clone(),
            name: nasty.clone(),
            arguments: nasty.clone(),
            request: Ok(ToolRequest::GetMyReports { status: None }),
        };
        let prompt = AssistantPrompt {
            system: nasty.clone(),
            turns: vec![
                ChatTurn {
                    role: ChatRole::User,
                    content: nasty.clone(),
                },
                ChatTurn {
                    role: ChatRole::Assistant,
                    content: String::new(),
                },
            ],
            tools: Tool::ALL.to_vec(),
            exchanges: vec![ToolExchange {
                calls: vec![call.clone(), call],
                results: vec![
                    ToolOutcome::Refused(nasty.clone()),
                    ToolOutcome::Reports {
                        reports: vec![nasty_report(&nasty)],
                        omitted: 19,
                    },
                ],
            }],
        };
        let fixed = request_body(
            "m",
            &AssistantPrompt {
                system: String::new(),
                turns: Vec::new(),
                tools: Tool::ALL.to_vec(),
                exchanges: Vec::new(),
            },
            true,
        )
        .to_string()
        .len();
        let body = request_body("m", &prompt, true).to_string().len();
        assert!(
            body <= prompt.size() + fixed,
            "{body} > {} + {fixed}",
            prompt.size()
        );
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let config = ModelConfig {
            base_url: "http://127.0.0.1:1".into(),
            api_key: Some("sk-secret".into()),
            model: "m".into(),
            timeout: Duration::from_secs(1),
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
        };
        assert!(!format!("{config:?}").contains("sk-secret"));
    }
}
