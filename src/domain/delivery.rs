//! Who a conversation belongs to, and where a message stands in its parties' live streams.

use std::sync::Arc;

use super::{ConversationId, Message, UserId};

/// The two parties of a conversation (one user twice for notes to self), smaller id first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pair {
    low: UserId,
    high: UserId,
}

impl Pair {
    pub fn of(a: UserId, b: UserId) -> Self {
        Self {
            low: a.min(b),
            high: a.max(b),
        }
    }

    pub fn low(&self) -> UserId {
        self.low
    }

    pub fn high(&self) -> UserId {
        self.high
    }

    /// The pair's own conversation id, `conv_<smaller id>_<larger id>`.
    pub fn canonical_conversation(&self) -> ConversationId {
        ConversationId::between(self.low, self.high)
    }
}

impl ConversationId {
    /// The pair this id names when it is written exactly as [`ConversationId::between`]
    /// writes one (`conv_3_7`, not `conv_03_7` or `conv_7_3`).
    pub fn canonical_pair(&self) -> Option<Pair> {
        let rest = self.as_str().strip_prefix("conv_")?;
        let (low, high) = rest.split_once('_')?;
        let pair = Pair::of(
            UserId::new(low.parse().ok()?),
            UserId::new(high.parse().ok()?),
        );
        (pair.canonical_conversation() == *self).then_some(pair)
    }
}

/// What a send may do with the conversation it joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationAccess {
    /// The conversation is the pair's already (its canonical id, or bound to it).
    Theirs,
    /// The id is unused: this send binds it to the pair, in its own transaction.
    BindToPair,
}

/// The conversation belongs to other users: the message may not join it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the conversation belongs to other users")]
pub struct NotTheirConversation;

/// Whether a message between `pair` may join `conversation`, given the pair the
/// conversation is bound to (`None`: unbound). A canonical id belongs to the pair it names,
/// whatever is bound to it; any other id belongs to the pair its first message bound it to.
/// So no third user can slip into, or squat, the thread of two others.
pub fn conversation_access(
    conversation: &ConversationId,
    pair: Pair,
    bound: Option<Pair>,
) -> Result<ConversationAccess, NotTheirConversation> {
    if let Some(named) = conversation.canonical_pair() {
        return if named == pair {
            Ok(ConversationAccess::Theirs)
        } else {
            Err(NotTheirConversation)
        };
    }
    match bound {
        None => Ok(ConversationAccess::BindToPair),
        Some(bound) if bound == pair => Ok(ConversationAccess::Theirs),
        Some(_) => Err(NotTheirConversation),
    }
}

/// The conversation a message joins: the one it names, else its parent's, else the pair's
/// own.
pub fn conversation_of(
    named: Option<&ConversationId>,
    parent: Option<&ConversationId>,
    pair: Pair,
) -> ConversationId {
    named
        .or(parent)
        .cloned()
        .unwrap_or_else(|| pair.canonical_conversation())
}

/// A place in one user's sequence of live deliveries: every message the user sends or
/// receives takes the next one, inside the transaction that stores it, so a later commit
/// always holds a later position (see `usecases::live`). The assistant has none.
pub type Position = i64;

/// A stored message and its place in each party's delivery sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub message: Arc<Message>,
    pub sender_position: Option<Position>,
    pub recipient_position: Option<Position>,
}

impl Delivered {
    /// Where the message stands for `user_id` (`None`: not one of its parties).
    pub fn position_for(&self, user_id: UserId) -> Option<Position> {
        if self.message.recipient_id == user_id {
            self.recipient_position
        } else if self.message.sender_id == user_id {
            self.sender_position
        } else {
            None
        }
    }
}

/// A message as one user's stream replays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionedMessage {
    pub position: Position,
    pub message: Message,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid(id: i64) -> UserId {
        UserId::new(id)
    }

    fn cid(text: &str) -> ConversationId {
        ConversationId::parse(text).unwrap()
    }

    #[test]
    fn only_the_exact_canonical_spelling_names_a_pair() {
        assert_eq!(
            cid("conv_3_7").canonical_pair(),
            Some(Pair::of(uid(7), uid(3)))
        );
        assert_eq!(
            cid("conv_-1_4").canonical_pair(),
            Some(Pair::of(uid(4), UserId::ASSISTANT))
        );
        for other in [
            "conv_03_7",
            "conv_7_3",
            "conv_3_7_",
            "conv_3",
            "conv_a_b",
            "x_3_7",
        ] {
            assert_eq!(cid(other).canonical_pair(), None, "{other}");
        }
    }

    #[test]
    fn a_canonical_id_belongs_to_its_pair_alone() {
        let alice_bob = Pair::of(uid(1), uid(2));
        let eve_alice = Pair::of(uid(3), uid(1));
        let id = cid("conv_1_2");
        assert_eq!(
            conversation_access(&id, alice_bob, None),
            Ok(ConversationAccess::Theirs)
        );
        assert_eq!(
            conversation_access(&id, eve_alice, None),
            Err(NotTheirConversation)
        );
        assert_eq!(
            conversation_access(&id, alice_bob, Some(eve_alice)),
            Ok(ConversationAccess::Theirs),
            "a squatter's binding of a canonical id counts for nothing"
        );
        assert_eq!(
            conversation_access(&cid("conv_-1_1"), eve_alice, None),
            Err(NotTheirConversation),
            "nor can the assistant's thread with a user be squatted"
        );
    }

    #[test]
    fn another_id_is_bound_by_its_first_message() {
        let alice_bob = Pair::of(uid(1), uid(2));
        let alice_carol = Pair::of(uid(1), uid(3));
        let id = cid("project-x");
        assert_eq!(
            conversation_access(&id, alice_bob, None),
            Ok(ConversationAccess::BindToPair)
        );
        assert_eq!(
            conversation_access(&id, alice_bob, Some(alice_bob)),
            Ok(ConversationAccess::Theirs)
        );
        assert_eq!(
            conversation_access(&id, alice_carol, Some(alice_bob)),
            Err(NotTheirConversation),
            "a party of the thread cannot bring a third user in"
        );
    }

    #[test]
    fn a_message_joins_the_named_then_the_parents_then_the_pairs_conversation() {
        let pair = Pair::of(uid(2), uid(1));
        let named = cid("named");
        let parent = cid("parent");
        assert_eq!(conversation_of(Some(&named), Some(&parent), pair), named);
        assert_eq!(conversation_of(None, Some(&parent), pair), parent);
        assert_eq!(conversation_of(None, None, pair), cid("conv_1_2"));
    }

    #[test]
    fn a_delivery_knows_each_partys_position() {
        let message = Message {
            id: crate::MessageId::new(9),
            sender_id: uid(1),
            recipient_id: uid(2),
            content: crate::MessageContent::parse("hi").unwrap(),
            is_read: false,
            parent_id: None,
            conversation_id: None,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        };
        let delivered = Delivered {
            message: Arc::new(message),
            sender_position: Some(4),
            recipient_position: Some(11),
        };
        assert_eq!(delivered.position_for(uid(1)), Some(4));
        assert_eq!(delivered.position_for(uid(2)), Some(11));
        assert_eq!(delivered.position_for(uid(3)), None);
    }
}
