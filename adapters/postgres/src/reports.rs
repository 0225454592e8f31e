//! Facility reports.

use ai_message_core::ports::{
    NewReport, PortError, ReportAnswer, ReportAnswered, ReportEdit, ReportEditOutcome, ReportFiled,
    ReportFilter, ReportRepository,
};
use ai_message_core::{
    ActorGate, Admitted, Gated, Page, ReportId, ReportStatus, ReportView, Resolution,
    SessionRefusal, UserId,
};
use async_trait::async_trait;
use chrono::NaiveDateTime;
use deadpool_postgres::GenericClient;

use crate::PostgresStore;
use crate::helpers::OrPortError;
use crate::rows::{self, SESSION_WIDTH, naive, pg_id};
use crate::sql;

async fn report_view(client: &impl GenericClient, id: i32) -> Result<ReportView, PortError> {
    let row = client
        .query_one(sql::REPORT_VIEW_BY_ID, &[&id])
        .await
        .or_port()?;
    rows::report_view(&row)
}

/// The gate's check on the actor's row and session, the row locked to the end of the
/// transaction ([`sql::REPORT_ACTOR`]).
async fn admit(
    client: &impl GenericClient,
    gate: &ActorGate,
) -> Result<Result<Admitted, SessionRefusal>, PortError> {
    let Some(user) = pg_id(gate.user_id()) else {
        return Ok(gate.check(None));
    };
    let session = gate.session_id().and_then(pg_id);
    let row = client
        .query_opt(sql::REPORT_ACTOR, &[&user, &session])
        .await
        .or_port()?;
    let found = match row {
        None => None,
        Some(row) => {
            let session_id: Option<i32> = row.try_get(0).or_port()?;
            let session = match session_id {
                Some(_) => Some(rows::session(&row).or_port()?),
                None => None,
            };
            Some((rows::user_at(&row, SESSION_WIDTH).or_port()?, session))
        }
    };
    Ok(gate.check(found))
}

/// When the reporter's `rank`-th newest report filed after `new.counted_since()` was filed.
async fn nth_newest_report(
    client: &impl GenericClient,
    reporter: i32,
    new: &NewReport,
    rank: u32,
) -> Result<Option<ai_message_core::Timestamp>, PortError> {
    let offset = i64::from(rank.saturating_sub(1));
    let row = client
        .query_opt(
            sql::NTH_NEWEST_REPORT_SINCE,
            &[&reporter, &naive(new.counted_since()), &offset],
        )
        .await
        .or_port()?;
    row.map(|row| row.try_get::<_, NaiveDateTime>(0).map(|t| t.and_utc()))
        .transpose()
        .or_port()
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
    async fn create_report(&self, new: NewReport) -> Result<Gated<ReportFiled>, PortError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        let admitted = match admit(&tx, &new.gate).await? {
            Ok(admitted) => admitted,
            Err(refusal) => return Ok(Gated::Refused(refusal)),
        };
        let reporter = pg_id(admitted.caller().user.id)
            .ok_or_else(|| PortError::unexpected("reporter id out of range"))?;
        let deciding = match new.deciding_rank() {
            Some(rank) => nth_newest_report(&tx, reporter, &new, rank).await?,
            None => None,
        };
        if let Some(refused) = new.over_quota(deciding) {
            return Ok(Gated::Admitted(admitted, refused));
        }
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
        Ok(Gated::Admitted(admitted, ReportFiled::Filed(view)))
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

    async fn edit_open_report(
        &self,
        edit: ReportEdit,
    ) -> Result<Gated<ReportEditOutcome>, PortError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        let admitted = match admit(&tx, &edit.gate).await? {
            Ok(admitted) => admitted,
            Err(refusal) => return Ok(Gated::Refused(refusal)),
        };
        let done = |outcome| Ok(Gated::Admitted(admitted.clone(), outcome));
        let Some(id) = pg_id(edit.id) else {
            return done(ReportEditOutcome::NotFound);
        };
        let Some((reporter, resolution)) = locked_state(&tx, id).await? else {
            return done(ReportEditOutcome::NotFound);
        };
        let editor = admitted.caller().user.id;
        if let Some(refused) = edit.refusal(editor, reporter, resolution.status) {
            return done(refused);
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
        done(ReportEditOutcome::Edited(view))
    }

    async fn answer_report(
        &self,
        answer: ReportAnswer,
    ) -> Result<Gated<ReportAnswered>, PortError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        let admitted = match admit(&tx, &answer.gate).await? {
            Ok(admitted) => admitted,
            Err(refusal) => return Ok(Gated::Refused(refusal)),
        };
        let done = |outcome| Ok(Gated::Admitted(admitted.clone(), outcome));
        let responder = &admitted.caller().user;
        if let Some(refused) = answer.refusal(responder) {
            return done(refused);
        }
        let Some(id) = pg_id(answer.id) else {
            return done(ReportAnswered::NotFound);
        };
        let Some((_, resolution)) = locked_state(&tx, id).await? else {
            return done(ReportAnswered::NotFound);
        };
        let after = resolution.moved(answer.status, responder.id, answer.now);
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
        done(ReportAnswered::Answered(view))
    }
}
