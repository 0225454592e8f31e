//! `/reports`: facility reports (the original's newest version). Users file and follow their
//! own; superusers see them all, answer them and move them along.

use ai_message_core::usecases::reports::ReportChanges;
use ai_message_core::{
    Page, ReportComment, ReportContent, ReportId, ReportStatus, ReportTitle, ReportView,
};
use poem_openapi::param::{Path, Query};
use poem_openapi::{ApiResponse, OpenApi};

use super::messages::{MAX_PAGE_CONTENT_BYTES, json_text_len};
use super::{ApiTags, page};
use crate::AppState;
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::dto::*;
use crate::errors::ApiError;
use crate::reply::JsonReply;

pub struct ReportsApi {
    state: AppState,
}

impl ReportsApi {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[derive(ApiResponse)]
pub(crate) enum ReportCreated {
    /// The stored report, `open`.
    #[oai(status = 201)]
    Created(JsonReply<ReportOut>),
}

fn report_out(report: ReportView) -> JsonReply<ReportOut> {
    JsonReply(report.into())
}

/// The bytes of a report's text (title, content, comment) as JSON writes them.
fn report_text_len(view: &ReportView) -> usize {
    let report = &view.report;
    json_text_len(report.title.as_str())
        + json_text_len(report.content.as_str())
        + report
            .comment
            .as_ref()
            .map_or(0, |c| json_text_len(c.as_str()))
}

/// A page of reports (newest first), as many as fit in [`MAX_PAGE_CONTENT_BYTES`], as a page
/// of messages: when text fills it first, the oldest of the page give way and the client
/// pages on by the count it received. 70 reports of 65,536 emoji (or 500 of as many
/// control characters) would otherwise be a page too large to send to any superuser.
fn reports_out(reports: Vec<ReportView>) -> JsonReply<Vec<ReportOut>> {
    let mut budget = MAX_PAGE_CONTENT_BYTES;
    let fitting = reports
        .iter()
        .position(|report| {
            let size = report_text_len(report);
            let over = size > budget;
            budget = budget.saturating_sub(size);
            over
        })
        .unwrap_or(reports.len());
    JsonReply(
        reports
            .into_iter()
            .take(fitting)
            .map(ReportOut::from)
            .collect(),
    )
}

/// A list's query: `status_filter` one of the three statuses, exactly (empty means none,
/// as the original reads it), and the page.
fn list_query(
    status_filter: Option<String>,
    skip: Option<i64>,
    limit: Option<i64>,
) -> Result<(Option<ReportStatus>, Page), ApiError> {
    let status = status_filter
        .filter(|text| !text.is_empty())
        .map(|text| {
            ReportStatus::parse(&text).ok_or_else(|| {
                ApiError::unprocessable(format!(
                    "status_filter: must be one of: {}",
                    ReportStatus::allowed()
                ))
            })
        })
        .transpose()?;
    Ok((status, page(skip, limit)?))
}

#[OpenApi(prefix_path = "/reports", tag = "ApiTags::Reports")]
impl ReportsApi {
    /// File a report
    ///
    /// Something broken, and where; it starts `open`. Superusers' live streams hear of it
    /// (`report.created`). One user files at most `REPORTS_PER_HOUR` reports (20 by
    /// default) in a sliding hour, here and through the assistant together; past it, 429
    /// with `Retry-After`.
    #[oai(path = "/", method = "post", operation_id = "create_report")]
    async fn create(
        &self,
        auth: Authenticated,
        body: JsonBody<ReportCreateRequest>,
    ) -> Result<ReportCreated, ApiError> {
        let title = ReportTitle::parse(body.0.title)?;
        let content = ReportContent::parse(body.0.content)?;
        let report = self
            .state
            .services
            .reports
            .create(&auth.0, title, content)
            .await?;
        Ok(ReportCreated::Created(report_out(report)))
    }

    /// My reports
    ///
    /// The caller's reports, newest first, optionally in one status. A page carries at most
    /// 8 MiB of text (titles, contents, comments) as JSON writes it: when text fills it
    /// first, it holds the newest that fit (page on with `skip` plus the number received).
    #[oai(path = "/", method = "get", operation_id = "list_my_reports")]
    async fn list_mine(
        &self,
        auth: Authenticated,
        /// `open`, `in_progress` or `resolved`.
        status_filter: Query<Option<String>>,
        /// How many of the newest reports to skip (≥ 0).
        skip: Query<Option<i64>>,
        /// At most this many reports (1 to 500, default 100).
        limit: Query<Option<i64>>,
    ) -> Result<JsonReply<Vec<ReportOut>>, ApiError> {
        let (status, page) = list_query(status_filter.0, skip.0, limit.0)?;
        let reports = self
            .state
            .services
            .reports
            .list_mine(&auth.0, status, page)
            .await?;
        Ok(reports_out(reports))
    }

    /// All reports
    ///
    /// Everyone's reports, newest first, optionally in one status (superusers). Pages are
    /// bounded as in `GET /reports`.
    #[oai(path = "/admin/all", method = "get", operation_id = "list_all_reports")]
    async fn list_all(
        &self,
        auth: Authenticated,
        /// `open`, `in_progress` or `resolved`.
        status_filter: Query<Option<String>>,
        /// How many of the newest reports to skip (≥ 0).
        skip: Query<Option<i64>>,
        /// At most this many reports (1 to 500, default 100).
        limit: Query<Option<i64>>,
    ) -> Result<JsonReply<Vec<ReportOut>>, ApiError> {
        let (status, page) = list_query(status_filter.0, skip.0, limit.0)?;
        let reports = self
            .state
            .services
            .reports
            .list_all(&auth.0, status, page)
            .await?;
        Ok(reports_out(reports))
    }

