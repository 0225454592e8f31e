//! Rows to entities, ids between i64 (the core) and INTEGER (the schema), and error mapping.

use ai_message_core::ports::{ChannelOrigin, PendingQuestion, ReplyRoute};
use ai_message_core::{
    Bio, ChannelMessageId, ConversationId, ConversationSummary, DeviceInfo, Email, FullName,
    IpAddress, Message, MessageContent, MessageId, PasswordHash, PhoneNumber, PortError,
    QuestionState, RefreshToken, RefreshTokenHash, RefreshTokenId, Report, ReportComment,
    ReportContent, ReportId, ReportStatus, ReportTitle, ReportView, Role, RoleDescription, RoleId,
    RoleName, Session, SessionId, SessionToken, Timestamp, User, UserId, Username,
};
use chrono::NaiveDateTime;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

/// Any of the core's ids, as a plain integer.
pub(crate) trait RowId: Copy {
    fn value(self) -> i64;
}

macro_rules! row_ids {
    ($($id:ty),+) => {
        $(impl RowId for $id {
            fn value(self) -> i64 {
                self.get()
            }
        })+
    };
}

row_ids!(
    UserId,
    RoleId,
    SessionId,
    RefreshTokenId,
    MessageId,
    ReportId
);

/// The core's ids as the schema's INTEGER. An id beyond its range names no row.
pub(crate) fn pg_id(id: impl RowId) -> Option<i32> {
    i32::try_from(id.value()).ok()
}

pub(crate) fn naive(time: Timestamp) -> NaiveDateTime {
    time.naive_utc()
}

fn utc(row: &Row, index: usize) -> Result<Timestamp, tokio_postgres::Error> {
    Ok(row.try_get::<_, NaiveDateTime>(index)?.and_utc())
}

fn flag(row: &Row, index: usize, default: bool) -> Result<bool, tokio_postgres::Error> {
    Ok(row.try_get::<_, Option<bool>>(index)?.unwrap_or(default))
}

fn id(row: &Row, index: usize) -> Result<i64, tokio_postgres::Error> {
    Ok(i64::from(row.try_get::<_, i32>(index)?))
}

fn optional_id(row: &Row, index: usize) -> Result<Option<i64>, tokio_postgres::Error> {
    Ok(row.try_get::<_, Option<i32>>(index)?.map(i64::from))
}

fn text(row: &Row, index: usize) -> Result<String, tokio_postgres::Error> {
    row.try_get(index)
}

fn optional_text(row: &Row, index: usize) -> Result<Option<String>, tokio_postgres::Error> {
    row.try_get(index)
}

pub(crate) fn user_at(row: &Row, o: usize) -> Result<User, tokio_postgres::Error> {
    Ok(User {
        id: UserId::new(id(row, o)?),
        username: Username::from_storage(text(row, o + 1)?),
        email: Email::from_storage(text(row, o + 2)?),
        hashed_password: PasswordHash::new(text(row, o + 3)?),
        is_active: flag(row, o + 4, true)?,
        is_superuser: flag(row, o + 5, false)?,
        full_name: optional_text(row, o + 6)?.map(FullName::from_storage),
        bio: optional_text(row, o + 7)?.map(Bio::from_storage),
        created_at: utc(row, o + 8)?,
        updated_at: utc(row, o + 9)?,
        phone_number: optional_text(row, o + 10)?.map(PhoneNumber::from_storage),
        unverified_phone_number: optional_text(row, o + 11)?.map(PhoneNumber::from_storage),
    })
}

pub(crate) fn user(row: &Row) -> Result<User, tokio_postgres::Error> {
    user_at(row, 0)
}

pub(crate) fn role(row: &Row) -> Result<Role, tokio_postgres::Error> {
    Ok(Role {
        id: RoleId::new(id(row, 0)?),
        name: RoleName::from_storage(text(row, 1)?),
        description: optional_text(row, 2)?.map(RoleDescription::from_storage),
        created_at: utc(row, 3)?,
        updated_at: utc(row, 4)?,
    })
}

/// A status as stored; one the original never wrote is a row that does not parse.
pub(crate) fn report_status(row: &Row, index: usize) -> Result<ReportStatus, PortError> {
    let text: String = row.try_get(index).map_err(port_error)?;
    ReportStatus::parse(&text).ok_or_else(|| {
        PortError::unexpected(format!("reports.status {text:?} is not a known status"))
    })
}

/// `report_columns!("r.")`, then the reporter's and the resolver's usernames.
pub(crate) fn report_view(row: &Row) -> Result<ReportView, PortError> {
    let read = || -> Result<ReportView, tokio_postgres::Error> {
        Ok(ReportView {
            report: Report {
                id: ReportId::new(id(row, 0)?),
                reporter_id: UserId::new(id(row, 1)?),
                title: ReportTitle::from_storage(text(row, 2)?),
                content: ReportContent::from_storage(text(row, 3)?),
                status: ReportStatus::Open,
                comment: optional_text(row, 5)?.map(ReportComment::from_storage),
                resolved_at: row
                    .try_get::<_, Option<NaiveDateTime>>(6)?
                    .map(|t| t.and_utc()),
                resolved_by: optional_id(row, 7)?.map(UserId::new),
                created_at: utc(row, 8)?,
                updated_at: utc(row, 9)?,
            },
            reporter_username: optional_text(row, 10)?.map(Username::from_storage),
            resolver_username: optional_text(row, 11)?.map(Username::from_storage),
        })
    };
    let mut view = read().map_err(port_error)?;
    view.report.status = report_status(row, 4)?;
    Ok(view)
}

