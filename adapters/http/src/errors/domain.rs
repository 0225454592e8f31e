//! Each core error, operation by operation, as a status code and the contract's `detail`
//! string (spec/api.md). The core says what happened; only this file says it in HTTP.

use ai_message_core::usecases::accounts::{ChangePasswordError, RegisterError, UpdateProfileError};
use ai_message_core::usecases::admin::{
    AccountAction, AccountActionError, BackupError, CreateUserError, NotSuperuser,
    SuperuserOnlyError, UserLookupError,
};
use ai_message_core::usecases::assistant::AskError;
use ai_message_core::usecases::auth::{
    AuthenticateError, EndSessionError, LoginError, RefreshError,
};
use ai_message_core::usecases::live::OpenStreamError;
use ai_message_core::usecases::messages::{
    DeleteMessageError, EditMessageError, GetMessageError, MarkReadError, SendError,
};
use ai_message_core::usecases::reports::{
    AnswerReportError, CreateReportError, EditReportError, GetReportError, ListAllReportsError,
};
use ai_message_core::usecases::roles::{AssignRolesError, CreateRoleError, DeleteRoleError};

use super::{ApiError, INVALID_CREDENTIALS};

mod detail {
    pub const USERNAME_TAKEN: &str = "Username already registered";
    pub const USERNAME_LOOKALIKE: &str = "Username is too similar to an existing username";
    pub const EMAIL_TAKEN: &str = "Email already registered";
    pub const PHONE_TAKEN: &str = "Phone number already registered";
    pub const USERNAME_OR_EMAIL_TAKEN: &str = "Username or email already exists";
    pub const WRONG_CURRENT_PASSWORD: &str = "Current password is incorrect";
    pub const WRONG_LOGIN: &str = "Incorrect username or password";
    pub const USER_DISABLED: &str = "User is disabled";
    pub const LOGIN_THROTTLED: &str = "Too many failed login attempts, retry later";
    pub const PASSWORD_CHANGE_THROTTLED: &str =
        "Too many wrong passwords: this session was ended, log in again later";
    pub const REFRESH_UNKNOWN: &str = "Refresh token not found or already used";
    pub const REFRESH_EXPIRED: &str = "Refresh token expired";
    pub const SESSION_ENDED: &str = "Session has ended";
    pub const SESSION_NOT_FOUND: &str = "Session not found";
    pub const SUPERUSER_REQUIRED: &str = "Superuser access required";
    pub const USER_NOT_FOUND: &str = "User not found";
    pub const CANNOT_DELETE_SELF: &str = "Cannot delete your own account";
    pub const CANNOT_DISABLE_SELF: &str = "Cannot disable your own account";
    pub const CANNOT_CHANGE_OWN_SUPERUSER: &str = "Cannot change your own superuser status";
    pub const LAST_SUPERUSER: &str = "At least one active superuser must remain";
    pub const ROLE_NOT_FOUND: &str = "Role not found";
    pub const ROLE_EXISTS: &str = "Role already exists";
    pub const MESSAGE_NOT_FOUND: &str = "Message not found";
    pub const RECIPIENT_NOT_FOUND: &str = "Recipient not found";
    pub const PARENT_NOT_FOUND: &str = "Parent message not found";
    pub const MESSAGE_NO_ACCESS: &str = "You don't have access to this message";
    pub const NOT_SENDER: &str = "Only the sender can update this message";
    pub const NOT_RECIPIENT: &str = "Only the recipient can mark this message as read";
    pub const NO_DELETE_PERMISSION: &str = "You don't have permission to delete this message";
    pub const NOT_A_PARTICIPANT: &str = "Not a participant of this conversation";
    pub const TOO_MANY_STREAMS: &str = "Too many open streams, close one first";
    pub const SHUTTING_DOWN: &str = "Server is shutting down, please reconnect";
    pub const ASSISTANT_NOT_CONFIGURED: &str = "AI assistant is not configured";
    pub const ASSISTANT_REPLY_IN_FLIGHT: &str =
        "The assistant is still answering your previous message";
    pub const ASSISTANT_BUSY: &str = "AI assistant is busy, please retry";
    pub const REPORT_NOT_FOUND: &str = "Report not found";
    pub const REPORT_NOT_VISIBLE: &str = "Not authorized to view this report";
    pub const REPORT_NOT_EDITABLE: &str = "Not authorized to update this report";
    pub const REPORT_NOT_OPEN: &str = "Cannot update a report that is not in open status";
}

