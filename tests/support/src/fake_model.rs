//! A fake OpenAI-compatible Chat Completions server on 127.0.0.1, port 0: it records every
//! request and answers from a script (streamed replies, plain JSON, error statuses, slow
//! answers), so tests see exactly what the model would be given, without any network.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poem::http::StatusCode;
use poem::web::Json;
use poem::{Body, EndpointExt, IntoResponse, Response, Route, handler, post};
use serde_json::{Value, json};

/// What the fake answers, in order; when the script runs out it echoes the last user turn.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Streamed as server-sent chunks of a few characters each.
    Streamed(String),
    /// One JSON object, as a server that ignores `"stream": true` answers.
    Plain(String),
    Status(u16),
    /// Waits, then streams the text.
    Slow(Duration, String),
    /// Streamed tool calls, `(name, arguments as JSON text)`, each in pieces, as OpenAI
    /// streams them.
    ToolCalls(Vec<(String, String)>),
    /// Tool calls in one JSON object, as a server that ignores `"stream": true` answers.
    PlainToolCalls(Vec<(String, String)>),
    /// Answers as the inner answer once the test releases the hold (the model "thinks"
    /// until then).
    Held(Hold, Box<Answer>),
}

/// A pause in the fake's answer that the test ends: the request's arrival can be awaited,
/// so a test acts while the model thinks, without timing.
#[derive(Debug, Clone)]
pub struct Hold {
    reached: Arc<tokio::sync::Semaphore>,
    released: Arc<tokio::sync::Semaphore>,
}

impl Default for Hold {
    fn default() -> Self {
        Self {
            reached: Arc::new(tokio::sync::Semaphore::new(0)),
            released: Arc::new(tokio::sync::Semaphore::new(0)),
        }
    }
}

impl Hold {
    /// Resolves once the held request has arrived.
    pub async fn reached(&self) {
        self.reached.acquire().await.expect("never closed").forget();
    }

    /// Lets the held answer go.
    pub fn release(&self) {
        self.released.add_permits(1);
    }
}

impl Answer {
    /// One call of `name` with `arguments`.
    pub fn tool_call(name: &str, arguments: serde_json::Value) -> Self {
        Self::ToolCalls(vec![(name.to_string(), arguments.to_string())])
    }
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub authorization: Option<String>,
    pub body: Value,
    /// The body's length in bytes, as it came.
    pub bytes: usize,
}

impl Recorded {
    /// `(role, content)` of every message given to the model.
    pub fn messages(&self) -> Vec<(String, String)> {
        self.body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                (
                    m["role"].as_str().unwrap_or_default().to_string(),
                    m["content"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

#[derive(Default)]
struct State {
    script: Mutex<VecDeque<Answer>>,
    recorded: Mutex<Vec<Recorded>>,
}

pub struct FakeModel {
    /// `http://127.0.0.1:<port>/v1`: what `AI_API_BASE` would be.
    pub base_url: String,
    state: Arc<State>,
    _server: crate::loopback::LoopbackServer,
}

impl FakeModel {
    pub async fn start() -> Self {
        let state = Arc::new(State::default());
        let app = Route::new()
            .at("/v1/chat/completions", post(completions))
            .data(state.clone());
        let server = crate::loopback::LoopbackServer::start(app).await;
        Self {
            base_url: format!("http://127.0.0.1:{}/v1", server.port),
            state,
            _server: server,
        }
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.state.script.lock().unwrap().extend(answers);
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }
}

#[handler]
async fn completions(
    request: &poem::Request,
    raw: Vec<u8>,
    state: poem::web::Data<&Arc<State>>,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&raw) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let last_user = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string();
    state.recorded.lock().unwrap().push(Recorded {
        authorization,
        body,
        bytes: raw.len(),
    });
    let answer = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| Answer::Streamed(format!("echo: {last_user}")));
    answer_with(answer).await
}

async fn answer_with(answer: Answer) -> Response {
    match answer {
        Answer::Streamed(text) => streamed(&text),
        Answer::Plain(text) => Json(json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]
        }))
        .into_response(),
        Answer::Status(code) => Response::builder()
            .status(StatusCode::from_u16(code).unwrap())
            .body(r#"{"error":{"message":"scripted failure"}}"#),
        Answer::Slow(wait, text) => {
            tokio::time::sleep(wait).await;
            streamed(&text)
        }
        Answer::ToolCalls(calls) => streamed_calls(&calls),
        Answer::PlainToolCalls(calls) => {
            let calls: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(index, (name, arguments))| {
                    json!({"id": format!("call_{index}"), "type": "function",
                        "function": {"name": name, "arguments": arguments}})
                })
                .collect();
            Json(json!({"choices": [{"index": 0, "message": {
                "role": "assistant", "content": null, "tool_calls": calls
            }}]}))
            .into_response()
        }
        Answer::Held(hold, answer) => {
            hold.reached.add_permits(1);
            hold.released
                .acquire()
                .await
                .expect("never closed")
                .forget();
            Box::pin(answer_with(*answer)).await
        }
    }
}

fn streamed_calls(calls: &[(String, String)]) -> Response {
    let mut events =
        String::from("data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n");
    for (index, (name, arguments)) in calls.iter().enumerate() {
        let head = json!({"choices": [{"index": 0, "delta": {"tool_calls": [{
            "index": index, "id": format!("call_{index}"), "type": "function",
            "function": {"name": name, "arguments": ""}
        }]}}]});
        events.push_str(&format!("data: {head}\n\n"));
        let chars: Vec<char> = arguments.chars().collect();
        for piece in chars.chunks(5) {
            let piece: String = piece.iter().collect();
            let chunk = json!({"choices": [{"index": 0, "delta": {"tool_calls": [{
                "index": index, "function": {"arguments": piece}
            }]}}]});
            events.push_str(&format!("data: {chunk}\n\n"));
        }
    }
    let finish = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]});
    events.push_str(&format!("data: {finish}\n\ndata: [DONE]\n\n"));
    Response::builder()
        .content_type("text/event-stream")
        .body(Body::from_string(events))
}

fn streamed(text: &str) -> Response {
    let mut events =
        String::from("data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n");
    let chars: Vec<char> = text.chars().collect();
    for piece in chars.chunks(4) {
        let piece: String = piece.iter().collect();
        let chunk = json!({"choices": [{"index": 0, "delta": {"content": piece}}]});
        events.push_str(&format!("data: {chunk}\n\n"));
    }
    events.push_str("data: [DONE]\n\n");
    Response::builder()
        .content_type("text/event-stream")
        .body(Body::from_string(events))
}
