//! Facility reports.

use ai_message_core::ports::{
    NewReport, PortError, ReportAnswer, ReportAnswered, ReportEdit, ReportEditOutcome, ReportFiled,
    ReportFilter, ReportRepository,
};
use ai_message_core::{
    ActorGate, Admitted, Gated, Page, ReportId, ReportView, Resolution, SessionRefusal, UserId,
};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::SqliteStore;
use crate::helpers::{CachedStatements, OrPortError};
use crate::rows::{self, SESSION_WIDTH, time_text};
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

/// The gate's check on the actor's row and session as the write's transaction reads them
/// (writes are serialised: nothing changes them before it commits).
fn admit(
    tx: &Transaction<'_>,
    gate: &ActorGate,
) -> Result<Result<Admitted, SessionRefusal>, PortError> {
    let session_id = gate.session_id().map(|id| id.get());
    let found = tx
        .query_row_cached(
            sql::REPORT_ACTOR,
            params![gate.user_id().get(), session_id],
            |row| {
                let session = match row.get_ref(0)? {
                    rusqlite::types::ValueRef::Null => None,
                    _ => Some(rows::session(row)?),
                };
                Ok((rows::user_at(row, SESSION_WIDTH)?, session))
            },
        )
        .optional()
        .or_port()?;
    Ok(gate.check(found))
}

fn report_view(tx: &Transaction<'_>, id: i64) -> rusqlite::Result<ReportView> {
    tx.query_row_cached(sql::REPORT_VIEW_BY_ID, [id], rows::report_view)
}

#[async_trait]
impl ReportRepository for SqliteStore {
    async fn create_report(&self, new: NewReport) -> Result<Gated<ReportFiled>, PortError> {
        self.db
            .write(move |tx| {
                let checked = admit(tx, &new.gate)?;
                Gated::after(checked, |admitted| {
                    let reporter = admitted.caller().user.id;
                    let deciding = match new.deciding_rank() {
                        Some(rank) => tx
                            .query_row_cached(
                                sql::NTH_NEWEST_REPORT_SINCE,
                                params![reporter.get(), time_text(new.counted_since()), rank],
                                |row| rows::time_at(row, 0),
                            )
                            .optional()
                            .or_port()?,
                        None => None,
                    };
                    if let Some(refused) = new.over_quota(deciding) {
                        return Ok(refused);
                    }
                    let id: i64 = tx
                        .query_row_cached(
                            sql::INSERT_REPORT,
                            params![
                                reporter.get(),
                                new.title.as_str(),
                                new.content.as_str(),
                                time_text(new.created_at)
                            ],
                            |row| row.get(0),
                        )
                        .or_port()?;
                    Ok(ReportFiled::Filed(report_view(tx, id).or_port()?))
                })
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

    async fn edit_open_report(
        &self,
        edit: ReportEdit,
    ) -> Result<Gated<ReportEditOutcome>, PortError> {
        self.db
            .write(move |tx| {
                let checked = admit(tx, &edit.gate)?;
                Gated::after(checked, |admitted| {
                    let editor = admitted.caller().user.id;
                    let Some((reporter, resolution)) = report_state(tx, edit.id).or_port()? else {
                        return Ok(ReportEditOutcome::NotFound);
                    };
                    if let Some(refused) = edit.refusal(editor, reporter, resolution.status) {
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
            })
            .await
    }

    async fn answer_report(
        &self,
        answer: ReportAnswer,
    ) -> Result<Gated<ReportAnswered>, PortError> {
        self.db
            .write(move |tx| {
                let checked = admit(tx, &answer.gate)?;
                Gated::after(checked, |admitted| {
                    let responder = &admitted.caller().user;
                    if let Some(refused) = answer.refusal(responder) {
                        return Ok(refused);
                    }
                    let Some((_, resolution)) = report_state(tx, answer.id).or_port()? else {
                        return Ok(ReportAnswered::NotFound);
                    };
                    let after = resolution.moved(answer.status, responder.id, answer.now);
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
                    Ok(ReportAnswered::Answered(
                        report_view(tx, answer.id.get()).or_port()?,
                    ))
                })
            })
            .await
    }
}
