use super::*;
use crate::domain::{Gated, Report, SessionRefusal, User, Username};
use crate::usecases::test_support::*;

/// What storage answers when the gate admits `user` (session 100 live) and the work did `value`.
fn admitted<T>(gate: &ActorGate, user: User, value: T) -> Result<Gated<T>, PortError> {
    let session = gate
        .session_id()
        .map(|_| sample_session(100, user.id.get()));
    Gated::after(gate.check(Some((user, session))), |_| Ok(value))
}

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
        .withf(|new| {
            new.gate == ActorGate::Session(SessionGate::new(claim(1), fixed_now()))
                && new.created_at == fixed_now()
                && new.quota == reports_per_hour(DEFAULT_REPORTS_PER_HOUR)
        })
        .times(1)
        .returning(|new| {
            admitted(
                &new.gate,
                sample_user(1),
                ReportFiled::Filed(view(7, 1, ReportStatus::Open)),
            )
        });
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
            .withf(|edit| edit.gate.user_id() == uid(2) && edit.title.is_none())
            .return_once(move |edit| admitted(&edit.gate, sample_user(2), outcome));
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
            answer.gate.user_id() == uid(9)
                && answer.status == Some(ReportStatus::InProgress)
                && answer.comment.as_ref().is_some_and(|c| c == "On it")
        })
        .times(1)
        .returning(|answer| {
            admitted(
                &answer.gate,
                sample_superuser(9),
                ReportAnswered::Answered(view(7, 1, ReportStatus::InProgress)),
            )
        });
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
        .returning(|answer| {
            admitted(
                &answer.gate,
                sample_superuser(9),
                ReportAnswered::Answered(view(7, 1, ReportStatus::Resolved)),
            )
        });
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

#[tokio::test]
async fn a_write_whose_actor_is_refused_in_storage_answers_as_the_session_check() {
    for (refusal, expected) in [
        (
            SessionRefusal::InvalidCredentials,
            "the session is unknown, ended, expired or someone else's",
        ),
        (SessionRefusal::UserDisabled, "the user is disabled"),
    ] {
        let mut mocks = Mocks::new();
        mocks
            .reports
            .expect_create_report()
            .return_once(move |_| Ok(Gated::Refused(refusal)));
        mocks
            .reports
            .expect_edit_open_report()
            .return_once(move |_| Ok(Gated::Refused(refusal)));
        mocks
            .reports
            .expect_answer_report()
            .return_once(move |_| Ok(Gated::Refused(refusal)));
        let events = mocks.events.clone();
        let reports = Reports::new(&mocks.into_ports());
        let title = ReportTitle::parse("Lift").unwrap();
        let content = ReportContent::parse("Broken").unwrap();
        let created = reports.create(&caller(1), title, content).await;
        assert!(
            matches!(&created, Err(CreateReportError::Authentication(_))),
            "{created:?}"
        );
        assert_eq!(created.unwrap_err().to_string(), expected);
        let edited = reports
            .edit(&caller(1), ReportId::new(7), ReportChanges::default())
            .await;
        assert!(matches!(edited, Err(EditReportError::Authentication(_))));
        let resolved = reports
            .resolve(&superuser_caller(9), ReportId::new(7), None)
            .await;
        assert!(matches!(
            resolved,
            Err(AnswerReportError::Authentication(_))
        ));
        assert!(events.published().is_empty(), "nothing changed");
    }
}

#[tokio::test]
async fn a_filing_over_the_quota_says_when_the_next_may_be_filed() {
    let mut mocks = Mocks::new();
    mocks.reports.expect_create_report().returning(|new| {
        let refused = new.over_quota(Some(new.created_at - TimeDelta::minutes(50)));
        admitted(&new.gate, sample_user(1), refused.expect("at the quota"))
    });
    let events = mocks.events.clone();
    let reports = Reports::with_quota(&mocks.into_ports(), reports_per_hour(3));
    let refused = reports
        .create(
            &caller(1),
            ReportTitle::parse("Lift").unwrap(),
            ReportContent::parse("Broken").unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, CreateReportError::TooMany { max: 3, retry_after }
            if retry_after == TimeDelta::minutes(10)),
        "{refused:?}"
    );
    assert_eq!(
        refused.to_string(),
        "at most 3 reports an hour may be filed; the next one in 10 minutes"
    );
    assert!(events.published().is_empty());
}

#[tokio::test]
async fn a_superuser_demoted_before_the_answer_commits_is_refused() {
    let mut mocks = Mocks::new();
    mocks.reports.expect_answer_report().returning(|answer| {
        let now = sample_user(9);
        let refused = answer.refusal(&now).expect("no longer a superuser");
        admitted(&answer.gate, now, refused)
    });
    let reports = Reports::new(&mocks.into_ports());
    let resolved = reports
        .resolve(&superuser_caller(9), ReportId::new(7), None)
        .await;
    assert!(matches!(resolved, Err(AnswerReportError::NotSuperuser(_))));
}
