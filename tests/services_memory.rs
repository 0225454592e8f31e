//! The use cases wired to the real in-memory and bcrypt adapters: whole journeys, with a clock
//! the test moves.

use std::sync::Arc;

use ai_message_bcrypt::BcryptHasher;
use ai_message_cli::{Application, Parts};
use ai_message_core::ports::{MessageScope, ProfileUpdate};
use ai_message_core::usecases::accounts::{ChangePasswordError, Registration};
use ai_message_core::usecases::admin::{
    AccountAction, AccountActionError, SuperuserOnlyError, UserLookupError,
};
use ai_message_core::usecases::auth::{
    AuthenticateError, EndSessionError, LoginError, LoginOutcome, LoginRequest, RefreshError,
};
use ai_message_core::usecases::messages::{
    DeleteMessageError, EditMessageError, GetMessageError, MarkReadError, Outgoing, SendError,
};
use ai_message_core::usecases::roles::{AssignRolesError, CreateRoleError};
use ai_message_core::usecases::{Caller, Services};
use ai_message_core::*;
use ai_message_local::ManualClock;
use ai_message_memory::MemoryStore;
use chrono::{TimeDelta, TimeZone, Utc};

struct World {
    services: Services,
    clock: Arc<ManualClock>,
}

impl World {
    fn new() -> Self {
        let start = Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap();
        let clock = Arc::new(ManualClock::frozen_at(start));
        let services = Application::build(Parts {
            hasher: Arc::new(BcryptHasher::new(4, 2).unwrap()),
            clock: clock.clone(),
            ..Parts::around(MemoryStore::storage())
        })
        .services()
        .clone();
        Self { services, clock }
    }

    fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
    }

    async fn register(&self, name: &str) -> User {
        self.services
            .accounts
            .register(registration(name))
            .await
            .unwrap()
    }

    async fn login(&self, login: &str, password: &str) -> Result<LoginOutcome, LoginError> {
        self.services
            .auth
            .login(LoginRequest {
                login: login.into(),
                password: password.into(),
                device_info: Some("journey-test".into()),
                ip_address: Some("127.0.0.1".into()),
            })
            .await
    }

    /// Registers and logs in; returns the caller and the login outcome.
    async fn signed_in(&self, name: &str) -> (Caller, LoginOutcome) {
        self.register(name).await;
        let outcome = self.login(name, &password_of(name)).await.unwrap();
        let caller = self.caller(&outcome).await.unwrap();
        (caller, outcome)
    }

    async fn caller(&self, outcome: &LoginOutcome) -> Result<Caller, AuthenticateError> {
        self.services
            .auth
            .authenticate(outcome.user.id, outcome.session.id)
            .await
    }

    async fn make_superuser(&self, name: &str) -> Caller {
        self.services
            .admin
            .create_superuser(registration(name))
            .await
            .unwrap();
        let outcome = self.login(name, &password_of(name)).await.unwrap();
        self.caller(&outcome).await.unwrap()
    }
}

fn password_of(name: &str) -> String {
    format!("{name}-password")
}

fn registration(name: &str) -> Registration {
    Registration {
        username: Username::parse(name).unwrap(),
        email: Email::parse(format!("{name}@example.com")).unwrap(),
        password: Password::parse(password_of(name)).unwrap(),
        full_name: None,
        phone_number: None,
    }
}

fn text(content: &str) -> MessageContent {
    MessageContent::parse(content).unwrap()
}

fn to(recipient_id: UserId, content: &str) -> Outgoing {
    Outgoing {
        recipient_id,
        content: text(content),
        conversation_id: None,
        parent_id: None,
    }
}

#[tokio::test]
async fn login_works_by_username_or_email_and_not_with_a_wrong_password() {
    let world = World::new();
    let alice = world.register("alice").await;
    let by_name = world.login("alice", "alice-password").await.unwrap();
    let by_email = world
        .login("alice@example.com", "alice-password")
        .await
        .unwrap();
    assert_eq!(by_name.user.id, alice.id);
    assert_eq!(by_email.user.id, alice.id);
    assert_ne!(by_name.session.id, by_email.session.id);
    assert_ne!(by_name.refresh_token, by_email.refresh_token);
    assert!(by_name.refresh_token.len() >= 43, "256 bits of base64");
    assert!(matches!(
        world.login("alice", "wrong-password").await,
        Err(LoginError::InvalidCredentials)
    ));
    assert!(matches!(
        world.login("nobody", "alice-password").await,
        Err(LoginError::InvalidCredentials)
    ));
    assert!(matches!(
        world.register_again("alice").await,
        Err(ai_message_core::usecases::accounts::RegisterError::UsernameTaken)
    ));
}

