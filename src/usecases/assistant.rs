//! The AI assistant: a participant (user id -1) whose replies come from a language model.
//! The chat history is the stored messages between the user and the assistant since the
//! user's last clear, so it survives restarts and is the same on every instance.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::auth::AuthenticateError;
use super::messages::{SendError, send_one};
use super::reports::{ReportChanges, Reports};
use super::{Caller, Ports};
use crate::domain::{
    ActorGate, ChatRole, ChatTurn, ConversationId, Delivered, DomainEvent, Message, MessageContent,
    MessageEvent, MessageId, Page, ReportContent, ReportId, ReportStatus, ReportTitle, SessionGate,
    SessionId, Timestamp, UserId,
};
use crate::ports::{
    Assistant, AssistantError, AssistantPrompt, Background, ChannelReplies, Clock, EventPublisher,
    FRAMING_BYTES, MessageRepository, ModelReply, NewMessage, PendingQuestion, PortError, SendJob,
    Tool, ToolCall, ToolExchange, ToolOutcome, ToolRequest, UserRepository,
};

/// What the assistant answers when the model fails (the original's words).
pub const FALLBACK_REPLY: &str =
    "I apologize, but I'm having trouble responding right now. Please try again later.";

/// At most this much of the reply's text is gathered into one live event.
const COALESCED_DELTA_BYTES: usize = 4_096;

/// The assistant's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssistantSettings {
    /// How it appears in conversation lists.
    pub name: String,
    pub system_prompt: String,
    /// Turns given to the model at most (the newest), the user's new message included.
    pub history_max: u32,
    /// Model calls in flight at once on this instance.
    pub max_concurrency: usize,
    /// Rounds of tool calls one answer may take (`AI_MAX_TOOL_ROUNDS`); a model still
    /// calling tools after them gets the fallback reply.
    pub max_tool_rounds: u32,
    /// Tool calls one answer may make over all its rounds (`AI_MAX_TOOL_CALLS`): a model
    /// answer that would go past them runs none of its calls, and the user gets the
    /// fallback reply.
    pub max_tool_calls: u32,
    /// Bytes one tool's result may take in a request to the model
    /// (`AI_MAX_TOOL_RESULT_BYTES`): a longer one is a page that says what it left off.
    pub max_tool_result_bytes: usize,
    /// Bytes the whole prompt may take in a request to the model (`AI_MAX_PROMPT_BYTES`),
    /// as [`AssistantPrompt::size`] counts them: the oldest turns are left off to fit, and
    /// half of it is kept for the rounds of tools.
    pub max_prompt_bytes: usize,
    /// How long this instance may take to answer one question: all its model calls, the
    /// shutdown grace and a margin. An instance answering a question claims it for this long
    /// (others leave it alone meanwhile); a question nobody claimed is forgotten (the
    /// process that took it died) once this old, and another instance's sweep answers it.
    pub forgotten_after: std::time::Duration,
}

impl Default for AssistantSettings {
    fn default() -> Self {
        Self {
            name: "AI Assistant".to_string(),
            system_prompt: "You are a helpful assistant inside a messaging app. Answer the \
                            user's messages clearly and concisely, in the language they write in. \
                            With the tools you can file the user's facility reports (something \
                            broken, and where), list them, show one and change an open one."
                .to_string(),
            history_max: 50,
            max_concurrency: 8,
            max_tool_rounds: 5,
            max_tool_calls: 16,
            max_tool_result_bytes: 16 * 1024,
            max_prompt_bytes: 1024 * 1024,
            // The default model timeout (60 s) for each of up to six calls (five rounds of
            // tools and the reply), the shutdown grace (10 s) and 5 s to store.
            forgotten_after: std::time::Duration::from_secs(6 * 60 + 15),
        }
    }
}

