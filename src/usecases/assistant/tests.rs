use super::*;
use crate::ports::MockAssistant;
use crate::usecases::test_support::*;
use mockall::predicate::always;

fn chat(mocks: Mocks, model: Option<MockAssistant>, max_concurrency: usize) -> AssistantChat {
    let ports = Ports {
        assistant: model.map(|m| Arc::new(m) as Arc<dyn Assistant>),
        ..mocks.into_ports()
    };
    AssistantChat::new(
        &ports,
        AssistantSettings {
            max_concurrency,
            history_max: 10,
            ..AssistantSettings::default()
        },
    )
}

/// Storage that echoes inserts (ids from 10) and holds no earlier turns.
fn storage_echoing(mocks: &mut Mocks) {
    mocks.without_assistant_history();
    mocks.sends_answer(|_| None);
    mocks.replies_stored_as(10);
}

#[tokio::test]
async fn without_a_model_nothing_is_asked_or_stored() {
    let mut mocks = Mocks::new();
    mocks.messages.expect_store_reply().never();
    mocks.messages.expect_send_message().never();
    let chat = chat(mocks, None, 8);
    let err = chat
        .ask(&caller(1), MessageContent::parse("hi").unwrap(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, AskError::NotConfigured));
}

#[tokio::test]
async fn one_reply_at_a_time_per_user_and_a_bound_on_model_calls() {
    let chat = chat(Mocks::new(), Some(MockAssistant::new()), 2);
    let first = chat.reserve(uid(1)).unwrap();
    assert!(matches!(chat.reserve(uid(1)), Err(AskError::ReplyInFlight)));
    let _second_user = chat.reserve(uid(2)).unwrap();
    assert!(
        matches!(chat.reserve(uid(3)), Err(AskError::Saturated)),
        "two model calls at most"
    );
    drop(first);
    assert!(chat.reserve(uid(1)).is_ok(), "both places are free again");
}

#[tokio::test]
async fn a_model_error_or_an_empty_answer_stores_the_fallback_reply() {
    for outcome in [
        Err(AssistantError::Status(500)),
        Err(AssistantError::Timeout(60)),
        Ok("   ".to_string()),
    ] {
        let mut mocks = Mocks::new();
        storage_echoing(&mut mocks);
        let mut model = MockAssistant::new();
        model
            .expect_reply()
            .with(always(), always())
            .times(1)
            .returning(move |_, _| outcome.clone().map(ModelReply::Text));
        let reply = chat(mocks, Some(model), 8)
            .ask(&caller(1), MessageContent::parse("hi").unwrap(), None)
            .await
            .unwrap();
        assert_eq!(reply.content, FALLBACK_REPLY);
        assert_eq!(reply.sender_id, UserId::ASSISTANT);
        assert_eq!(reply.recipient_id, uid(1));
    }
}

#[tokio::test]
async fn the_model_gets_the_system_prompt_and_the_turns_in_order() {
    let mut mocks = Mocks::new();
    mocks
        .messages
        .expect_assistant_clear_point()
        .returning(|_| Ok(Some(mid(4))));
    mocks
        .messages
        .expect_messages_between()
        .withf(|a, b, after, limit| {
            *a == uid(1) && *b == UserId::ASSISTANT && *after == mid(4) && *limit == 10
        })
        .returning(|_, _, _, _| {
            let mut question = sample_message(5, 1, -1);
            question.content = MessageContent::parse("question").unwrap();
            let mut answer = sample_message(6, -1, 1);
            answer.content = MessageContent::parse("answer").unwrap();
            Ok(vec![question, answer])
        });
    mocks.replies_stored_as(7);
    let mut model = MockAssistant::new();
    model
        .expect_reply()
        .withf(|prompt, _| {
            prompt.system == AssistantSettings::default().system_prompt
                && prompt.turns
                    == vec![
                        ChatTurn {
                            role: ChatRole::User,
                            content: "question".into(),
                        },
                        ChatTurn {
                            role: ChatRole::Assistant,
                            content: "answer".into(),
                        },
                    ]
        })
        .times(1)
        .returning(|_, _| Ok(ModelReply::Text("fine".into())));
    let chat = chat(mocks, Some(model), 8);
    let slot = chat.reserve(uid(1)).unwrap();
    chat.answer(slot, &sample_message(5, 1, -1)).await.unwrap();
}

