//! Facility reports: users file what is broken and follow it; superusers answer, move reports
//! through `open → in_progress → resolved`, and see them all. The assistant files and reads
//! reports through these same operations, as the user who is talking.

use std::sync::Arc;

use super::admin::{NotSuperuser, require_superuser};
use super::{Caller, Ports};
use crate::domain::{
    DomainEvent, Page, ReportComment, ReportContent, ReportEvent, ReportId, ReportStatus,
    ReportTitle, ReportView,
};
use crate::ports::{
    Clock, EventPublisher, NewReport, PortError, ReportAnswer, ReportEdit, ReportEditOutcome,
    ReportFilter, ReportRepository,
};

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

#[derive(Clone)]
pub struct Reports {
    reports: Arc<dyn ReportRepository>,
    events: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
}

impl Reports {
    pub fn new(ports: &Ports) -> Self {
        Self {
            reports: ports.reports.clone(),
            events: ports.events.clone(),
            clock: ports.clock.clone(),
        }
    }

    /// Files a report as the caller; it starts `open`.
    pub async fn create(
        &self,
        caller: &Caller,
        title: ReportTitle,
        content: ReportContent,
    ) -> Result<ReportView, PortError> {
        let report = self
            .reports
            .create_report(NewReport {
                reporter_id: caller.user.id,
                title,
                content,
                created_at: self.clock.now(),
            })
            .await?;
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
        let outcome = self
            .reports
            .edit_open_report(ReportEdit {
                id,
                editor_id: caller.user.id,
                title: changes.title,
                content: changes.content,
                now: self.clock.now(),
            })
            .await?;
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
        let report = self
            .reports
            .answer_report(ReportAnswer {
                id,
                responder_id: caller.user.id,
                comment,
                status,
                now: self.clock.now(),
            })
            .await?
            .ok_or(AnswerReportError::NotFound)?;
        self.tell(ReportEvent::updated(&report)).await;
        Ok(report)
    }

    async fn tell(&self, event: ReportEvent) {
        self.events.publish(&[DomainEvent::Report(event)]).await;
    }
}

#[cfg(test)]
mod tests;
