//! Facility reports.

use ai_message_core::ports::{
    NewReport, PortError, ReportAnswer, ReportEdit, ReportEditOutcome, ReportFilter,
    ReportRepository,
};
use ai_message_core::{Page, ReportId, ReportView, Resolution, UserId};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::SqliteStore;
use crate::helpers::{CachedStatements, OrPortError};
use crate::rows::{self, time_text};
use crate::sql;

/// The reporter and resolution of a report, read inside the transaction that changes it.
fn report_state(
    tx: &Transaction<'_>,
    id: ReportId,
) -> rusqlite::Result<Option<(UserId, Resolution)>> {
    tx.query_row_cached(sql::REPORT_STATE, [id.get()], |row| {
        let resolved_at = match row.get_ref(2)? {
            rusqlite::types::ValueRef::Null => None,
            _ => Some(rows::time_at(row, 2)?),
        };
        Ok((
            UserId::new(row.get(0)?),
            Resolution {
                status: rows::report_status(row, 1)?,
                resolved_at,
                resolved_by: row.get::<_, Option<i64>>(3)?.map(UserId::new),
            },
        ))
    })
    .optional()
}

fn report_view(tx: &Transaction<'_>, id: i64) -> rusqlite::Result<ReportView> {
    tx.query_row_cached(sql::REPORT_VIEW_BY_ID, [id], rows::report_view)
}

#[async_trait]
impl ReportRepository for SqliteStore {
    async fn create_report(&self, new: NewReport) -> Result<ReportView, PortError> {
        self.db
            .write(move |tx| {
                let id: i64 = tx
                    .query_row_cached(
                        sql::INSERT_REPORT,
                        params![
                            new.reporter_id.get(),
                            new.title.as_str(),
                            new.content.as_str(),
                            time_text(new.created_at)
                        ],
                        |row| row.get(0),
                    )
                    .or_port()?;
                report_view(tx, id).or_port()
            })
            .await
    }

    async fn get_report(&self, id: ReportId) -> Result<Option<ReportView>, PortError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::REPORT_VIEW_BY_ID)?
                    .query_row([id.get()], rows::report_view)
                    .optional()
            })
            .await
    }

    async fn list_reports(
        &self,
        filter: ReportFilter,
        page: Page,
    ) -> Result<Vec<ReportView>, PortError> {
        let (limit, offset) = page.sql_limit_offset();
        let status = filter.status.map(|s| s.as_str());
        self.db
            .read(move |conn| match filter.reporter_id {
                Some(reporter) => conn
                    .prepare_cached(sql::LIST_REPORTS_OF)?
                    .query_map(
                        params![reporter.get(), status, limit, offset],
                        rows::report_view,
                    )?
                    .collect(),
                None => conn
                    .prepare_cached(sql::LIST_ALL_REPORTS)?
                    .query_map(params![status, limit, offset], rows::report_view)?
                    .collect(),
            })
            .await
    }

    async fn edit_open_report(&self, edit: ReportEdit) -> Result<ReportEditOutcome, PortError> {
        self.db
            .write(move |tx| {
                let Some((reporter, resolution)) = report_state(tx, edit.id).or_port()? else {
                    return Ok(ReportEditOutcome::NotFound);
                };
                if let Some(refused) = edit.refusal(reporter, resolution.status) {
                    return Ok(refused);
                }
                tx.execute_cached(
                    sql::EDIT_REPORT,
                    params![
                        edit.id.get(),
                        edit.title.as_ref().map(|t| t.as_str()),
                        edit.content.as_ref().map(|c| c.as_str()),
                        time_text(edit.now)
                    ],
                )
                .or_port()?;
                Ok(ReportEditOutcome::Edited(
                    report_view(tx, edit.id.get()).or_port()?,
                ))
            })
            .await
    }

    async fn answer_report(&self, answer: ReportAnswer) -> Result<Option<ReportView>, PortError> {
        self.db
            .write(move |tx| {
                let Some((_, resolution)) = report_state(tx, answer.id).or_port()? else {
                    return Ok(None);
                };
                let after = resolution.moved(answer.status, answer.responder_id, answer.now);
                tx.execute_cached(
                    sql::ANSWER_REPORT,
                    params![
                        answer.id.get(),
                        answer.comment.as_ref().map(|c| c.as_str()),
                        after.status.as_str(),
                        after.resolved_at.map(time_text),
                        after.resolved_by.map(UserId::get),
                        time_text(answer.now)
                    ],
                )
                .or_port()?;
                Ok(Some(report_view(tx, answer.id.get()).or_port()?))
            })
            .await
    }
}
