//! Contract cases for conversation lists: whatever storage keeps to answer them fast, a list
//! is what the user's messages say it is after every kind of write, alone or racing.

use std::collections::BTreeMap;

use ai_message_core::ports::*;
use ai_message_core::*;

use super::{add_message, add_user, at};

/// The conversation list computed the slow way, from every message the user can list.
pub async fn summaries_from_messages(storage: &Storage, user: UserId) -> Vec<ConversationSummary> {
    let page = Page::new(0, Page::MAX_LIMIT).unwrap();
    let messages = storage
        .messages
        .list_messages(user, MessageScope::SentOrReceived, page)
        .await
        .unwrap();
    assert!(
        messages.len() < Page::MAX_LIMIT as usize,
        "the oracle reads one page; keep the case smaller"
    );
    let mut by_conversation: BTreeMap<String, Vec<Message>> = BTreeMap::new();
    for message in messages {
        if let Some(conversation) = message.conversation_id.clone() {
            by_conversation
                .entry(conversation.as_str().to_owned())
                .or_default()
                .push(message);
        }
    }
    let mut summaries = Vec::new();
    for messages in by_conversation.into_values() {
        let last = messages
            .iter()
            .max_by_key(|m| (m.created_at, m.id))
            .unwrap();
        let other = if last.sender_id == user {
            last.recipient_id
        } else {
            last.sender_id
        };
        let other_user_name = storage
            .users
            .get_user(other)
            .await
            .unwrap()
            .map(|u| u.username);
        let unread = messages
            .iter()
            .filter(|m| m.recipient_id == user && !m.is_read)
            .count();
        summaries.push((
            (last.created_at, last.id),
            ConversationSummary {
                conversation_id: last.conversation_id.clone().unwrap(),
                other_user_id: other,
                other_user_name,
                last_message: MessageContent::from_storage(
                    ConversationSummary::preview_of(last.content.as_str()).to_owned(),
                ),
                last_message_at: last.created_at,
                unread_count: unread as u64,
            },
        ));
    }
    summaries.sort_by_key(|(newest, _)| std::cmp::Reverse(*newest));
    summaries.into_iter().map(|(_, s)| s).collect()
}

async fn assert_lists_match_messages(storage: &Storage, users: &[UserId], after: &str) {
    for &user in users {
        assert_eq!(
            storage.messages.conversation_summaries(user).await.unwrap(),
            summaries_from_messages(storage, user).await,
            "the conversation list of user {user:?} after {after}"
        );
    }
}

/// A small deterministic generator (xorshift), so a failing sequence can be replayed.
struct Steps(u64);

