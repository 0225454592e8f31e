//! Storage of facility reports.

use async_trait::async_trait;

use super::PortError;
use crate::domain::{
    Page, ReportComment, ReportContent, ReportId, ReportStatus, ReportTitle, ReportView, Timestamp,
    UserId,
};

/// A report to store, `open`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReport {
    pub reporter_id: UserId,
    pub title: ReportTitle,
    pub content: ReportContent,
    pub created_at: Timestamp,
}

/// Which reports a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportFilter {
    /// Only this user's reports; `None`: everyone's.
    pub reporter_id: Option<UserId>,
    /// Only those in this status.
    pub status: Option<ReportStatus>,
}

/// A reporter's change to their report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportEdit {
    pub id: ReportId,
    /// Who asks: only the reporter may edit.
    pub editor_id: UserId,
    pub title: Option<ReportTitle>,
    pub content: Option<ReportContent>,
    pub now: Timestamp,
}

impl ReportEdit {
    /// Why the edit cannot be made to a report filed by `reporter` and now in `status`, if
    /// it cannot: the rule every store applies inside its transaction.
    pub fn refusal(&self, reporter: UserId, status: ReportStatus) -> Option<ReportEditOutcome> {
        if reporter != self.editor_id {
            Some(ReportEditOutcome::NotReporter)
        } else if status != ReportStatus::Open {
            Some(ReportEditOutcome::NotOpen)
        } else {
            None
        }
    }
}

/// Outcome of [`ReportRepository::edit_open_report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportEditOutcome {
    Edited(ReportView),
    NotFound,
    /// The editor did not file it.
    NotReporter,
    /// It is `in_progress` or `resolved` already.
    NotOpen,
}

/// A superuser's answer to a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportAnswer {
    pub id: ReportId,
    pub responder_id: UserId,
    /// Replaces the comment when given.
    pub comment: Option<ReportComment>,
    /// Moves the report when given.
    pub status: Option<ReportStatus>,
    pub now: Timestamp,
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ReportRepository: Send + Sync {
    /// Stores a new `open` report; returns it with its reporter's name.
    async fn create_report(&self, new: NewReport) -> Result<ReportView, PortError>;

    /// The report with its reporter's and resolver's names, if it exists.
    async fn get_report(&self, id: ReportId) -> Result<Option<ReportView>, PortError>;

    /// The reports `filter` selects, newest first (by `created_at`, then id), with names, in
    /// one query.
    async fn list_reports(
        &self,
        filter: ReportFilter,
        page: Page,
    ) -> Result<Vec<ReportView>, PortError>;

    /// Atomically: changes the title and content given, and `updated_at`, only if the
    /// report exists, was filed by `edit.editor_id` and is still `open` (the outcome says
    /// which check failed, checked in that order).
    async fn edit_open_report(&self, edit: ReportEdit) -> Result<ReportEditOutcome, PortError>;

    /// Atomically: sets the comment and the status given, and `updated_at`. Moving into
    /// `resolved` stamps `resolved_at` and `resolved_by` (the responder); moving out of it
    /// clears them; staying resolved keeps them. `None` when there is no such report.
    async fn answer_report(&self, answer: ReportAnswer) -> Result<Option<ReportView>, PortError>;
}
