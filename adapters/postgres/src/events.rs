//! Events across instances: `NOTIFY` on commit, one `LISTEN` connection per instance feeding
//! its hub. Payloads are ids and positions only; receivers read the rows. The instance that
//! published an event delivers it to its own streams at once, with the row, and ignores its
//! own notifications.

use std::sync::{Arc, Weak};
use std::time::Duration;

use ai_message_core::ports::EventPublisher;
use ai_message_core::{
    DomainEvent, MessageEvent, MessageId, Position, ReportEvent, ReportId, UserId,
};
use ai_message_local::EventHub;
use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::PostgresStore;
use crate::connect::PostgresUrl;

/// The notification channel every instance listens on.
pub const CHANNEL: &str = "ai_message_events";

/// Between pings of the listening connection: a connection that died without a word is
/// found within this, plus the ping's own deadline.
const PING_EVERY: Duration = Duration::from_secs(5);
const PING_DEADLINE: Duration = Duration::from_secs(3);
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);

/// A position in a payload: the number, or `-` for none.
fn position_text(position: Option<Position>) -> String {
    position.map_or_else(|| "-".to_string(), |p| p.to_string())
}

/// `c:<id>:<sender>:<recipient>:<sender position>:<recipient position>` and the like: short,
/// and nothing but ids and positions.
pub(crate) fn encode(event: &DomainEvent) -> String {
    match *event {
        DomainEvent::Message(MessageEvent::Created {
            id,
            sender_id,
            recipient_id,
            sender_position,
            recipient_position,
            ..
        }) => format!(
            "c:{id}:{sender_id}:{recipient_id}:{}:{}",
            position_text(sender_position),
            position_text(recipient_position)
        ),
        DomainEvent::Message(MessageEvent::Updated {
            id,
            sender_id,
            recipient_id,
        }) => format!("u:{id}:{sender_id}:{recipient_id}"),
        DomainEvent::Message(MessageEvent::Read {
            id,
            sender_id,
            reader_id,
        }) => format!("r:{id}:{sender_id}:{reader_id}"),
        DomainEvent::Message(MessageEvent::Deleted {
            id,
            sender_id,
            recipient_id,
        }) => format!("d:{id}:{sender_id}:{recipient_id}"),
        DomainEvent::AccessChanged { user_id } => format!("a:{user_id}"),
        DomainEvent::AssistantDelta {
            user_id,
            reply_to,
            ref text,
        } => format!(
            "t:{user_id}:{reply_to}:{}",
            serde_json::Value::from(text.as_ref())
        ),
        DomainEvent::Report(ReportEvent::Created {
            id, reporter_id, ..
        }) => format!("pc:{id}:{reporter_id}"),
        DomainEvent::Report(ReportEvent::Updated {
            id, reporter_id, ..
        }) => format!("pu:{id}:{reporter_id}"),
    }
}

/// `NOTIFY` takes payloads under 8,000 bytes: a long piece of text goes in several events
/// (escaped as JSON, a character takes 6 bytes at most).
const MAX_DELTA_BYTES: usize = 1_000;