impl Steps {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Sends (notes to self, the assistant, times out of order and tied), single and bulk reads,
/// edits, deletes of last and earlier messages, a deleted user: after each write every
/// user's list is what their messages say.
pub async fn conversation_lists_follow_every_kind_of_write(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let carol = add_user(&storage, "carol").await.id;
    let mut users = vec![alice, bob, carol];
    let conversations = ["ab", "team", "notes", "x"].map(|c| ConversationId::parse(c).unwrap());
    let mut steps = Steps(0x2545_f491_4f6c_dd1d);
    let mut ids: Vec<MessageId> = Vec::new();
    for step in 0..240 {
        if step == 160 {
            storage.users.delete_user(carol).await.unwrap();
            users.retain(|&u| u != carol);
            assert_lists_match_messages(&storage, &users, "a user was deleted").await;
            continue;
        }
        let mut parties: Vec<UserId> = users.clone();
        parties.push(UserId::ASSISTANT);
        let what = match steps.below(20) {
            0..=9 => {
                let sender = parties[steps.below(parties.len())];
                let recipient = if sender.is_assistant() {
                    users[steps.below(users.len())]
                } else {
                    parties[steps.below(parties.len())]
                };
                let conversation = &conversations[steps.below(conversations.len())];
                let sent = add_message(
                    &storage,
                    sender,
                    recipient,
                    conversation.as_str(),
                    at(steps.below(12) as i64),
                )
                .await;
                ids.push(sent.id);
                "a send"
            }
            10..=12 if !ids.is_empty() => {
                let id = ids[steps.below(ids.len())];
                storage
                    .messages
                    .mark_message_read(id, at(50))
                    .await
                    .unwrap();
                "one message read"
            }
            13 => {
                let user = users[steps.below(users.len())];
                let within = match steps.below(3) {
                    0 => None,
                    _ => Some(conversations[steps.below(conversations.len())].clone()),
                };
                storage
                    .messages
                    .mark_all_read(user, within, at(50))
                    .await
                    .unwrap();
                "a bulk read"
            }
            14 if !ids.is_empty() => {
                let id = ids[steps.below(ids.len())];
                // Longer than a preview, in characters of more than one byte.
                let long = "é🙂x".repeat(40 + steps.below(3));
                let content = if steps.below(2) == 0 { "edited" } else { &long };
                storage
                    .messages
                    .update_message_content(id, MessageContent::parse(content).unwrap(), at(51))
                    .await
                    .unwrap();
                "an edit"
            }
            15..=19 if !ids.is_empty() => {
                // Mostly the newest message: the one a list shows.
                let index = if steps.below(2) == 0 {
                    ids.len() - 1
                } else {
                    steps.below(ids.len())
                };
                let id = ids.remove(index);
                storage.messages.delete_message(id).await.unwrap();
                "a delete"
            }
            _ => continue,
        };
        assert_lists_match_messages(&storage, &users, &format!("step {step}, {what}")).await;
    }
}

/// Two users writing to each other in one conversation at once, reading and deleting while
/// they do: no write fails (no deadlock between the two directions) and both lists end as
/// their messages say.
pub async fn conversation_lists_stay_exact_under_concurrent_writes(storage: Storage) {
    let alice = add_user(&storage, "alice").await.id;
    let bob = add_user(&storage, "bob").await.id;
    let ab = ConversationId::parse("ab").unwrap();
    let mut tasks = Vec::new();
    for i in 0..60_i64 {
        let storage = storage.clone();
        let ab = ab.clone();
        tasks.push(tokio::spawn(async move {
            let (from, to) = if i % 2 == 0 {
                (alice, bob)
            } else {
                (bob, alice)
            };
            let sent = add_message(&storage, from, to, "ab", at(i % 7)).await;
            match i % 6 {
                0 => {
                    storage.messages.delete_message(sent.id).await.unwrap();
                }
                1 => {
                    storage
                        .messages
                        .mark_all_read(to, Some(ab), at(99))
                        .await
                        .unwrap();
                }
                2 => {
                    storage
                        .messages
                        .mark_message_read(sent.id, at(99))
                        .await
                        .unwrap();
                }
                _ => {}
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let lists = [alice, bob].map(|u| summaries_from_messages(&storage, u));
    let [alices, bobs] = lists;
    let (alices, bobs) = (alices.await, bobs.await);
    assert_eq!(alices.len(), 1);
    assert_eq!(
        storage
            .messages
            .conversation_summaries(alice)
            .await
            .unwrap(),
        alices
    );
    assert_eq!(
        storage.messages.conversation_summaries(bob).await.unwrap(),
        bobs
    );
}

/// Takes a migrated SQLite database back to before `conversation_heads` (migration 11).
pub const UNDO_CONVERSATION_HEADS_SQLITE: &str = "\
     DROP TRIGGER conversation_heads_after_insert; DROP TRIGGER conversation_heads_after_read; \
     DROP TRIGGER conversation_heads_after_delete; DROP TRIGGER conversation_heads_after_edit; \
     DROP TRIGGER conversation_heads_after_user_delete; DROP TABLE conversation_heads; \
     DELETE FROM refinery_schema_history WHERE version >= 11;";

/// Conversations of every shape an upgraded database may hold: read and unread, notes to
/// self, the assistant, a deleted partner, ties in time. Returns the users still there.
pub async fn seed_conversations(storage: &Storage) -> Vec<UserId> {
    let alice = add_user(storage, "alice").await.id;
    let bob = add_user(storage, "bob").await.id;
    let carol = add_user(storage, "carol").await.id;
    let gone = add_user(storage, "gone").await.id;
    for (i, (from, to, conversation)) in [
        (alice, bob, "ab"),
        (bob, alice, "ab"),
        (bob, alice, "ab"),
        (alice, alice, "notes"),
        (carol, alice, "team"),
        (alice, carol, "team"),
        (bob, carol, "team"),
        (UserId::ASSISTANT, alice, "assistant"),
        (alice, UserId::ASSISTANT, "assistant"),
        (gone, alice, "gone"),
        (alice, gone, "gone"),
    ]
    .into_iter()
    .enumerate()
    {
        let sent = add_message(storage, from, to, conversation, at(i as i64 % 4)).await;
        if i % 3 == 0 {
            storage
                .messages
                .mark_message_read(sent.id, at(20))
                .await
                .unwrap();
        }
    }
    storage.users.delete_user(gone).await.unwrap();
    vec![alice, bob, carol]
}

/// After the upgrade every list is what the user's messages say.
pub async fn conversation_lists_survive_the_upgrade(users: &[UserId], storage: Storage) {
    assert!(
        !storage
            .messages
            .conversation_summaries(users[0])
            .await
            .unwrap()
            .is_empty()
    );
    assert_lists_match_messages(&storage, users, "the upgrade").await;
}
