use super::*;
use crate::domain::{Report, Username};
use crate::usecases::test_support::*;

fn view(id: i64, reporter: i64, status: ReportStatus) -> ReportView {
    ReportView {
        report: Report {
            id: ReportId::new(id),
            reporter_id: uid(reporter),
            title: ReportTitle::parse("Lift on level 3").unwrap(),
            content: ReportContent::parse("It stops between floors.").unwrap(),
            status,
            comment: None,
            resolved_at: None,
            resolved_by: None,
            created_at: fixed_now(),
            updated_at: fixed_now(),
        },
        reporter_username: Some(Username::from_storage(format!("user{reporter}"))),
        resolver_username: None,
    }
}

fn superuser_caller(id: i64) -> Caller {
    Caller {
        user: sample_superuser(id),
        session_id: sid(100),
    }
}

#[tokio::test]
async fn a_new_report_is_filed_open_as_the_caller_and_announced() {
    let mut mocks = Mocks::new();
    mocks
        .reports
        .expect_create_report()
        .withf(|new| new.reporter_id == uid(1) && new.created_at == fixed_now())
        .times(1)
        .returning(|_| Ok(view(7, 1, ReportStatus::Open)));
    let events = mocks.events.clone();
    let reports = Reports::new(&mocks.into_ports());
    let created = reports
        .create(
            &caller(1),
            ReportTitle::parse("Lift").unwrap(),
            ReportContent::parse("Broken").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(created.report.id, ReportId::new(7));
    assert!(matches!(
        &events.published()[..],
        [DomainEvent::Report(ReportEvent::Created { id, reporter_id, report: Some(_) })]
            if *id == ReportId::new(7) && *reporter_id == uid(1)
    ));
}

#[tokio::test]
async fn only_its_reporter_and_superusers_see_a_report() {
    let mut mocks = Mocks::new();
    mocks
        .reports
        .expect_get_report()
        .returning(|_| Ok(Some(view(7, 1, ReportStatus::Open))));
    let reports = Reports::new(&mocks.into_ports());
    let id = ReportId::new(7);
    assert!(reports.get(&caller(1), id).await.is_ok());
    assert!(reports.get(&superuser_caller(3), id).await.is_ok());
    assert!(matches!(
        reports.get(&caller(2), id).await,
        Err(GetReportError::NotAuthorized)
    ));
}

#[tokio::test]
async fn edits_report_each_refusal_of_storage() {
    for (outcome, expected) in [
        (ReportEditOutcome::NotFound, "no such report"),
        (
            ReportEditOutcome::NotReporter,
            "the caller did not file this report",
        ),
        (ReportEditOutcome::NotOpen, "the report is no longer open"),
    ] {
        let mut mocks = Mocks::new();
        mocks
            .reports
            .expect_edit_open_report()
            .withf(|edit| edit.editor_id == uid(2) && edit.title.is_none())
            .return_once(move |_| Ok(outcome));
        let events = mocks.events.clone();
        let reports = Reports::new(&mocks.into_ports());
        let err = reports
            .edit(&caller(2), ReportId::new(7), ReportChanges::default())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), expected);
        assert!(events.published().is_empty(), "nothing changed");
    }
}

#[tokio::test]
async fn answering_needs_a_superuser_and_tells_the_reporter() {
    let mut mocks = Mocks::new();
    mocks
        .reports
        .expect_answer_report()
        .withf(|answer| {
            answer.responder_id == uid(9)
                && answer.status == Some(ReportStatus::InProgress)
                && answer.comment.as_ref().is_some_and(|c| c == "On it")
        })
        .times(1)
        .returning(|_| Ok(Some(view(7, 1, ReportStatus::InProgress))));
    let events = mocks.events.clone();
    let reports = Reports::new(&mocks.into_ports());
    let comment = ReportComment::parse("On it").unwrap();
    assert!(matches!(
        reports
            .answer(&caller(2), ReportId::new(7), comment.clone(), None)
            .await,
        Err(AnswerReportError::NotSuperuser(_))
    ));
    reports
        .answer(
            &superuser_caller(9),
            ReportId::new(7),
            comment,
            Some(ReportStatus::InProgress),
        )
        .await
        .unwrap();
    assert!(matches!(
        &events.published()[..],
        [DomainEvent::Report(ReportEvent::Updated { reporter_id, .. })] if *reporter_id == uid(1)
    ));
}

#[tokio::test]
async fn resolving_keeps_the_old_comment_unless_the_new_one_says_something() {
    let mut mocks = Mocks::new();
    mocks
        .reports
        .expect_answer_report()
        .withf(|answer| answer.comment.is_none() && answer.status == Some(ReportStatus::Resolved))
        .times(1)
        .returning(|_| Ok(Some(view(7, 1, ReportStatus::Resolved))));
    let reports = Reports::new(&mocks.into_ports());
    reports
        .resolve(
            &superuser_caller(9),
            ReportId::new(7),
            Some(ReportComment::parse("   ").unwrap()),
        )
        .await
        .unwrap();
}
