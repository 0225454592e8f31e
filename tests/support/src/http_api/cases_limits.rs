//! The limits the served document states are the ones the server enforces.

use serde_json::json;

use super::harness::{TestResponse, TestServer, password_of};

/// A value of `field` that is `length` characters long and valid in every other way.
fn value_of_length(field: &str, length: usize) -> String {
    match field {
        "email" if length >= 16 => {
            // Ten letters, `@`, labels of at most 60 letters, then `com`.
            let mut email = format!("{}@", "e".repeat(10));
            let mut room = length - email.len() - "com".len();
            while room > 0 {
                let label = (room - 1).min(60);
                if label == 0 {
                    email.insert(0, 'e');
                    room -= 1;
                    continue;
                }
                email.push_str(&"d".repeat(label));
                email.push('.');
                room -= label + 1;
            }
            email + "com"
        }
        // Separators between the digits are allowed, and dropped.
        "phone_number" if length >= 11 => format!("+60{}12345678", "-".repeat(length - 11)),
        _ => "v".repeat(length),
    }
}

/// Whether `response` refuses the input for `field` (a 422 whose detail names it).
fn refuses(response: &TestResponse, field: &str) -> bool {
    response.status.as_u16() == 422 && response.detail().contains(field)
}

/// Every length limit of a request body field and every bound of a paging parameter that
/// the served document states is enforced exactly: the stated extreme is accepted, one past
/// it is refused with a 422 naming the field.
pub async fn every_documented_limit_is_the_one_enforced(server: TestServer) {
    let root = server.superuser("root").await;
    let bob = server.user("bob").await;
    let mut root_password = password_of("root");
    let message = server.send_message(&root, bob.id, "first").await;
    let message_id = message["id"].as_i64().unwrap();
    let report = server
        .post(
            "/reports",
            Some(&root.access),
            json!({"title": "Lift", "content": "Broken"}),
        )
        .await;
    let report_id = report.assert_status(201)["id"].as_i64().unwrap();
    let document = server.get("/openapi.json", None).await;
    let document = document.assert_status(200).clone();

    let mut checked = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let url = path.replace("{conversation_id}", "team").replace(
                "{id}",
                &if path.starts_with("/messages") {
                    message_id
                } else if path.starts_with("/reports") {
                    report_id
                } else {
                    bob.id
                }
                .to_string(),
            );
            if let Some(schema) =
                operation.pointer("/requestBody/content/application~1json/schema/$ref")
            {
                let name = schema.as_str().unwrap().rsplit('/').next().unwrap();
                let schema = &document["components"]["schemas"][name];
                for (field, property) in schema["properties"].as_object().unwrap() {
                    let most = property["maxLength"].as_u64().map(|n| n as usize);
                    let least = property["minLength"].as_u64().map(|n| n as usize);
                    let Some(most) = most else { continue };
                    let mut lengths = vec![(most, false), (most + 1, true)];
                    if let Some(least) = least {
                        lengths.push((least, false));
                        if least > 0 {
                            lengths.push((least - 1, true));
                        }
                    }
                    for (length, refused) in lengths {
                        let mut body = schema["example"].clone();
                        if body.get("recipient_id").is_some() {
                            body["recipient_id"] = json!(bob.id);
                        }
                        if let Some(current) = body.get_mut("current_password") {
                            *current = json!(root_password);
                        }
                        if name == "RegisterRequest" && field != "username" {
                            body["username"] = json!(format!("limits{}", checked.len()));
                        }
                        if name == "RegisterRequest" && field != "email" {
                            body["email"] = json!(format!("limits{}@example.com", checked.len()));
                        }
                        let value = value_of_length(field, length);
                        body[field.as_str()] = json!(value);
                        let token = (path != "/auth/register").then_some(root.access.as_str());
                        let response = match method.as_str() {
                            "post" => server.post(&url, token, body).await,
                            "put" => server.put(&url, token, body).await,
                            other => panic!("{other} {path} takes a body"),
                        };
                        assert_eq!(
                            refuses(&response, field),
                            refused,
                            "{method} {path}: {field} of {length} (documented {least:?} to \
                             {most}): {} {}",
                            response.status,
                            response.text
                        );
                        // No model is configured here: a valid question is answered 503.
                        let unconfigured = response.detail() == "AI assistant is not configured";
                        assert!(
                            response.status.as_u16() < 500 || unconfigured,
                            "{}",
                            response.text
                        );
                        if field == "new_password" && response.status.as_u16() == 200 {
                            root_password = value;
                        }
                    }
                    checked.push(format!("{method} {path} {field}"));
                }
            }
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                let schema = &parameter["schema"];
                let bounds = [
                    (schema["minimum"].as_f64(), -1i64),
                    (schema["maximum"].as_f64(), 1),
                ];
                for (bound, outward) in bounds {
                    let Some(bound) = bound else { continue };
                    let bound = bound as i64;
                    for (value, refused) in [(bound, false), (bound + outward, true)] {
                        let response = server
                            .get(&format!("{url}?{name}={value}"), Some(&root.access))
                            .await;
                        assert_eq!(
                            refuses(&response, name),
                            refused,
                            "{method} {path}?{name}={value}: {} {}",
                            response.status,
                            response.text
                        );
                    }
                    checked.push(format!("{method} {path} {name}"));
                }
            }
        }
    }
    // The document states limits on these at least; a run that checked none proves nothing.
    for expected in [
        "post /auth/register username",
        "post /messages content",
        "put /auth/me/phone phone_number",
        "post /reports title",
        "get /reports/admin/all limit",
        "get /messages limit",
        "get /auth/users skip",
    ] {
        assert!(
            checked.iter().any(|c| c == expected),
            "{expected} was not checked: {checked:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::value_of_length;

    #[test]
    fn generated_values_have_the_asked_length_and_form() {
        for length in [16, 17, 32, 33, 100, 254, 255, 256] {
            let email = value_of_length("email", length);
            assert_eq!(email.chars().count(), length, "{email}");
            assert_eq!(
                ai_message_core::Email::parse(email.clone()).is_ok(),
                length <= ai_message_core::Email::MAX_CHARS,
                "{email}"
            );
            let phone = value_of_length("phone_number", length);
            assert_eq!(phone.chars().count(), length);
        }
    }
}
