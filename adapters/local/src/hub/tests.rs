use super::*;
use ai_message_core::domain::{MessageEvent, MessageId};

const LIMITS: StreamLimits = StreamLimits {
    max_per_user: 10,
    inbox_capacity: 8,
};
const TWO_PER_USER: StreamLimits = StreamLimits {
    max_per_user: 2,
    inbox_capacity: 8,
};
const TINY_INBOX: StreamLimits = StreamLimits {
    max_per_user: 10,
    inbox_capacity: 2,
};

fn uid(id: i64) -> UserId {
    UserId::new(id)
}

fn user(id: i64) -> Subscriber {
    Subscriber {
        user_id: uid(id),
        is_superuser: false,
    }
}

fn superuser(id: i64) -> Subscriber {
    Subscriber {
        user_id: uid(id),
        is_superuser: true,
    }
}

fn created(id: i64, sender: i64, recipient: i64) -> DomainEvent {
    DomainEvent::Message(MessageEvent::Created {
        id: MessageId::new(id),
        sender_id: uid(sender),
        recipient_id: uid(recipient),
        sender_position: None,
        recipient_position: None,
        message: None,
    })
}

#[test]
fn events_reach_only_the_streams_of_the_users_they_concern() {
    let hub = EventHub::new();
    let mut alice = hub.register(user(1), LIMITS).unwrap();
    let mut bob = hub.register(user(2), LIMITS).unwrap();
    let mut carol = hub.register(user(3), LIMITS).unwrap();
    hub.deliver(&created(7, 1, 2));
    assert_eq!(
        alice.try_recv(),
        Some(Notice::Event(Arc::new(created(7, 1, 2))))
    );
    assert_eq!(
        bob.try_recv(),
        Some(Notice::Event(Arc::new(created(7, 1, 2))))
    );
    assert_eq!(carol.try_recv(), None);
}

#[test]
fn a_read_receipt_goes_to_the_sender_only() {
    let hub = EventHub::new();
    let mut sender = hub.register(user(1), LIMITS).unwrap();
    let mut reader = hub.register(user(2), LIMITS).unwrap();
    let receipt = DomainEvent::Message(MessageEvent::Read {
        id: MessageId::new(7),
        sender_id: uid(1),
        reader_id: uid(2),
    });
    hub.deliver(&receipt);
    assert_eq!(sender.try_recv(), Some(Notice::Event(Arc::new(receipt))));
    assert_eq!(reader.try_recv(), None);
}

#[test]
fn a_note_to_self_arrives_once_per_stream() {
    let hub = EventHub::new();
    let mut alice = hub.register(user(1), LIMITS).unwrap();
    hub.deliver(&created(7, 1, 1));
    assert!(alice.try_recv().is_some());
    assert_eq!(alice.try_recv(), None);
}

#[test]
fn the_per_user_limit_counts_open_streams_and_frees_a_place_on_drop() {
    let hub = EventHub::new();
    let first = hub.register(user(1), TWO_PER_USER).unwrap();
    let _second = hub.register(user(1), TWO_PER_USER).unwrap();
    assert_eq!(
        hub.register(user(1), TWO_PER_USER).err(),
        Some(SubscribeError::TooManyStreams(2))
    );
    assert!(
        hub.register(user(2), TWO_PER_USER).is_ok(),
        "another user has places"
    );
    drop(first);
    assert!(hub.register(user(1), TWO_PER_USER).is_ok());
}

#[tokio::test]
async fn a_stream_that_falls_behind_is_dropped_after_what_it_holds() {
    let hub = EventHub::new();
    let mut slow = hub.register(user(1), TINY_INBOX).unwrap();
    for id in 1..=5 {
        hub.deliver(&created(id, 2, 1));
    }
    assert_eq!(
        slow.recv().await,
        Some(Notice::Event(Arc::new(created(1, 2, 1))))
    );
    assert_eq!(
        slow.recv().await,
        Some(Notice::Event(Arc::new(created(2, 2, 1))))
    );
    assert_eq!(slow.recv().await, None, "dropped, not blocked");
    assert_eq!(hub.open_streams(), 0);
}

#[tokio::test]
async fn closing_ends_every_stream_and_refuses_new_ones() {
    let hub = EventHub::new();
    let mut alice = hub.register(user(1), LIMITS).unwrap();
    hub.deliver_missed();
    hub.close_all();
    assert_eq!(alice.recv().await, Some(Notice::MayHaveMissed));
    assert_eq!(alice.recv().await, None);
    assert_eq!(
        hub.register(user(1), LIMITS).err(),
        Some(SubscribeError::ShuttingDown)
    );
}

#[test]
fn a_new_report_reaches_its_reporter_and_every_superuser_once() {
    use ai_message_core::domain::{ReportEvent, ReportId};
    let hub = EventHub::new();
    let mut reporter = hub.register(user(1), LIMITS).unwrap();
    let mut other = hub.register(user(2), LIMITS).unwrap();
    let mut admin = hub.register(superuser(3), LIMITS).unwrap();
    let mut admin_who_reports = hub.register(superuser(4), LIMITS).unwrap();
    let created = |reporter| {
        DomainEvent::Report(ReportEvent::Created {
            id: ReportId::new(1),
            reporter_id: uid(reporter),
            report: None,
        })
    };
    hub.deliver(&created(1));
    hub.deliver(&created(4));
    hub.deliver(&DomainEvent::Report(ReportEvent::Updated {
        id: ReportId::new(1),
        reporter_id: uid(1),
        report: None,
    }));
    let count = |inbox: &mut Inbox| std::iter::from_fn(|| inbox.try_recv()).count();
    assert_eq!(count(&mut reporter), 2, "its creation and its update");
    assert_eq!(count(&mut other), 0);
    assert_eq!(count(&mut admin), 2, "both new reports, not the update");
    assert_eq!(count(&mut admin_who_reports), 2, "each new report once");
}

/// An inbox slot holds a pointer to a shared event, not the event: an idle stream's inbox
/// is its capacity times this, allocated up front.
#[test]
fn an_inbox_slot_is_a_pointer() {
    assert!(
        std::mem::size_of::<Notice>() <= 2 * std::mem::size_of::<usize>(),
        "{} bytes",
        std::mem::size_of::<Notice>()
    );
}
