//! Live delivery: a stream of what happens to the caller's messages, resumable from a cursor,
//! that ends as soon as the caller's session does.
//!
//! # Why no message is missed
//!
//! The cursor is a [`Position`] in the caller's delivery sequence: storage hands each user
//! the positions 1, 2, 3… in the transaction that stores a message they send or receive,
//! while holding the user's counter, so a message that commits later always has a later
//! position, and when position `p` is committed every position below it is committed too
//! (or was deleted).
//!
//! A stream's cursor `c` means "every position up to `c` was delivered". A new message's
//! event carries its position `p`:
//! - `p <= c`: already delivered (replayed from storage); skipped, so nothing repeats;
//! - `p == c + 1` and the event carries the row: delivered, `c = p`;
//! - anything else (an event that overtook an earlier one, one from another instance
//!   without its row, one that does not say its position): the stream reads every position
//!   above `c` from storage. Since `p` is committed, so is everything below it: the read
//!   returns all of them, in order, and `c` moves to the last one read.
//!
//! So `c` only moves over positions that were delivered, and a client that resumes from
//! any cursor it was given receives every later message exactly once. Events published
//! out of order (each request publishes after its own commit) cost a read, never a gap.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::TimeDelta;

use super::auth::{Auth, AuthenticateError, sha256_hex};
use super::{Caller, Ports};
use crate::domain::{
    DomainEvent, Message, MessageEvent, MessageId, Position, ReportEvent, ReportView,
    StreamTicketHash, UserId,
};
use crate::ports::{
    Clock, EventSubscriptions, MessageRepository, NewStreamTicket, Notice, PortError,
    ReportRepository, SecretSource, SessionRepository, StreamLimits, SubscribeError, Subscriber,
    Subscription,
};

/// Policy of live streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSettings {
    pub limits: StreamLimits,
    /// At most this many missed messages are replayed on resume; beyond, the stream says
    /// `Reset` and the client reloads its lists.
    pub replay_max: u32,
    /// How long a stream ticket can be redeemed.
    pub ticket_ttl: TimeDelta,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            limits: StreamLimits::default(),
            replay_max: 1_000,
            ticket_ttl: TimeDelta::seconds(60),
        }
    }
}

/// A ticket that opens one stream of the caller's session, shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTicket {
    pub ticket: String,
    pub expires_in: i64,
}

/// Why a stream could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenStreamError {
    #[error("the user has {0} streams open already")]
    TooManyStreams(usize),
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Where a stream stands: every message up to this position of the caller's delivery
/// sequence was delivered (or the client was told to reload). What a client presents to
/// resume. Positions of messages stored before positions existed are their ids, so cursors
/// handed out then still resume.
pub type Cursor = Position;

/// One thing a stream tells its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    /// The stream is open; this is its starting cursor.
    Opened {
        cursor: Cursor,
    },
    /// Too much was missed, or the cursor means nothing here: reload the lists, then go on
    /// from this cursor.
    Reset {
        cursor: Cursor,
    },
    Created {
        message: Message,
        cursor: Cursor,
    },
    Updated {
        message: Message,
        cursor: Cursor,
    },
    Read {
        id: MessageId,
        reader_id: UserId,
        cursor: Cursor,
    },
    Deleted {
        id: MessageId,
        cursor: Cursor,
    },
    /// A piece of the assistant's reply to the caller's message `reply_to`.
    AssistantDelta {
        reply_to: MessageId,
        text: std::sync::Arc<str>,
        cursor: Cursor,
    },
    /// A report was filed: the caller's own, or any (for a superuser).
    ReportCreated {
        report: ReportView,
        cursor: Cursor,
    },
    /// The caller's report was edited or answered.
    ReportUpdated {
        report: ReportView,
        cursor: Cursor,
    },
}

#[derive(Clone)]
pub struct Live {
    messages: Arc<dyn MessageRepository>,
    reports: Arc<dyn ReportRepository>,
    sessions: Arc<dyn SessionRepository>,
    auth: Auth,
    subscriptions: Arc<dyn EventSubscriptions>,
    clock: Arc<dyn Clock>,
    secrets: Arc<dyn SecretSource>,
    settings: LiveSettings,
}

impl Live {
    pub fn new(ports: &Ports, auth: Auth, settings: LiveSettings) -> Self {
        Self {
            messages: ports.messages.clone(),
            reports: ports.reports.clone(),
            sessions: ports.sessions.clone(),
            auth,
            subscriptions: ports.subscriptions.clone(),
            clock: ports.clock.clone(),
            secrets: ports.secrets.clone(),
            settings,
        }
    }

    /// Streams open on this instance.
    pub fn open_streams(&self) -> usize {
        self.subscriptions.open_subscriptions()
    }

    /// Ends every stream on this instance and refuses new ones (shutdown).
    pub fn close_all(&self) {
        self.subscriptions.close_all();
    }

