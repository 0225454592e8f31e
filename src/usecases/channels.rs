//! Talking to the assistant from a phone (WhatsApp, SMS): a text that came in on a channel
//! is the sender's message to the assistant, stored once; the reply is stored too and goes
//! back out on the channel. The same conversation continues on the web.
//!
//! Texts route by *proven* numbers only. A number typed into a profile is a claim; its
//! holder proves it by texting the one-time code `PUT /auth/me/phone` showed (eight digits,
//! bound to the number, valid 15 minutes, [`PHONE_CODE_MAX_FAILURES`] wrong codes from the
//! number void it). The proof makes the number the claimant's and drops every other claim
//! of it, so whoever typed someone else's number first neither blocks them nor reads their
//! texts. A text that is not a live code is an ordinary text.

use std::sync::Arc;

use chrono::TimeDelta;

use super::Ports;
use super::assistant::AssistantChat;
use crate::domain::{
    ChannelMessageId, ConversationId, DomainEvent, MessageContent, MessageEvent,
    PHONE_CODE_MAX_FAILURES, PhoneCode, PhoneNumber, UserId,
};
use crate::ports::{
    Background, ChannelOrigin, ChannelReplies, Clock, EventPublisher, MessageRepository,
    NewMessage, PhoneProof, PortError, ProofOutcome, ReplyRoute, UserRepository,
};

/// What a channel answers on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSettings {
    /// The reply to a number that is no active user's (`TWILIO_UNREGISTERED_REPLY`).
    pub unregistered_reply: String,
    /// The reply to a message without text (a photo, a voice note).
    pub no_text_reply: String,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        Self {
            unregistered_reply: "This number is not registered with AI Message. Add it to your \
                                 profile in the app and text us the code it shows."
                .to_string(),
            no_text_reply: "Only text messages can be read here. Please write your message."
                .to_string(),
        }
    }
}

/// A number no active user has gets the fixed reply at most once in this time: each reply
/// costs a send, and a flood of texts must not become a flood of sends.
pub const UNREGISTERED_REPLY_EVERY: TimeDelta = TimeDelta::hours(24);

/// A text that came in on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingText {
    /// The channel's id of the message: it is taken once.
    pub id: ChannelMessageId,
    /// The channel's id of this delivery, the same on its retries, where the channel gives
    /// one: taken with `id`, so that a delivery is not taken twice under two message ids.
    pub delivery: Option<ChannelMessageId>,
    /// The sender's number in E.164; `None` when the channel's sender is not a phone
    /// number (it then matches no user).
    pub sender: Option<PhoneNumber>,
    /// Where a reply to the sender goes.
    pub route: ReplyRoute,
    pub text: String,
}

impl IncomingText {
    /// What takes this text once: its id, and its delivery's where the channel gives one.
    fn receipts(&self) -> Vec<ChannelMessageId> {
        std::iter::once(self.id.clone())
            .chain(self.delivery.clone())
            .collect()
    }
}

/// What became of an incoming text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Stored as the user's message to the assistant; the reply follows on the channel.
    Accepted { user_id: UserId },
    /// This id was taken before (the channel retried): nothing more is done.
    AlreadyReceived,
    /// The number is no active user's: nothing is stored; the fixed reply goes out unless
    /// the number had one within [`UNREGISTERED_REPLY_EVERY`] (`answered: false`).
    Unregistered { answered: bool },
    /// The message holds no text to store: a fixed reply goes out.
    NoText,
    /// The text was the live code of a claim: the number is now this user's; a
    /// confirmation goes out, nothing is stored.
    PhoneVerified { user_id: UserId },
    /// The text looked like a code, the number had live codes, none matched (each counted a
    /// failure), and no active user has proven the number: a fixed reply goes out.
    WrongCode,
}

/// The receipts of a text's attempt to prove its number: its receipts, set apart.
fn proof_attempt(incoming: &IncomingText) -> Vec<ChannelMessageId> {
    incoming
        .receipts()
        .iter()
        .filter_map(|receipt| ChannelMessageId::parse(format!("proof:{}", receipt.as_str())).ok())
        .collect()
}

