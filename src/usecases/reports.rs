//! Facility reports: users file what is broken and follow it; superusers answer, move reports
//! through `open → in_progress → resolved`, and see them all. The assistant files and reads
//! reports through these same operations, as the user who is talking.

use std::sync::Arc;

use chrono::TimeDelta;

use super::admin::{NotSuperuser, require_superuser};
use super::auth::AuthenticateError;
use super::{Caller, Ports};
use crate::domain::{
    ActorGate, DomainEvent, Page, ReportComment, ReportContent, ReportEvent, ReportId,
    ReportStatus, ReportTitle, ReportView, SessionGate,
};
use crate::ports::{
    Clock, EventPublisher, NewReport, PortError, Quota, ReportAnswer, ReportAnswered, ReportEdit,
    ReportEditOutcome, ReportFiled, ReportFilter, ReportRepository,
};

/// Why a report could not be filed.
#[derive(Debug, thiserror::Error)]
pub enum CreateReportError {
    /// The actor's session or account no longer admits them (checked in the write).
    #[error(transparent)]
    Authentication(#[from] AuthenticateError),
    /// The reporter filed their quota of reports within the hour already.
    #[error(
        "at most {max} reports an hour may be filed; the next one in {} minutes",
        (retry_after.num_seconds() + 59) / 60
    )]
    TooMany { max: u32, retry_after: TimeDelta },
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Why a report could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum GetReportError {
    #[error("no such report")]
    NotFound,
    /// Neither its reporter nor a superuser.
    #[error("the caller may not see this report")]
    NotAuthorized,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Why a report could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditReportError {
    #[error("no such report")]
    NotFound,
    /// Only its reporter edits a report.
    #[error("the caller did not file this report")]
    NotAuthorized,
    #[error("the report is no longer open")]
    NotOpen,
    #[error(transparent)]
    Authentication(#[from] AuthenticateError),
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Why a superuser could not answer a report.
#[derive(Debug, thiserror::Error)]
pub enum AnswerReportError {
    #[error(transparent)]
    NotSuperuser(#[from] NotSuperuser),
    #[error("no such report")]
    NotFound,
    #[error(transparent)]
    Authentication(#[from] AuthenticateError),
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Why every report could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListAllReportsError {
    #[error(transparent)]
    NotSuperuser(#[from] NotSuperuser),
    #[error(transparent)]
    Port(#[from] PortError),
}

/// A reporter's change: what is `None` stays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportChanges {
    pub title: Option<ReportTitle>,
    pub content: Option<ReportContent>,
}

/// How many reports one user may file per hour, by hand or through the assistant
/// (`REPORTS_PER_HOUR`).
pub const DEFAULT_REPORTS_PER_HOUR: u32 = 20;

/// `max` reports an hour, as the quota a filing is held to.
pub fn reports_per_hour(max: u32) -> Quota {
    Quota::new(max, TimeDelta::hours(1))
}

#[derive(Clone)]
pub struct Reports {
    reports: Arc<dyn ReportRepository>,
    events: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    quota: Quota,
}

impl Reports {
    /// With the default quota ([`DEFAULT_REPORTS_PER_HOUR`]).
    pub fn new(ports: &Ports) -> Self {
        Self::with_quota(ports, reports_per_hour(DEFAULT_REPORTS_PER_HOUR))
    }

    pub fn with_quota(ports: &Ports, quota: Quota) -> Self {
        Self {
            reports: ports.reports.clone(),
            events: ports.events.clone(),
            clock: ports.clock.clone(),
            quota,
        }
    }

    /// A request's caller, as its report writes check them again.
    fn session_of(&self, caller: &Caller) -> ActorGate {
        ActorGate::Session(SessionGate::new(caller.claim(), self.clock.now()))
    }

    /// Files a report as the caller; it starts `open`.
    pub async fn create(
        &self,
        caller: &Caller,
        title: ReportTitle,
        content: ReportContent,
    ) -> Result<ReportView, CreateReportError> {
        self.create_as(self.session_of(caller), title, content)
            .await
    }

    /// [`Self::create`] for `actor` (the assistant's tools act for an account).
    pub(crate) async fn create_as(
        &self,
        actor: ActorGate,
        title: ReportTitle,
        content: ReportContent,
    ) -> Result<ReportView, CreateReportError> {
        let (_, filed) = self
            .reports
            .create_report(NewReport {
                gate: actor,
                title,
                content,
                created_at: self.clock.now(),
                quota: self.quota,
            })
            .await?
            .into_result()
            .map_err(AuthenticateError::from)?;
        let report = match filed {
            ReportFiled::Filed(report) => report,
            ReportFiled::OverQuota { max, retry_after } => {
                return Err(CreateReportError::TooMany { max, retry_after });
            }
        };
        self.tell(ReportEvent::created(&report)).await;
        Ok(report)
    }

    /// The caller's reports, newest first.
    pub async fn list_mine(
        &self,
        caller: &Caller,
        status: Option<ReportStatus>,
        page: Page,
    ) -> Result<Vec<ReportView>, PortError> {
        let filter = ReportFilter {
            reporter_id: Some(caller.user.id),
            status,
        };
        self.reports.list_reports(filter, page).await
    }

    /// Every report, newest first (superusers).
    pub async fn list_all(
        &self,
        caller: &Caller,
        status: Option<ReportStatus>,
        page: Page,
    ) -> Result<Vec<ReportView>, ListAllReportsError> {
        require_superuser(caller)?;
        let filter = ReportFilter {
            reporter_id: None,
            status,
        };
        Ok(self.reports.list_reports(filter, page).await?)
    }

    /// One report, for its reporter or a superuser.
    pub async fn get(&self, caller: &Caller, id: ReportId) -> Result<ReportView, GetReportError> {
        let report = self
            .reports
            .get_report(id)
            .await?
            .ok_or(GetReportError::NotFound)?;
        if !report.report.is_visible_to(&caller.user) {
            return Err(GetReportError::NotAuthorized);
        }
        Ok(report)
    }

    /// Changes the caller's own report while it is still `open`.
    pub async fn edit(
        &self,
        caller: &Caller,
        id: ReportId,
        changes: ReportChanges,
    ) -> Result<ReportView, EditReportError> {
        self.edit_as(self.session_of(caller), id, changes).await
    }

    /// [`Self::edit`] for `actor` (the assistant's tools act for an account).
    pub(crate) async fn edit_as(
        &self,
        actor: ActorGate,
        id: ReportId,
        changes: ReportChanges,
    ) -> Result<ReportView, EditReportError> {
        let (_, outcome) = self
            .reports
            .edit_open_report(ReportEdit {
                id,
                gate: actor,
                title: changes.title,
                content: changes.content,
                now: self.clock.now(),
            })
            .await?
            .into_result()
            .map_err(AuthenticateError::from)?;
        let report = match outcome {
            ReportEditOutcome::Edited(report) => report,
            ReportEditOutcome::NotFound => return Err(EditReportError::NotFound),
            ReportEditOutcome::NotReporter => return Err(EditReportError::NotAuthorized),
            ReportEditOutcome::NotOpen => return Err(EditReportError::NotOpen),
        };
        self.tell(ReportEvent::updated(&report)).await;
        Ok(report)
    }

    /// A superuser's response: the comment, and the status when given.
    pub async fn answer(
        &self,
        caller: &Caller,
        id: ReportId,
        comment: ReportComment,
        status: Option<ReportStatus>,
    ) -> Result<ReportView, AnswerReportError> {
        self.respond(caller, id, Some(comment), status).await
    }

    /// Resolves a report (superusers); a comment that says something replaces the old one.
    pub async fn resolve(
        &self,
        caller: &Caller,
        id: ReportId,
        comment: Option<ReportComment>,
    ) -> Result<ReportView, AnswerReportError> {
        let comment = comment.filter(|c| !c.is_blank());
        self.respond(caller, id, comment, Some(ReportStatus::Resolved))
            .await
    }

    async fn respond(
        &self,
        caller: &Caller,
        id: ReportId,
        comment: Option<ReportComment>,
        status: Option<ReportStatus>,
    ) -> Result<ReportView, AnswerReportError> {
        require_superuser(caller)?;
        let (_, answered) = self
            .reports
            .answer_report(ReportAnswer {
                id,
                gate: self.session_of(caller),
                comment,
                status,
                now: self.clock.now(),
            })
            .await?
            .into_result()
            .map_err(AuthenticateError::from)?;
        let report = match answered {
            ReportAnswered::Answered(report) => report,
            ReportAnswered::NotSuperuser => return Err(NotSuperuser.into()),
            ReportAnswered::NotFound => return Err(AnswerReportError::NotFound),
        };
        self.tell(ReportEvent::updated(&report)).await;
        Ok(report)
    }

    async fn tell(&self, event: ReportEvent) {
        self.events.publish(&[DomainEvent::Report(event)]).await;
    }
}

#[cfg(test)]
mod tests;