    /// A single-use ticket for the caller's session (for clients that cannot send headers).
    pub async fn issue_ticket(&self, caller: &Caller) -> Result<IssuedTicket, PortError> {
        let ticket = self.secrets.secret()?;
        let now = self.clock.now();
        let stored = NewStreamTicket {
            ticket_hash: StreamTicketHash::new(sha256_hex(&ticket)),
            user_id: caller.user.id,
            session_id: caller.session_id,
            expires_at: now + self.settings.ticket_ttl,
        };
        self.sessions.create_stream_ticket(stored, now).await?;
        Ok(IssuedTicket {
            ticket,
            expires_in: self.settings.ticket_ttl.num_seconds(),
        })
    }

    /// The caller a ticket was issued to, if the ticket is fresh, not yet used, and its
    /// session still holds. The ticket is used up either way.
    pub async fn redeem_ticket(&self, ticket: &str) -> Result<Caller, AuthenticateError> {
        let hash = StreamTicketHash::new(sha256_hex(ticket));
        let (user_id, session_id) = self
            .sessions
            .redeem_stream_ticket(&hash, self.clock.now())
            .await?
            .ok_or(AuthenticateError::InvalidCredentials)?;
        self.auth.authenticate(user_id, session_id).await
    }

    /// Opens a stream. With `resume` (a cursor the client was given), the messages created
    /// since are delivered first, then live events, without a gap or a repeat between them.
    pub async fn open(
        &self,
        caller: Caller,
        resume: Option<&str>,
    ) -> Result<Feed, OpenStreamError> {
        // Listening starts before storage is read, so nothing committed meanwhile is lost.
        let inbox = self
            .subscriptions
            .subscribe(
                Subscriber {
                    user_id: caller.user.id,
                    is_superuser: caller.user.is_superuser,
                },
                self.settings.limits,
            )
            .map_err(|e| match e {
                SubscribeError::TooManyStreams(n) => OpenStreamError::TooManyStreams(n),
                SubscribeError::ShuttingDown => OpenStreamError::ShuttingDown,
            })?;
        let mut feed = Feed {
            live: self.clone(),
            caller,
            inbox: Some(inbox),
            pending: VecDeque::new(),
            cursor: 0,
            replaying: false,
        };
        let latest = feed.latest().await?;
        match resume.map(parse_cursor) {
            None => {
                feed.cursor = latest;
                feed.pending.push_back(FeedItem::Opened { cursor: latest });
            }
            // A cursor this user's sequence has not reached (one from before a restore, or
            // made up) would silence the stream until the sequence passed it: reset instead.
            Some(Some(cursor)) if cursor <= latest => {
                feed.cursor = cursor;
                feed.pending.push_back(FeedItem::Opened { cursor });
                feed.resume().await?;
            }
            Some(_) => feed.reset().await?,
        }
        Ok(feed)
    }
}

/// Stored messages a stream reads at once when it replays (at most 4 MiB of content).
const REPLAY_PAGE: u32 = 64;

/// A cursor is a position: a whole number from 0.
fn parse_cursor(text: &str) -> Option<Cursor> {
    text.trim().parse::<i64>().ok().filter(|c| *c >= 0)
}

/// One open stream: what it still has to say, and its cursor.
pub struct Feed {
    live: Live,
    caller: Caller,
    /// `None` once the stream is over: its place under the per-user limit is free.
    inbox: Option<Box<dyn Subscription>>,
    pending: VecDeque<FeedItem>,
    /// Every position up to here was delivered (see the module doc).
    cursor: Cursor,
    /// Stored messages after the cursor may remain to be replayed (the last page was full).
    replaying: bool,
}

