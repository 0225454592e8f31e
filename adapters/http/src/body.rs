//! `JsonBody<T>`: a JSON request body parsed with serde, whose errors name the field.
//!
//! poem-openapi's own `Json<T>` reports a missing field without its name and coerces numbers
//! into strings; the contract wants a 422 whose `detail` names the field and the rule, and
//! wants `{"content": 5}` refused. The schema in the document is still `T`'s.

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde::de::DeserializeOwned;

use crate::errors::ApiError;

/// A JSON body. With `T = Option<U>` the body is optional: no body at all is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonBody<T>(pub T);

impl<T: Type + Send> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        is_json(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Describes where in the body serde stopped, as `field.subfield` (or `body` at the top).
fn field_path<E: std::fmt::Display>(error: &serde_path_to_error::Error<E>) -> String {
    let path = error.path().to_string();
    if path == "." || path.is_empty() {
        "body".to_string()
    } else {
        path
    }
}

/// The name in serde's "missing field `name`".
fn missing_field(reason: &str) -> Option<&str> {
    reason
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
}

fn clean_reason(reason: &str) -> String {
    // serde_json appends " at line 1 column 17"; the field name says more.
    match reason.find(" at line ") {
        Some(index) => reason[..index].to_string(),
        None => reason.to_string(),
    }
}

/// A JSON document whose objects name each key once. serde_json keeps the last of repeated
/// keys; a body saying `"role": "user", "role": "admin"` is ambiguous, and proxies or other
/// parsers may read the first, so it is refused.
struct UniqueKeys(serde_json::Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(UniqueKeysVisitor)
            .map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(serde_json::Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
            }
            let UniqueKeys(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(serde_json::Value::Object(object))
    }
}

impl<T: Type + DeserializeOwned + Send> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        let absent = bytes.iter().all(u8::is_ascii_whitespace);
        let text: &[u8] = if absent {
            if T::IS_REQUIRED {
                return Err(ApiError::unprocessable("body: field required").into_poem_error());
            }
            b"null"
        } else {
            &bytes
        };
        let UniqueKeys(document) = serde_json::from_slice(text).map_err(|error| {
            let reason = clean_reason(&error.to_string());
            ApiError::unprocessable(format!("body: invalid JSON: {reason}")).into_poem_error()
        })?;
        // Every request body of the API is an object. serde would also build a struct from
        // an array of its fields in order, which the schema does not allow.
        // Only a missing body stands for "none": a `null` one is not the object the schema
        // describes.
        if !document.is_object() && !absent {
            return Err(ApiError::unprocessable("body: must be a JSON object").into_poem_error());
        }
        let value: T = serde_path_to_error::deserialize(document).map_err(|error| {
            let reason = clean_reason(&error.inner().to_string());
            let detail = if let Some(missing) = missing_field(&reason) {
                // serde reports a missing field at its parent object; name the field itself.
                match field_path(&error).as_str() {
                    "body" => format!("{missing}: field required"),
                    parent => format!("{parent}.{missing}: field required"),
                }
            } else {
                format!("{}: {reason}", field_path(&error))
            };
            ApiError::unprocessable(detail).into_poem_error()
        })?;
        Ok(Self(value))
    }
}

impl<'a, T: Type + DeserializeOwned + Send> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: <Self as ParsePayload>::IS_REQUIRED,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type) if is_json(content_type) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(content_type) => Err(ApiError::unprocessable(format!(
                "body: expected content type application/json, got {content_type}"
            ))
            .into_poem_error()),
            // A client that sends no body usually sends no content type either.
            None => <Self as ParsePayload>::from_request(request, body).await,
        }
    }
}