/// Why the assistant cannot take a message now.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("no language model is configured")]
    NotConfigured,
    /// A reply to this user is still being generated: one at a time per user.
    #[error("a reply to this user is still being generated")]
    ReplyInFlight,
    /// As many model calls as allowed are running.
    #[error("the assistant is at its concurrency limit")]
    Saturated,
    /// The message names a conversation that belongs to other users.
    #[error("the conversation belongs to other users")]
    NotAParticipant,
    /// The caller deleted the question before it was answered: no reply was stored.
    #[error("the question was deleted before it was answered")]
    QuestionDeleted,
    /// The caller's session ended while the question was being stored.
    #[error(transparent)]
    Authentication(#[from] AuthenticateError),
    #[error(transparent)]
    Port(#[from] PortError),
}

impl From<SendError> for AskError {
    fn from(error: SendError) -> Self {
        match error {
            SendError::Authentication(e) => Self::Authentication(e),
            SendError::NotAParticipant => Self::NotAParticipant,
            SendError::Assistant(e) => e,
            SendError::Port(e) => Self::Port(e),
            // A question names neither a parent nor another recipient.
            SendError::RecipientNotFound | SendError::ParentNotFound => {
                Self::Port(PortError::unexpected(error.to_string()))
            }
        }
    }
}

#[derive(Clone)]
pub struct AssistantChat {
    assistant: Option<Arc<dyn Assistant>>,
    messages: Arc<dyn MessageRepository>,
    users: Arc<dyn UserRepository>,
    /// What the model's tool calls do, as the user who is talking.
    reports: Reports,
    events: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    background: Arc<dyn Background>,
    /// Where answers to texts from a phone go out (those the sweep makes; see `PhoneChat`).
    channel_replies: Option<Arc<dyn ChannelReplies>>,
    settings: Arc<AssistantSettings>,
    replying_to: Arc<Mutex<HashSet<UserId>>>,
    model_calls: Arc<Semaphore>,
    /// Told whenever a reply's place is given back, for those waiting for one.
    freed: Arc<Notify>,
    /// Set when the server shuts down: model calls under way end with the fallback reply,
    /// so every question in flight is answered before the process exits.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

/// A reply's place, taken before the user's message is stored: one per user, and one of the
/// instance's model calls. Dropping it frees both.
pub struct ReplySlot {
    user_id: UserId,
    replying_to: Arc<Mutex<HashSet<UserId>>>,
    freed: Arc<Notify>,
    _call: OwnedSemaphorePermit,
}

impl Drop for ReplySlot {
    fn drop(&mut self) {
        self.replying_to
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.user_id);
        self.freed.notify_waiters();
    }
}

impl AssistantChat {
    pub fn new(ports: &Ports, settings: AssistantSettings) -> Self {
        Self {
            assistant: ports.assistant.clone(),
            messages: ports.messages.clone(),
            users: ports.users.clone(),
            reports: Reports::new(ports),
            events: ports.events.clone(),
            clock: ports.clock.clone(),
            background: ports.background.clone(),
            channel_replies: ports.channel_replies.clone(),
            model_calls: Arc::new(Semaphore::new(settings.max_concurrency.max(1))),
            settings: Arc::new(settings),
            replying_to: Arc::default(),
            freed: Arc::default(),
            closing: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Tools that file reports under this quota and these ports (the composition's own).
    pub fn with_reports(mut self, reports: Reports) -> Self {
        self.reports = reports;
        self
    }

    /// The server is shutting down: every model call under way (and any that starts) ends
    /// now, and its question gets the fallback reply.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Self::close`] was called.
    pub async fn closed(&self) {
        let mut closing = self.closing.subscribe();
        let _ = closing.wait_for(|closing| *closing).await;
    }

    /// How old an unanswered question must be to count as forgotten.
    pub fn forgotten_after(&self) -> std::time::Duration {
        self.settings.forgotten_after
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// Takes a reply's place for the caller: `ReplyInFlight` while one is being generated,
    /// `Saturated` when the instance's model calls are all taken.
    pub fn reserve(&self, user_id: UserId) -> Result<ReplySlot, AskError> {
        if self.assistant.is_none() {
            return Err(AskError::NotConfigured);
        }
        self.take_slot(user_id)
    }

    /// Takes a reply's place for the user once their reply in flight is done and a model
    /// call is free (a question that came in on a channel waits its turn rather than being
    /// refused). `None` when the server shuts down first.
    pub async fn reserve_when_free(&self, user_id: UserId) -> Option<ReplySlot> {
        loop {
            // Listening before trying: a place given back in between is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Ok(slot) = self.take_slot(user_id) {
                return Some(slot);
            }
            tokio::select! {
                () = &mut freed => {}
                () = self.closed() => return None,
            }
        }
    }

    pub(crate) fn take_slot(&self, user_id: UserId) -> Result<ReplySlot, AskError> {
        // The user's own reply in flight is the more telling answer: checked first.
        let mut replying_to = self
            .replying_to
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if replying_to.contains(&user_id) {
            return Err(AskError::ReplyInFlight);
        }
        let call = self
            .model_calls
            .clone()
            .try_acquire_owned()
            .map_err(|_| AskError::Saturated)?;
        replying_to.insert(user_id);
        drop(replying_to);
        Ok(ReplySlot {
            user_id,
            replying_to: self.replying_to.clone(),
            freed: self.freed.clone(),
            _call: call,
        })
    }

    /// Answers `question` (a message to the assistant) in the background: the reply is
    /// stored and announced when the model is done.
    pub fn reply_later(&self, slot: ReplySlot, question: Message) {
        let chat = self.clone();
        self.background.spawn(Box::pin(async move {
            if let Err(error) = chat.answer(slot, &question).await {
                tracing::warn!(error = %error, "could not store the assistant's reply");
            }
        }));
    }

    /// Asks the model about the user's history, stores its reply (the fallback reply when
    /// the model fails: the user always gets an answer) and returns it. `None` when another
    /// instance is answering the question or stored its reply first (that reply is the one
    /// kept, and sent), or when the user deleted the question meanwhile (the reply is
    /// dropped, not stored).
    pub async fn answer(
        &self,
        slot: ReplySlot,
        question: &Message,
    ) -> Result<Option<Message>, PortError> {
        let delivered = self.answer_once(slot, question).await?;
        Ok(delivered.map(|delivered| Message::clone(&delivered.message)))
    }

    /// [`Self::answer`]: claims the question until this instance's deadline, asks the model,
    /// stores the reply unless the question is gone or another reply was stored first, and
    /// announces it.
    async fn answer_once(
        &self,
        slot: ReplySlot,
        question: &Message,
    ) -> Result<Option<Delivered>, PortError> {
        let now = self.clock.now();
        let claimed = self
            .messages
            .claim_question(question.id, now, self.answer_deadline(now))
            .await?;
        if !claimed {
            tracing::info!(question_id = %question.id, "another instance answers this question");
            return Ok(None);
        }
        let (content, conversation_id) = self.think(&slot, question).await?;
        let reply = self.reply_to(question, content, conversation_id);
        let stored = self.messages.store_reply(question.id, reply).await?;
        // Given back once the reply is stored: the user's next question is asked with it in
        // its history.
        drop(slot);
        let Some(delivered) = stored else {
            tracing::info!(
                question_id = %question.id,
                "the question was deleted, or another instance stored its answer first: this \
                 one is dropped"
            );
            return Ok(None);
        };
        self.announce(&delivered).await;
        Ok(Some(delivered))
    }

    /// When an answer begun at `now` is stored at the latest, or its instance died.
    fn answer_deadline(&self, now: Timestamp) -> Timestamp {
        chrono::Duration::from_std(self.settings.forgotten_after)
            .ok()
            .and_then(|budget| now.checked_add_signed(budget))
            .unwrap_or(Timestamp::MAX_UTC)
    }

    /// Answers the questions whose reply never came (the process answering them died), as
    /// [`Self::answer`] does: those nobody claimed that are older than this instance's
    /// answer time, and those whose claim expired. An answer to a text goes back out on its
    /// channel. Questions whose user has a reply in flight here, or that find no free model
    /// call, wait for the next sweep. Returns how many were answered.
    pub async fn answer_forgotten(&self) -> Result<usize, PortError> {
        let Ok(age) = chrono::Duration::from_std(self.settings.forgotten_after) else {
            return Ok(0);
        };
        let asked_before = self.clock.now() - age;
        let pending = self
            .messages
            .unanswered_questions(asked_before, FORGOTTEN_SCAN)
            .await?;
        let mut answered = 0;
        for PendingQuestion {
            question,
            state,
            origin,
        } in pending
        {
            // Another instance's claim is live: its deadline stands (the claim checks again).
            if !state.may_claim(self.clock.now()) {
                continue;
            }
            let Ok(slot) = self.reserve(question.sender_id) else {
                continue;
            };
            let Some(delivered) = self.answer_once(slot, &question).await? else {
                continue;
            };
            tracing::info!(question_id = %question.id, "answered a forgotten question");
            if let Some(origin) = origin {
                super::channels::send_on_channel(
                    self.channel_replies.as_deref(),
                    &origin.route,
                    origin.receipt.as_str(),
                    delivered.message.content.as_str(),
                )
                .await;
            }
            answered += 1;
        }
        Ok(answered)
    }

    /// The model's reply to `question` (the fallback when it fails), and the conversation
    /// it belongs to.
    async fn think(
        &self,
        slot: &ReplySlot,
        question: &Message,
    ) -> Result<(MessageContent, ConversationId), PortError> {
        let user_id = slot.user_id;
        let turns = self.history_of(user_id).await?;
        let with_tools = self.settings.max_tool_rounds > 0;
        let mut prompt = AssistantPrompt {
            system: self.settings.system_prompt.clone(),
            turns,
            // No rounds of tools: plain chat.
            tools: if with_tools {
                Tool::ALL.to_vec()
            } else {
                Vec::new()
            },
            exchanges: Vec::new(),
        };
        let max = self.settings.max_prompt_bytes;
        bounds::fit_turns(&mut prompt, if with_tools { max / 2 } else { max });
        let text = match &self.assistant {
            Some(assistant) => match self.converse(assistant.as_ref(), prompt, question).await {
                Ok(text) if !text.trim().is_empty() => text,
                Ok(_) => {
                    tracing::warn!(user_id = %user_id, "the model answered nothing");
                    FALLBACK_REPLY.to_string()
                }
                Err(error) => {
                    tracing::warn!(user_id = %user_id, error = %error, "the model failed");
                    FALLBACK_REPLY.to_string()
                }
            },
            None => FALLBACK_REPLY.to_string(),
        };
        let content = MessageContent::parse(text)
            .unwrap_or_else(|_| MessageContent::from_storage(FALLBACK_REPLY.to_string()));
        let conversation_id = question
            .conversation_id
            .clone()
            .unwrap_or_else(|| ConversationId::between(UserId::ASSISTANT, user_id));
        Ok((content, conversation_id))
    }

    /// The model's reply to `question`, after running the tools it calls (as the user who
    /// asked), round by round, up to the round limit.
    async fn converse(
        &self,
        assistant: &dyn Assistant,
        mut prompt: AssistantPrompt,
        question: &Message,
    ) -> Result<String, AssistantError> {
        let mut calls_made = 0usize;
        loop {
            let calls = match self.reply_live(assistant, prompt.clone(), question).await? {
                ModelReply::Text(text) => return Ok(text),
                ModelReply::ToolCalls(calls) => calls,
            };
            if prompt.exchanges.len() >= self.settings.max_tool_rounds as usize {
                return Err(AssistantError::Malformed(format!(
                    "still calling tools after {} rounds",
                    self.settings.max_tool_rounds
                )));
            }
            // Checked here, whatever the adapter read: no model answer files a thousand
            // reports.
            calls_made = calls_made.saturating_add(calls.len());
            if calls_made > self.settings.max_tool_calls as usize {
                return Err(AssistantError::Malformed(format!(
                    "over {} tool calls in one answer",
                    self.settings.max_tool_calls
                )));
            }
            // Read each round: a demotion or a disabling while the model thought applies to
            // the calls that come after it.
            let caller = self.caller_of(question.sender_id).await?;
            // The round's results share what the prompt leaves of its bound, each within
            // its own: a round that leaves too little for them is not run.
            let max = self.settings.max_prompt_bytes;
            let calls_size = FRAMING_BYTES + calls.iter().map(ToolCall::size).sum::<usize>();
            let room = max.saturating_sub(prompt.size() + calls_size);
            let share = (room / calls.len().max(1)).min(self.settings.max_tool_result_bytes);
            if share < bounds::MIN_RESULT_BYTES {
                return Err(AssistantError::Malformed(format!(
                    "the tool calls and their results would take the prompt past {max} bytes"
                )));
            }
            let mut results = Vec::with_capacity(calls.len());
            for call in &calls {
                let outcome = self.run_tool(&caller, call).await;
                results.push(bounds::fit_outcome(outcome, share));
            }
            prompt.exchanges.push(ToolExchange { calls, results });
        }
    }

    /// The user who is talking, as the tools act for them (their account as it is now).
    async fn caller_of(&self, user_id: UserId) -> Result<Caller, AssistantError> {
        let unavailable = |what: String| AssistantError::Unreachable(what);
        let user = self
            .users
            .get_user(user_id)
            .await
            .map_err(|e| unavailable(format!("the user's account: {e}")))?
            .ok_or_else(|| unavailable("the user's account is gone".into()))?;
        // Tools act under the rules of the routes, which look at the user, not the session.
        Ok(Caller {
            user,
            session_id: SessionId::new(0),
        })
    }

    /// Runs one tool call as `caller`; what it cannot do is told to the model as a refusal.
    async fn run_tool(&self, caller: &Caller, call: &ToolCall) -> ToolOutcome {
        let request = match &call.request {
            Ok(request) => request.clone(),
            Err(reason) => return ToolOutcome::Refused(reason.clone()),
        };
        let outcome = match request {
            ToolRequest::GetMyReports { status } => {
                let status = match status.as_deref().filter(|s| !s.is_empty()) {
                    None => None,
                    Some(text) => match ReportStatus::parse(text) {
                        Some(status) => Some(status),
                        None => {
                            return ToolOutcome::Refused(format!(
                                "status must be one of: {}",
                                ReportStatus::allowed()
                            ));
                        }
                    },
                };
                self.reports
                    .list_mine(
                        caller,
                        status,
                        Page::new(0, TOOL_LIST_MAX).unwrap_or_default(),
                    )
                    .await
                    .map(|reports| ToolOutcome::Reports {
                        reports,
                        omitted: 0,
                    })
                    .map_err(|e| e.to_string())
            }
            ToolRequest::GetReport { report_id } => self
                .reports
                .get(caller, ReportId::new(report_id))
                .await
                .map(ToolOutcome::Report)
                .map_err(|e| e.to_string()),
            ToolRequest::CreateReport { title, content } => {
                match (ReportTitle::parse(title), ReportContent::parse(content)) {
                    (Ok(title), Ok(content)) => self
                        .reports
                        .create_as(ActorGate::Account(caller.user.id), title, content)
                        .await
                        .map(ToolOutcome::Report)
                        .map_err(|e| e.to_string()),
                    (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
                }
            }
            ToolRequest::UpdateReport {
                report_id,
                title,
                content,
            } => {
                let changes = title.map(ReportTitle::parse).transpose().and_then(|title| {
                    Ok(ReportChanges {
                        title,
                        content: content.map(ReportContent::parse).transpose()?,
                    })
                });
                match changes {
                    Ok(changes) => self
                        .reports
                        .edit_as(
                            ActorGate::Account(caller.user.id),
                            ReportId::new(report_id),
                            changes,
                        )
                        .await
                        .map(ToolOutcome::Report)
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        outcome.unwrap_or_else(|reason| {
            tracing::info!(tool = %call.name, reason = %reason, "a tool call was refused");
            ToolOutcome::Refused(reason)
        })
    }

    /// The model's reply, its pieces told to the user's live streams as they come.
    async fn reply_live(
        &self,
        assistant: &dyn Assistant,
        prompt: AssistantPrompt,
        question: &Message,
    ) -> Result<ModelReply, AssistantError> {
        let (sender, mut arriving) = tokio::sync::mpsc::unbounded_channel::<String>();
        // The forwarder below reads until the model drops these (its reply is done).
        let pieces = crate::ports::ReplyPieces::new(move |piece| {
            let _ = sender.send(piece);
        });
        let user_id = question.sender_id;
        let reply_to = question.id;
        let forward = async {
            // Ends when the model is done: it drops its end of the channel. Pieces that
            // arrived meanwhile go out together: a model faster than the streams (or one
            // flooding them) makes fewer, larger events, not a stream that falls behind.
            while let Some(mut text) = arriving.recv().await {
                while text.len() < COALESCED_DELTA_BYTES {
                    match arriving.try_recv() {
                        Ok(more) => text.push_str(&more),
                        Err(_) => break,
                    }
                }
                self.events
                    .publish(&[DomainEvent::AssistantDelta {
                        user_id,
                        reply_to,
                        text: text.into(),
                    }])
                    .await;
            }
        };
        let mut closing = self.closing.subscribe();
        let reply = async {
            tokio::select! {
                reply = assistant.reply(prompt, Some(pieces)) => reply,
                _ = closing.wait_for(|closing| *closing) => Err(
                    AssistantError::Unreachable("the server is shutting down".into()),
                ),
            }
        };
        let (reply, ()) = tokio::join!(reply, forward);
        reply
    }

    /// `POST /messages/ai`: stores the question, waits for the reply, returns it.
    pub async fn ask(
        &self,
        caller: &Caller,
        content: MessageContent,
        conversation_id: Option<ConversationId>,
    ) -> Result<Message, AskError> {
        let slot = self.reserve(caller.user.id)?;
        let now = self.clock.now();
        let job = SendJob {
            gate: SessionGate::new(caller.claim(), now),
            recipient_id: UserId::ASSISTANT,
            content,
            parent_id: None,
            conversation_id,
            created_at: now,
        };
        let (_, question) = send_one(self.messages.as_ref(), self.events.as_ref(), job).await?;
        match self.answer(slot, &question.message).await? {
            Some(reply) => Ok(reply),
            // Deleted while the model thought; or, with another instance's clock ahead by more
            // than an answer's time, taken by it: its reply comes.
            None => match self.messages.get_message(question.message.id).await? {
                None => Err(AskError::QuestionDeleted),
                Some(_) => Err(AskError::ReplyInFlight),
            },
        }
    }

    /// The caller's turns with the assistant since their last clear, oldest first, at most
    /// the history size.
    pub async fn history(&self, caller: &Caller) -> Result<Vec<ChatTurn>, PortError> {
        self.history_of(caller.user.id).await
    }

    /// Starts the history again after the newest message between the caller and the
    /// assistant; the messages stay.
    pub async fn clear(&self, caller: &Caller) -> Result<(), PortError> {
        let user_id = caller.user.id;
        let newest = self
            .messages
            .messages_between(user_id, UserId::ASSISTANT, MessageId::new(0), 1)
            .await?
            .pop()
            .map_or(MessageId::new(0), |m| m.id);
        self.messages
            .set_assistant_clear_point(user_id, newest, self.clock.now())
            .await
    }

    async fn history_of(&self, user_id: UserId) -> Result<Vec<ChatTurn>, PortError> {
        let after = self
            .messages
            .assistant_clear_point(user_id)
            .await?
            .unwrap_or(MessageId::new(0));
        let messages = self
            .messages
            .messages_between(user_id, UserId::ASSISTANT, after, self.settings.history_max)
            .await?;
        Ok(messages
            .into_iter()
            .map(|message| ChatTurn {
                role: if message.sender_id.is_assistant() {
                    ChatRole::Assistant
                } else {
                    ChatRole::User
                },
                content: message.content.into_inner(),
            })
            .collect())
    }

    /// The assistant's reply to `question`, as stored.
    fn reply_to(
        &self,
        question: &Message,
        content: MessageContent,
        conversation_id: ConversationId,
    ) -> NewMessage {
        NewMessage {
            sender_id: UserId::ASSISTANT,
            recipient_id: question.sender_id,
            content,
            parent_id: None,
            conversation_id,
            created_at: self.clock.now(),
        }
    }

    async fn announce(&self, delivered: &Delivered) {
        self.events
            .publish(&[DomainEvent::Message(MessageEvent::created(delivered))])
            .await;
    }
}

/// Reports a tool lists at most (the newest).
const TOOL_LIST_MAX: u32 = 20;

/// Questions looked at per sweep for forgotten ones (the newest asked).
const FORGOTTEN_SCAN: u32 = 200;

mod bounds;

#[cfg(test)]
mod tests;
