//! The shapes of facility reports on the wire, as the original's newest version writes them.

use ai_message_core::ReportView;
use poem_openapi::Object;
use poem_openapi::types::Example;
use serde::Deserialize;

use crate::time::UtcTime;

/// A new report.
#[derive(Debug, Clone, Deserialize, Object)]
#[oai(example)]
pub struct ReportCreateRequest {
    /// 1 to 255 characters, not only whitespace.
    pub title: String,
    /// What is wrong, and where: 1 to 65,536 characters, not only whitespace.
    pub content: String,
}

impl Example for ReportCreateRequest {
    fn example() -> Self {
        Self {
            title: "Lift on level 3".into(),
            content: "The lift stops between floors 2 and 3 and the doors stay shut.".into(),
        }
    }
}

/// A reporter's change to their open report; what is absent stays.
#[derive(Debug, Clone, Default, Deserialize, Object)]
#[oai(example)]
pub struct ReportUpdateRequest {
    /// 1 to 255 characters, not only whitespace.
    #[serde(default)]
    pub title: Option<String>,
    /// 1 to 65,536 characters, not only whitespace.
    #[serde(default)]
    pub content: Option<String>,
}

impl Example for ReportUpdateRequest {
    fn example() -> Self {
        Self {
            title: None,
            content: Some("The lift now stops at every floor but the third.".into()),
        }
    }
}

/// A superuser's response to a report.
#[derive(Debug, Clone, Deserialize, Object)]
#[oai(example)]
pub struct ReportCommentRequest {
    /// The response the reporter reads: at most 65,536 characters.
    pub comment: String,
    /// `open`, `in_progress` or `resolved`; absent leaves the status. Into `resolved`
    /// stamps `resolved_at` and `resolved_by`.
    #[serde(default)]
    pub status: Option<String>,
}

impl Example for ReportCommentRequest {
    fn example() -> Self {
        Self {
            comment: "A technician comes on Monday morning.".into(),
            status: Some("in_progress".into()),
        }
    }
}

/// Resolves a report.
#[derive(Debug, Clone, Default, Deserialize, Object)]
#[oai(example)]
pub struct ReportResolveRequest {
    /// Replaces the response when it says something (at most 65,536 characters); empty or
    /// absent keeps the one given before.
    #[serde(default)]
    pub comment: Option<String>,
}

impl Example for ReportResolveRequest {
    fn example() -> Self {
        Self {
            comment: Some("Repaired on Monday.".into()),
        }
    }
}

/// A facility report, with the names of its reporter and resolver.
#[derive(Debug, Clone, PartialEq, Eq, Object, serde::Serialize)]
#[oai(rename = "Report")]
pub struct ReportOut {
    pub id: i64,
    pub reporter_id: i64,
    /// `null` only in a moment between the reporter's deletion and their reports'.
    pub reporter_username: Option<String>,
    pub title: String,
    pub content: String,
    /// `open`, `in_progress` or `resolved`.
    pub status: String,
    /// The superuser's response.
    pub comment: Option<String>,
    pub resolved_at: Option<UtcTime>,
    pub resolved_by: Option<i64>,
    /// `null` when unresolved, or once the resolver's account is gone.
    pub resolver_username: Option<String>,
    pub created_at: UtcTime,
    pub updated_at: UtcTime,
}

impl From<ReportView> for ReportOut {
    fn from(view: ReportView) -> Self {
        let report = view.report;
        Self {
            id: report.id.get(),
            reporter_id: report.reporter_id.get(),
            reporter_username: view.reporter_username.map(Into::into),
            title: report.title.into_inner(),
            content: report.content.into_inner(),
            status: report.status.as_str().to_string(),
            comment: report.comment.map(Into::into),
            resolved_at: report.resolved_at.map(Into::into),
            resolved_by: report.resolved_by.map(|id| id.get()),
            resolver_username: view.resolver_username.map(Into::into),
            created_at: report.created_at.into(),
            updated_at: report.updated_at.into(),
        }
    }
}
