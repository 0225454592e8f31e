//! Facility reports in memory.

use ai_message_core::ports::{
    NewReport, PortError, ReportAnswer, ReportAnswered, ReportEdit, ReportEditOutcome, ReportFiled,
    ReportFilter, ReportRepository,
};
use ai_message_core::{
    ActorGate, Admitted, Gated, Page, Report, ReportId, ReportStatus, ReportView, SessionRefusal,
    Timestamp, UserId,
};
use async_trait::async_trait;

use crate::MemoryStore;
use crate::tables::{Tables, paged};

impl Tables {
    /// The report with the names of its reporter and resolver.
    fn report_view(&self, report: &Report) -> ReportView {
        let name = |id| self.users.get(&id).map(|user| user.username.clone());
        ReportView {
            report: report.clone(),
            reporter_username: name(report.reporter_id),
            resolver_username: report.resolved_by.and_then(name),
        }
    }

    /// The gate's check on the actor's row and session as they are now.
    fn admit(&self, gate: &ActorGate) -> Result<Admitted, SessionRefusal> {
        let found = self.users.get(&gate.user_id()).map(|user| {
            let session = gate
                .session_id()
                .and_then(|id| self.sessions.get(&id))
                .filter(|session| session.user_id == user.id);
            (user.clone(), session.cloned())
        });
        gate.check(found)
    }

    /// When the reporter's `rank`-th newest report filed after `since` was filed.
    fn nth_newest_report_since(
        &self,
        reporter: UserId,
        since: Timestamp,
        rank: u32,
    ) -> Option<Timestamp> {
        let mut times: Vec<Timestamp> = self
            .reports
            .values()
            .filter(|r| r.reporter_id == reporter && r.created_at > since)
            .map(|r| r.created_at)
            .collect();
        times.sort_unstable_by(|a, b| b.cmp(a));
        times
            .get(usize::try_from(rank).ok()?.checked_sub(1)?)
            .copied()
    }
}

#[async_trait]
impl ReportRepository for MemoryStore {
    async fn create_report(&self, new: NewReport) -> Result<Gated<ReportFiled>, PortError> {
        let mut t = self.tables.write();
        let checked = t.admit(&new.gate);
        Gated::after(checked, |admitted| {
            let reporter_id = admitted.caller().user.id;
            let deciding = new
                .deciding_rank()
                .and_then(|rank| t.nth_newest_report_since(reporter_id, new.counted_since(), rank));
            if let Some(refused) = new.over_quota(deciding) {
                return Ok(refused);
            }
            Ok(ReportFiled::Filed(t.insert_report(reporter_id, new)))
        })
    }

    async fn get_report(&self, id: ReportId) -> Result<Option<ReportView>, PortError> {
        let t = self.tables.read();
        Ok(t.reports.get(&id).map(|report| t.report_view(report)))
    }

    async fn list_reports(
        &self,
        filter: ReportFilter,
        page: Page,
    ) -> Result<Vec<ReportView>, PortError> {
        let t = self.tables.read();
        let mut selected: Vec<&Report> = t
            .reports
            .values()
            .filter(|r| filter.reporter_id.is_none_or(|id| r.reporter_id == id))
            .filter(|r| filter.status.is_none_or(|status| r.status == status))
            .collect();
        selected.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
        Ok(paged(selected.into_iter(), page)
            .map(|report| t.report_view(report))
            .collect())
    }

    async fn edit_open_report(
        &self,
        edit: ReportEdit,
    ) -> Result<Gated<ReportEditOutcome>, PortError> {
        let mut t = self.tables.write();
        let checked = t.admit(&edit.gate);
        Gated::after(checked, |admitted| {
            Ok(t.edit_report(admitted.caller().user.id, edit))
        })
    }

    async fn answer_report(
        &self,
        answer: ReportAnswer,
    ) -> Result<Gated<ReportAnswered>, PortError> {
        let mut t = self.tables.write();
        let checked = t.admit(&answer.gate);
        Gated::after(checked, |admitted| {
            if let Some(refused) = answer.refusal(&admitted.caller().user) {
                return Ok(refused);
            }
            Ok(t.answer_report(admitted.caller().user.id, answer))
        })
    }
}

impl Tables {
    fn insert_report(&mut self, reporter_id: UserId, new: NewReport) -> ReportView {
        let id = self.sequences.next_report();
        let report = Report {
            id,
            reporter_id,
            title: new.title,
            content: new.content,
            status: ReportStatus::Open,
            comment: None,
            resolved_at: None,
            resolved_by: None,
            created_at: new.created_at,
            updated_at: new.created_at,
        };
        let view = self.report_view(&report);
        self.reports.insert(id, report);
        view
    }

    fn edit_report(&mut self, editor: UserId, edit: ReportEdit) -> ReportEditOutcome {
        let Some(report) = self.reports.get_mut(&edit.id) else {
            return ReportEditOutcome::NotFound;
        };
        if let Some(refused) = edit.refusal(editor, report.reporter_id, report.status) {
            return refused;
        }
        if let Some(title) = edit.title {
            report.title = title;
        }
        if let Some(content) = edit.content {
            report.content = content;
        }
        report.updated_at = edit.now;
        let report = report.clone();
        ReportEditOutcome::Edited(self.report_view(&report))
    }

    fn answer_report(&mut self, responder: UserId, answer: ReportAnswer) -> ReportAnswered {
        let Some(report) = self.reports.get_mut(&answer.id) else {
            return ReportAnswered::NotFound;
        };
        if let Some(comment) = answer.comment {
            report.comment = Some(comment);
        }
        let resolution = report
            .resolution()
            .moved(answer.status, responder, answer.now);
        report.set_resolution(resolution);
        report.updated_at = answer.now;
        let report = report.clone();
        ReportAnswered::Answered(self.report_view(&report))
    }
}
