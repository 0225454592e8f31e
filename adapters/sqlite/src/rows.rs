//! Rows to entities and back: timestamps as `YYYY-MM-DD HH:MM:SS.ffffff` text (what the
//! original implementation wrote), booleans as 0/1 with the schema's defaults for NULL.

use ai_message_core::ports::{ChannelOrigin, PendingQuestion, ReplyRoute};
use ai_message_core::{
    Bio, ChannelMessageId, ConversationId, ConversationSummary, DeviceInfo, Email, FullName,
    IpAddress, Message, MessageContent, MessageId, PasswordHash, PhoneNumber, QuestionState,
    RefreshToken, RefreshTokenHash, RefreshTokenId, Report, ReportComment, ReportContent, ReportId,
    ReportStatus, ReportTitle, ReportView, Role, RoleDescription, RoleId, RoleName, Session,
    SessionId, SessionToken, Timestamp, User, UserId, Username,
};
use std::sync::LazyLock;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use rusqlite::Row;
use rusqlite::types::Type;

/// The formats, parsed once: chrono would otherwise parse the format string on every call,
/// and a page of messages formats or reads dozens of timestamps.
static WRITTEN: LazyLock<Vec<Item<'static>>> = LazyLock::new(|| items("%Y-%m-%d %H:%M:%S%.6f"));
/// What the original may have written: no fraction, or a `T` separator.
static READ_SPACE: LazyLock<Vec<Item<'static>>> = LazyLock::new(|| items("%Y-%m-%d %H:%M:%S%.f"));
static READ_T: LazyLock<Vec<Item<'static>>> = LazyLock::new(|| items("%Y-%m-%dT%H:%M:%S%.f"));

fn items(format: &'static str) -> Vec<Item<'static>> {
    StrftimeItems::new(format)
        .parse_to_owned()
        .expect("a valid format")
}

pub(crate) fn time_text(time: Timestamp) -> String {
    time.naive_utc()
        .format_with_items(WRITTEN.iter())
        .to_string()
}

fn parse_time(text: &str, format: &[Item<'static>]) -> chrono::ParseResult<NaiveDateTime> {
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, text, format.iter())?;
    parsed.to_naive_datetime_with_offset(0)
}

/// The exact shape this adapter writes, `YYYY-MM-DD HH:MM:SS.ffffff`, read field by field:
/// chrono's general parser cost more than the SQL of a page of messages. Anything else
/// (the original's shapes, leap seconds, garbage) is left to it.
fn written_shape(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    let separators = [
        (4, b'-'),
        (7, b'-'),
        (10, b' '),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ];
    if b.len() != 26 || separators.iter().any(|&(at, byte)| b[at] != byte) {
        return None;
    }
    let number = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0u32, |value, &digit| {
            digit
                .is_ascii_digit()
                .then(|| value * 10 + u32::from(digit - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(number(0, 4)? as i32, number(5, 7)?, number(8, 10)?)?;
    let time = NaiveTime::from_hms_micro_opt(
        number(11, 13)?,
        number(14, 16)?,
        number(17, 19)?,
        number(20, 26)?,
    )?;
    Some(date.and_time(time))
}

fn read_time(text: &str) -> chrono::ParseResult<NaiveDateTime> {
    match written_shape(text) {
        Some(time) => Ok(time),
        None => parse_time(text, &READ_SPACE).or_else(|_| parse_time(text, &READ_T)),
    }
}

pub(crate) fn time_at(row: &Row<'_>, index: usize) -> rusqlite::Result<Timestamp> {
    let text = row.get_ref(index)?.as_str()?;
    read_time(text)
        .map(|naive| naive.and_utc())
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e)))
}

/// A nullable BOOLEAN column, read with the schema's default for NULL.
fn flag(row: &Row<'_>, index: usize, default: bool) -> rusqlite::Result<bool> {
    Ok(row.get::<_, Option<bool>>(index)?.unwrap_or(default))
}

pub(crate) fn user_at(row: &Row<'_>, offset: usize) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId::new(row.get(offset)?),
        username: Username::from_storage(row.get(offset + 1)?),
        email: Email::from_storage(row.get(offset + 2)?),
        hashed_password: PasswordHash::new(row.get::<_, String>(offset + 3)?),
        is_active: flag(row, offset + 4, true)?,
        is_superuser: flag(row, offset + 5, false)?,
        full_name: row
            .get::<_, Option<String>>(offset + 6)?
            .map(FullName::from_storage),
        bio: row
            .get::<_, Option<String>>(offset + 7)?
            .map(Bio::from_storage),
        created_at: time_at(row, offset + 8)?,
        updated_at: time_at(row, offset + 9)?,
        phone_number: row
            .get::<_, Option<String>>(offset + 10)?
            .map(PhoneNumber::from_storage),
        unverified_phone_number: row
            .get::<_, Option<String>>(offset + 11)?
            .map(PhoneNumber::from_storage),
    })
}

