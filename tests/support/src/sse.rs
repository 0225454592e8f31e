//! Reading a `text/event-stream` body as a client does: events split on blank lines, comment
//! lines (heartbeats) counted and skipped.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::Value;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: Value,
}

/// What waiting for the next event found.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Event(SseEvent),
    /// The server ended the stream.
    Closed,
    /// Nothing arrived in time.
    Quiet,
}

pub struct SseReader {
    body: std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>,
    buffer: String,
    pub heartbeats: usize,
}

impl SseReader {
    pub fn new(body: impl Stream<Item = std::io::Result<Bytes>> + Send + 'static) -> Self {
        Self {
            body: Box::pin(body),
            buffer: String::new(),
            heartbeats: 0,
        }
    }

    /// The next event within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(event) = self.take_event() {
                return Next::Event(event);
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) => return Next::Quiet,
                Ok(None) | Ok(Some(Err(_))) => return Next::Closed,
                Ok(Some(Ok(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
            }
        }
    }

    /// The next event, which must come within five seconds.
    #[track_caller]
    pub fn next_event(&mut self) -> impl std::future::Future<Output = SseEvent> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            match self.next_within(Duration::from_secs(5)).await {
                Next::Event(event) => event,
                other => panic!("{caller}: expected an event, got {other:?}"),
            }
        }
    }

    /// Events until `count` are read, each within five seconds.
    pub async fn events(&mut self, count: usize) -> Vec<SseEvent> {
        let mut events = Vec::with_capacity(count);
        for _ in 0..count {
            events.push(self.next_event().await);
        }
        events
    }

    fn take_event(&mut self) -> Option<SseEvent> {
        loop {
            if self.buffer.contains('\r') {
                self.buffer = self.buffer.replace("\r\n", "\n");
            }
            let end = self.buffer.find("\n\n")?;
            let block: String = self.buffer[..end].to_string();
            self.buffer.drain(..end + 2);
            let mut event = String::from("message");
            let mut id = None;
            let mut data = Vec::new();
            let mut fields = 0;
            for line in block.lines() {
                if line.starts_with(':') {
                    continue;
                }
                fields += 1;
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match name {
                    "event" => event = value.to_string(),
                    "id" => id = Some(value.to_string()),
                    "data" => data.push(value.to_string()),
                    _ => {}
                }
            }
            if fields == 0 {
                self.heartbeats += 1;
                continue;
            }
            let data = serde_json::from_str(&data.join("\n")).unwrap_or(Value::Null);
            return Some(SseEvent { event, id, data });
        }
    }
}