/// The reply to a wrong or expired code.
const WRONG_CODE_REPLY: &str = "That code is not valid, or no longer. Ask for a new one in the \
                                app (set your phone number again), then text it here.";

#[derive(Clone)]
pub struct PhoneChat {
    users: Arc<dyn UserRepository>,
    messages: Arc<dyn MessageRepository>,
    events: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    background: Arc<dyn Background>,
    replies: Option<Arc<dyn ChannelReplies>>,
    assistant: AssistantChat,
    settings: Arc<ChannelSettings>,
}

impl PhoneChat {
    pub fn new(ports: &Ports, assistant: AssistantChat, settings: ChannelSettings) -> Self {
        Self {
            users: ports.users.clone(),
            messages: ports.messages.clone(),
            events: ports.events.clone(),
            clock: ports.clock.clone(),
            background: ports.background.clone(),
            replies: ports.channel_replies.clone(),
            assistant,
            settings: Arc::new(settings),
        }
    }

    /// Takes an incoming text once (by its receipts): the sender must be an active user
    /// with exactly this number. Their message is stored and announced before this returns;
    /// the assistant's reply is made, stored and sent in the background.
    pub async fn receive(&self, incoming: IncomingText) -> Result<Received, PortError> {
        let mut wrong_code = false;
        if let (Some(number), Some(code)) = (&incoming.sender, PhoneCode::from_text(&incoming.text))
        {
            // Twilio's retries of a text with a code are one attempt: counted once as a wrong
            // code, answered once, and a delivery that proved a number is not taken again
            // under another id. Its own receipts, apart from the message's, which a code
            // from the number's proven owner still takes as an ordinary text below.
            if !self.take_once(&incoming, &proof_attempt(&incoming)).await? {
                return Ok(Received::AlreadyReceived);
            }
            let proof = PhoneProof {
                phone_number: number.clone(),
                code_hash: code.hash_for(number),
                receipt: incoming.id.clone(),
            };
            match self
                .users
                .prove_phone_number(proof, self.clock.now(), PHONE_CODE_MAX_FAILURES)
                .await?
            {
                ProofOutcome::AlreadyReceived => return Ok(Received::AlreadyReceived),
                ProofOutcome::Proven(user) => {
                    tracing::info!(reference = %incoming.id, user_id = user.id.get(), "a phone number was proven");
                    let confirmation = format!(
                        "This number is now verified for the AI Message account {}. Your \
                         texts here go to its assistant.",
                        user.username
                    );
                    self.send_later(incoming, confirmation);
                    return Ok(Received::PhoneVerified { user_id: user.id });
                }
                ProofOutcome::NotProven { counted } => wrong_code = counted,
            }
        }
        let user = match &incoming.sender {
            Some(number) => self.users.find_user_by_phone(number).await?,
            None => None,
        };
        let receipts = incoming.receipts();
        let Some(user) = user.filter(|user| user.is_active) else {
            if wrong_code {
                tracing::info!(reference = %incoming.id, "a wrong phone code");
                self.send_later(incoming, WRONG_CODE_REPLY.to_string());
                return Ok(Received::WrongCode);
            }
            // A disabled account is answered as an unknown number: the reply tells nobody
            // which numbers have accounts.
            return self.answer_unregistered(incoming, &receipts).await;
        };
        let Ok(content) = MessageContent::parse(incoming.text.clone()) else {
            if !self.take_once(&incoming, &receipts).await? {
                return Ok(Received::AlreadyReceived);
            }
            self.send_later(incoming, self.settings.no_text_reply.clone());
            return Ok(Received::NoText);
        };
        let question = NewMessage {
            sender_id: user.id,
            recipient_id: UserId::ASSISTANT,
            content,
            parent_id: None,
            conversation_id: ConversationId::between(UserId::ASSISTANT, user.id),
            created_at: self.clock.now(),
        };
        let origin = ChannelOrigin {
            receipt: incoming.id.clone(),
            route: incoming.route.clone(),
        };
        let Some(delivered) = self
            .messages
            .create_message_once(&origin, incoming.delivery.clone(), question)
            .await?
        else {
            tracing::info!(reference = %incoming.id, "a text taken before came again");
            return Ok(Received::AlreadyReceived);
        };
        self.events
            .publish(&[DomainEvent::Message(MessageEvent::created(&delivered))])
            .await;
        let chat = self.clone();
        let question = delivered.message;
        self.background.spawn(Box::pin(async move {
            // Waits its turn behind the user's reply in flight, if any.
            let Some(slot) = chat.assistant.reserve_when_free(question.sender_id).await else {
                tracing::warn!(
                    reference = %incoming.id,
                    "shutting down before the assistant could answer a text"
                );
                return;
            };
            match chat.assistant.answer(slot, &question).await {
                Ok(Some(reply)) => chat.send(&incoming, reply.content.as_str()).await,
                // Another instance answered it (and sends its answer), or it was deleted on
                // the web meanwhile: nothing to send.
                Ok(None) => {}
                Err(error) => tracing::warn!(
                    reference = %incoming.id,
                    error = %error,
                    "could not store the assistant's reply to a text"
                ),
            }
        }));
        Ok(Received::Accepted { user_id: user.id })
    }

