//! `JsonReply<T>`: a JSON response written straight by serde.
//!
//! poem-openapi's `Json<T>` first builds a `serde_json::Value` tree (a map with owned keys
//! per object) and then serialises that; for a page of messages the tree costs more than the
//! rest of the request. The hot lists answer with this instead. The schema in the document
//! is still `T`'s, and a test per type checks that serde writes what `ToJSON` would.

use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::Serialize;

/// The content type poem-openapi's `Json<T>` answers with.
const JSON: &str = "application/json; charset=utf-8";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonReply<T>(pub T);

impl<T: Type + Send> Payload for JsonReply<T> {
    const CONTENT_TYPE: &'static str = JSON;

    fn check_content_type(content_type: &str) -> bool {
        content_type.starts_with("application/json")
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Serialize + Send> IntoResponse for JsonReply<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder().content_type(JSON).body(body),
            // Only a map with non-string keys fails to serialise; no response type has one.
            Err(error) => Response::builder()
                .status(poem::http::StatusCode::INTERNAL_SERVER_ERROR)
                .body(error.to_string()),
        }
    }
}

impl<T: Type + Serialize + Send> ApiResponse for JsonReply<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: JSON,
                    schema: T::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::{ConversationOut, MessageOut};
    use crate::time::UtcTime;
    use chrono::{TimeZone, Utc};
    use poem_openapi::types::ToJSON;

    fn at(second: u32) -> UtcTime {
        UtcTime(Utc.with_ymd_and_hms(2026, 11, 27, 9, 30, second).unwrap())
    }

    fn message(parent_id: Option<i64>, conversation_id: Option<&str>) -> MessageOut {
        MessageOut {
            id: 7,
            sender_id: 1,
            recipient_id: -1,
            content: "quote \" backslash \\ line\nend é 🙂".into(),
            is_read: true,
            parent_id,
            conversation_id: conversation_id.map(str::to_string),
            created_at: at(1),
            updated_at: at(2),
        }
    }

    /// serde and poem-openapi must write the same document, absent fields as `null`.
    fn assert_same<T: Serialize + ToJSON>(value: &T) {
        assert_eq!(
            serde_json::to_value(value).unwrap(),
            value.to_json().unwrap()
        );
    }

    #[test]
    fn messages_are_written_as_the_schema_says() {
        assert_same(&message(Some(3), Some("conv_1_2")));
        assert_same(&message(None, None));
        assert_same(&vec![message(None, Some("c")), message(Some(1), None)]);
    }

    #[test]
    fn conversations_are_written_as_the_schema_says() {
        assert_same(&vec![ConversationOut {
            conversation_id: "conv_1_2".into(),
            other_user_id: 2,
            other_user_name: "Unknown".into(),
            last_message: "hi".into(),
            last_message_at: at(3),
            unread_count: 4,
        }]);
    }

    #[test]
    fn the_response_is_json_with_the_usual_content_type() {
        let response = JsonReply(vec![message(None, None)]).into_response();
        assert_eq!(response.status(), 200);
        assert_eq!(response.content_type(), Some(JSON));
    }
}
