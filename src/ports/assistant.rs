//! The language model behind the AI assistant.

use async_trait::async_trait;

use crate::domain::{ChatTurn, ReportView};

/// What the model is asked: the system prompt, then the turns in order (the last one is the
/// user's new message), the tools it may call, and the calls it made for this answer so far
/// with their results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssistantPrompt {
    pub system: String,
    pub turns: Vec<ChatTurn>,
    /// Empty: plain chat.
    pub tools: Vec<Tool>,
    pub exchanges: Vec<ToolExchange>,
}

/// What an adapter may add around each piece of text it sends (a message's role and keys, a
/// call's id and type, a result's or a report's field names, its numbers and dates).
pub const FRAMING_BYTES: usize = 256;

/// The bytes `text` takes at most in a request: each character at its longest escaped form,
/// escaped twice (a tool's result is JSON carried inside a JSON string), so a control
/// character counts 7 bytes (`\\u0001`) and a quote or backslash 4.
pub fn text_size(text: &str) -> usize {
    text.chars()
        .map(|c| match c {
            c if (c as u32) < 0x20 => 7,
            '"' | '\\' => 4,
            c => c.len_utf8(),
        })
        .sum()
}

impl AssistantPrompt {
    /// At most what the prompt takes in a request, framing included; an adapter's request is
    /// at most this plus its own fixed parts (the tools it describes, the model's name). The
    /// assistant bounds it (`AI_MAX_PROMPT_BYTES`).
    pub fn size(&self) -> usize {
        let turns: usize = self
            .turns
            .iter()
            .map(|turn| FRAMING_BYTES + text_size(&turn.content))
            .sum();
        let exchanges: usize = self.exchanges.iter().map(ToolExchange::size).sum();
        FRAMING_BYTES + text_size(&self.system) + turns + exchanges
    }
}

impl ToolExchange {
    /// At most what the round takes in a request: the calls given back, then their results.
    pub fn size(&self) -> usize {
        let calls: usize = self.calls.iter().map(ToolCall::size).sum();
        let results: usize = self.results.iter().map(ToolOutcome::size).sum();
        FRAMING_BYTES + calls + results
    }
}

impl ToolCall {
    /// At most what the call takes when given back to the model.
    pub fn size(&self) -> usize {
        FRAMING_BYTES + text_size(&self.id) + text_size(&self.name) + text_size(&self.arguments)
    }
}

impl ToolOutcome {
    /// At most what the result takes in a request (its call's id included).
    pub fn size(&self) -> usize {
        FRAMING_BYTES
            + match self {
                Self::Reports { reports, .. } => reports.iter().map(report_size).sum(),
                Self::Report(view) => report_size(view),
                Self::Refused(reason) => text_size(reason),
            }
    }
}

/// At most what one report takes in a tool's result.
pub fn report_size(view: &ReportView) -> usize {
    let report = &view.report;
    let names = [&view.reporter_username, &view.resolver_username]
        .into_iter()
        .flatten()
        .map(|name| text_size(name.as_str()))
        .sum::<usize>();
    FRAMING_BYTES
        + text_size(report.title.as_str())
        + text_size(report.content.as_str())
        + report.comment.as_ref().map_or(0, |c| text_size(c.as_str()))
        + names
}

/// What the model answered: its reply, or tools to call before it replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelReply {
    Text(String),
    ToolCalls(Vec<ToolCall>),
}

/// The tools the assistant offers the model: the user's facility reports, used as the user
/// who is talking, under the rules of the HTTP routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    GetMyReports,
    GetReport,
    CreateReport,
    UpdateReport,
}

impl Tool {
    pub const ALL: [Tool; 4] = [
        Self::GetMyReports,
        Self::GetReport,
        Self::CreateReport,
        Self::UpdateReport,
    ];

    /// The function name the model calls.
    pub const fn name(self) -> &'static str {
        match self {
            Self::GetMyReports => "get_my_reports",
            Self::GetReport => "get_report",
            Self::CreateReport => "create_report",
            Self::UpdateReport => "update_report",
        }
    }

    pub const fn description(self) -> &'static str {
        match self {
            Self::GetMyReports => {
                "List the user's facility reports, newest first, optionally only those in one \
                 status (open, in_progress or resolved)."
            }
            Self::GetReport => "Show one of the user's facility reports by its id.",
            Self::CreateReport => {
                "File a new facility report for the user: a short title (at most 255 \
                 characters) and what is wrong, and where."
            }
            Self::UpdateReport => {
                "Change the title or the content of one of the user's reports while it is \
                 still open."
            }
        }
    }

    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|tool| tool.name() == name)
    }
}

/// A tool call as the model made it. `request` is its arguments read (by the adapter, which
/// knows their encoding), or why they could not be: an unknown tool, arguments that do not
/// parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The model's id for the call, quoted back with its result.
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them, given back to it with the call.
    pub arguments: String,
    pub request: Result<ToolRequest, String>,
}

/// What a tool call asks, its arguments typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolRequest {
    GetMyReports {
        status: Option<String>,
    },
    GetReport {
        report_id: i64,
    },
    CreateReport {
        title: String,
        content: String,
    },
    UpdateReport {
        report_id: i64,
        title: Option<String>,
        content: Option<String>,
    },
}

/// The result of a tool call, given back to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolOutcome {
    /// The user's reports, newest first, their texts maybe cut to keep the result within its
    /// bound; `omitted` more were left off for it.
    Reports {
        reports: Vec<ReportView>,
        omitted: usize,
    },
    Report(ReportView),
    /// Not done, and why (the user may not, the report does not exist, bad arguments…).
    Refused(String),
}

/// One round of tool calls and their results, in the order the model made them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolExchange {
    pub calls: Vec<ToolCall>,
    pub results: Vec<ToolOutcome>,
}

/// Why the model gave no reply. The texts never hold the API key or the user's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssistantError {
    #[error("the model service could not be reached: {0}")]
    Unreachable(String),
    /// The service answered with an error status (its body is not kept: it may echo the
    /// prompt).
    #[error("the model service answered {0}")]
    Status(u16),
    #[error("the model did not answer within {0} s")]
    Timeout(u64),
    #[error("the model's answer could not be read: {0}")]
    Malformed(String),
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Assistant: Send + Sync {
    /// The model's answer: its reply, or tool calls (only of `prompt.tools`; a model that
    /// cannot call tools answers plain text). When `deltas` is given, the reply's text is
    /// also sent there piece by piece as the model produces it (their concatenation is the
    /// reply).
    async fn reply(
        &self,
        prompt: AssistantPrompt,
        deltas: Option<ReplyPieces>,
    ) -> Result<ModelReply, AssistantError>;
}

/// Where the pieces of a reply go as the model produces them.
pub struct ReplyPieces(Box<dyn Fn(String) + Send + Sync>);

impl ReplyPieces {
    pub fn new(take: impl Fn(String) + Send + Sync + 'static) -> Self {
        Self(Box::new(take))
    }

    /// Passes one piece on; the pieces' concatenation is the reply.
    pub fn send(&self, piece: String) {
        (self.0)(piece)
    }
}

impl std::fmt::Debug for ReplyPieces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplyPieces")
    }
}