impl From<RegisterError> for ApiError {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::UsernameTaken => Self::bad_request(detail::USERNAME_TAKEN),
            RegisterError::UsernameLookalike => Self::bad_request(detail::USERNAME_LOOKALIKE),
            RegisterError::EmailTaken => Self::bad_request(detail::EMAIL_TAKEN),
            RegisterError::PhoneTaken => Self::bad_request(detail::PHONE_TAKEN),
            RegisterError::UsernameOrEmailTaken => {
                Self::bad_request(detail::USERNAME_OR_EMAIL_TAKEN)
            }
            RegisterError::Port(e) => e.into(),
        }
    }
}

impl From<UpdateProfileError> for ApiError {
    fn from(error: UpdateProfileError) -> Self {
        match error {
            UpdateProfileError::AccountGone => Self::unauthorized(INVALID_CREDENTIALS),
            UpdateProfileError::Port(e) => e.into(),
        }
    }
}

impl From<ChangePasswordError> for ApiError {
    fn from(error: ChangePasswordError) -> Self {
        match error {
            ChangePasswordError::WrongCurrentPassword => {
                Self::bad_request(detail::WRONG_CURRENT_PASSWORD)
            }
            ChangePasswordError::AccountGone => Self::unauthorized(INVALID_CREDENTIALS),
            ChangePasswordError::Throttled { retry_after } => Self::too_many(
                detail::PASSWORD_CHANGE_THROTTLED,
                retry_after
                    .to_std()
                    .unwrap_or(std::time::Duration::from_secs(1)),
            ),
            ChangePasswordError::Port(e) => e.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => Self::unauthorized(detail::WRONG_LOGIN),
            LoginError::UserDisabled => Self::forbidden(detail::USER_DISABLED),
            LoginError::Throttled { retry_after } => Self::too_many(
                detail::LOGIN_THROTTLED,
                retry_after
                    .to_std()
                    .unwrap_or(std::time::Duration::from_secs(1)),
            ),
            LoginError::Port(e) => e.into(),
        }
    }
}

impl From<AuthenticateError> for ApiError {
    fn from(error: AuthenticateError) -> Self {
        match error {
            AuthenticateError::InvalidCredentials => Self::unauthorized(INVALID_CREDENTIALS),
            AuthenticateError::UserDisabled => Self::forbidden(detail::USER_DISABLED),
            AuthenticateError::Port(e) => e.into(),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::NotFoundOrUsed => Self::unauthorized(detail::REFRESH_UNKNOWN),
            RefreshError::Expired => Self::unauthorized(detail::REFRESH_EXPIRED),
            RefreshError::SessionEnded => Self::unauthorized(detail::SESSION_ENDED),
            RefreshError::UserDisabled => Self::unauthorized(detail::USER_DISABLED),
            RefreshError::Port(e) => e.into(),
        }
    }
}

impl From<EndSessionError> for ApiError {
    fn from(error: EndSessionError) -> Self {
        match error {
            EndSessionError::SessionNotFound => Self::not_found(detail::SESSION_NOT_FOUND),
            EndSessionError::Port(e) => e.into(),
        }
    }
}

impl From<NotSuperuser> for ApiError {
    fn from(_: NotSuperuser) -> Self {
        Self::forbidden(detail::SUPERUSER_REQUIRED)
    }
}

impl From<BackupError> for ApiError {
    fn from(error: BackupError) -> Self {
        match error {
            BackupError::NotSuperuser => NotSuperuser.into(),
            BackupError::UnderWay => Self::too_many(
                "Another backup is being taken or downloaded: one runs at a time",
                std::time::Duration::from_secs(30),
            ),
            BackupError::Unsupported(how) => Self::bad_request(how),
            BackupError::Port(e) => e.into(),
        }
    }
}

impl From<SuperuserOnlyError> for ApiError {
    fn from(error: SuperuserOnlyError) -> Self {
        match error {
            SuperuserOnlyError::NotSuperuser(e) => e.into(),
            SuperuserOnlyError::Port(e) => e.into(),
        }
    }
}

