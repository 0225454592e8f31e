//! The HTTP contract of `spec/api.md`, end to end through the poem application, written once
//! and run against every storage adapter by [`http_api_tests!`].

mod cases_account;
mod cases_admin;
mod cases_assistant;
mod cases_assistant_tools;
mod cases_hardening;
mod cases_identity;
mod cases_limits;
mod cases_messages;
mod cases_reports;
mod cases_stream;
mod cases_twilio;
pub mod harness;

pub use cases_account::*;
pub use cases_admin::*;
pub use cases_assistant::*;
pub use cases_assistant_tools::*;
pub use cases_hardening::*;
pub use cases_identity::*;
pub use cases_limits::*;
pub use cases_messages::*;
pub use cases_reports::*;
pub use cases_stream::*;
pub use cases_twilio::*;

/// Expands to one `#[tokio::test]` per case. `($factory)().await` gives a fresh storage and a
/// guard that keeps it alive for the test.
#[macro_export]
macro_rules! http_api_tests {
    ($factory:expr) => {
        $crate::http_api_tests!($factory, skip_when $crate::never_skip);
    };
    // `$skip()` true: every case returns at once (PostgreSQL without a server).
    ($factory:expr, skip_when $skip:expr) => {
        $crate::http_api_tests!(@cases $factory; $skip;
            service_routes_answer,
            documentation_is_served,
            unknown_routes_and_methods_answer_json,
            trailing_slashes_redirect_to_the_route_keeping_method_and_query,
            register_returns_the_user_without_secrets,
            register_refuses_taken_names_and_emails,
            register_validates_every_field,
            password_limit_is_72_bytes,
            login_accepts_json_form_and_email,
            login_failures_look_alike,
            login_records_device_and_address,
            missing_or_bad_credentials_are_401,
            authentication_comes_before_validation,
            an_ended_session_is_refused_before_its_input,
            phone_numbers_are_e164_and_unique_everywhere,
            profile_can_be_read_and_updated,
            password_change_ends_other_sessions,
            logout_takes_effect_on_the_next_request,
            logout_with_a_refresh_token_ends_its_session,
            logout_all_ends_every_session,
            sessions_are_listed_and_ended,
            refresh_rotates_tokens,
            refresh_reuse_within_grace_keeps_the_session,
            refresh_reuse_after_grace_ends_the_session,
            refresh_tokens_expire,
            concurrent_refreshes_of_one_token_have_one_winner,
            concurrent_registrations_of_one_name_have_one_winner,
            admin_routes_require_a_superuser,
            admin_lists_and_gets_users,
            unknown_user_ids_are_404_everywhere,
            admin_creates_users,
            admin_deletes_users_but_not_themself,
            disabling_a_user_locks_them_out_at_once,
            superuser_status_by_query_or_body,
            roles_are_created_listed_and_deleted,
            roles_are_assigned_atomically,
            messages_are_sent_with_default_conversations,
            message_content_is_validated,
            replies_need_a_visible_parent,
            only_sender_and_recipient_see_a_message,
            message_lists_show_the_newest_page_in_order,
            unread_count_and_read_all,
            concurrent_sends_are_all_stored,
            conversations_are_summarised,
            conversation_routes_send_and_mark_read,
            no_response_carries_a_hash_or_token_secret,
            lookalike_usernames_are_refused_with_a_reason,
            emails_are_unique_ignoring_case,
            a_username_cannot_pass_for_another_accounts_email,
            a_message_cannot_join_the_conversation_of_two_other_users,
            a_conversation_id_cannot_be_squatted_before_its_pair_talks,
            racing_pairs_for_a_new_conversation_id_leave_it_to_one_pair,
            odd_login_identifiers_are_a_plain_401,
            password_change_guesses_are_throttled_and_end_the_session,
            ipv6_clients_are_limited_per_64,
            duplicate_keys_in_a_json_body_are_refused,
            a_sent_message_reaches_recipient_and_sender_streams,
            edits_receipts_and_deletions_reach_the_right_streams,
            a_resumed_stream_gets_exactly_what_it_missed_then_live_events,
            an_unusable_or_too_old_cursor_resets_the_stream,
            every_message_reaches_a_live_stream_once_under_concurrent_senders,
            a_cursor_beyond_the_newest_is_reset_and_the_stream_stays_live,
            stream_events_match_the_documented_schema,
            revocation_closes_the_sessions_streams,
            streams_per_user_are_limited,
            a_ticket_opens_one_stream_once,
            a_stream_needs_credentials,
            the_assistant_answers_503_when_no_model_is_configured,
            asking_the_assistant_sends_the_history_since_the_last_clear,
            the_history_given_to_the_model_is_capped_and_never_anothers,
            a_failing_or_slow_model_gets_the_fallback_reply,
            a_message_to_the_assistant_is_answered_in_the_background,
            one_question_at_a_time_per_user_and_bounded_model_calls,
            every_send_route_reaches_the_assistant_and_keeps_the_parent,
            a_hostile_model_reply_is_bounded_and_cleaned,
            a_question_deleted_while_the_assistant_thinks_gets_no_reply,
            every_documented_limit_is_the_one_enforced,
            reports_are_filed_and_shown_to_their_reporter_and_superusers,
            a_report_is_edited_by_its_reporter_while_open,
            superusers_answer_move_and_resolve_reports,
            report_lists_filter_by_status_and_page,
            report_titles_and_contents_are_validated,
            reports_go_with_their_reporter_and_keep_their_resolution,
            report_events_reach_the_reporter_and_superusers,
            a_demoted_superusers_stream_stops_hearing_of_others_reports,
            a_chat_files_a_report_that_the_reports_list_shows,
            the_assistant_shows_only_the_callers_reports,
            a_tool_call_on_another_users_report_is_refused_and_changes_nothing,
            report_writes_racing_their_actors_deletion_answer_401_never_500,
            reports_per_hour_are_limited_by_hand_and_by_the_assistant,
            a_report_page_keeps_the_newest_reports_that_fit_in_8_mib,
            a_user_disabled_while_the_assistant_thinks_files_no_report,
            malformed_tool_calls_are_answered_as_errors_and_the_reply_still_arrives,
            a_model_that_calls_tools_forever_gets_the_fallback_reply,
            a_model_without_tools_is_asked_plainly_once_it_refuses_them,
            tool_calls_past_the_cap_are_not_run_on_any_path,
            requests_to_the_model_stay_within_their_byte_bound,
            backups_are_for_superusers_and_name_the_tool_where_the_server_takes_none,
            a_whatsapp_text_is_answered_on_whatsapp_and_the_web_shows_both_turns,
            an_sms_is_answered_by_sms_and_its_form_is_decoded,
            unsigned_forged_and_altered_webhooks_are_refused_and_store_nothing,
            a_retried_message_sid_is_processed_once,
            unknown_and_disabled_numbers_get_the_fixed_reply_and_nothing_is_stored,
            a_long_reply_is_sent_in_parts_within_twilios_limit,
            twilio_failures_are_retried_then_given_up_and_the_reply_stays_stored,
            without_a_token_the_webhook_is_not_served,
            a_bad_webhook_body_is_a_clear_4xx,
            a_webhook_path_of_its_own_is_served_beside_the_default,
            national_numbers_need_a_default_region_and_are_stored_in_e164,
            signed_requests_recut_or_padded_are_refused_and_store_nothing,
            without_a_public_url_a_signature_for_the_requests_host_is_refused,
            a_delivery_whose_idempotency_token_was_taken_is_not_taken_again,
            an_unknown_number_gets_the_fixed_reply_once_a_day,
            copies_of_a_text_without_words_are_answered_once,
            a_squatters_unverified_claim_neither_blocks_the_owner_nor_gets_their_texts,
            wrong_misplaced_and_retried_codes_prove_nothing_more,
            retried_code_texts_are_one_attempt_and_answered_once,
        );
    };
    (@cases $factory:expr; $skip:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if ($skip)() {
                    return;
                }
                let (storage, _guard) = ($factory)().await;
                let server = $crate::http_api::harness::TestServer::new(storage);
                $crate::http_api::$case(server).await;
            }
        )*
    };
}
