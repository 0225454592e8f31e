//! What the model is given stays within bytes: each tool's result within
//! `AI_MAX_TOOL_RESULT_BYTES`, the whole prompt within `AI_MAX_PROMPT_BYTES`, sizes counted
//! as [`AssistantPrompt::size`] counts them (what the text takes at most in a request). A
//! user's reports or history can make them long; the model gets a page that says what was
//! left off, not everything.

use crate::domain::{ReportComment, ReportContent, ReportView};
use crate::ports::{AssistantPrompt, FRAMING_BYTES, ToolOutcome, report_size, text_size};

/// What ends a text cut to fit, so the model knows there was more.
const CUT_MARK: &str = " […]";

/// The least room a tool's result is given: a report's title, names and fields fit in it
/// (255 and 2 × 100 characters at most, each counted at 7 bytes at worst).
pub(super) const MIN_RESULT_BYTES: usize = 4 * 1024;

/// What a report that cannot be shown within its room is answered with.
const TOO_LONG: &str = "the report is too long to show here";

/// Drops the oldest turns until the prompt takes at most `max` bytes; the newest turn (the
/// user's question) stays, cut if even it does not fit.
pub(super) fn fit_turns(prompt: &mut AssistantPrompt, max: usize) {
    let mut size = prompt.size();
    let mut dropped = 0;
    while size > max && prompt.turns.len() - dropped > 1 {
        size -= FRAMING_BYTES + text_size(&prompt.turns[dropped].content);
        dropped += 1;
    }
    prompt.turns.drain(..dropped);
    if size > max
        && let Some(last) = prompt.turns.last_mut()
    {
        let room = (max + text_size(&last.content)).saturating_sub(size);
        last.content = cut(&last.content, room);
    }
}

/// The result within `room` bytes: reports' texts cut, reports left off from the end (and
/// counted), a refusal's reason cut.
pub(super) fn fit_outcome(outcome: ToolOutcome, room: usize) -> ToolOutcome {
    if outcome.size() <= room {
        return outcome;
    }
    let room = room.saturating_sub(FRAMING_BYTES);
    match outcome {
        ToolOutcome::Refused(reason) => ToolOutcome::Refused(cut(&reason, room)),
        ToolOutcome::Report(view) => {
            let view = fit_report(view, room);
            if report_size(&view) <= room {
                ToolOutcome::Report(view)
            } else {
                ToolOutcome::Refused(TOO_LONG.into())
            }
        }
        ToolOutcome::Reports { reports, omitted } => {
            let listed = reports.len();
            let each = room / listed.max(1);
            let mut used = 0;
            let mut shown = Vec::new();
            for view in reports {
                let view = fit_report(view, each);
                let size = report_size(&view);
                if used + size > room {
                    break;
                }
                used += size;
                shown.push(view);
            }
            ToolOutcome::Reports {
                omitted: omitted + listed - shown.len(),
                reports: shown,
            }
        }
    }
}

/// The report with its content and comment cut to take at most `room` bytes, if its other
/// fields leave room for them (the comment keeps at most half of it).
fn fit_report(mut view: ReportView, room: usize) -> ReportView {
    let size = report_size(&view);
    if size <= room {
        return view;
    }
    let report = &mut view.report;
    let content = text_size(report.content.as_str());
    let comment = report.comment.as_ref().map_or(0, |c| text_size(c.as_str()));
    let texts_room = room.saturating_sub(size - content - comment);
    let comment_room = comment.min(texts_room / 2);
    report.content =
        ReportContent::from_storage(cut(report.content.as_str(), texts_room - comment_room));
    if let Some(text) = &report.comment {
        report.comment = Some(ReportComment::from_storage(cut(
            text.as_str(),
            comment_room,
        )));
    }
    view
}

/// `text` within `room` bytes (as [`text_size`] counts), marked when cut.
fn cut(text: &str, room: usize) -> String {
    if text_size(text) <= room {
        return text.to_string();
    }
    let mark = text_size(CUT_MARK);
    if room < mark {
        return String::new();
    }
    let mut used = mark;
    let mut end = 0;
    for (at, c) in text.char_indices() {
        used += text_size(c.encode_utf8(&mut [0; 4]));
        if used > room {
            break;
        }
        end = at + c.len_utf8();
    }
    format!("{}{CUT_MARK}", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChatRole, ChatTurn};
    use crate::usecases::test_support::sample_report_view;

    fn prompt(turns: &[&str]) -> AssistantPrompt {
        AssistantPrompt {
            system: "system".into(),
            turns: turns
                .iter()
                .map(|content| ChatTurn {
                    role: ChatRole::User,
                    content: content.to_string(),
                })
                .collect(),
            tools: Vec::new(),
            exchanges: Vec::new(),
        }
    }

    #[test]
    fn sizes_count_each_character_at_its_longest_escape() {
        assert_eq!(text_size("ab"), 2);
        assert_eq!(text_size("é"), 2);
        assert_eq!(text_size("\u{1}"), 7);
        assert_eq!(text_size("\n\"\\"), 7 + 4 + 4);
    }

    #[test]
    fn a_cut_text_fits_its_room_and_says_it_was_cut() {
        let text = "\u{1}".repeat(1_000);
        let cut_text = cut(&text, 100);
        assert!(text_size(&cut_text) <= 100);
        assert!(cut_text.ends_with(CUT_MARK));
        assert_eq!(cut("short", 100), "short");
        assert_eq!(cut("long enough", 3), "", "no room for the mark");
    }

    #[test]
    fn the_oldest_turns_go_first_and_the_question_is_cut_last() {
        let old = "o".repeat(1_000);
        let mut fitted = prompt(&[&old, &old, "question"]);
        let max = fitted.size() - 500;
        fit_turns(&mut fitted, max);
        assert_eq!(fitted.turns.len(), 2, "one old turn dropped");
        assert!(fitted.size() <= max);

        let mut alone = prompt(&[&"q".repeat(10_000)]);
        fit_turns(&mut alone, 2_000);
        assert!(alone.size() <= 2_000, "{}", alone.size());
        assert!(alone.turns[0].content.ends_with(CUT_MARK));
    }

    #[test]
    fn a_page_of_long_reports_is_cut_and_counts_what_it_left_off() {
        let views: Vec<ReportView> = (0..20)
            .map(|i| {
                let mut view = sample_report_view(i);
                view.report.content = ReportContent::from_storage("\u{1}".repeat(65_536));
                view
            })
            .collect();
        let fitted = fit_outcome(
            ToolOutcome::Reports {
                reports: views,
                omitted: 0,
            },
            16 * 1024,
        );
        assert!(fitted.size() <= 16 * 1024, "{}", fitted.size());
        let ToolOutcome::Reports { reports, omitted } = fitted else {
            panic!("still a page");
        };
        assert_eq!(reports.len() + omitted, 20, "every report shown or counted");
        assert!(!reports.is_empty());
        assert!(reports[0].report.content.as_str().ends_with(CUT_MARK));

        let refused = fit_outcome(ToolOutcome::Refused("x".repeat(10_000)), 4_096);
        assert!(refused.size() <= 4_096);
    }
}
