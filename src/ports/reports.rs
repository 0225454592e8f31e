//! Storage of facility reports.

use async_trait::async_trait;

use chrono::TimeDelta;

use super::{PortError, Quota};
use crate::domain::{
    ActorGate, Gated, Page, ReportComment, ReportContent, ReportId, ReportStatus, ReportTitle,
    ReportView, Timestamp, User, UserId,
};

/// A report a user files: its actor, quota and insert, checked and stored by one storage
/// job ([`ReportRepository::create_report`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReport {
    /// The reporter, checked in the job's transaction.
    pub gate: ActorGate,
    pub title: ReportTitle,
    pub content: ReportContent,
    pub created_at: Timestamp,
    /// How many reports one reporter may file within its window.
    pub quota: Quota,
}

impl NewReport {
    /// Reports filed after this instant count toward the quota.
    pub fn counted_since(&self) -> Timestamp {
        self.created_at - self.quota.window
    }

    /// Which of the reporter's reports filed after [`Self::counted_since`], counted from the
    /// newest (1), decides whether another may be filed: while it is in the window the quota
    /// is full. `None`: the quota is off, nothing to read.
    pub fn deciding_rank(&self) -> Option<u32> {
        (!self.quota.is_off()).then_some(self.quota.max)
    }

    /// The refusal when the reporter's report of [`Self::deciding_rank`] was filed at
    /// `deciding` (`None`: they filed fewer in the window): the rule every store applies
    /// inside its transaction.
    pub fn over_quota(&self, deciding: Option<Timestamp>) -> Option<ReportFiled> {
        let deciding = deciding.filter(|_| !self.quota.is_off())?;
        let retry_after = (deciding + self.quota.window - self.created_at).max(TimeDelta::zero());
        Some(ReportFiled::OverQuota {
            max: self.quota.max,
            retry_after,
        })
    }
}

/// Outcome of [`ReportRepository::create_report`] once its actor was admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportFiled {
    /// Stored `open`, with its reporter's name.
    Filed(ReportView),
    /// The reporter filed `max` reports in the quota's window already; a place frees in
    /// `retry_after`.
    OverQuota { max: u32, retry_after: TimeDelta },
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
    /// Who asks, checked in the edit's transaction: only the reporter may edit.
    pub gate: ActorGate,
    pub title: Option<ReportTitle>,
    pub content: Option<ReportContent>,
    pub now: Timestamp,
}

impl ReportEdit {
    /// Why `editor` (the admitted actor) cannot make the edit to a report filed by
    /// `reporter` and now in `status`, if they cannot: the rule every store applies inside
    /// its transaction.
    pub fn refusal(
        &self,
        editor: UserId,
        reporter: UserId,
        status: ReportStatus,
    ) -> Option<ReportEditOutcome> {
        if reporter != editor {
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
    /// Who answers, checked in the answer's transaction: a superuser.
    pub gate: ActorGate,
    /// Replaces the comment when given.
    pub comment: Option<ReportComment>,
    /// Moves the report when given.
    pub status: Option<ReportStatus>,
    pub now: Timestamp,
}

impl ReportAnswer {
    /// Why `responder` (the admitted actor, as stored now) cannot answer, if they cannot:
    /// checked before the report is looked at.
    pub fn refusal(&self, responder: &User) -> Option<ReportAnswered> {
        (!responder.is_superuser).then_some(ReportAnswered::NotSuperuser)
    }
}

/// Outcome of [`ReportRepository::answer_report`] once its actor was admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportAnswered {
    Answered(ReportView),
    /// The responder is no longer a superuser.
    NotSuperuser,
    NotFound,
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ReportRepository: Send + Sync {
    /// In one transaction: checks the actor ([`ActorGate::check`] on the actor's row, which
    /// a store that locks keeps locked to the end, so the actor's deletion or disabling
    /// waits or wins), then the quota ([`NewReport::over_quota`], the reporter's reports
    /// serialised so that simultaneous filings cannot pass it), then stores the report
    /// `open` and returns it with its reporter's name. Nothing is written unless `Filed`.
    async fn create_report(&self, new: NewReport) -> Result<Gated<ReportFiled>, PortError>;

    /// The report with its reporter's and resolver's names, if it exists.
    async fn get_report(&self, id: ReportId) -> Result<Option<ReportView>, PortError>;

    /// The reports `filter` selects, newest first (by `created_at`, then id), with names, in
    /// one query.
    async fn list_reports(
        &self,
        filter: ReportFilter,
        page: Page,
    ) -> Result<Vec<ReportView>, PortError>;

    /// In one transaction: checks the actor as [`Self::create_report`] does, then changes
    /// the title and content given, and `updated_at`, only if the report exists, was filed
    /// by the actor and is still `open` (the outcome says which check failed, checked in
    /// that order).
    async fn edit_open_report(
        &self,
        edit: ReportEdit,
    ) -> Result<Gated<ReportEditOutcome>, PortError>;

    /// In one transaction: checks the actor as [`Self::create_report`] does and that they
    /// are a superuser ([`ReportAnswer::refusal`]), then sets the comment and the status
    /// given, and `updated_at`. Moving into `resolved` stamps `resolved_at` and
    /// `resolved_by` (the responder); moving out of it clears them; staying resolved keeps
    /// them. `NotFound` when there is no such report.
    async fn answer_report(&self, answer: ReportAnswer)
    -> Result<Gated<ReportAnswered>, PortError>;
}
