//! Facility reports: what every store keeps, lists and changes atomically.

use ai_message_core::ports::*;
use ai_message_core::*;

use super::{add_user, at};

async fn file(storage: &Storage, reporter: UserId, title: &str, seconds: i64) -> ReportView {
    storage
        .reports
        .create_report(NewReport {
            reporter_id: reporter,
            title: ReportTitle::parse(title).unwrap(),
            content: ReportContent::parse(format!("{title}: broken")).unwrap(),
            created_at: at(seconds),
        })
        .await
        .unwrap()
}

fn answer(id: ReportId, by: UserId, status: Option<ReportStatus>, seconds: i64) -> ReportAnswer {
    ReportAnswer {
        id,
        responder_id: by,
        comment: Some(ReportComment::parse(format!("answer at {seconds}")).unwrap()),
        status,
        now: at(seconds),
    }
}

fn ids(reports: &[ReportView]) -> Vec<ReportId> {
    reports.iter().map(|r| r.report.id).collect()
}

pub async fn a_report_is_stored_open_with_its_names(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let filed = file(&storage, alice.id, "Lift", 1).await;
    let report = &filed.report;
    assert_eq!(report.status, ReportStatus::Open);
    assert_eq!(report.reporter_id, alice.id);
    assert_eq!(report.title, "Lift");
    assert_eq!(report.comment, None);
    assert_eq!((report.resolved_at, report.resolved_by), (None, None));
    assert_eq!((report.created_at, report.updated_at), (at(1), at(1)));
    assert_eq!(filed.reporter_username.as_deref(), Some("alice"));
    assert_eq!(filed.resolver_username, None);
    let read = storage.reports.get_report(report.id).await.unwrap();
    assert_eq!(read.as_ref(), Some(&filed), "read back as written");
    let second = file(&storage, alice.id, "Window", 2).await;
    assert!(second.report.id > report.id, "ids increase");
    assert_eq!(
        storage
            .reports
            .get_report(ReportId::new(987_654))
            .await
            .unwrap(),
        None
    );
}

pub async fn report_lists_are_newest_first_filtered_and_paged(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let bob = add_user(&storage, "bob").await;
    let root = add_user(&storage, "root").await;
    let a1 = file(&storage, alice.id, "a1", 1).await.report.id;
    let b1 = file(&storage, bob.id, "b1", 2).await.report.id;
    // Filed in the same microsecond: the later id comes first.
    let a2 = file(&storage, alice.id, "a2", 3).await.report.id;
    let a3 = file(&storage, alice.id, "a3", 3).await.report.id;
    storage
        .reports
        .answer_report(answer(a1, root.id, Some(ReportStatus::Resolved), 4))
        .await
        .unwrap();
    let list = |reporter_id, status, page| {
        storage.reports.list_reports(
            ReportFilter {
                reporter_id,
                status,
            },
            page,
        )
    };
    let everyone = list(None, None, Page::default()).await.unwrap();
    assert_eq!(ids(&everyone), vec![a3, a2, b1, a1]);
    assert_eq!(everyone[3].resolver_username.as_deref(), Some("root"));
    assert_eq!(everyone[1].reporter_username.as_deref(), Some("alice"));
    let alices = list(Some(alice.id), None, Page::default()).await.unwrap();
    assert_eq!(ids(&alices), vec![a3, a2, a1]);
    let open = list(Some(alice.id), Some(ReportStatus::Open), Page::default())
        .await
        .unwrap();
    assert_eq!(ids(&open), vec![a3, a2]);
    let resolved = list(None, Some(ReportStatus::Resolved), Page::default())
        .await
        .unwrap();
    assert_eq!(ids(&resolved), vec![a1]);
    let window = list(None, None, Page::new(1, 2).unwrap()).await.unwrap();
    assert_eq!(ids(&window), vec![a2, b1]);
    let none = list(Some(root.id), None, Page::default()).await.unwrap();
    assert!(none.is_empty());
}

pub async fn only_the_reporter_edits_an_open_report(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let bob = add_user(&storage, "bob").await;
    let id = file(&storage, alice.id, "Lift", 1).await.report.id;
    let edit = |editor_id, seconds| ReportEdit {
        id,
        editor_id,
        title: None,
        content: Some(ReportContent::parse(format!("edited at {seconds}")).unwrap()),
        now: at(seconds),
    };
    assert_eq!(
        storage
            .reports
            .edit_open_report(edit(bob.id, 2))
            .await
            .unwrap(),
        ReportEditOutcome::NotReporter
    );
    let ReportEditOutcome::Edited(edited) = storage
        .reports
        .edit_open_report(edit(alice.id, 3))
        .await
        .unwrap()
    else {
        panic!("the reporter edits an open report");
    };
    assert_eq!(edited.report.title, "Lift", "what is not given stays");
    assert_eq!(edited.report.content, "edited at 3");
    assert_eq!(edited.report.updated_at, at(3));
    storage
        .reports
        .answer_report(answer(id, bob.id, Some(ReportStatus::InProgress), 4))
        .await
        .unwrap();
    assert_eq!(
        storage
            .reports
            .edit_open_report(edit(alice.id, 5))
            .await
            .unwrap(),
        ReportEditOutcome::NotOpen
    );
    let unknown = ReportEdit {
        id: ReportId::new(987_654),
        ..edit(alice.id, 6)
    };
    assert_eq!(
        storage.reports.edit_open_report(unknown).await.unwrap(),
        ReportEditOutcome::NotFound
    );
    let kept = storage.reports.get_report(id).await.unwrap().unwrap();
    assert_eq!(
        kept.report.content, "edited at 3",
        "refused edits change nothing"
    );
}

