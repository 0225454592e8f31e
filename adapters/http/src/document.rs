//! The OpenAPI document as served: poem-openapi's, with the corrections it cannot express.

use serde_json::Value;

/// The document as served: poem-openapi's, with what OpenAPI 3.0 requires and poem-openapi
/// leaves out (the `scopes` map of an OAuth2 flow, even when it is empty; `nullable` on
/// optional fields, which the server writes and accepts as `null`), and the configured
/// minimum length of new passwords.
pub fn corrected(spec: &str, password_min_bytes: usize) -> String {
    let Ok(mut document) = serde_json::from_str::<Value>(spec) else {
        return spec.to_string();
    };
    mark_optional_fields_nullable(&mut document);
    state_input_limits(&mut document);
    state_password_minimum(&mut document, password_min_bytes);
    describe_event_stream(&mut document);
    if let Some(schemes) = document
        .pointer_mut("/components/securitySchemes")
        .and_then(Value::as_object_mut)
    {
        for scheme in schemes.values_mut() {
            let Some(flows) = scheme.get_mut("flows").and_then(Value::as_object_mut) else {
                continue;
            };
            for flow in flows.values_mut() {
                if let Some(flow) = flow.as_object_mut() {
                    flow.entry("scopes")
                        .or_insert_with(|| Value::Object(Default::default()));
                }
            }
        }
    }
    serde_json::to_string_pretty(&document).unwrap_or_else(|_| spec.to_string())
}

/// Each event of the live stream and the schema of its `data`, by event name.
pub const STREAM_EVENTS: [(&str, &str); 9] = [
    ("stream.open", "StreamCursorOut"),
    ("stream.reset", "StreamCursorOut"),
    ("message.created", "Message"),
    ("message.updated", "Message"),
    ("message.read", "ReadReceiptOut"),
    ("message.deleted", "DeletedMessageOut"),
    ("assistant.delta", "AssistantDeltaOut"),
    ("report.created", "Report"),
    ("report.updated", "Report"),
];

const STREAM_SCHEMA: &str =
    "/paths/~1messages~1stream/get/responses/200/content/text~1event-stream/schema";

/// Describes `GET /messages/stream` as its bytes are: per event (the `schema` of a
/// `text/event-stream` body is the schema of one event, as OpenAPI 3.2's `itemSchema` and
/// SSE-aware checkers read it), with `event`, `id` and `data` as the strings SSE sends, and
/// `data` a line of JSON whose schema follows from the event's name. poem-openapi can only
/// say "an array of objects", which no client sees on the wire.
fn describe_event_stream(document: &mut Value) {
    use serde_json::json;
    let Some(schema) = document.pointer_mut(STREAM_SCHEMA) else {
        return;
    };
    let names: Vec<&str> = STREAM_EVENTS.iter().map(|(name, _)| *name).collect();
    let variants: Vec<Value> = STREAM_EVENTS
        .iter()
        .map(|(name, data)| {
            json!({
                "type": "object",
                "properties": {
                    "event": {"type": "string", "enum": [name]},
                    "data": {
                        "type": "string",
                        "x-contentMediaType": "application/json",
                        "x-contentSchema": {"$ref": format!("#/components/schemas/{data}")},
                    },
                },
            })
        })
        .collect();
    *schema = json!({
        "type": "object",
        "description": "One server-sent event, as the lines `event:`, `id:` and `data:` \
            carry it. `data` is one line of JSON whose schema depends on `event` \
            (`x-contentSchema`, JSON Schema's `contentSchema`, which OpenAPI 3.0 has no word \
            for): the cursor for `stream.open` and `stream.reset`, the message \
            for `message.created` and `message.updated`, `{\"id\", \"reader_id\"}` for \
            `message.read`, `{\"id\"}` for `message.deleted`, `{\"reply_to\", \"delta\"}` \
            for `assistant.delta`, the report for `report.created` and `report.updated`.",
        "required": ["event", "id", "data"],
        "properties": {
            "event": {"type": "string", "enum": names},
            "id": {
                "type": "string",
                "pattern": "^[0-9]+$",
                "description": "The cursor: resume after this event with `Last-Event-ID`.",
            },
            "data": {
                "type": "string",
                "x-contentMediaType": "application/json",
                "description": "The event's JSON (see `event`).",
            },
            "retry": {"type": "integer"},
        },
        "oneOf": variants,
    });
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.remove("StreamEvent");
        schemas.remove("StreamData");
    }
}