impl From<UserLookupError> for ApiError {
    fn from(error: UserLookupError) -> Self {
        match error {
            UserLookupError::NotSuperuser => NotSuperuser.into(),
            UserLookupError::UserNotFound => Self::not_found(detail::USER_NOT_FOUND),
            UserLookupError::Port(e) => e.into(),
        }
    }
}

impl From<CreateUserError> for ApiError {
    fn from(error: CreateUserError) -> Self {
        match error {
            CreateUserError::NotSuperuser => NotSuperuser.into(),
            CreateUserError::Register(e) => e.into(),
        }
    }
}

impl From<AccountActionError> for ApiError {
    fn from(error: AccountActionError) -> Self {
        match error {
            AccountActionError::NotSuperuser => NotSuperuser.into(),
            AccountActionError::OwnAccount(action) => Self::bad_request(match action {
                AccountAction::Delete => detail::CANNOT_DELETE_SELF,
                AccountAction::Disable => detail::CANNOT_DISABLE_SELF,
                AccountAction::ChangeSuperuserStatus => detail::CANNOT_CHANGE_OWN_SUPERUSER,
            }),
            AccountActionError::UserNotFound => Self::not_found(detail::USER_NOT_FOUND),
            AccountActionError::LastSuperuser => Self::bad_request(detail::LAST_SUPERUSER),
            AccountActionError::Port(e) => e.into(),
        }
    }
}

impl From<CreateRoleError> for ApiError {
    fn from(error: CreateRoleError) -> Self {
        match error {
            CreateRoleError::NotSuperuser => NotSuperuser.into(),
            CreateRoleError::RoleExists => Self::bad_request(detail::ROLE_EXISTS),
            CreateRoleError::Port(e) => e.into(),
        }
    }
}

impl From<DeleteRoleError> for ApiError {
    fn from(error: DeleteRoleError) -> Self {
        match error {
            DeleteRoleError::NotSuperuser => NotSuperuser.into(),
            DeleteRoleError::RoleNotFound => Self::not_found(detail::ROLE_NOT_FOUND),
            DeleteRoleError::Port(e) => e.into(),
        }
    }
}

impl From<AssignRolesError> for ApiError {
    fn from(error: AssignRolesError) -> Self {
        match error {
            AssignRolesError::NotSuperuser => NotSuperuser.into(),
            AssignRolesError::UserNotFound => Self::not_found(detail::USER_NOT_FOUND),
            AssignRolesError::UnknownRoles(ids) => {
                let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
                Self::unprocessable(format!("role_ids: unknown role ids: {}", ids.join(", ")))
            }
            AssignRolesError::Port(e) => e.into(),
        }
    }
}

impl From<SendError> for ApiError {
    fn from(error: SendError) -> Self {
        match error {
            SendError::Authentication(e) => e.into(),
            SendError::RecipientNotFound => Self::not_found(detail::RECIPIENT_NOT_FOUND),
            SendError::ParentNotFound => Self::not_found(detail::PARENT_NOT_FOUND),
            SendError::NotAParticipant => Self::forbidden(detail::NOT_A_PARTICIPANT),
            SendError::Assistant(e) => e.into(),
            SendError::Port(e) => e.into(),
        }
    }
}

impl From<GetMessageError> for ApiError {
    fn from(error: GetMessageError) -> Self {
        match error {
            GetMessageError::NotFound => Self::not_found(detail::MESSAGE_NOT_FOUND),
            GetMessageError::NoAccess => Self::forbidden(detail::MESSAGE_NO_ACCESS),
            GetMessageError::Port(e) => e.into(),
        }
    }
}

impl From<EditMessageError> for ApiError {
    fn from(error: EditMessageError) -> Self {
        match error {
            EditMessageError::NotFound => Self::not_found(detail::MESSAGE_NOT_FOUND),
            EditMessageError::NotSender => Self::forbidden(detail::NOT_SENDER),
            EditMessageError::Port(e) => e.into(),
        }
    }
}

impl From<MarkReadError> for ApiError {
    fn from(error: MarkReadError) -> Self {
        match error {
            MarkReadError::NotFound => Self::not_found(detail::MESSAGE_NOT_FOUND),
            MarkReadError::NotRecipient => Self::forbidden(detail::NOT_RECIPIENT),
            MarkReadError::Port(e) => e.into(),
        }
    }
}