impl World {
    async fn register_again(
        &self,
        name: &str,
    ) -> Result<User, ai_message_core::usecases::accounts::RegisterError> {
        self.services.accounts.register(registration(name)).await
    }
}

#[tokio::test]
async fn refresh_rotates_and_reuse_after_grace_ends_the_session() {
    let world = World::new();
    let (_, login) = world.signed_in("alice").await;
    let auth = &world.services.auth;

    world.advance(TimeDelta::seconds(1));
    let first = auth.refresh(&login.refresh_token).await.unwrap();
    assert_eq!(first.session_id, login.session.id);
    assert_ne!(first.refresh_token, login.refresh_token);

    // The old token again, within the grace window: refused, but the session lives on.
    world.advance(TimeDelta::seconds(5));
    assert!(matches!(
        auth.refresh(&login.refresh_token).await,
        Err(RefreshError::NotFoundOrUsed)
    ));
    world.caller(&login).await.unwrap();
    let second = auth.refresh(&first.refresh_token).await.unwrap();

    // The first token again, well after it was used: taken as stolen.
    world.advance(TimeDelta::seconds(30));
    assert!(matches!(
        auth.refresh(&first.refresh_token).await,
        Err(RefreshError::NotFoundOrUsed)
    ));
    assert!(matches!(
        world.caller(&login).await,
        Err(AuthenticateError::InvalidCredentials)
    ));
    assert!(
        auth.refresh(&second.refresh_token).await.is_err(),
        "every token of the session stopped working"
    );
}