/// The length limits of request body fields: (schema, field, least, most characters; bytes
/// for passwords), read from the domain values that enforce them, so the document cannot
/// state a limit the server does not apply.
pub const BODY_FIELD_LIMITS: [(&str, &str, Option<usize>, usize); 24] = {
    use ai_message_core::*;
    let password = (Some(Password::MIN_BYTES), Password::MAX_BYTES);
    let content = (Some(1), MessageContent::MAX_CHARS);
    let conversation = (Some(1), ConversationId::MAX_CHARS);
    let report_title = (Some(1), ReportTitle::MAX_CHARS);
    let report_content = (Some(1), ReportContent::MAX_CHARS);
    [
        ("RegisterRequest", "username", Some(1), Username::MAX_CHARS),
        ("RegisterRequest", "email", None, Email::MAX_CHARS),
        ("RegisterRequest", "password", password.0, password.1),
        ("RegisterRequest", "full_name", None, FullName::MAX_CHARS),
        (
            "RegisterRequest",
            "phone_number",
            None,
            PhoneNumber::MAX_CHARS,
        ),
        (
            "ProfileUpdateRequest",
            "full_name",
            None,
            FullName::MAX_CHARS,
        ),
        ("ProfileUpdateRequest", "bio", None, Bio::MAX_CHARS),
        (
            "ProfileUpdateRequest",
            "phone_number",
            None,
            PhoneNumber::MAX_CHARS,
        ),
        (
            "PhoneUpdateRequest",
            "phone_number",
            None,
            PhoneNumber::MAX_CHARS,
        ),
        (
            "PasswordChangeRequest",
            "new_password",
            password.0,
            password.1,
        ),
        ("RoleCreateRequest", "name", Some(1), RoleName::MAX_CHARS),
        (
            "RoleCreateRequest",
            "description",
            None,
            RoleDescription::MAX_CHARS,
        ),
        ("MessageCreateRequest", "content", content.0, content.1),
        (
            "MessageCreateRequest",
            "conversation_id",
            conversation.0,
            conversation.1,
        ),
        ("AssistantRequest", "content", content.0, content.1),
        (
            "AssistantRequest",
            "conversation_id",
            conversation.0,
            conversation.1,
        ),
        ("MessageUpdateRequest", "content", content.0, content.1),
        (
            "ConversationMessageRequest",
            "content",
            content.0,
            content.1,
        ),
        (
            "ReportCreateRequest",
            "title",
            report_title.0,
            report_title.1,
        ),
        (
            "ReportCreateRequest",
            "content",
            report_content.0,
            report_content.1,
        ),
        (
            "ReportUpdateRequest",
            "title",
            report_title.0,
            report_title.1,
        ),
        (
            "ReportUpdateRequest",
            "content",
            report_content.0,
            report_content.1,
        ),
        (
            "ReportCommentRequest",
            "comment",
            None,
            ReportComment::MAX_CHARS,
        ),
        (
            "ReportResolveRequest",
            "comment",
            None,
            ReportComment::MAX_CHARS,
        ),
    ]
};

/// The schema of `field` of the component schema `schema`.
fn property_mut<'a>(
    document: &'a mut Value,
    schema: &str,
    field: &str,
) -> Option<&'a mut serde_json::Map<String, Value>> {
    document
        .pointer_mut(&format!("/components/schemas/{schema}/properties/{field}"))
        .and_then(Value::as_object_mut)
}

/// States the limits of request body fields ([`BODY_FIELD_LIMITS`]) and of the paging
/// parameters (from [`ai_message_core::Page`]) on the schemas poem-openapi wrote.
fn state_input_limits(document: &mut Value) {
    for (schema, field, least, most) in BODY_FIELD_LIMITS {
        let Some(property) = property_mut(document, schema, field) else {
            // A limit stated for no field would go unseen: every test that builds the app
            // stops here instead.
            debug_assert!(
                false,
                "BODY_FIELD_LIMITS names {schema}.{field}, which is not in the document"
            );
            continue;
        };
        if let Some(least) = least {
            property.insert("minLength".into(), Value::from(least));
        }
        property.insert("maxLength".into(), Value::from(most));
    }
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let operations = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|operations| operations.values_mut());
    for operation in operations {
        let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for parameter in parameters {
            let (least, most) = match parameter["name"].as_str() {
                Some("skip") => (0.0, None),
                Some("limit") => (1.0, Some(f64::from(ai_message_core::Page::MAX_LIMIT))),
                _ => continue,
            };
            let Some(schema) = parameter.get_mut("schema").and_then(Value::as_object_mut) else {
                continue;
            };
            schema.insert("minimum".into(), Value::from(least));
            if let Some(most) = most {
                schema.insert("maximum".into(), Value::from(most));
            }
        }
    }
}

/// The new-password fields of the request bodies, whose minimum the operator sets.
const NEW_PASSWORD_FIELDS: [(&str, &str); 2] = [
    ("RegisterRequest", "password"),
    ("PasswordChangeRequest", "new_password"),
];

/// States the configured minimum length of new passwords (`PASSWORD_MIN_LENGTH`) where the
/// document states the default one, so that clients read the rule this server applies.
fn state_password_minimum(document: &mut Value, min_bytes: usize) {
    let default = ai_message_core::PasswordRules::DEFAULT_MIN_BYTES;
    if min_bytes == default {
        return;
    }
    for (schema, field) in NEW_PASSWORD_FIELDS {
        let Some(property) = property_mut(document, schema, field) else {
            continue;
        };
        property.insert("minLength".into(), Value::from(min_bytes));
        if let Some(Value::String(description)) = property.get_mut("description") {
            *description = description.replacen(
                &format!("{default} to 72"),
                &format!("{min_bytes} to 72"),
                1,
            );
        }
    }
}

fn mark_optional_fields_nullable(document: &mut Value) {
    let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for schema in schemas.values_mut() {
        let required: Vec<String> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for (name, property) in properties.iter_mut() {
            if required.contains(name) {
                continue;
            }
            // `$ref` allows no siblings in OpenAPI 3.0; no optional field is a reference.
            if let Some(property) = property.as_object_mut()
                && !property.contains_key("$ref")
            {
                property.insert("nullable".into(), Value::Bool(true));
            }
        }
    }
}