    /// Get a report
    ///
    /// For its reporter and superusers.
    #[oai(path = "/:id", method = "get", operation_id = "get_report")]
    async fn get(
        &self,
        auth: Authenticated,
        id: Path<i64>,
    ) -> Result<JsonReply<ReportOut>, ApiError> {
        let report = self
            .state
            .services
            .reports
            .get(&auth.0, ReportId::new(id.0))
            .await?;
        Ok(report_out(report))
    }

    /// Edit my report
    ///
    /// Its reporter changes the title or the content while the report is `open`.
    #[oai(path = "/:id", method = "put", operation_id = "update_report")]
    async fn edit(
        &self,
        auth: Authenticated,
        id: Path<i64>,
        body: JsonBody<ReportUpdateRequest>,
    ) -> Result<JsonReply<ReportOut>, ApiError> {
        let changes = ReportChanges {
            title: body.0.title.map(ReportTitle::parse).transpose()?,
            content: body.0.content.map(ReportContent::parse).transpose()?,
        };
        let report = self
            .state
            .services
            .reports
            .edit(&auth.0, ReportId::new(id.0), changes)
            .await?;
        Ok(report_out(report))
    }

    /// Answer a report
    ///
    /// A superuser's response, and optionally a new status; the reporter's live streams
    /// hear of it (`report.updated`).
    #[oai(
        path = "/:id/comment",
        method = "post",
        operation_id = "comment_report"
    )]
    async fn comment(
        &self,
        auth: Authenticated,
        id: Path<i64>,
        body: JsonBody<ReportCommentRequest>,
    ) -> Result<JsonReply<ReportOut>, ApiError> {
        let comment = ReportComment::parse(body.0.comment)?;
        let status = body
            .0
            .status
            .filter(|s| !s.is_empty())
            .map(|text| {
                ReportStatus::parse(&text).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Invalid status. Must be one of: {}",
                        ReportStatus::allowed()
                    ))
                })
            })
            .transpose()?;
        let report = self
            .state
            .services
            .reports
            .answer(&auth.0, ReportId::new(id.0), comment, status)
            .await?;
        Ok(report_out(report))
    }

    /// Resolve a report
    ///
    /// Marks it `resolved` (a superuser), with a response when one is given.
    #[oai(path = "/:id/resolve", method = "put", operation_id = "resolve_report")]
    async fn resolve(
        &self,
        auth: Authenticated,
        id: Path<i64>,
        body: JsonBody<Option<ReportResolveRequest>>,
    ) -> Result<JsonReply<ReportOut>, ApiError> {
        let comment = body
            .0
            .and_then(|b| b.comment)
            .map(ReportComment::parse)
            .transpose()?;
        let report = self
            .state
            .services
            .reports
            .resolve(&auth.0, ReportId::new(id.0), comment)
            .await?;
        Ok(report_out(report))
    }
}

#[cfg(test)]
mod tests {
    use ai_message_core::{Report, UserId, Username};

    use super::*;

    fn view(id: i64, content: &str, comment: Option<&str>) -> ReportView {
        ReportView {
            report: Report {
                id: ReportId::new(id),
                reporter_id: UserId::new(1),
                title: ReportTitle::parse(format!("report {id}")).unwrap(),
                content: ReportContent::parse(content).unwrap(),
                status: ReportStatus::Open,
                comment: comment.map(|c| ReportComment::parse(c).unwrap()),
                resolved_at: None,
                resolved_by: None,
                created_at: chrono::DateTime::UNIX_EPOCH,
                updated_at: chrono::DateTime::UNIX_EPOCH,
            },
            reporter_username: Some(Username::from_storage("alice".to_string())),
            resolver_username: None,
        }
    }

    #[test]
    fn a_page_of_large_reports_keeps_the_newest_that_fit() {
        // 65,536 emoji are 256 KiB as JSON writes them: 70 were 18 MB.
        let emoji = "\u{1f525}".repeat(ReportContent::MAX_CHARS);
        let page: Vec<ReportView> = (1..=70).rev().map(|id| view(id, &emoji, None)).collect();
        let JsonReply(kept) = reports_out(page);
        let per_report = emoji.len() + "report 70".len();
        assert_eq!(kept.len(), MAX_PAGE_CONTENT_BYTES / per_report);
        assert_eq!(kept[0].id, 70, "the newest stay, newest first");
        let bytes = serde_json::to_vec(&kept).unwrap().len();
        assert!(bytes <= MAX_PAGE_CONTENT_BYTES + 70 * 400, "{bytes}");
    }

    #[test]
    fn comments_count_toward_a_pages_bytes() {
        let control = "\u{1}".repeat(ReportContent::MAX_CHARS);
        let page: Vec<ReportView> = (1..=30)
            .rev()
            .map(|id| view(id, "short", Some(&control)))
            .collect();
        let JsonReply(kept) = reports_out(page);
        assert_eq!(
            kept.len(),
            MAX_PAGE_CONTENT_BYTES / (control.len() * 6 + 20)
        );
        let small: Vec<ReportView> = (1..=3).map(|id| view(id, "hi", None)).collect();
        let JsonReply(all) = reports_out(small);
        assert_eq!(all.len(), 3, "a page of small reports is whole");
    }
}
