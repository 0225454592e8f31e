//! Facility reports (the original's newest `reports` table): a user files what is broken, a
//! superuser answers and moves it through `open → in_progress → resolved`.

use super::{
    ReportComment, ReportContent, ReportId, ReportStatus, ReportTitle, Timestamp, User, UserId,
    Username,
};

/// One row of `reports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub id: ReportId,
    pub reporter_id: UserId,
    pub title: ReportTitle,
    pub content: ReportContent,
    pub status: ReportStatus,
    /// The superuser's response.
    pub comment: Option<ReportComment>,
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<UserId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Report {
    /// Its reporter and superusers may see it.
    pub fn is_visible_to(&self, user: &User) -> bool {
        self.reporter_id == user.id || user.is_superuser
    }
}

/// A report with the names of the users it mentions, as every answer shows it. A name is
/// `None` once its account is gone (the resolver's; a reporter's reports go with them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportView {
    pub report: Report,
    pub reporter_username: Option<Username>,
    pub resolver_username: Option<Username>,
}

/// Where a report stands: its status and, while resolved, when and by whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub status: ReportStatus,
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<UserId>,
}

impl Resolution {
    /// After a superuser (`by`, at `now`) moves the report to `to` (`None`: leaves its status):
    /// entering `resolved` stamps it, leaving `resolved` clears the stamps, staying keeps them.
    pub fn moved(self, to: Option<ReportStatus>, by: UserId, now: Timestamp) -> Self {
        let Some(to) = to else { return self };
        let resolved = ReportStatus::Resolved;
        match (self.status == resolved, to == resolved) {
            (false, true) => Self {
                status: to,
                resolved_at: Some(now),
                resolved_by: Some(by),
            },
            (true, false) => Self {
                status: to,
                resolved_at: None,
                resolved_by: None,
            },
            _ => Self { status: to, ..self },
        }
    }
}

impl Report {
    pub fn resolution(&self) -> Resolution {
        Resolution {
            status: self.status,
            resolved_at: self.resolved_at,
            resolved_by: self.resolved_by,
        }
    }

    pub fn set_resolution(&mut self, resolution: Resolution) {
        self.status = resolution.status;
        self.resolved_at = resolution.resolved_at;
        self.resolved_by = resolution.resolved_by;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn moving_into_resolved_stamps_leaving_clears_staying_keeps() {
        let (at, later) = (
            Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 2, 9, 0, 0).unwrap(),
        );
        let (first, second) = (UserId::new(1), UserId::new(2));
        let open = Resolution {
            status: ReportStatus::Open,
            resolved_at: None,
            resolved_by: None,
        };
        assert_eq!(open.moved(None, first, at), open, "no status given");
        let resolved = open.moved(Some(ReportStatus::Resolved), first, at);
        assert_eq!(
            (resolved.resolved_at, resolved.resolved_by),
            (Some(at), Some(first))
        );
        let again = resolved.moved(Some(ReportStatus::Resolved), second, later);
        assert_eq!(again, resolved, "the first resolution stays");
        let reopened = resolved.moved(Some(ReportStatus::InProgress), second, later);
        assert_eq!(
            reopened,
            Resolution {
                status: ReportStatus::InProgress,
                resolved_at: None,
                resolved_by: None,
            }
        );
    }

    #[test]
    fn statuses_read_exactly_as_stored() {
        for status in ReportStatus::ALL {
            assert_eq!(ReportStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(ReportStatus::parse("Open"), None);
        assert_eq!(ReportStatus::parse(""), None);
        assert_eq!(ReportStatus::allowed(), "open, in_progress, resolved");
    }
}