impl From<OpenStreamError> for ApiError {
    fn from(error: OpenStreamError) -> Self {
        match error {
            OpenStreamError::TooManyStreams(_) => Self::too_many(
                detail::TOO_MANY_STREAMS,
                std::time::Duration::from_secs(STREAM_RETRY_SECONDS),
            ),
            OpenStreamError::ShuttingDown => Self::Unavailable(
                super::body(detail::SHUTTING_DOWN),
                STREAM_RETRY_SECONDS.to_string(),
            ),
            OpenStreamError::Port(e) => e.into(),
        }
    }
}

impl From<AskError> for ApiError {
    fn from(error: AskError) -> Self {
        match error {
            AskError::NotConfigured => Self::Unavailable(
                super::body(detail::ASSISTANT_NOT_CONFIGURED),
                ASSISTANT_RETRY_SECONDS.to_string(),
            ),
            AskError::ReplyInFlight => Self::too_many(
                detail::ASSISTANT_REPLY_IN_FLIGHT,
                std::time::Duration::from_secs(ASSISTANT_RETRY_SECONDS),
            ),
            AskError::Saturated => Self::Unavailable(
                super::body(detail::ASSISTANT_BUSY),
                ASSISTANT_RETRY_SECONDS.to_string(),
            ),
            AskError::NotAParticipant => Self::forbidden(detail::NOT_A_PARTICIPANT),
            AskError::QuestionDeleted => Self::not_found(detail::MESSAGE_NOT_FOUND),
            AskError::Authentication(e) => e.into(),
            AskError::Port(e) => e.into(),
        }
    }
}

/// Seconds a client waits before asking the assistant again after a 429 or 503.
const ASSISTANT_RETRY_SECONDS: u64 = 2;

/// Seconds a client waits before opening a stream again after a 429 or 503.
const STREAM_RETRY_SECONDS: u64 = 5;

impl From<DeleteMessageError> for ApiError {
    fn from(error: DeleteMessageError) -> Self {
        match error {
            DeleteMessageError::NotFound => Self::not_found(detail::MESSAGE_NOT_FOUND),
            DeleteMessageError::NotAParty => Self::forbidden(detail::NO_DELETE_PERMISSION),
            DeleteMessageError::Port(e) => e.into(),
        }
    }
}

impl From<GetReportError> for ApiError {
    fn from(error: GetReportError) -> Self {
        match error {
            GetReportError::NotFound => Self::not_found(detail::REPORT_NOT_FOUND),
            GetReportError::NotAuthorized => Self::forbidden(detail::REPORT_NOT_VISIBLE),
            GetReportError::Port(e) => e.into(),
        }
    }
}

impl From<CreateReportError> for ApiError {
    fn from(error: CreateReportError) -> Self {
        match error {
            CreateReportError::Authentication(e) => e.into(),
            CreateReportError::TooMany { max, retry_after } => Self::too_many(
                format!("Report limit reached: at most {max} reports an hour, retry later"),
                retry_after
                    .to_std()
                    .unwrap_or(std::time::Duration::from_secs(1)),
            ),
            CreateReportError::Port(e) => e.into(),
        }
    }
}

impl From<EditReportError> for ApiError {
    fn from(error: EditReportError) -> Self {
        match error {
            EditReportError::NotFound => Self::not_found(detail::REPORT_NOT_FOUND),
            EditReportError::NotAuthorized => Self::forbidden(detail::REPORT_NOT_EDITABLE),
            EditReportError::NotOpen => Self::bad_request(detail::REPORT_NOT_OPEN),
            EditReportError::Authentication(e) => e.into(),
            EditReportError::Port(e) => e.into(),
        }
    }
}

impl From<AnswerReportError> for ApiError {
    fn from(error: AnswerReportError) -> Self {
        match error {
            AnswerReportError::NotSuperuser(e) => e.into(),
            AnswerReportError::NotFound => Self::not_found(detail::REPORT_NOT_FOUND),
            AnswerReportError::Authentication(e) => e.into(),
            AnswerReportError::Port(e) => e.into(),
        }
    }
}

impl From<ListAllReportsError> for ApiError {
    fn from(error: ListAllReportsError) -> Self {
        match error {
            ListAllReportsError::NotSuperuser(e) => e.into(),
            ListAllReportsError::Port(e) => e.into(),
        }
    }
}
