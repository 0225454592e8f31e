//! Facility reports: what every store keeps, lists and changes atomically.

use ai_message_core::ports::*;
use ai_message_core::*;
use chrono::TimeDelta;

use super::{add_session, add_user, at};

/// The assistant's tools acting for `user` (their account is checked, no session).
fn by(user: UserId) -> ActorGate {
    ActorGate::Account(user)
}

/// A request in `session` of `user`, at `seconds`.
fn in_session(user: UserId, session: SessionId, seconds: i64) -> ActorGate {
    ActorGate::Session(SessionGate::new(
        AccessClaim::new(user, session),
        at(seconds),
    ))
}

fn filing(gate: ActorGate, title: &str, seconds: i64) -> NewReport {
    NewReport {
        gate,
        title: ReportTitle::parse(title).unwrap(),
        content: ReportContent::parse(format!("{title}: broken")).unwrap(),
        created_at: at(seconds),
        quota: Quota::off(),
    }
}

/// What an admitted write did (panics on a refused actor).
fn admitted<T: std::fmt::Debug>(gated: Gated<T>) -> T {
    gated.into_result().expect("the actor is admitted").1
}

async fn file(storage: &Storage, reporter: UserId, title: &str, seconds: i64) -> ReportView {
    let filed = storage
        .reports
        .create_report(filing(by(reporter), title, seconds))
        .await
        .unwrap();
    match admitted(filed) {
        ReportFiled::Filed(view) => view,
        other => panic!("{other:?}"),
    }
}

fn answer(id: ReportId, by: UserId, status: Option<ReportStatus>, seconds: i64) -> ReportAnswer {
    ReportAnswer {
        id,
        gate: ActorGate::Account(by),
        comment: Some(ReportComment::parse(format!("answer at {seconds}")).unwrap()),
        status,
        now: at(seconds),
    }
}

/// The answer's outcome, its actor admitted.
async fn answered(storage: &Storage, answer: ReportAnswer) -> ReportAnswered {
    admitted(storage.reports.answer_report(answer).await.unwrap())
}

/// The answered report.
async fn answered_view(storage: &Storage, answer: ReportAnswer) -> ReportView {
    match answered(storage, answer).await {
        ReportAnswered::Answered(view) => view,
        other => panic!("{other:?}"),
    }
}

async fn edited(storage: &Storage, edit: ReportEdit) -> ReportEditOutcome {
    admitted(storage.reports.edit_open_report(edit).await.unwrap())
}

async fn add_superuser(storage: &Storage, name: &str) -> User {
    let user = add_user(storage, name).await;
    storage
        .users
        .set_user_superuser(user.id, true, at(0))
        .await
        .unwrap();
    storage.users.get_user(user.id).await.unwrap().unwrap()
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
    let root = add_superuser(&storage, "root").await;
    let a1 = file(&storage, alice.id, "a1", 1).await.report.id;
    let b1 = file(&storage, bob.id, "b1", 2).await.report.id;
    // Filed in the same microsecond: the later id comes first.
    let a2 = file(&storage, alice.id, "a2", 3).await.report.id;
    let a3 = file(&storage, alice.id, "a3", 3).await.report.id;
    answered_view(
        &storage,
        answer(a1, root.id, Some(ReportStatus::Resolved), 4),
    )
    .await;
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
    let bob = add_superuser(&storage, "bob").await;
    let id = file(&storage, alice.id, "Lift", 1).await.report.id;
    let edit = |editor: UserId, seconds| ReportEdit {
        id,
        gate: by(editor),
        title: None,
        content: Some(ReportContent::parse(format!("edited at {seconds}")).unwrap()),
        now: at(seconds),
    };
    assert_eq!(
        edited(&storage, edit(bob.id, 2)).await,
        ReportEditOutcome::NotReporter
    );
    let ReportEditOutcome::Edited(changed) = edited(&storage, edit(alice.id, 3)).await else {
        panic!("the reporter edits an open report");
    };
    assert_eq!(changed.report.title, "Lift", "what is not given stays");
    assert_eq!(changed.report.content, "edited at 3");
    assert_eq!(changed.report.updated_at, at(3));
    answered_view(
        &storage,
        answer(id, bob.id, Some(ReportStatus::InProgress), 4),
    )
    .await;
    assert_eq!(
        edited(&storage, edit(alice.id, 5)).await,
        ReportEditOutcome::NotOpen
    );
    let unknown = ReportEdit {
        id: ReportId::new(987_654),
        ..edit(alice.id, 6)
    };
    assert_eq!(edited(&storage, unknown).await, ReportEditOutcome::NotFound);
    let kept = storage.reports.get_report(id).await.unwrap().unwrap();
    assert_eq!(
        kept.report.content, "edited at 3",
        "refused edits change nothing"
    );
}

