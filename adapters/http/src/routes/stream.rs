//! `/messages/stream`: server-sent events of the caller's messages, live.

use ai_message_core::usecases::live::FeedItem;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::ApiTags;
use crate::AppState;
use crate::auth::{Authenticated, StreamAuthenticated};
use crate::dto::*;
use crate::errors::ApiError;
use crate::event_stream::{EventStream, encode_event};

pub struct StreamApi {
    state: AppState,
}

impl StreamApi {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[derive(ApiResponse)]
pub(crate) enum StreamOpened {
    /// `text/event-stream` until the session ends, the client falls behind (it resumes with
    /// its cursor) or the server shuts down; a comment line every
    /// `STREAM_HEARTBEAT_SECONDS` keeps proxies from closing it.
    #[oai(status = 200)]
    Events(EventStream<StreamEvent>),
}

#[derive(ApiResponse)]
pub(crate) enum TicketIssued {
    #[oai(status = 201)]
    Created(Json<StreamTicket>),
}

fn event(name: &str, cursor: i64, data: StreamData) -> StreamEvent {
    StreamEvent {
        event: name.to_string(),
        id: cursor.to_string(),
        data,
    }
}

fn stream_event(item: FeedItem) -> StreamEvent {
    match item {
        FeedItem::Opened { cursor } => event(
            "stream.open",
            cursor,
            StreamData::Cursor(StreamCursorOut { cursor }),
        ),
        FeedItem::Reset { cursor } => event(
            "stream.reset",
            cursor,
            StreamData::Cursor(StreamCursorOut { cursor }),
        ),
        FeedItem::Created { message, cursor } => event(
            "message.created",
            cursor,
            StreamData::Message(message.into()),
        ),
        FeedItem::Updated { message, cursor } => event(
            "message.updated",
            cursor,
            StreamData::Message(message.into()),
        ),
        FeedItem::Read {
            id,
            reader_id,
            cursor,
        } => event(
            "message.read",
            cursor,
            StreamData::Read(ReadReceiptOut {
                id: id.get(),
                reader_id: reader_id.get(),
            }),
        ),
        FeedItem::Deleted { id, cursor } => event(
            "message.deleted",
            cursor,
            StreamData::Deleted(DeletedMessageOut { id: id.get() }),
        ),
        FeedItem::AssistantDelta {
            reply_to,
            text,
            cursor,
        } => event(
            "assistant.delta",
            cursor,
            StreamData::AssistantDelta(AssistantDeltaOut {
                reply_to: reply_to.get(),
                delta: text.to_string(),
            }),
        ),
        FeedItem::ReportCreated { report, cursor } => {
            event("report.created", cursor, StreamData::Report(report.into()))
        }
        FeedItem::ReportUpdated { report, cursor } => {
            event("report.updated", cursor, StreamData::Report(report.into()))
        }
    }
}

fn sse(event: StreamEvent) -> Bytes {
    use poem_openapi::types::ToJSON as _;
    encode_event(&event.id, &event.event, &event.data.to_json_string())
}

#[OpenApi(prefix_path = "/messages", tag = "ApiTags::Messages")]
impl StreamApi {
    /// Live events
    ///
    /// Server-sent events of the caller's messages: `stream.open` first (its `id` is the
    /// cursor), then `message.created` (to the recipient and the sender's other streams),
    /// `message.updated` (both parties), `message.read` (`{"id", "reader_id"}`, to the
    /// sender; marking all read sends one per message) and `message.deleted` (`{"id"}`,
    /// both parties), and `assistant.delta` (`{"reply_to", "delta"}`: the assistant's
    /// reply to your message as the model writes it), `report.created` (a report you
    /// filed; superusers: anyone's) and `report.updated` (your report edited or answered).
    /// Every event's `id` is the stream's
    /// cursor: reconnect with
    /// `Last-Event-ID` (or `last_event_id` beside a ticket) to receive first every message
    /// created meanwhile, then live events. A cursor that is too old (over 1,000 missed) or
    /// unreadable gets `stream.reset`: reload the lists. Authenticate with the Bearer token,
    /// or with `?ticket=` from `POST /messages/stream/ticket` (for `EventSource`). Ends when
    /// the session does (logout, password change, disabled account); at most
    /// `STREAM_MAX_PER_USER` streams per user (429 beyond).
    #[oai(path = "/stream", method = "get", operation_id = "stream_messages")]
    async fn stream(
        &self,
        auth: StreamAuthenticated,
        /// The `id` of the last event received, to resume from.
        #[oai(name = "Last-Event-ID")]
        last_event_id_header: Header<Option<String>>,
        /// Same as `Last-Event-ID`, for clients that cannot set headers.
        last_event_id: Query<Option<String>>,
    ) -> Result<StreamOpened, ApiError> {
        let resume = last_event_id_header.0.or(last_event_id.0);
        let feed = self
            .state
            .services
            .live
            .open(auth.into_caller(), resume.as_deref())
            .await?;
        // The feed lives in the response body: a client that goes away drops it, and its
        // place under the per-user limit, at once.
        let open = crate::metrics::Occupied::take(crate::metrics::STREAMS_OPEN);
        let events: BoxStream<'static, StreamEvent> = Box::pin(futures_util::stream::unfold(
            (feed, open),
            |(mut feed, open)| async move {
                let item = feed.next().await?;
                Some((stream_event(item), (feed, open)))
            },
        ));
        Ok(StreamOpened::Events(
            EventStream::new(events, sse).heartbeat(self.state.limits.settings.stream_heartbeat),
        ))
    }

    /// Ticket for a live stream
    ///
    /// A single-use ticket, valid 60 seconds and bound to the caller's session, that opens
    /// `GET /messages/stream?ticket=…`: for `EventSource`, which cannot send headers.
    #[oai(
        path = "/stream/ticket",
        method = "post",
        operation_id = "create_stream_ticket"
    )]
    async fn ticket(&self, auth: Authenticated) -> Result<TicketIssued, ApiError> {
        let issued = self.state.services.live.issue_ticket(&auth.0).await?;
        Ok(TicketIssued::Created(Json(StreamTicket {
            ticket: issued.ticket,
            expires_in: issued.expires_in,
        })))
    }
}