impl Feed {
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The next item; `None` when the stream is over: the session ended, the stream fell
    /// behind (the client resumes from its cursor), the server shuts down, or storage
    /// failed.
    pub async fn next(&mut self) -> Option<FeedItem> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            // A replay goes on page by page, as the client takes what was read.
            if self.replaying && self.inbox.is_some() {
                if self.replay_page().await.is_err() {
                    self.inbox = None;
                    return None;
                }
                continue;
            }
            let inbox = self.inbox.as_mut()?;
            let Some(notice) = inbox.next().await else {
                self.inbox = None;
                return None;
            };
            match self.handle(notice).await {
                Ok(Some(item)) => return Some(item),
                Ok(None) => {}
                Err(Ended) => {
                    self.inbox = None;
                    self.pending.clear();
                    return None;
                }
            }
        }
    }

    async fn handle(&mut self, notice: Notice) -> Result<Option<FeedItem>, Ended> {
        let event = match notice {
            // The last stream to take a shared event takes it without a copy.
            Notice::Event(shared) => Arc::unwrap_or_clone(shared),
            Notice::MayHaveMissed => {
                self.check_session().await?;
                self.resume().await.map_err(|_| Ended)?;
                return Ok(None);
            }
        };
        match event {
            DomainEvent::Message(event) => self.message_event(event).await,
            DomainEvent::AccessChanged { .. } => {
                self.check_session().await?;
                Ok(None)
            }
            DomainEvent::AssistantDelta { reply_to, text, .. } => {
                Ok(Some(FeedItem::AssistantDelta {
                    reply_to,
                    text,
                    cursor: self.cursor,
                }))
            }
            DomainEvent::Report(event) => self.report_event(event).await,
        }
    }

    async fn message_event(&mut self, event: MessageEvent) -> Result<Option<FeedItem>, Ended> {
        let user_id = self.caller.user.id;
        let position = event.position_for(user_id);
        Ok(match event {
            MessageEvent::Created { message, .. } => match (position, message) {
                (Some(position), _) if position <= self.cursor => None,
                (Some(position), Some(message)) if position == self.cursor + 1 => {
                    self.cursor = position;
                    Some(FeedItem::Created {
                        message: Message::clone(&message),
                        cursor: position,
                    })
                }
                _ => {
                    self.catch_up().await.map_err(|_| Ended)?;
                    None
                }
            },
            MessageEvent::Updated { id, .. } => {
                self.visible(id).await?.map(|message| FeedItem::Updated {
                    message,
                    cursor: self.cursor,
                })
            }
            MessageEvent::Read {
                id,
                sender_id,
                reader_id,
            } => (sender_id == user_id).then_some(FeedItem::Read {
                id,
                reader_id,
                cursor: self.cursor,
            }),
            MessageEvent::Deleted { id, .. } => Some(FeedItem::Deleted {
                id,
                cursor: self.cursor,
            }),
        })
    }

    /// A report the caller may see, as it was stored (or as it is now, for an event from
    /// another instance, which carries ids only).
    async fn report_event(&mut self, event: ReportEvent) -> Result<Option<FeedItem>, Ended> {
        // Another user's report reaches this stream by superuser rights alone, and a demotion
        // (made on any instance) leaves the session standing: read the rights as they are now.
        if event.reporter_id() != self.caller.user.id {
            self.check_session().await?;
        }
        let report = match event.report() {
            Some(report) => ReportView::clone(report),
            None => match self.live.reports.get_report(event.id()).await {
                Ok(Some(report)) => report,
                Ok(None) => return Ok(None),
                Err(_) => return Err(Ended),
            },
        };
        if !report.report.is_visible_to(&self.caller.user) {
            return Ok(None);
        }
        let cursor = self.cursor;
        Ok(Some(match event {
            ReportEvent::Created { .. } => FeedItem::ReportCreated { report, cursor },
            ReportEvent::Updated { .. } => FeedItem::ReportUpdated { report, cursor },
        }))
    }

    /// The message as it is now, if it still exists and is the caller's.
    async fn visible(&self, id: MessageId) -> Result<Option<Message>, Ended> {
        let message = self
            .live
            .messages
            .get_message(id)
            .await
            .map_err(|_| Ended)?;
        Ok(message.filter(|m| m.is_visible_to(self.caller.user.id)))
    }

    /// Ends the stream unless its session still holds; otherwise takes the caller's account
    /// as it is now (rights included) for what the stream shows next.
    async fn check_session(&mut self) -> Result<(), Ended> {
        self.caller = self
            .live
            .auth
            .authenticate(self.caller.user.id, self.caller.session_id)
            .await
            .map_err(|_| Ended)?;
        Ok(())
    }

    /// Replays what was stored after the cursor (a resume, or events that may have been
    /// lost), or resets when there is more than the replay allows.
    async fn resume(&mut self) -> Result<(), PortError> {
        let max = self.live.settings.replay_max;
        let missed = self
            .live
            .messages
            .count_messages_after(self.caller.user.id, self.cursor, max.saturating_add(1))
            .await?;
        if missed > max {
            self.replaying = false;
            return self.reset().await;
        }
        self.catch_up().await
    }

    /// Starts replaying the messages after the cursor, in position order (a gap in live
    /// events; see the module doc).
    async fn catch_up(&mut self) -> Result<(), PortError> {
        self.replaying = true;
        self.replay_page().await
    }

    /// Queues the next page of the replay: a stream holds one page of stored messages at a
    /// time, however many it has to replay and however slowly its client reads.
    async fn replay_page(&mut self) -> Result<(), PortError> {
        let page = self
            .live
            .messages
            .messages_after(self.caller.user.id, self.cursor, REPLAY_PAGE)
            .await?;
        self.replaying = page.len() == REPLAY_PAGE as usize;
        for replayed in page {
            self.cursor = self.cursor.max(replayed.position);
            self.pending.push_back(FeedItem::Created {
                message: replayed.message,
                cursor: self.cursor,
            });
        }
        Ok(())
    }

    /// Tells the client to reload, and goes on from the newest position.
    async fn reset(&mut self) -> Result<(), PortError> {
        self.cursor = self.latest().await?;
        self.pending.push_back(FeedItem::Reset {
            cursor: self.cursor,
        });
        Ok(())
    }

    async fn latest(&self) -> Result<Cursor, PortError> {
        self.live
            .messages
            .latest_position(self.caller.user.id)
            .await
    }
}

/// The stream is over.
struct Ended;

#[cfg(test)]
mod tests;