#[tokio::test]
async fn refresh_tokens_expire_with_their_session() {
    let world = World::new();
    let (_, login) = world.signed_in("alice").await;
    world.advance(TimeDelta::days(7));
    assert!(matches!(
        world.services.auth.refresh(&login.refresh_token).await,
        Err(RefreshError::Expired)
    ));
    assert!(matches!(
        world.caller(&login).await,
        Err(AuthenticateError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn rotation_slides_the_session_expiry() {
    let world = World::new();
    let (_, login) = world.signed_in("alice").await;
    world.advance(TimeDelta::days(6));
    let next = world
        .services
        .auth
        .refresh(&login.refresh_token)
        .await
        .unwrap();
    world.advance(TimeDelta::days(2));
    world.caller(&login).await.unwrap();
    world
        .services
        .auth
        .refresh(&next.refresh_token)
        .await
        .unwrap();
}

#[tokio::test]
async fn logout_takes_effect_on_the_next_request_and_kills_its_refresh_token() {
    let world = World::new();
    let (caller, login) = world.signed_in("alice").await;
    let other = world.login("alice", "alice-password").await.unwrap();
    world.services.auth.logout(&caller, None).await.unwrap();
    assert!(world.caller(&login).await.is_err());
    assert!(
        world
            .services
            .auth
            .refresh(&login.refresh_token)
            .await
            .is_err()
    );
    world.caller(&other).await.unwrap();

    let other_caller = world.caller(&other).await.unwrap();
    assert_eq!(
        world.services.auth.logout_all(&other_caller).await.unwrap(),
        1
    );
    assert!(world.caller(&other).await.is_err());
}

#[tokio::test]
async fn sessions_can_be_listed_and_ended_one_by_one() {
    let world = World::new();
    let (caller, login) = world.signed_in("alice").await;
    world.advance(TimeDelta::seconds(1));
    let second = world.login("alice", "alice-password").await.unwrap();
    let listed = world.services.auth.list_sessions(&caller).await.unwrap();
    let ids: Vec<_> = listed.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![second.session.id, login.session.id]);

    let (mallory, _) = world.signed_in("mallory").await;
    assert!(matches!(
        world
            .services
            .auth
            .end_session(&mallory, second.session.id)
            .await,
        Err(EndSessionError::SessionNotFound)
    ));
    world
        .services
        .auth
        .end_session(&caller, second.session.id)
        .await
        .unwrap();
    assert!(world.caller(&second).await.is_err());
    assert!(
        world
            .services
            .auth
            .refresh(&second.refresh_token)
            .await
            .is_err()
    );
    assert_eq!(
        world
            .services
            .auth
            .list_sessions(&caller)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions_only() {
    let world = World::new();
    let (caller, login) = world.signed_in("alice").await;
    let elsewhere = world.login("alice", "alice-password").await.unwrap();
    let new_password = Password::parse("a brand new password").unwrap();
    assert!(matches!(
        world
            .services
            .accounts
            .change_password(&caller, None, "not it", &new_password)
            .await,
        Err(ChangePasswordError::WrongCurrentPassword)
    ));
    world
        .services
        .accounts
        .change_password(&caller, None, "alice-password", &new_password)
        .await
        .unwrap();
    world.caller(&login).await.unwrap();
    assert!(world.caller(&elsewhere).await.is_err());
    assert!(
        world
            .services
            .auth
            .refresh(&elsewhere.refresh_token)
            .await
            .is_err()
    );
    world
        .services
        .auth
        .refresh(&login.refresh_token)
        .await
        .unwrap();
    assert!(world.login("alice", "alice-password").await.is_err());
    world.login("alice", "a brand new password").await.unwrap();
}

#[tokio::test]
async fn profile_updates_keep_absent_fields() {
    let world = World::new();
    let (caller, _) = world.signed_in("alice").await;
    let accounts = &world.services.accounts;
    let update = ProfileUpdate {
        full_name: Some(FullName::parse("Alice L").unwrap()),
        bio: Some(Bio::parse("hello").unwrap()),
        phone_number: None,
    };
    accounts.update_profile(&caller, update).await.unwrap();
    let user = accounts
        .update_profile(&caller, ProfileUpdate::default())
        .await
        .unwrap();
    assert_eq!(user.full_name.as_deref(), Some("Alice L"));
    assert_eq!(user.bio.as_deref(), Some("hello"));
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_blocks_login() {
    let world = World::new();
    let root = world.make_superuser("root").await;
    let (_, login) = world.signed_in("alice").await;
    let admin = &world.services.admin;
    admin.disable_user(&root, login.user.id).await.unwrap();
    assert!(matches!(
        world.caller(&login).await,
        Err(AuthenticateError::UserDisabled)
    ));
    assert!(
        world
            .services
            .auth
            .refresh(&login.refresh_token)
            .await
            .is_err()
    );
    assert!(matches!(
        world.login("alice", "alice-password").await,
        Err(LoginError::UserDisabled)
    ));
    admin.enable_user(&root, login.user.id).await.unwrap();
    world.login("alice", "alice-password").await.unwrap();
    assert!(
        world.caller(&login).await.is_err(),
        "re-enabling does not revive ended sessions"
    );
}

#[tokio::test]
async fn superusers_manage_others_but_not_themselves() {
    let world = World::new();
    let root = world.make_superuser("root").await;
    let (alice, _) = world.signed_in("alice").await;
    let admin = &world.services.admin;
    assert!(matches!(
        admin.list_users(&alice, Page::default()).await,
        Err(SuperuserOnlyError::NotSuperuser(_))
    ));
    assert_eq!(
        admin
            .list_users(&root, Page::default())
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(matches!(
        admin.delete_user(&root, root.user.id).await,
        Err(AccountActionError::OwnAccount(AccountAction::Delete))
    ));
    admin
        .set_superuser(&root, alice.user.id, true)
        .await
        .unwrap();
    assert!(
        admin
            .get_user(&root, alice.user.id)
            .await
            .unwrap()
            .is_superuser
    );
    let created = admin.create_user(&root, registration("bob")).await.unwrap();
    assert!(!created.is_superuser);
    assert!(matches!(
        admin.get_user(&root, UserId::new(9_999)).await,
        Err(UserLookupError::UserNotFound)
    ));
}

#[tokio::test]
async fn deleting_a_user_keeps_their_messages_and_names_them_unknown() {
    let world = World::new();
    let root = world.make_superuser("root").await;
    let (alice, _) = world.signed_in("alice").await;
    let (bob, bob_login) = world.signed_in("bob").await;
    let message = world
        .services
        .messages
        .send(&bob.claim(), to(alice.user.id, "hi alice"))
        .await
        .unwrap();
    world
        .services
        .admin
        .delete_user(&root, bob.user.id)
        .await
        .unwrap();
    assert!(world.caller(&bob_login).await.is_err());
    assert_eq!(
        world
            .services
            .messages
            .get(&alice, message.id)
            .await
            .unwrap(),
        message
    );
    let conversations = world
        .services
        .conversations
        .list(&alice.claim())
        .await
        .unwrap();
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].other_user_name, None);
    assert_eq!(conversations[0].other_user_id, bob.user.id);
}

#[tokio::test]
async fn roles_are_replaced_atomically() {
    let world = World::new();
    let root = world.make_superuser("root").await;
    let (alice, _) = world.signed_in("alice").await;
    let roles = &world.services.roles;
    let editor = roles
        .create_role(&root, RoleName::parse("editor").unwrap(), None)
        .await
        .unwrap();
    let viewer = roles
        .create_role(&root, RoleName::parse("viewer").unwrap(), None)
        .await
        .unwrap();
    assert!(matches!(
        roles
            .create_role(&root, RoleName::parse("editor").unwrap(), None)
            .await,
        Err(CreateRoleError::RoleExists)
    ));
    roles
        .assign_roles(&root, alice.user.id, vec![editor.id])
        .await
        .unwrap();
    let err = roles
        .assign_roles(&root, alice.user.id, vec![viewer.id, RoleId::new(404)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, AssignRolesError::UnknownRoles(ref ids) if ids == &vec![RoleId::new(404)])
    );
    assert_eq!(
        roles.roles_of_user(&root, alice.user.id).await.unwrap(),
        vec![editor.clone()]
    );
    roles.delete_role(&root, editor.id).await.unwrap();
    assert!(
        roles
            .roles_of_user(&root, alice.user.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        roles.roles_of_user(&alice, alice.user.id).await,
        Err(UserLookupError::NotSuperuser)
    ));
}

#[tokio::test]
async fn messages_replies_and_conversations_follow_the_visibility_rule() {
    let world = World::new();
    let (alice, _) = world.signed_in("alice").await;
    let (bob, _) = world.signed_in("bob").await;
    let (eve, _) = world.signed_in("eve").await;
    let messages = &world.services.messages;

    let first = messages
        .send(&alice.claim(), to(bob.user.id, "hi bob"))
        .await
        .unwrap();
    let expected_conversation = format!(
        "conv_{}_{}",
        alice.user.id.min(bob.user.id),
        alice.user.id.max(bob.user.id)
    );
    assert_eq!(
        first.conversation_id.as_deref(),
        Some(expected_conversation.as_str())
    );
    world.advance(TimeDelta::seconds(1));
    let mut reply = to(alice.user.id, "hi alice");
    reply.parent_id = Some(first.id);
    let reply = messages.send(&bob.claim(), reply).await.unwrap();
    assert_eq!(reply.conversation_id, first.conversation_id);

    let mut sneaky = to(bob.user.id, "me too");
    sneaky.parent_id = Some(first.id);
    assert!(matches!(
        messages.send(&eve.claim(), sneaky).await,
        Err(SendError::ParentNotFound)
    ));
    assert!(matches!(
        messages.get(&eve, first.id).await,
        Err(GetMessageError::NoAccess)
    ));
    assert!(matches!(
        messages.delete(&eve, first.id).await,
        Err(DeleteMessageError::NotAParty)
    ));
    assert!(matches!(
        messages
            .update(&bob, first.id, Some(text("mine now")))
            .await,
        Err(EditMessageError::NotSender)
    ));
    assert!(matches!(
        messages.mark_read(&alice, first.id).await,
        Err(MarkReadError::NotRecipient)
    ));
    assert!(matches!(
        messages
            .send(&alice.claim(), to(UserId::new(9_999), "anyone?"))
            .await,
        Err(SendError::RecipientNotFound)
    ));

    assert_eq!(messages.unread_count(&bob).await.unwrap(), 1);
    messages.mark_read(&bob, first.id).await.unwrap();
    assert_eq!(messages.unread_count(&bob).await.unwrap(), 0);
    let all = messages
        .list(
            &alice.claim(),
            MessageScope::SentOrReceived,
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![first.id, reply.id]
    );

    let cid = ConversationId::parse(expected_conversation).unwrap();
    let conversations = &world.services.conversations;
    let listed = conversations.list(&alice.claim()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].other_user_name.as_deref(), Some("bob"));
    assert_eq!(listed[0].last_message, "hi alice");
    assert_eq!(listed[0].unread_count, 1);
    assert!(
        conversations
            .messages(&eve.claim(), cid.clone(), Page::default())
            .await
            .unwrap()
            .is_empty(),
        "eve sees nothing of a conversation she is not in"
    );
    conversations.mark_read(&alice, cid.clone()).await.unwrap();
    assert_eq!(
        conversations.list(&alice.claim()).await.unwrap()[0].unread_count,
        0
    );
    let sent = conversations
        .send(
            &alice.claim(),
            cid.clone(),
            bob.user.id,
            text("in the thread"),
        )
        .await
        .unwrap();
    assert_eq!(sent.conversation_id.as_deref(), Some(cid.as_str()));
    messages.delete(&bob, sent.id).await.unwrap();
    assert!(matches!(
        messages.get(&alice, sent.id).await,
        Err(GetMessageError::NotFound)
    ));
}
