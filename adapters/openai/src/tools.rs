//! Tool calling in Chat Completions' words: the `tools` on offer with their JSON Schemas, the
//! `tool_calls` the model makes (assembled from streamed pieces, their arguments read), and
//! the `tool` messages that give it the results.

use ai_message_core::ReportView;
use ai_message_core::ports::{
    AssistantError, Tool, ToolCall, ToolExchange, ToolOutcome, ToolRequest,
};
use serde_json::{Value, json};

/// A model's tool calls beyond this many in one answer are refused as malformed while they
/// are read (a bound on memory; how many may run is the core's `AI_MAX_TOOL_CALLS`, at most
/// this).
pub const MAX_CALLS: usize = 64;
/// One call's arguments (with its id and name) beyond this many bytes are refused as
/// malformed.
const MAX_ARGUMENT_BYTES: usize = 256 * 1024;

/// The JSON Schema of a tool's arguments.
fn parameters(tool: Tool) -> Value {
    let report_id = json!({"type": "integer", "description": "The report's id."});
    let title = json!({"type": "string", "maxLength": 255, "description": "A short title."});
    let content = json!({"type": "string", "description": "What is wrong, and where."});
    match tool {
        Tool::GetMyReports => json!({
            "type": "object",
            "properties": {"status": {
                "type": "string",
                "enum": ["open", "in_progress", "resolved"],
                "description": "Only reports in this status."
            }},
        }),
        Tool::GetReport => json!({
            "type": "object",
            "properties": {"report_id": report_id},
            "required": ["report_id"],
        }),
        Tool::CreateReport => json!({
            "type": "object",
            "properties": {"title": title, "content": content},
            "required": ["title", "content"],
        }),
        Tool::UpdateReport => json!({
            "type": "object",
            "properties": {"report_id": report_id, "title": title, "content": content},
            "required": ["report_id"],
        }),
    }
}

/// The `tools` of a request.
pub(crate) fn offered(tools: &[Tool]) -> Value {
    tools
        .iter()
        .map(|tool| {
            json!({
                "type": "function",
                "function": {
                    "name": tool.name(),
                    "description": tool.description(),
                    "parameters": parameters(*tool),
                }
            })
        })
        .collect()
}

/// Appends each round of calls (the assistant's message) and their results (one `tool`
/// message per call).
pub(crate) fn add_exchanges(messages: &mut Vec<Value>, exchanges: &[ToolExchange]) {
    for exchange in exchanges {
        let calls: Vec<Value> = exchange
            .calls
            .iter()
            .map(|call| {
                json!({
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                })
            })
            .collect();
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": calls}));
        for (call, result) in exchange.calls.iter().zip(&exchange.results) {
            messages.push(json!({
                "role": "tool",
                "tool_call_id": call.id,
                "content": outcome(result).to_string(),
            }));
        }
    }
}

fn report(view: &ReportView) -> Value {
    let report = &view.report;
    json!({
        "id": report.id.get(),
        "title": report.title.as_str(),
        "content": report.content.as_str(),
        "status": report.status.as_str(),
        "comment": report.comment.as_ref().map(|c| c.as_str()),
        "reporter_username": view.reporter_username.as_ref().map(|n| n.as_str()),
        "resolver_username": view.resolver_username.as_ref().map(|n| n.as_str()),
        "created_at": report.created_at.to_rfc3339(),
        "resolved_at": report.resolved_at.map(|t| t.to_rfc3339()),
    })
}

fn outcome(result: &ToolOutcome) -> Value {
    match result {
        ToolOutcome::Reports { reports, omitted } => json!({
            "reports": reports.iter().map(report).collect::<Vec<_>>(),
            "shown": reports.len(),
            "omitted": omitted,
        }),
        ToolOutcome::Report(view) => json!({"report": report(view)}),
        ToolOutcome::Refused(reason) => json!({"error": reason}),
    }
}

/// A call's arguments, read for its tool.
fn request(tool: Tool, arguments: &str) -> Result<ToolRequest, String> {
    let arguments: Value = if arguments.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(arguments).map_err(|e| format!("the arguments are not JSON: {e}"))?
    };
    let text = |key: &str| arguments[key].as_str().map(str::to_string);
    let needed = |key: &str| text(key).ok_or_else(|| format!("{key}: text is needed"));
    let report_id = || {
        let value = &arguments["report_id"];
        value
            .as_i64()
            .or_else(|| value.as_str()?.trim().parse().ok())
            .ok_or_else(|| "report_id: a whole number is needed".to_string())
    };
    Ok(match tool {
        Tool::GetMyReports => ToolRequest::GetMyReports {
            status: text("status"),
        },
        Tool::GetReport => ToolRequest::GetReport {
            report_id: report_id()?,
        },
        Tool::CreateReport => ToolRequest::CreateReport {
            title: needed("title")?,
            content: needed("content")?,
        },
        Tool::UpdateReport => ToolRequest::UpdateReport {
            report_id: report_id()?,
            title: text("title"),
            content: text("content"),
        },
    })
}