pub(crate) fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    user_at(row, 0)
}

pub(crate) fn role(row: &Row<'_>) -> rusqlite::Result<Role> {
    Ok(Role {
        id: RoleId::new(row.get(0)?),
        name: RoleName::from_storage(row.get(1)?),
        description: row
            .get::<_, Option<String>>(2)?
            .map(RoleDescription::from_storage),
        created_at: time_at(row, 3)?,
        updated_at: time_at(row, 4)?,
    })
}

/// A status as stored; one the original never wrote is refused as a conversion failure.
pub(crate) fn report_status(row: &Row<'_>, index: usize) -> rusqlite::Result<ReportStatus> {
    let text = row.get_ref(index)?.as_str()?;
    ReportStatus::parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            Type::Text,
            format!("reports.status {text:?} is not a known status").into(),
        )
    })
}

fn optional_time_at(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Timestamp>> {
    match row.get_ref(index)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => time_at(row, index).map(Some),
    }
}

/// `report_columns!("r.")`, then the reporter's and the resolver's usernames.
pub(crate) fn report_view(row: &Row<'_>) -> rusqlite::Result<ReportView> {
    Ok(ReportView {
        report: Report {
            id: ReportId::new(row.get(0)?),
            reporter_id: UserId::new(row.get(1)?),
            title: ReportTitle::from_storage(row.get(2)?),
            content: ReportContent::from_storage(row.get(3)?),
            status: report_status(row, 4)?,
            comment: row
                .get::<_, Option<String>>(5)?
                .map(ReportComment::from_storage),
            resolved_at: optional_time_at(row, 6)?,
            resolved_by: row.get::<_, Option<i64>>(7)?.map(UserId::new),
            created_at: time_at(row, 8)?,
            updated_at: time_at(row, 9)?,
        },
        reporter_username: row
            .get::<_, Option<String>>(10)?
            .map(Username::from_storage),
        resolver_username: row
            .get::<_, Option<String>>(11)?
            .map(Username::from_storage),
    })
}

/// Number of session columns, where a joined user's columns start.
pub(crate) const SESSION_WIDTH: usize = 9;

pub(crate) fn session(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: SessionId::new(row.get(0)?),
        user_id: UserId::new(row.get(1)?),
        session_token: SessionToken::new(row.get::<_, String>(2)?),
        device_info: row
            .get::<_, Option<String>>(3)?
            .map(DeviceInfo::from_storage),
        ip_address: row
            .get::<_, Option<String>>(4)?
            .map(IpAddress::from_storage),
        is_active: flag(row, 5, true)?,
        expires_at: time_at(row, 6)?,
        created_at: time_at(row, 7)?,
        updated_at: time_at(row, 8)?,
    })
}

pub(crate) fn refresh_token(row: &Row<'_>) -> rusqlite::Result<RefreshToken> {
    Ok(RefreshToken {
        id: RefreshTokenId::new(row.get(0)?),
        user_id: UserId::new(row.get(1)?),
        token_hash: RefreshTokenHash::new(row.get::<_, String>(2)?),
        expires_at: time_at(row, 3)?,
        is_used: flag(row, 4, false)?,
        session_id: row.get::<_, Option<i64>>(5)?.map(SessionId::new),
        created_at: time_at(row, 6)?,
        updated_at: time_at(row, 7)?,
    })
}

pub(crate) fn message(row: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: MessageId::new(row.get(0)?),
        sender_id: UserId::new(row.get(1)?),
        recipient_id: UserId::new(row.get(2)?),
        content: MessageContent::from_storage(row.get(3)?),
        is_read: flag(row, 4, false)?,
        parent_id: row.get::<_, Option<i64>>(5)?.map(MessageId::new),
        conversation_id: row
            .get::<_, Option<String>>(6)?
            .map(ConversationId::from_storage),
        created_at: time_at(row, 7)?,
        updated_at: time_at(row, 8)?,
    })
}