fn within_payload_limit(event: &DomainEvent) -> Vec<DomainEvent> {
    let DomainEvent::AssistantDelta {
        user_id,
        reply_to,
        text,
    } = event
    else {
        return vec![event.clone()];
    };
    let mut pieces = Vec::new();
    let mut rest: &str = text;
    while rest.len() > MAX_DELTA_BYTES {
        let mut cut = MAX_DELTA_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    pieces.push(rest);
    pieces
        .into_iter()
        .map(|piece| DomainEvent::AssistantDelta {
            user_id: *user_id,
            reply_to: *reply_to,
            text: piece.into(),
        })
        .collect()
}

pub(crate) fn decode(payload: &str) -> Option<DomainEvent> {
    if let Some(rest) = payload.strip_prefix("t:") {
        let mut parts = rest.splitn(3, ':');
        let user_id = UserId::new(parts.next()?.parse().ok()?);
        let reply_to = MessageId::new(parts.next()?.parse().ok()?);
        let text: String = serde_json::from_str(parts.next()?).ok()?;
        return Some(DomainEvent::AssistantDelta {
            user_id,
            reply_to,
            text: text.into(),
        });
    }
    if let Some(rest) = payload.strip_prefix("c:") {
        return decode_created(rest);
    }
    let mut parts = payload.split(':');
    let kind = parts.next()?;
    let numbers: Vec<i64> = parts.map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let message = |make: fn(MessageId, UserId, UserId) -> MessageEvent| match numbers[..] {
        [id, a, b] => Some(DomainEvent::Message(make(
            MessageId::new(id),
            UserId::new(a),
            UserId::new(b),
        ))),
        _ => None,
    };
    match kind {
        "u" => message(|id, sender_id, recipient_id| MessageEvent::Updated {
            id,
            sender_id,
            recipient_id,
        }),
        "r" => message(|id, sender_id, reader_id| MessageEvent::Read {
            id,
            sender_id,
            reader_id,
        }),
        "d" => message(|id, sender_id, recipient_id| MessageEvent::Deleted {
            id,
            sender_id,
            recipient_id,
        }),
        "a" => match numbers[..] {
            [user] => Some(DomainEvent::AccessChanged {
                user_id: UserId::new(user),
            }),
            _ => None,
        },
        "pc" | "pu" => match numbers[..] {
            [id, reporter] => {
                let (id, reporter_id) = (ReportId::new(id), UserId::new(reporter));
                Some(DomainEvent::Report(if kind == "pc" {
                    ReportEvent::Created {
                        id,
                        reporter_id,
                        report: None,
                    }
                } else {
                    ReportEvent::Updated {
                        id,
                        reporter_id,
                        report: None,
                    }
                }))
            }
            _ => None,
        },
        _ => None,
    }
}

/// `<id>:<sender>:<recipient>[:<sender position>:<recipient position>]` (an instance of an
/// older version sends no positions: its receivers catch up from storage).
fn decode_created(rest: &str) -> Option<DomainEvent> {
    let parts: Vec<&str> = rest.split(':').collect();
    let number = |text: &str| text.parse::<i64>().ok();
    let position = |text: &str| match text {
        "-" => Some(None),
        other => number(other).map(Some),
    };
    let (id, sender, recipient, positions) = match parts[..] {
        [id, sender, recipient] => (id, sender, recipient, (None, None)),
        [id, sender, recipient, sender_position, recipient_position] => (
            id,
            sender,
            recipient,
            (position(sender_position)?, position(recipient_position)?),
        ),
        _ => return None,
    };
    Some(DomainEvent::Message(MessageEvent::Created {
        id: MessageId::new(number(id)?),
        sender_id: UserId::new(number(sender)?),
        recipient_id: UserId::new(number(recipient)?),
        sender_position: positions.0,
        recipient_position: positions.1,
        message: None,
    }))
}

/// The first line of every notification: which instance sent it.
fn origin_line(origin: &str) -> String {
    format!("o:{origin}")
}

/// A name for this instance's notifications, unique among the instances on one database.
pub(crate) fn new_origin() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:016x}", hasher.finish())
}

/// Delivers to this instance's streams at once (with the row of a new message), and to
/// every other instance's with `NOTIFY`.
///
/// Events are handed to this instance's notifier task, which sends what has queued up in as
/// few notifications as fit: a transaction that notifies takes a database-wide lock at
/// commit, so one `NOTIFY` per message would serialise every send of every instance.
pub(crate) struct NotifyEvents {
    pub lines: mpsc::UnboundedSender<String>,
    pub hub: Arc<EventHub>,
}

#[async_trait]
impl EventPublisher for NotifyEvents {
    async fn publish(&self, events: &[DomainEvent]) {
        for event in events {
            self.hub.deliver(event);
        }
        for event in events.iter().flat_map(within_payload_limit) {
            // The notifier ends only with the store; nothing to tell anyone then.
            let _ = self.lines.send(encode(&event));
        }
    }
}

/// Room for lines in one notification (`NOTIFY` payloads stay under 8,000 bytes).
const PAYLOAD_BYTES: usize = 7_500;

/// Least time between the starts of two notifying transactions. Each one is a transaction
/// of its own and wakes every listening instance: under steady sends, one per send batch
/// cost PostgreSQL ~20 µs of CPU per message. Gathering a millisecond's events into one
/// costs other instances' streams that much latency, or a timer tick more; an event after a
/// quiet spell goes at once, and this instance's own streams never wait (they are told
/// directly).
const NOTIFY_EVERY: Duration = Duration::from_millis(1);