/// Tool calls as they arrive, by their index in the answer.
#[derive(Default)]
pub(crate) struct CallsUnderWay {
    calls: Vec<(String, String, String)>,
}

impl CallsUnderWay {
    /// Adds a call, or a piece of one (`id` and `name` come once, `arguments` in pieces).
    pub(crate) fn add(&mut self, index: usize, piece: &Value) {
        if index > MAX_CALLS.max(self.calls.len()) {
            return;
        }
        while self.calls.len() <= index {
            self.calls.push(Default::default());
        }
        let (id, name, arguments) = &mut self.calls[index];
        if let Some(piece) = piece["id"].as_str() {
            id.push_str(piece);
        }
        if let Some(piece) = piece["function"]["name"].as_str() {
            name.push_str(piece);
        }
        if let Some(piece) = piece["function"]["arguments"].as_str() {
            arguments.push_str(piece);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Refuses an answer that makes too many calls or too long arguments.
    pub(crate) fn check_size(&self) -> Result<(), AssistantError> {
        if self.calls.len() > MAX_CALLS {
            return Err(AssistantError::Malformed(format!(
                "over {MAX_CALLS} tool calls in one answer"
            )));
        }
        // The id and name count too: they come in pieces like the arguments.
        if self.calls.iter().any(|(id, name, arguments)| {
            id.len() + name.len() + arguments.len() > MAX_ARGUMENT_BYTES
        }) {
            return Err(AssistantError::Malformed(format!(
                "tool call arguments over {MAX_ARGUMENT_BYTES} bytes"
            )));
        }
        Ok(())
    }

    /// The calls, each with its arguments read (or why they could not be).
    pub(crate) fn finish(self) -> Vec<ToolCall> {
        self.calls
            .into_iter()
            .enumerate()
            .map(|(index, (id, name, arguments))| {
                let id = if id.is_empty() {
                    format!("call_{index}")
                } else {
                    id
                };
                let request = match Tool::named(&name) {
                    Some(tool) => request(tool, &arguments),
                    None => Err(format!("there is no tool named {name:?}")),
                };
                ToolCall {
                    id,
                    name,
                    arguments,
                    request,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_pieces_make_whole_calls_with_their_arguments_read() {
        let mut calls = CallsUnderWay::default();
        calls.add(0, &json!({"id": "call_a", "function": {"name": "create_report", "arguments": "{\"title\": \"Li"}}));
        calls.add(
            0,
            &json!({"function": {"arguments": "ft\", \"content\": \"Stuck\"}"}}),
        );
        calls.add(1, &json!({"id": "call_b", "function": {"name": "get_report", "arguments": "{\"report_id\": \"7\"}"}}));
        calls.add(
            2,
            &json!({"id": "call_c", "function": {"name": "drop_tables", "arguments": "{}"}}),
        );
        calls.add(
            3,
            &json!({"id": "call_d", "function": {"name": "get_report", "arguments": "{not json"}}),
        );
        let calls = calls.finish();
        assert_eq!(
            calls[0].request,
            Ok(ToolRequest::CreateReport {
                title: "Lift".into(),
                content: "Stuck".into()
            })
        );
        assert_eq!(calls[0].id, "call_a");
        assert_eq!(
            calls[1].request,
            Ok(ToolRequest::GetReport { report_id: 7 })
        );
        assert_eq!(
            calls[2].request,
            Err("there is no tool named \"drop_tables\"".to_string())
        );
        assert!(
            calls[3]
                .request
                .as_ref()
                .unwrap_err()
                .starts_with("the arguments are not JSON")
        );
    }

    /// A non-streamed answer gives its calls in order, each at the next index: past the
    /// bound they are refused, not gathered.
    #[test]
    fn calls_added_one_after_another_past_the_bound_are_refused() {
        let mut calls = CallsUnderWay::default();
        let call = json!({"id": "c", "function": {"name": "create_report", "arguments": "{}"}});
        for index in 0..MAX_CALLS {
            calls.add(index, &call);
        }
        assert!(calls.check_size().is_ok());
        calls.add(MAX_CALLS, &call);
        assert!(calls.check_size().is_err());
    }

    #[test]
    fn every_tool_is_offered_with_an_object_schema() {
        let offered = offered(&Tool::ALL);
        let names: Vec<&str> = offered
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "get_my_reports",
                "get_report",
                "create_report",
                "update_report"
            ]
        );
        for tool in offered.as_array().unwrap() {
            assert_eq!(tool["function"]["parameters"]["type"], "object");
        }
    }
}
