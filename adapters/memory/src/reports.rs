//! Facility reports in memory.

use ai_message_core::ports::{
    NewReport, PortError, ReportAnswer, ReportEdit, ReportEditOutcome, ReportFilter,
    ReportRepository,
};
use ai_message_core::{Page, Report, ReportId, ReportStatus, ReportView};
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
}

#[async_trait]
impl ReportRepository for MemoryStore {
    async fn create_report(&self, new: NewReport) -> Result<ReportView, PortError> {
        let mut t = self.tables.write();
        if !t.users.contains_key(&new.reporter_id) {
            return Err(PortError::unexpected("reports.reporter_id: no such user"));
        }
        let id = t.sequences.next_report();
        let report = Report {
            id,
            reporter_id: new.reporter_id,
            title: new.title,
            content: new.content,
            status: ReportStatus::Open,
            comment: None,
            resolved_at: None,
            resolved_by: None,
            created_at: new.created_at,
            updated_at: new.created_at,
        };
        let view = t.report_view(&report);
        t.reports.insert(id, report);
        Ok(view)
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

    async fn edit_open_report(&self, edit: ReportEdit) -> Result<ReportEditOutcome, PortError> {
        let mut t = self.tables.write();
        let Some(report) = t.reports.get_mut(&edit.id) else {
            return Ok(ReportEditOutcome::NotFound);
        };
        if let Some(refused) = edit.refusal(report.reporter_id, report.status) {
            return Ok(refused);
        }
        if let Some(title) = edit.title {
            report.title = title;
        }
        if let Some(content) = edit.content {
            report.content = content;
        }
        report.updated_at = edit.now;
        let report = report.clone();
        Ok(ReportEditOutcome::Edited(t.report_view(&report)))
    }

    async fn answer_report(&self, answer: ReportAnswer) -> Result<Option<ReportView>, PortError> {
        let mut t = self.tables.write();
        let Some(report) = t.reports.get_mut(&answer.id) else {
            return Ok(None);
        };
        if let Some(comment) = answer.comment {
            report.comment = Some(comment);
        }
        let resolution = report
            .resolution()
            .moved(answer.status, answer.responder_id, answer.now);
        report.set_resolution(resolution);
        report.updated_at = answer.now;
        let report = report.clone();
        Ok(Some(t.report_view(&report)))
    }
}