/// A question's state from `claimed_until, answered` at `index` (both NULL: no row).
pub(crate) fn question_state(row: &Row<'_>, index: usize) -> rusqlite::Result<QuestionState> {
    Ok(QuestionState {
        claimed_until: optional_time_at(row, index)?,
        answered: flag(row, index + 1, false)?,
    })
}

/// `message_columns!("q.")`, the question's state, then its channel's id and route.
pub(crate) fn pending_question(row: &Row<'_>) -> rusqlite::Result<PendingQuestion> {
    let origin = match (
        row.get::<_, Option<String>>(11)?,
        row.get::<_, Option<String>>(12)?,
        row.get::<_, Option<String>>(13)?,
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

pub(crate) fn conversation_summary(row: &Row<'_>) -> rusqlite::Result<ConversationSummary> {
    Ok(ConversationSummary {
        conversation_id: ConversationId::from_storage(row.get(0)?),
        other_user_id: UserId::new(row.get(1)?),
        other_user_name: row.get::<_, Option<String>>(2)?.map(Username::from_storage),
        last_message: MessageContent::from_storage(row.get(3)?),
        last_message_at: time_at(row, 4)?,
        unread_count: row.get::<_, i64>(5)?.max(0).unsigned_abs(),
    })
}

/// Whether an insert failed on a UNIQUE constraint.
/// The unique index that refused a write, if one did.
pub(crate) fn refused_by(error: &rusqlite::Error) -> Option<ai_message_sql::UniqueIndex> {
    let rusqlite::Error::SqliteFailure(e, message) = error else {
        return None;
    };
    if e.extended_code != rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        && e.extended_code != rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    {
        return None;
    }
    // SQLite names the columns, not the index: "UNIQUE constraint failed: users.phone_number".
    Some(
        if message
            .as_deref()
            .is_some_and(|m| m.contains("users.phone_number"))
        {
            ai_message_sql::UniqueIndex::PhoneNumber
        } else {
            ai_message_sql::UniqueIndex::Other
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone, Utc};

    #[test]
    fn timestamps_are_written_with_six_fraction_digits() {
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap() + TimeDelta::microseconds(7);
        assert_eq!(time_text(t), "2026-01-02 03:04:05.000007");
    }

    /// The formats parsed once read what chrono's `parse_from_str` reads, and refuse what
    /// it refuses.
    #[test]
    fn timestamps_read_as_chrono_reads_them() {
        let texts = [
            "2026-01-02 03:04:05.000007",
            "2026-01-02 03:04:05",
            "2026-01-02 03:04:05.5",
            "2026-01-02T03:04:05.123456",
            "2026-01-02T03:04:05",
            "2026-02-30 03:04:05",
            "2026-01-02",
            "yesterday",
            "",
            // The written shape, and near misses of it.
            "2026-02-29 03:04:05.000007",
            "2024-02-29 23:59:59.999999",
            "2026-01-02 24:04:05.000007",
            "2026-01-02 03:04:60.000007",
            "2026-01-02 03:04:05,000007",
            "2026-01-02 03:04:05.00000a",
            "+026-01-02 03:04:05.000007",
            "2026-1-02 03:04:05.0000007",
            "0000-01-01 00:00:00.000000",
        ];
        for text in texts {
            let ours = read_time(text).ok();
            let chrono = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
                .ok();
            assert_eq!(ours, chrono, "{text:?}");
        }
        assert!(parse_time("2026-01-02 03:04:05", &READ_SPACE).is_ok());
    }

    /// Whatever this adapter writes, the fast path reads back exactly, as chrono would.
    #[test]
    fn written_timestamps_read_back_exactly() {
        let mut t = Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap();
        // Steps coprime to every field's period walk dates, hours and fractions widely.
        for _ in 0..20_000 {
            t += TimeDelta::microseconds(3_155_760_012_345);
            let text = time_text(t);
            assert_eq!(written_shape(&text), Some(t.naive_utc()), "{text}");
            assert_eq!(
                NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f").ok(),
                Some(t.naive_utc())
            );
        }
    }
}