pub async fn answers_stamp_and_clear_the_resolution(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let root = add_superuser(&storage, "root").await;
    let helper = add_superuser(&storage, "helper").await;
    let id = file(&storage, alice.id, "Lift", 1).await.report.id;
    let answered = |answer| answered_view(&storage, answer);

    let seen = answered(ReportAnswer {
        comment: None,
        ..answer(id, root.id, None, 2)
    })
    .await;
    assert_eq!(seen.report.status, ReportStatus::Open);
    assert_eq!(seen.report.comment, None, "no comment given: none set");
    assert_eq!(seen.report.updated_at, at(2));

    let resolved = answered(answer(id, root.id, Some(ReportStatus::Resolved), 3)).await;
    assert_eq!(resolved.report.resolved_at, Some(at(3)));
    assert_eq!(resolved.report.resolved_by, Some(root.id));
    assert_eq!(resolved.resolver_username.as_deref(), Some("root"));
    assert_eq!(resolved.report.comment.as_deref(), Some("answer at 3"));

    let still = answered(answer(id, helper.id, Some(ReportStatus::Resolved), 4)).await;
    assert_eq!(
        (still.report.resolved_at, still.report.resolved_by),
        (Some(at(3)), Some(root.id)),
        "staying resolved keeps the first resolution"
    );
    assert_eq!(still.report.comment.as_deref(), Some("answer at 4"));

    let reopened = answered(answer(id, helper.id, Some(ReportStatus::Open), 5)).await;
    assert_eq!(reopened.report.status, ReportStatus::Open);
    assert_eq!(
        (reopened.report.resolved_at, reopened.report.resolved_by),
        (None, None)
    );
    assert_eq!(reopened.resolver_username, None);
    assert_eq!(
        self::answered(&storage, answer(ReportId::new(987_654), root.id, None, 6)).await,
        ReportAnswered::NotFound
    );
}

