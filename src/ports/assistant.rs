//! The language model behind the AI assistant.

use async_trait::async_trait;

use crate::domain::ChatTurn;

/// What the model is asked: the system prompt, then the turns in order (the last one is the
/// user's new message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssistantPrompt {
    pub system: String,
    pub turns: Vec<ChatTurn>,
}

/// Why the model gave no reply. The texts never hold the API key or the user's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssistantError {
    #[error("the model service could not be reached: {0}")]
    Unreachable(String),
    /// The service answered with an error status (its body is not kept: it may echo the
    /// prompt).
    #[error("the model service answered {0}")]
    Status(u16),
    #[error("the model did not answer within {0} s")]
    Timeout(u64),
    #[error("the model's answer could not be read: {0}")]
    Malformed(String),
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Assistant: Send + Sync {
    /// The model's reply. When `deltas` is given, the reply's text is also sent there piece by
    /// piece as the model produces it (their concatenation is the reply).
    async fn reply(
        &self,
        prompt: AssistantPrompt,
        deltas: Option<ReplyPieces>,
    ) -> Result<String, AssistantError>;
}

/// Where the pieces of a reply go as the model produces them.
pub struct ReplyPieces(Box<dyn Fn(String) + Send + Sync>);

impl ReplyPieces {
    pub fn new(take: impl Fn(String) + Send + Sync + 'static) -> Self {
        Self(Box::new(take))
    }

    /// Passes one piece on; the pieces' concatenation is the reply.
    pub fn send(&self, piece: String) {
        (self.0)(piece)
    }
}

impl std::fmt::Debug for ReplyPieces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplyPieces")
    }
}