pub async fn answers_stamp_and_clear_the_resolution(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let root = add_user(&storage, "root").await;
    let helper = add_user(&storage, "helper").await;
    let id = file(&storage, alice.id, "Lift", 1).await.report.id;
    let answered = |answer| storage.reports.answer_report(answer);

    let seen = answered(ReportAnswer {
        comment: None,
        ..answer(id, root.id, None, 2)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(seen.report.status, ReportStatus::Open);
    assert_eq!(seen.report.comment, None, "no comment given: none set");
    assert_eq!(seen.report.updated_at, at(2));

    let resolved = answered(answer(id, root.id, Some(ReportStatus::Resolved), 3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resolved.report.resolved_at, Some(at(3)));
    assert_eq!(resolved.report.resolved_by, Some(root.id));
    assert_eq!(resolved.resolver_username.as_deref(), Some("root"));
    assert_eq!(resolved.report.comment.as_deref(), Some("answer at 3"));

    let still = answered(answer(id, helper.id, Some(ReportStatus::Resolved), 4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (still.report.resolved_at, still.report.resolved_by),
        (Some(at(3)), Some(root.id)),
        "staying resolved keeps the first resolution"
    );
    assert_eq!(still.report.comment.as_deref(), Some("answer at 4"));

    let reopened = answered(answer(id, helper.id, Some(ReportStatus::Open), 5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reopened.report.status, ReportStatus::Open);
    assert_eq!(
        (reopened.report.resolved_at, reopened.report.resolved_by),
        (None, None)
    );
    assert_eq!(reopened.resolver_username, None);
    assert_eq!(
        answered(answer(ReportId::new(987_654), root.id, None, 6))
            .await
            .unwrap(),
        None
    );
}

pub async fn a_users_deletion_takes_their_reports_and_keeps_what_they_resolved(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let bob = add_user(&storage, "bob").await;
    let root = add_user(&storage, "root").await;
    let alices = file(&storage, alice.id, "alice's", 1).await.report.id;
    let bobs = file(&storage, bob.id, "bob's", 2).await.report.id;
    storage
        .reports
        .answer_report(answer(bobs, root.id, Some(ReportStatus::Resolved), 3))
        .await
        .unwrap();
    for user in [alice.id, root.id] {
        assert_eq!(
            storage.users.delete_user(user).await.unwrap(),
            AccountChange::Changed
        );
    }
    assert_eq!(storage.reports.get_report(alices).await.unwrap(), None);
    let kept = storage.reports.get_report(bobs).await.unwrap().unwrap();
    assert_eq!(kept.report.status, ReportStatus::Resolved);
    assert_eq!(kept.report.resolved_at, Some(at(3)));
    assert_eq!(kept.report.resolved_by, None);
    assert_eq!(kept.resolver_username, None);
}

/// An edit racing a superuser's move to `in_progress`: either the edit lands first (and the
/// answer follows it) or it is refused as not open; never an edit of a report in progress.
pub async fn an_edit_racing_an_answer_never_changes_a_report_in_progress(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let root = add_user(&storage, "root").await;
    for round in 0..20 {
        let id = file(&storage, alice.id, &format!("race {round}"), round)
            .await
            .report
            .id;
        let edit = ReportEdit {
            id,
            editor_id: alice.id,
            title: Some(ReportTitle::parse("edited").unwrap()),
            content: None,
            now: at(100 + round),
        };
        let (edited, answered) = tokio::join!(
            storage.reports.edit_open_report(edit),
            storage.reports.answer_report(answer(
                id,
                root.id,
                Some(ReportStatus::InProgress),
                100 + round
            )),
        );
        answered.unwrap().unwrap();
        let stored = storage.reports.get_report(id).await.unwrap().unwrap();
        assert_eq!(stored.report.status, ReportStatus::InProgress);
        match edited.unwrap() {
            ReportEditOutcome::Edited(view) => {
                assert_eq!(view.report.status, ReportStatus::Open, "edited while open");
                assert_eq!(stored.report.title, "edited");
            }
            ReportEditOutcome::NotOpen => {
                assert_eq!(stored.report.title.as_str(), format!("race {round}"))
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
}