pub async fn a_users_deletion_takes_their_reports_and_keeps_what_they_resolved(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let bob = add_user(&storage, "bob").await;
    let root = add_superuser(&storage, "root").await;
    // Another superuser remains once root is gone.
    add_superuser(&storage, "keeper").await;
    let alices = file(&storage, alice.id, "alice's", 1).await.report.id;
    let bobs = file(&storage, bob.id, "bob's", 2).await.report.id;
    answered_view(
        &storage,
        answer(bobs, root.id, Some(ReportStatus::Resolved), 3),
    )
    .await;
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
    let root = add_superuser(&storage, "root").await;
    for round in 0..20 {
        let id = file(&storage, alice.id, &format!("race {round}"), round)
            .await
            .report
            .id;
        let edit = ReportEdit {
            id,
            gate: by(alice.id),
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
        admitted(answered.unwrap());
        let stored = storage.reports.get_report(id).await.unwrap().unwrap();
        assert_eq!(stored.report.status, ReportStatus::InProgress);
        match admitted(edited.unwrap()) {
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

/// A write whose actor is gone, disabled, or whose session ended or is someone else's is
/// refused as the session check would refuse it, and writes nothing; a responder who is no
/// longer a superuser is refused too.
pub async fn report_writes_by_a_gone_or_disabled_actor_write_nothing(storage: Storage) {
    let root = add_superuser(&storage, "root").await;
    add_superuser(&storage, "keeper").await;
    let erin = add_user(&storage, "erin").await;
    let erins = file(&storage, erin.id, "erin's", 1).await;
    let (erins_session, _) = add_session(&storage, erin.id, "erin", at(1)).await;
    let gone = add_superuser(&storage, "gone").await;
    let (gones_session, _) = add_session(&storage, gone.id, "gone", at(1)).await;
    let disabled = add_superuser(&storage, "disabled").await;
    let (disableds_session, _) = add_session(&storage, disabled.id, "disabled", at(1)).await;
    let ended = add_superuser(&storage, "ended").await;
    let (ended_session, _) = add_session(&storage, ended.id, "ended", at(1)).await;
    storage.users.delete_user(gone.id).await.unwrap();
    storage
        .users
        .set_user_active(disabled.id, false, at(2))
        .await
        .unwrap();
    storage
        .sessions
        .end_session(ended.id, ended_session.id, at(2))
        .await
        .unwrap();
    let refused = [
        (by(gone.id), SessionRefusal::InvalidCredentials),
        (
            in_session(gone.id, gones_session.id, 3),
            SessionRefusal::InvalidCredentials,
        ),
        (by(disabled.id), SessionRefusal::UserDisabled),
        (
            in_session(disabled.id, disableds_session.id, 3),
            SessionRefusal::UserDisabled,
        ),
        (
            in_session(ended.id, ended_session.id, 3),
            SessionRefusal::InvalidCredentials,
        ),
        (
            in_session(root.id, erins_session.id, 3),
            SessionRefusal::InvalidCredentials,
        ),
    ];
    for (gate, refusal) in refused {
        let filed = storage
            .reports
            .create_report(filing(gate, "refused", 3))
            .await
            .expect("a refusal, not a storage error");
        assert_eq!(filed, Gated::Refused(refusal), "{gate:?}");
        let edit = ReportEdit {
            id: erins.report.id,
            gate,
            title: Some(ReportTitle::parse("refused").unwrap()),
            content: None,
            now: at(3),
        };
        let edit = storage.reports.edit_open_report(edit).await.unwrap();
        assert_eq!(edit, Gated::Refused(refusal), "{gate:?}");
        let answer = ReportAnswer {
            gate,
            ..answer(erins.report.id, root.id, Some(ReportStatus::Resolved), 3)
        };
        let answer = storage.reports.answer_report(answer).await.unwrap();
        assert_eq!(answer, Gated::Refused(refusal), "{gate:?}");
    }
    // The session check's rule, then the write's: a live session of erin edits.
    let edit = ReportEdit {
        id: erins.report.id,
        gate: in_session(erin.id, erins_session.id, 4),
        title: Some(ReportTitle::parse("edited in a live session").unwrap()),
        content: None,
        now: at(4),
    };
    assert!(matches!(
        edited(&storage, edit).await,
        ReportEditOutcome::Edited(_)
    ));
    storage
        .users
        .set_user_superuser(root.id, false, at(5))
        .await
        .unwrap();
    assert_eq!(
        answered(&storage, answer(erins.report.id, root.id, None, 5)).await,
        ReportAnswered::NotSuperuser
    );
    let all = storage
        .reports
        .list_reports(ReportFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "nothing filed: {all:?}");
    assert_eq!(all[0].report.title, "edited in a live session");
    assert_eq!(all[0].report.status, ReportStatus::Open, "nothing answered");
    assert_eq!(all[0].report.comment, None);
}

/// Each report write racing the deletion of its actor either lands first (and the deletion
/// then takes what it must) or is refused as the session check would refuse it: never a
/// storage error, never a report of a deleted user or a resolution by one.
pub async fn report_writes_racing_their_actors_deletion_land_first_or_are_refused(
    storage: Storage,
) {
    let root = add_superuser(&storage, "root").await;
    for round in 0..20 {
        let filer = add_user(&storage, &format!("filer{round}")).await;
        let editor = add_user(&storage, &format!("editor{round}")).await;
        let helper = add_superuser(&storage, &format!("helper{round}")).await;
        let mut gates = Vec::new();
        for user in [&filer, &editor, &helper] {
            let (session, _) = add_session(&storage, user.id, &format!("{}", user.id), at(1)).await;
            gates.push(in_session(user.id, session.id, 2));
        }
        let editors = file(&storage, editor.id, "to edit", 1).await.report.id;
        let roots = file(&storage, root.id, "to resolve", 1).await.report.id;
        let reports = storage.reports.clone();
        let (filer_gate, editor_gate, helper_gate) = (gates[0], gates[1], gates[2]);
        let writes = tokio::spawn(async move {
            let edit = ReportEdit {
                id: editors,
                gate: editor_gate,
                title: Some(ReportTitle::parse("edited").unwrap()),
                content: None,
                now: at(2),
            };
            let resolve = ReportAnswer {
                gate: helper_gate,
                ..answer(roots, UserId::new(0), Some(ReportStatus::Resolved), 2)
            };
            tokio::join!(
                reports.create_report(filing(filer_gate, "racing", 2)),
                reports.edit_open_report(edit),
                reports.answer_report(resolve),
            )
        });
        let users = storage.users.clone();
        let deletes = tokio::spawn(async move {
            tokio::join!(
                users.delete_user(filer.id),
                users.delete_user(editor.id),
                users.delete_user(helper.id),
            )
        });
        let (filed, edit, resolved) = writes.await.unwrap();
        let (a, b, c) = deletes.await.unwrap();
        for deleted in [a, b, c] {
            assert_eq!(deleted.unwrap(), AccountChange::Changed, "round {round}");
        }
        let refused = SessionRefusal::InvalidCredentials;
        match filed.expect("no storage error for the filing") {
            Gated::Admitted(_, ReportFiled::Filed(_)) => {}
            other => assert_eq!(other, Gated::Refused(refused), "round {round}"),
        }
        match edit.expect("no storage error for the edit") {
            Gated::Admitted(_, ReportEditOutcome::Edited(_)) => {}
            other => assert_eq!(other, Gated::Refused(refused), "round {round}"),
        }
        match resolved.expect("no storage error for the resolve") {
            Gated::Admitted(_, ReportAnswered::Answered(_)) => {}
            other => assert_eq!(other, Gated::Refused(refused), "round {round}"),
        }
        let all = storage
            .reports
            .list_reports(ReportFilter::default(), Page::new(0, 500).unwrap())
            .await
            .unwrap();
        for report in &all {
            assert_eq!(
                report.report.reporter_id, root.id,
                "round {round}: {report:?}"
            );
            assert_eq!(report.report.resolved_by, None, "round {round}: {report:?}");
        }
    }
}

/// A filing racing its reporter's disabling either lands first or is refused as disabled.
pub async fn a_filing_racing_its_reporters_disabling_lands_first_or_is_refused(storage: Storage) {
    add_superuser(&storage, "root").await;
    for round in 0..20 {
        let filer = add_user(&storage, &format!("filer{round}")).await;
        let (session, _) = add_session(&storage, filer.id, &format!("s{round}"), at(1)).await;
        let reports = storage.reports.clone();
        let users = storage.users.clone();
        let (filed, disabled) = tokio::join!(
            tokio::spawn(async move {
                reports
                    .create_report(filing(in_session(filer.id, session.id, 2), "racing", 2))
                    .await
            }),
            tokio::spawn(async move { users.set_user_active(filer.id, false, at(2)).await }),
        );
        assert_eq!(disabled.unwrap().unwrap(), AccountChange::Changed);
        let stored = storage
            .reports
            .list_reports(
                ReportFilter {
                    reporter_id: Some(filer.id),
                    status: None,
                },
                Page::default(),
            )
            .await
            .unwrap();
        match filed.unwrap().expect("no storage error for the filing") {
            Gated::Admitted(_, ReportFiled::Filed(_)) => assert_eq!(stored.len(), 1),
            other => {
                assert_eq!(other, Gated::Refused(SessionRefusal::UserDisabled));
                assert!(stored.is_empty(), "round {round}: {stored:?}");
            }
        }
    }
}

/// Simultaneous filings of one reporter never pass the quota; the refused learn when the
/// oldest leaves the window, and once it has, filing works again.
pub async fn simultaneous_filings_never_pass_the_report_quota(storage: Storage) {
    let alice = add_user(&storage, "alice").await;
    let bob = add_user(&storage, "bob").await;
    let quota = Quota::new(5, TimeDelta::hours(1));
    let mut tasks = Vec::new();
    for n in 0..12 {
        let reports = storage.reports.clone();
        tasks.push(tokio::spawn(async move {
            let new = NewReport {
                quota,
                ..filing(by(alice.id), &format!("report {n}"), 10)
            };
            reports.create_report(new).await
        }));
    }
    let mut filed = 0;
    for task in tasks {
        match admitted(task.await.unwrap().unwrap()) {
            ReportFiled::Filed(_) => filed += 1,
            ReportFiled::OverQuota { max, retry_after } => {
                assert_eq!(max, 5);
                assert_eq!(
                    retry_after,
                    TimeDelta::hours(1),
                    "the oldest was filed at 10"
                );
            }
        }
    }
    assert_eq!(filed, 5);
    let new = |who: UserId, seconds: i64| NewReport {
        quota,
        ..filing(by(who), "later", seconds)
    };
    let again = storage.reports.create_report(new(alice.id, 3600)).await;
    assert_eq!(
        admitted(again.unwrap()),
        ReportFiled::OverQuota {
            max: 5,
            retry_after: TimeDelta::seconds(10)
        },
        "still in the window"
    );
    let others = storage.reports.create_report(new(bob.id, 3600)).await;
    assert!(matches!(admitted(others.unwrap()), ReportFiled::Filed(_)));
    let later = storage.reports.create_report(new(alice.id, 3610)).await;
    assert!(
        matches!(admitted(later.unwrap()), ReportFiled::Filed(_)),
        "the window slid past the first five"
    );
}
