//! The values of a facility report (the original's newest `reports` table).

use std::fmt;

use super::{ValidationError, check_chars, check_no_nul};

string_value!(
    /// 1–255 characters, not only whitespace (column `reports.title`, `String(255)`).
    ReportTitle
);

impl ReportTitle {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars("title", &value, 1, Self::MAX_CHARS)?;
        check_no_nul("title", &value)?;
        check_not_blank("title", &value)?;
        Ok(Self(value))
    }
}

string_value!(
    /// What is wrong, and where: 1–65,536 characters, not only whitespace.
    ReportContent
);

impl ReportContent {
    pub const MAX_CHARS: usize = 65_536;

    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars("content", &value, 1, Self::MAX_CHARS)?;
        check_no_nul("content", &value)?;
        check_not_blank("content", &value)?;
        Ok(Self(value))
    }
}

string_value!(
    /// A superuser's response to a report: at most 65,536 characters.
    ReportComment
);

impl ReportComment {
    pub const MAX_CHARS: usize = 65_536;

    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars("comment", &value, 0, Self::MAX_CHARS)?;
        check_no_nul("comment", &value)?;
        Ok(Self(value))
    }

    /// Whether it says anything.
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

fn check_not_blank(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::new(
            field,
            "must not be empty or only whitespace",
        ));
    }
    Ok(())
}

/// Where a report stands (column `reports.status`, `String(50)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportStatus {
    Open,
    InProgress,
    Resolved,
}

impl ReportStatus {
    pub const ALL: [ReportStatus; 3] = [Self::Open, Self::InProgress, Self::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::InProgress => "in_progress",
            Self::Resolved => "resolved",
        }
    }

    /// `open`, `in_progress` or `resolved`, exactly as stored.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
    }

    /// `open, in_progress, resolved`: for messages that name the allowed values.
    pub fn allowed() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for ReportStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