#[tokio::test]
async fn a_question_another_instance_claimed_is_not_put_to_the_model() {
    let mut mocks = Mocks::new();
    mocks
        .messages
        .expect_claim_question()
        .withf(|question, now, until| {
            *question == mid(5)
                && *now == fixed_now()
                && *until - *now
                    == chrono::Duration::from_std(AssistantSettings::default().forgotten_after)
                        .unwrap()
        })
        .times(1)
        .returning(|_, _, _| Ok(false));
    mocks.messages.expect_store_reply().never();
    let mut model = MockAssistant::new();
    model.expect_reply().never();
    let chat = chat(mocks, Some(model), 8);
    let slot = chat.reserve(uid(1)).unwrap();
    let answer = chat.answer(slot, &sample_message(5, 1, -1)).await.unwrap();
    assert_eq!(answer, None);
    assert!(
        chat.reserve(uid(1)).is_ok(),
        "the reply's place is free again"
    );
}

#[tokio::test]
async fn a_reply_stored_second_is_dropped_unannounced() {
    let mut mocks = Mocks::new();
    mocks.without_assistant_history();
    mocks
        .messages
        .expect_claim_question()
        .returning(|_, _, _| Ok(true));
    mocks
        .messages
        .expect_store_reply()
        .times(1)
        .returning(|_, _| Ok(None));
    let events = mocks.events.clone();
    let mut model = MockAssistant::new();
    model
        .expect_reply()
        .times(1)
        .returning(|_, _| Ok(ModelReply::Text("late".into())));
    let chat = chat(mocks, Some(model), 8);
    let slot = chat.reserve(uid(1)).unwrap();
    let answer = chat.answer(slot, &sample_message(5, 1, -1)).await.unwrap();
    assert_eq!(answer, None);
    assert!(
        !events
            .published()
            .iter()
            .any(|event| matches!(event, DomainEvent::Message(_))),
        "nothing is announced"
    );
}

#[tokio::test]
async fn a_model_answer_past_the_tool_call_cap_runs_none_of_its_calls() {
    let mut mocks = Mocks::new();
    storage_echoing(&mut mocks);
    mocks.reports.expect_create_report().never();
    let calls: Vec<ToolCall> = (0..17)
        .map(|i| ToolCall {
            id: format!("call_{i}"),
            name: "create_report".into(),
            arguments: String::new(),
            request: Ok(ToolRequest::CreateReport {
                title: format!("Report {i}"),
                content: "broken".into(),
            }),
        })
        .collect();
    let mut model = MockAssistant::new();
    model
        .expect_reply()
        .times(1)
        .returning(move |_, _| Ok(ModelReply::ToolCalls(calls.clone())));
    let reply = chat(mocks, Some(model), 8)
        .ask(&caller(1), MessageContent::parse("file 17").unwrap(), None)
        .await
        .unwrap();
    assert_eq!(reply.content, FALLBACK_REPLY);
}

#[tokio::test]
async fn a_reply_to_a_question_deleted_meanwhile_is_dropped() {
    let mut mocks = Mocks::new();
    mocks.without_assistant_history();
    mocks.sends_answer(|_| None);
    mocks.messages.expect_create_message().never();
    mocks
        .messages
        .expect_claim_question()
        .returning(|_, _, _| Ok(true));
    mocks.messages.expect_get_message().returning(|_| Ok(None));
    mocks
        .messages
        .expect_store_reply()
        .times(1)
        .returning(|_, _| Ok(None));
    let events = mocks.events.clone();
    let mut model = MockAssistant::new();
    model
        .expect_reply()
        .returning(|_, _| Ok(ModelReply::Text("too late".into())));
    let chat = chat(mocks, Some(model), 8);
    let err = chat
        .ask(&caller(1), MessageContent::parse("hi").unwrap(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, AskError::QuestionDeleted), "{err:?}");
    assert!(
        !events.published().iter().any(|event| matches!(
            event,
            DomainEvent::Message(MessageEvent::Created { sender_id, .. }) if sender_id.is_assistant()
        )),
        "no reply is announced"
    );
    assert!(
        chat.reserve(uid(1)).is_ok(),
        "the reply's place is given back"
    );
}

