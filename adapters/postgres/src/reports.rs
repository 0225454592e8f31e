//! Facility reports.

use ai_message_core::ports::{
    NewReport, PortError, ReportAnswer, ReportEdit, ReportEditOutcome, ReportFilter,
    ReportRepository,
};
use ai_message_core::{Page, ReportId, ReportStatus, ReportView, Resolution, UserId};
use async_trait::async_trait;
use chrono::NaiveDateTime;
use deadpool_postgres::GenericClient;

use crate::PostgresStore;
use crate::helpers::OrPortError;
use crate::rows::{self, naive, pg_id};
use crate::sql;

async fn report_view(client: &impl GenericClient, id: i32) -> Result<ReportView, PortError> {
    let row = client
        .query_one(sql::REPORT_VIEW_BY_ID, &[&id])
        .await
        .or_port()?;
    rows::report_view(&row)
}

/// The reporter and resolution of a report, locked for the transaction that changes it.
async fn locked_state(
    client: &impl GenericClient,
    id: i32,
) -> Result<Option<(UserId, Resolution)>, PortError> {
    let Some(row) = client
        .query_opt(sql::REPORT_STATE_FOR_UPDATE, &[&id])
        .await
        .or_port()?
    else {
        return Ok(None);
    };
    let reporter: i32 = row.try_get(0).or_port()?;
    let resolved_at: Option<NaiveDateTime> = row.try_get(2).or_port()?;
    let resolved_by: Option<i32> = row.try_get(3).or_port()?;
    Ok(Some((
        UserId::new(i64::from(reporter)),
        Resolution {
            status: rows::report_status(&row, 1)?,
            resolved_at: resolved_at.map(|t| t.and_utc()),
            resolved_by: resolved_by.map(|id| UserId::new(i64::from(id))),
        },
    )))
}

#[async_trait]
impl ReportRepository for PostgresStore {
    async fn create_report(&self, new: NewReport) -> Result<ReportView, PortError> {
        let reporter = pg_id(new.reporter_id)
            .ok_or_else(|| PortError::unexpected("reporter id out of range"))?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        let row = tx
            .query_one(
                sql::INSERT_REPORT,
                &[
                    &reporter,
                    &new.title.as_str(),
                    &new.content.as_str(),
                    &naive(new.created_at),
                ],
            )
            .await
            .or_port()?;
        let id: i32 = row.try_get(0).or_port()?;
        let view = report_view(&tx, id).await?;
        tx.commit().await.or_port()?;
        Ok(view)
    }

    async fn get_report(&self, id: ReportId) -> Result<Option<ReportView>, PortError> {
        let Some(id) = pg_id(id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(sql::REPORT_VIEW_BY_ID)
            .await
            .or_port()?;
        let row = client.query_opt(&stmt, &[&id]).await.or_port()?;
        row.as_ref().map(rows::report_view).transpose()
    }

    async fn list_reports(
        &self,
        filter: ReportFilter,
        page: Page,
    ) -> Result<Vec<ReportView>, PortError> {
        let (limit, offset) = page.sql_limit_offset();
        let status = filter.status.map(ReportStatus::as_str);
        let client = self.client().await?;
        let found = match filter.reporter_id {
            Some(reporter) => {
                let Some(reporter) = pg_id(reporter) else {
                    return Ok(Vec::new());
                };
                let stmt = client
                    .prepare_cached(sql::LIST_REPORTS_OF)
                    .await
                    .or_port()?;
                client
                    .query(&stmt, &[&reporter, &status, &limit, &offset])
                    .await
            }
            None => {
                let stmt = client
                    .prepare_cached(sql::LIST_ALL_REPORTS)
                    .await
                    .or_port()?;
                client.query(&stmt, &[&status, &limit, &offset]).await
            }
        }
        .or_port()?;
        found.iter().map(rows::report_view).collect()
    }

    async fn edit_open_report(&self, edit: ReportEdit) -> Result<ReportEditOutcome, PortError> {
        let Some(id) = pg_id(edit.id) else {
            return Ok(ReportEditOutcome::NotFound);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        let Some((reporter, resolution)) = locked_state(&tx, id).await? else {
            return Ok(ReportEditOutcome::NotFound);
        };
        if let Some(refused) = edit.refusal(reporter, resolution.status) {
            return Ok(refused);
        }
        tx.execute(
            sql::EDIT_REPORT,
            &[
                &id,
                &edit.title.as_ref().map(|t| t.as_str()),
                &edit.content.as_ref().map(|c| c.as_str()),
                &naive(edit.now),
            ],
        )
        .await
        .or_port()?;
        let view = report_view(&tx, id).await?;
        tx.commit().await.or_port()?;
        Ok(ReportEditOutcome::Edited(view))
    }

    async fn answer_report(&self, answer: ReportAnswer) -> Result<Option<ReportView>, PortError> {
        let Some(id) = pg_id(answer.id) else {
            return Ok(None);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        let Some((_, resolution)) = locked_state(&tx, id).await? else {
            return Ok(None);
        };
        let after = resolution.moved(answer.status, answer.responder_id, answer.now);
        tx.execute(
            sql::ANSWER_REPORT,
            &[
                &id,
                &answer.comment.as_ref().map(|c| c.as_str()),
                &after.status.as_str(),
                &after.resolved_at.map(naive),
                &after.resolved_by.and_then(pg_id),
                &naive(answer.now),
            ],
        )
        .await
        .or_port()?;
        let view = report_view(&tx, id).await?;
        tx.commit().await.or_port()?;
        Ok(Some(view))
    }
}
