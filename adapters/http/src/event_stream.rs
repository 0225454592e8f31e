//! `text/event-stream` responses, each event encoded straight into the bytes hyper sends.
//!
//! poem-openapi's `EventStream` goes through poem's `SSE`, which turns the events into an
//! `AsyncRead` and reads them back through a 4 KiB buffer: every open live stream held that
//! buffer (4 of the ~37 KiB an idle stream cost) and every event was copied through it, after
//! three boxed stream adapters. Here an event is formatted once into the `Bytes` hyper writes,
//! and the body is one stream holding the events and the heartbeat timer. The OpenAPI
//! description is poem-openapi's, so the document does not change.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use poem::{Body, IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::Type;

/// The comment line sent when nothing else was for a heartbeat's length.
const HEARTBEAT: &[u8] = b":\n\n";

/// A stream of events of type `E`, sent as server-sent events.
pub struct EventStream<E> {
    events: Pin<Box<dyn Stream<Item = E> + Send>>,
    encode: fn(E) -> Bytes,
    heartbeat: Option<Duration>,
}

impl<E> EventStream<E> {
    /// `encode` turns an event into its wire form ([`encode_event`]).
    pub fn new(events: Pin<Box<dyn Stream<Item = E> + Send>>, encode: fn(E) -> Bytes) -> Self {
        Self {
            events,
            encode,
            heartbeat: None,
        }
    }

    /// A comment line every `period` keeps proxies from closing a quiet stream.
    #[must_use]
    pub fn heartbeat(self, period: Duration) -> Self {
        Self {
            heartbeat: Some(period),
            ..self
        }
    }
}

/// One event in the wire format: `id:`, `event:` (left out when empty or `message`, as
/// for any `EventSource`), one `data:` line per line of `data`, and a blank line.
pub fn encode_event(id: &str, event: &str, data: &str) -> Bytes {
    let mut wire = String::with_capacity(id.len() + event.len() + data.len() + 24);
    if !id.is_empty() {
        push_field(&mut wire, "id", id);
    }
    if !event.is_empty() && event != "message" {
        push_field(&mut wire, "event", event);
    }
    for line in data.lines() {
        push_field(&mut wire, "data", line);
    }
    wire.push('\n');
    Bytes::from(wire)
}

fn push_field(wire: &mut String, name: &str, value: &str) {
    wire.push_str(name);
    wire.push_str(": ");
    wire.push_str(value);
    wire.push('\n');
}

impl<E: Type + Send> Payload for EventStream<E> {
    const CONTENT_TYPE: &'static str = "text/event-stream";

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            items: Some(Box::new(E::schema_ref())),
            ..MetaSchema::new_with_format("array", "event-stream")
        }))
    }

    fn register(registry: &mut Registry) {
        E::register(registry);
    }
}

impl<E: Send + 'static> IntoResponse for EventStream<E> {
    fn into_response(self) -> Response {
        let heartbeat = self
            .heartbeat
            .map(|period| tokio::time::interval_at(tokio::time::Instant::now() + period, period));
        let body = EncodedEvents {
            events: self.events,
            encode: self.encode,
            heartbeat,
        };
        Response::builder()
            .content_type("text/event-stream")
            .header("X-Accel-Buffering", "no")
            .header("Cache-Control", "no-cache")
            .body(Body::from_bytes_stream(body))
    }
}

/// The body: the next event when there is one, else a heartbeat when it is due.
struct EncodedEvents<E> {
    events: Pin<Box<dyn Stream<Item = E> + Send>>,
    encode: fn(E) -> Bytes,
    heartbeat: Option<tokio::time::Interval>,
}

impl<E> Stream for EncodedEvents<E> {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(event) = self.events.as_mut().poll_next(cx) {
            return Poll::Ready(event.map(|event| Ok((self.encode)(event))));
        }
        match self.heartbeat.as_mut() {
            Some(heartbeat) => heartbeat
                .poll_tick(cx)
                .map(|_| Some(Ok(Bytes::from_static(HEARTBEAT)))),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn an_event_has_its_id_name_and_one_data_line_per_line() {
        assert_eq!(
            encode_event("7", "message.created", "{\"id\":1}"),
            Bytes::from_static(b"id: 7\nevent: message.created\ndata: {\"id\":1}\n\n")
        );
        assert_eq!(
            encode_event("", "message", "a\nb\r\nc"),
            Bytes::from_static(b"data: a\ndata: b\ndata: c\n\n")
        );
    }

    /// What poem's own encoder writes for the same event, byte for byte: clients parsed
    /// that before.
    #[test]
    fn events_are_written_as_poem_wrote_them() {
        for (id, event, data) in [
            ("12", "stream.open", "{\"cursor\":12}"),
            ("", "message", "plain"),
            ("3", "", "two\nlines"),
        ] {
            let poem = poem::web::sse::Event::message(data)
                .event_type(event)
                .id(id)
                .to_string();
            assert_eq!(encode_event(id, event, data), Bytes::from(poem));
        }
    }

    #[tokio::test]
    async fn a_quiet_stream_sends_a_heartbeat_each_period_and_events_as_they_come() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
        let events = Box::pin(tokio_stream_from(rx));
        let mut body = EncodedEvents {
            events,
            encode: |data| encode_event("", "", data),
            heartbeat: Some(tokio::time::interval_at(
                tokio::time::Instant::now() + Duration::from_millis(50),
                Duration::from_millis(50),
            )),
        };
        tx.send("first").unwrap();
        assert_eq!(
            body.next().await.unwrap().unwrap(),
            Bytes::from_static(b"data: first\n\n")
        );
        let started = tokio::time::Instant::now();
        assert_eq!(
            body.next().await.unwrap().unwrap(),
            Bytes::from_static(HEARTBEAT)
        );
        assert!(
            started.elapsed() >= Duration::from_millis(40),
            "not before its period"
        );
        drop(tx);
        assert!(body.next().await.is_none(), "the body ends with its events");
    }

    fn tokio_stream_from<T: Send + 'static>(
        mut rx: tokio::sync::mpsc::UnboundedReceiver<T>,
    ) -> impl Stream<Item = T> + Send {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
