//! A user's chat with the AI assistant, as the model is given it, and who answers each
//! question.

use super::Timestamp;

/// Who said a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    User,
    Assistant,
}

impl ChatRole {
    /// The role's name in Chat Completions and in `GET /messages/history`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTurn {
    pub role: ChatRole,
    pub content: String,
}

/// What storage knows of a question to the assistant besides its message: whether an
/// instance is answering it, and whether a reply was stored. Several instances answer
/// questions on one database; these rules keep them from answering one twice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuestionState {
    /// Until when the instance answering it is sure to have stored its reply, or died: its
    /// own answer deadline (model timeout × calls, shutdown grace, margin). `None`: nobody
    /// took it yet.
    pub claimed_until: Option<Timestamp>,
    /// A reply to it was stored.
    pub answered: bool,
}

impl QuestionState {
    /// Whether an instance may start answering the question at `now`: no reply yet, and
    /// nobody answering it, or whoever was has passed their deadline.
    pub fn may_claim(&self, now: Timestamp) -> bool {
        !self.answered && self.claimed_until.is_none_or(|until| until <= now)
    }

    /// Whether a reply may be stored: the first reply stored wins, whoever made it (an
    /// instance past its deadline may still finish; its answer is then dropped).
    pub fn may_store_reply(&self) -> bool {
        !self.answered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(second: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, second).unwrap()
    }

    #[test]
    fn a_question_is_claimed_when_nobody_answers_it_or_their_deadline_passed() {
        let unclaimed = QuestionState::default();
        assert!(unclaimed.may_claim(at(0)));
        let claimed = QuestionState {
            claimed_until: Some(at(30)),
            answered: false,
        };
        assert!(!claimed.may_claim(at(29)), "the claim is live");
        assert!(claimed.may_claim(at(30)), "the deadline passed");
        let answered = QuestionState {
            answered: true,
            ..claimed
        };
        assert!(
            !answered.may_claim(at(59)),
            "answered questions stay answered"
        );
    }

    #[test]
    fn the_first_reply_stored_wins() {
        let claimed = QuestionState {
            claimed_until: Some(at(30)),
            answered: false,
        };
        assert!(claimed.may_store_reply(), "even after the deadline");
        let answered = QuestionState {
            answered: true,
            ..claimed
        };
        assert!(!answered.may_store_reply());
    }
}