    /// The fixed reply, once per text and at most once per [`UNREGISTERED_REPLY_EVERY`] to
    /// one address, whichever instance takes the texts.
    async fn answer_unregistered(
        &self,
        incoming: IncomingText,
        receipts: &[ChannelMessageId],
    ) -> Result<Received, PortError> {
        if !self.take_once(&incoming, receipts).await? {
            return Ok(Received::AlreadyReceived);
        }
        let now = self.clock.now();
        // One reply a day per number, however the channel spells it (`WhatsApp:`, by SMS);
        // an address that is no number counts as written, in one case.
        let address = match &incoming.sender {
            Some(number) => number.as_str().to_string(),
            None => incoming.route.to.to_lowercase(),
        };
        // An address storage cannot keep (too long, control characters) is no channel's: it
        // gets no reply.
        let storable = address.chars().count() <= ChannelMessageId::MAX_CHARS
            && !address.chars().any(char::is_control);
        let answered = storable
            && self
                .messages
                .take_fixed_reply(&address, now, now - UNREGISTERED_REPLY_EVERY)
                .await?;
        tracing::info!(
            reference = %incoming.id,
            answered,
            "a text from an unregistered number"
        );
        if answered {
            self.send_later(incoming, self.settings.unregistered_reply.clone());
        }
        Ok(Received::Unregistered { answered })
    }

    /// Takes the receipts of a text that is answered without being stored; `false` when it
    /// was taken before.
    async fn take_once(
        &self,
        incoming: &IncomingText,
        receipts: &[ChannelMessageId],
    ) -> Result<bool, PortError> {
        let taken = self
            .messages
            .take_channel_receipts(receipts, self.clock.now())
            .await?;
        if !taken {
            tracing::info!(reference = %incoming.id, "a text taken before came again");
        }
        Ok(taken)
    }

    fn send_later(&self, incoming: IncomingText, text: String) {
        let chat = self.clone();
        self.background
            .spawn(Box::pin(async move { chat.send(&incoming, &text).await }));
    }

    /// Sends on the channel; a failure is logged (what was stored stays stored).
    async fn send(&self, incoming: &IncomingText, text: &str) {
        send_on_channel(
            self.replies.as_deref(),
            &incoming.route,
            incoming.id.as_str(),
            text,
        )
        .await;
    }
}

/// Sends `text` on the channel (`reference`: the incoming message's id there); a failure is
/// logged (what was stored stays stored).
pub(super) async fn send_on_channel(
    replies: Option<&dyn ChannelReplies>,
    route: &ReplyRoute,
    reference: &str,
    text: &str,
) {
    let Some(replies) = replies else {
        tracing::warn!(reference, "no channel to send the reply on");
        return;
    };
    if let Err(error) = replies.send(route, text, reference).await {
        tracing::warn!(
            reference,
            error = %error,
            "gave up sending a reply on the channel"
        );
    }
}

#[cfg(test)]
mod tests;