/// Twenty reports of 65,536 control characters (7 bytes each in a request at worst) and
/// rounds of `get_my_reports`: every prompt the model is given, held in memory and sent,
/// stays within `max_prompt_bytes`, each result within `max_tool_result_bytes`.
#[tokio::test]
async fn tool_results_and_the_whole_prompt_stay_within_their_bounds() {
    let mut mocks = Mocks::new();
    storage_echoing(&mut mocks);
    mocks
        .users
        .expect_get_user()
        .returning(|id| Ok(Some(sample_user(id.get()))));
    mocks.reports.expect_list_reports().returning(|_, _| {
        Ok((0..20)
            .map(|i| {
                let mut view = sample_report_view(i);
                view.report.content = ReportContent::from_storage("\u{1}".repeat(65_536));
                view
            })
            .collect())
    });
    let list_calls = |n: usize| {
        (0..n)
            .map(|i| ToolCall {
                id: format!("call_{i}"),
                name: "get_my_reports".into(),
                arguments: "{}".into(),
                request: Ok(ToolRequest::GetMyReports { status: None }),
            })
            .collect::<Vec<_>>()
    };
    let settings = AssistantSettings {
        max_tool_result_bytes: 16 * 1024,
        max_prompt_bytes: 128 * 1024,
        ..AssistantSettings::default()
    };
    let prompts = Arc::new(Mutex::new(Vec::<AssistantPrompt>::new()));
    let seen = prompts.clone();
    let mut model = MockAssistant::new();
    model.expect_reply().times(3).returning(move |prompt, _| {
        let mut seen = seen.lock().unwrap();
        seen.push(prompt);
        Ok(match seen.len() {
            1 => ModelReply::ToolCalls(list_calls(4)),
            2 => ModelReply::ToolCalls(list_calls(2)),
            _ => ModelReply::Text("You have twenty reports.".into()),
        })
    });
    let ports = Ports {
        assistant: Some(Arc::new(model) as Arc<dyn Assistant>),
        ..mocks.into_ports()
    };
    let reply = AssistantChat::new(&ports, settings.clone())
        .ask(
            &caller(1),
            MessageContent::parse("my reports?").unwrap(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(reply.content, "You have twenty reports.");
    let prompts = prompts.lock().unwrap();
    for prompt in prompts.iter() {
        assert!(
            prompt.size() <= settings.max_prompt_bytes,
            "{} bytes",
            prompt.size()
        );
    }
    let last = prompts.last().unwrap();
    assert_eq!(last.exchanges.len(), 2);
    for result in last.exchanges.iter().flat_map(|e| &e.results) {
        assert!(result.size() <= settings.max_tool_result_bytes);
        let ToolOutcome::Reports { reports, omitted } = result else {
            panic!("a page of reports: {result:?}");
        };
        assert_eq!(reports.len() + omitted, 20, "shown or counted");
        assert!(!reports.is_empty(), "a page shows some");
    }
}

/// The tools act with the user's rights as they are at each round: a superuser demoted while
/// the model thinks reads another user's report in the round before and not in the round
/// after (the account used to be read once per answer).
#[tokio::test]
async fn each_round_of_tools_acts_with_the_users_rights_as_they_are_then() {
    let mut mocks = Mocks::new();
    storage_echoing(&mut mocks);
    let rounds_read = Arc::new(Mutex::new(0));
    let reads = rounds_read.clone();
    mocks.users.expect_get_user().returning(move |id| {
        let mut reads = reads.lock().unwrap();
        *reads += 1;
        let mut user = sample_user(id.get());
        user.is_superuser = *reads == 1;
        Ok(Some(user))
    });
    mocks
        .reports
        .expect_get_report()
        .returning(|id| Ok(Some(sample_report_view(id.get()))));
    let read_report = || {
        vec![ToolCall {
            id: "call_0".into(),
            name: "get_report".into(),
            arguments: r#"{"report_id": 9}"#.into(),
            request: Ok(ToolRequest::GetReport { report_id: 9 }),
        }]
    };
    let prompts = Arc::new(Mutex::new(Vec::<AssistantPrompt>::new()));
    let seen = prompts.clone();
    let mut model = MockAssistant::new();
    model.expect_reply().times(3).returning(move |prompt, _| {
        let mut seen = seen.lock().unwrap();
        seen.push(prompt);
        Ok(match seen.len() {
            1 | 2 => ModelReply::ToolCalls(read_report()),
            _ => ModelReply::Text("Done.".into()),
        })
    });
    let ports = Ports {
        assistant: Some(Arc::new(model) as Arc<dyn Assistant>),
        ..mocks.into_ports()
    };
    // User 2 asks; report 9 is user 1's.
    AssistantChat::new(&ports, AssistantSettings::default())
        .ask(&caller(2), MessageContent::parse("read #9").unwrap(), None)
        .await
        .unwrap();
    let prompts = prompts.lock().unwrap();
    let results: Vec<&ToolOutcome> = prompts[2]
        .exchanges
        .iter()
        .flat_map(|e| &e.results)
        .collect();
    assert!(matches!(results[0], ToolOutcome::Report(_)), "{results:?}");
    assert!(
        matches!(results[1], ToolOutcome::Refused(_)),
        "demoted before the second round: {results:?}"
    );
    assert_eq!(*rounds_read.lock().unwrap(), 2, "read once per round");
}