/// Sends queued event lines, several per notification, until the publisher is dropped.
pub(crate) async fn notify(
    store: Arc<PostgresStore>,
    origin: String,
    mut lines: mpsc::UnboundedReceiver<String>,
) {
    let origin = origin_line(&origin);
    let start = |line: &str| format!("{origin}\n{line}");
    let mut last_started: Option<tokio::time::Instant> = None;
    while let Some(first) = lines.recv().await {
        if let Some(next) = last_started.map(|at| at + NOTIFY_EVERY)
            && tokio::time::Instant::now() < next
        {
            tokio::time::sleep_until(next).await;
        }
        last_started = Some(tokio::time::Instant::now());
        let mut payloads = vec![start(&first)];
        while let Ok(line) = lines.try_recv() {
            let last = payloads.last_mut().expect("one payload at least");
            if last.len() + 1 + line.len() <= PAYLOAD_BYTES {
                last.push('\n');
                last.push_str(&line);
            } else {
                payloads.push(start(&line));
            }
            if payloads.len() >= 64 {
                break;
            }
        }
        let sent = async {
            let client = store.client().await?;
            let stmt = client
                .prepare_cached("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
                .await
                .map_err(crate::rows::port_error)?;
            client
                .execute(&stmt, &[&CHANNEL, &payloads])
                .await
                .map_err(crate::rows::port_error)
        };
        if let Err(error) = sent.await {
            // The changes are stored; streams catch up when the listener reconnects.
            tracing::warn!(error = %error, "could not notify live streams");
        }
    }
}

/// Feeds `hub` from the channel until the hub is gone, reconnecting with back-off. After
/// every (re)connection the hub's streams are told they may have missed events, so they
/// catch up from storage: a blip of the database loses nothing.
pub(crate) async fn listen(url: PostgresUrl, origin: String, hub: Weak<EventHub>) {
    let own = origin_line(&origin);
    let mut retry = FIRST_RETRY;
    loop {
        let (sender, mut notices) = mpsc::unbounded_channel();
        let connected = async {
            let client = url.connect_listener(sender).await?;
            client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .await
                .map_err(|e| url.unreachable_error(&e))?;
            Ok::<_, crate::ConnectError>(client)
        };
        let client = match connected.await {
            Ok(client) => client,
            Err(error) => {
                if hub.strong_count() == 0 {
                    return;
                }
                tracing::warn!(error = %error, "live events: cannot listen yet; retrying");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(LAST_RETRY);
                continue;
            }
        };
        retry = FIRST_RETRY;
        let Some(live) = hub.upgrade() else { return };
        live.deliver_missed();
        drop(live);
        loop {
            tokio::select! {
                notice = notices.recv() => {
                    let Some(notice) = notice else { break };
                    let Some(live) = hub.upgrade() else { return };
                    let mut lines = notice.payload().split('\n').peekable();
                    // This instance's own events reached its streams when they were published.
                    if lines.peek() == Some(&own.as_str()) {
                        continue;
                    }
                    for line in lines.filter(|line| !line.starts_with("o:")) {
                        match decode(line) {
                            Some(event) => live.deliver(&event),
                            None => tracing::warn!(payload = line, "live events: unreadable notification"),
                        }
                    }
                }
                () = tokio::time::sleep(PING_EVERY) => {
                    if hub.strong_count() == 0 {
                        return;
                    }
                    let ping = tokio::time::timeout(PING_DEADLINE, client.simple_query("")).await;
                    if !matches!(ping, Ok(Ok(_))) {
                        break;
                    }
                }
            }
        }
        tracing::warn!("live events: the listening connection was lost; reconnecting");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_survives_the_payload_round_trip() {
        let (id, a, b) = (MessageId::new(7), UserId::new(1), UserId::new(2));
        let events = [
            DomainEvent::Message(MessageEvent::Created {
                id,
                sender_id: a,
                recipient_id: b,
                sender_position: Some(3),
                recipient_position: None,
                message: None,
            }),
            DomainEvent::Message(MessageEvent::Updated {
                id,
                sender_id: a,
                recipient_id: b,
            }),
            DomainEvent::Message(MessageEvent::Read {
                id,
                sender_id: a,
                reader_id: b,
            }),
            DomainEvent::Message(MessageEvent::Deleted {
                id,
                sender_id: a,
                recipient_id: b,
            }),
            DomainEvent::AccessChanged { user_id: a },
            DomainEvent::AssistantDelta {
                user_id: a,
                reply_to: id,
                text: "a: b\nc ✓".into(),
            },
            DomainEvent::Report(ReportEvent::Created {
                id: ReportId::new(9),
                reporter_id: a,
                report: None,
            }),
            DomainEvent::Report(ReportEvent::Updated {
                id: ReportId::new(9),
                reporter_id: b,
                report: None,
            }),
        ];
        for event in events {
            assert_eq!(decode(&encode(&event)), Some(event));
        }
    }

    #[test]
    fn a_long_delta_is_split_on_character_boundaries() {
        let text: String = "é".repeat(5_000);
        let pieces = within_payload_limit(&DomainEvent::AssistantDelta {
            user_id: UserId::new(1),
            reply_to: MessageId::new(2),
            text: text.as_str().into(),
        });
        assert_eq!(pieces.len(), 10);
        let joined: String = pieces
            .iter()
            .map(|p| match p {
                DomainEvent::AssistantDelta { text, .. } => text.to_string(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(joined, text);
        assert!(pieces.iter().all(|p| encode(p).len() < 8_000));
    }

    #[test]
    fn a_created_event_from_an_older_instance_has_no_positions() {
        assert_eq!(
            decode("c:7:1:2"),
            Some(DomainEvent::Message(MessageEvent::Created {
                id: MessageId::new(7),
                sender_id: UserId::new(1),
                recipient_id: UserId::new(2),
                sender_position: None,
                recipient_position: None,
                message: None,
            }))
        );
    }

    #[test]
    fn unreadable_payloads_are_refused() {
        for payload in [
            "",
            "c:1:2",
            "x:1:2:3",
            "c:1:two:3",
            "a:1:2",
            "c:1:2:3:4",
            "c:1:2:3:4:x",
        ] {
            assert_eq!(decode(payload), None, "{payload:?}");
        }
    }
}
