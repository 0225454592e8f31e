//! Logins racing the changes that must end them. Hashing at cost 10 makes the windows wide
//! enough to hit; this file is its own test binary so its CPU load never overlaps the timing
//! measurements of `http_security`.

use std::sync::Arc;
use std::time::Duration;

use ai_message_memory::MemoryStore;
use ai_message_testkit::http_api::harness::TestServer;
use serde_json::json;

/// An attacker who knows the old password keeps logging in while the owner changes it: no
/// session opened with the old password may work once the change has answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_login_in_flight_outlives_a_password_change() {
    let server = Arc::new(TestServer::with_bcrypt_cost(MemoryStore::storage(), 10));
    server.register("alice").await;
    let owner = server.login("alice").await;
    for round in 0..3 {
        let old_password = if round == 0 {
            "alice-password".to_string()
        } else {
            format!("new-password-{}", round - 1)
        };
        // The owner's change runs while the attacker keeps starting logins with the old
        // password, some of which are still hashing when the change commits.
        let change = {
            let server = server.clone();
            let access = owner.access.clone();
            let body = json!({"current_password": old_password, "new_password": format!("new-password-{round}")});
            tokio::spawn(async move {
                server
                    .put("/auth/me/password", Some(&access), body)
                    .await
                    .status
                    .as_u16()
            })
        };
        let mut attackers = Vec::new();
        while !change.is_finished() || attackers.len() < 4 {
            let server = server.clone();
            let old_password = old_password.clone();
            attackers.push(tokio::spawn(async move {
                let login = server.login_as("alice", &old_password).await;
                let token = login.json["access_token"].as_str().map(str::to_string);
                (login.status.as_u16(), token)
            }));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(change.await.unwrap(), 200);
        for attacker in attackers {
            let (status, token) = attacker.await.unwrap();
            if let Some(token) = token {
                assert_eq!(status, 200);
                server
                    .get("/auth/me", Some(&token))
                    .await
                    .assert_error(401, "Could not validate credentials");
            } else {
                assert_eq!(status, 401);
            }
        }
    }
}