/// Number of session columns, where a joined user's columns start.
pub(crate) const SESSION_WIDTH: usize = 9;

pub(crate) fn session(row: &Row) -> Result<Session, tokio_postgres::Error> {
    Ok(Session {
        id: SessionId::new(id(row, 0)?),
        user_id: UserId::new(id(row, 1)?),
        session_token: SessionToken::new(text(row, 2)?),
        device_info: optional_text(row, 3)?.map(DeviceInfo::from_storage),
        ip_address: optional_text(row, 4)?.map(IpAddress::from_storage),
        is_active: flag(row, 5, true)?,
        expires_at: utc(row, 6)?,
        created_at: utc(row, 7)?,
        updated_at: utc(row, 8)?,
    })
}

pub(crate) fn refresh_token(row: &Row) -> Result<RefreshToken, tokio_postgres::Error> {
    Ok(RefreshToken {
        id: RefreshTokenId::new(id(row, 0)?),
        user_id: UserId::new(id(row, 1)?),
        token_hash: RefreshTokenHash::new(text(row, 2)?),
        expires_at: utc(row, 3)?,
        is_used: flag(row, 4, false)?,
        session_id: optional_id(row, 5)?.map(SessionId::new),
        created_at: utc(row, 6)?,
        updated_at: utc(row, 7)?,
    })
}

pub(crate) fn message(row: &Row) -> Result<Message, tokio_postgres::Error> {
    Ok(Message {
        id: MessageId::new(id(row, 0)?),
        sender_id: UserId::new(id(row, 1)?),
        recipient_id: UserId::new(id(row, 2)?),
        content: MessageContent::from_storage(text(row, 3)?),
        is_read: flag(row, 4, false)?,
        parent_id: optional_id(row, 5)?.map(MessageId::new),
        conversation_id: optional_text(row, 6)?.map(ConversationId::from_storage),
        created_at: utc(row, 7)?,
        updated_at: utc(row, 8)?,
    })
}

/// A question's state from `claimed_until, answered` at `index` (both NULL: no row).
pub(crate) fn question_state(
    row: &Row,
    index: usize,
) -> Result<QuestionState, tokio_postgres::Error> {
    Ok(QuestionState {
        claimed_until: row
            .try_get::<_, Option<NaiveDateTime>>(index)?
            .map(|time| time.and_utc()),
        answered: flag(row, index + 1, false)?,
    })
}

/// `message_columns!("q.")`, the question's state, then its channel's id and route.
pub(crate) fn pending_question(row: &Row) -> Result<PendingQuestion, tokio_postgres::Error> {
    let origin = match (
        optional_text(row, 11)?,
        optional_text(row, 12)?,
        optional_text(row, 13)?,
    ) {
        (Some(receipt), Some(to), Some(from)) => Some(ChannelOrigin {
            receipt: ChannelMessageId::from_storage(receipt),
            route: ReplyRoute { to, from },
        }),
        _ => None,
    };
    Ok(PendingQuestion {
        question: message(row)?,
        state: question_state(row, 9)?,
        origin,
    })
}

pub(crate) fn conversation_summary(
    row: &Row,
) -> Result<ConversationSummary, tokio_postgres::Error> {
    Ok(ConversationSummary {
        conversation_id: ConversationId::from_storage(text(row, 0)?),
        other_user_id: UserId::new(id(row, 1)?),
        other_user_name: optional_text(row, 2)?.map(Username::from_storage),
        last_message: MessageContent::from_storage(text(row, 3)?),
        last_message_at: utc(row, 4)?,
        unread_count: row.try_get::<_, i64>(5)?.max(0).unsigned_abs(),
    })
}

/// The unique index that refused a write, if one did.
pub(crate) fn refused_by(error: &tokio_postgres::Error) -> Option<ai_message_sql::UniqueIndex> {
    if error.code() != Some(&SqlState::UNIQUE_VIOLATION) {
        return None;
    }
    let constraint = error.as_db_error().and_then(|e| e.constraint());
    Some(if constraint == Some("ix_users_phone_number") {
        ai_message_sql::UniqueIndex::PhoneNumber
    } else {
        ai_message_sql::UniqueIndex::Other
    })
}

/// Connection trouble (the server gone, shutting down, refusing) may pass: 503. Anything the
/// server reports about a statement is a bug: 500.
pub(crate) fn port_error(error: tokio_postgres::Error) -> PortError {
    use std::error::Error as _;
    let transient = match error.code() {
        // Without a server code: an I/O failure is the connection; the rest (a value that
        // does not convert, say) is ours.
        None => error
            .source()
            .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some()),
        Some(code) => {
            let class = &code.code()[..2];
            // 08: connection exception, 57: operator intervention, 53: insufficient
            // resources, 40: transaction rollback (serialization, deadlock).
            matches!(class, "08" | "57" | "53" | "40")
        }
    };
    if transient || error.is_closed() {
        PortError::Unavailable {
            what: "the PostgreSQL database",
            source: Box::new(error),
        }
    } else {
        PortError::unexpected(error)
    }
}

pub(crate) fn pool_error(error: deadpool_postgres::PoolError) -> PortError {
    PortError::Unavailable {
        what: "the PostgreSQL database",
        source: Box::new(error),
    }
}
