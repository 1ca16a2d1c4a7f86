//! Who may do what, throttled logins, CORS, and what never leaves the server.

use crm_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::json;

fn operations(doc: &serde_json::Value) -> Vec<(Method, String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let tag = op["tags"][0].as_str().unwrap_or("").to_owned();
            ops.push((method, path.clone(), tag));
        }
    }
    ops
}

fn concrete(path: &str, id: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { id } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_admin_write_is_403_for_operators_before_anything_else() {
    let app = spawn_app().await;
    let (_, token) = app.operator("Deborah", "operator").await;
    let doc = serde_json::to_value(crm_api::openapi_document()).unwrap();
    let mut checked = 0;
    for (method, path, tag) in operations(&doc) {
        if tag != "settings" || method == Method::GET {
            continue;
        }
        // An empty body: the role is checked before the body is validated.
        let reply = app
            .send(
                app.request_as(&token, method.clone(), &concrete(&path, "1"))
                    .json(&json!({})),
            )
            .await;
        reply.problem(403);
        checked += 1;
    }
    assert!(
        checked >= 11,
        "every list's create and update, and the settings: {checked}"
    );
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled_with_retry_after() {
    let app = spawn_app().await;
    let login = |email: &'static str, password: &'static str| {
        let app = &app;
        async move {
            app.send(
                app.client
                    .post(app.url("/api/v1/auth/login"))
                    .json(&json!({"email": email, "password": password})),
            )
            .await
        }
    };
    for _ in 0..5 {
        login(ADMIN_EMAIL, "wrong").await.problem(401);
    }
    let locked = login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    locked.problem(429);
    let retry: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    // Unknown emails are throttled alike, and other emails are not affected.
    for _ in 0..5 {
        login("nobody@example.com", "x").await.problem(401);
    }
    login("nobody@example.com", "x").await.problem(429);
    let (_, _) = app.operator("Deborah", "operator").await;
    // A success resets the count.
    for _ in 0..4 {
        login("deborah@example.com", "wrong").await.problem(401);
    }
    login("deborah@example.com", "password-123").await.ok(200);
    login("deborah@example.com", "wrong").await.problem(401);
    login("deborah@example.com", "password-123").await.ok(200);
}

#[tokio::test]
async fn cors_allows_the_configured_origins_only() {
    let app =
        spawn_app_with(|c| c.cors_allowed_origins = vec!["https://app.example.com".into()]).await;
    let preflight = app
        .send(
            app.client
                .request(Method::OPTIONS, app.url("/api/v1/tasks"))
                .header("origin", "https://app.example.com")
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization, content-type, idempotency-key",
                ),
        )
        .await;
    assert_eq!(preflight.status, 200, "{}", preflight.text);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let simple = app
        .send(
            app.request(Method::GET, "/api/v1/me")
                .header("origin", "https://app.example.com"),
        )
        .await;
    assert_eq!(
        simple.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(
        simple
            .header("access-control-expose-headers")
            .unwrap_or("")
            .to_lowercase()
            .contains("etag")
    );
    let other = app
        .send(
            app.request(Method::GET, "/api/v1/me")
                .header("origin", "https://evil.example"),
        )
        .await;
    assert_eq!(other.header("access-control-allow-origin"), None);

    let closed = spawn_app().await;
    let reply = closed
        .send(
            closed
                .request(Method::GET, "/api/v1/me")
                .header("origin", "https://app.example.com"),
        )
        .await;
    assert_eq!(reply.status, 200, "same-origin and tools keep working");
    assert_eq!(reply.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn no_endpoint_returns_hashes_secrets_or_feed_tokens() {
    let app = spawn_app().await;
    let (deborah, token) = app.operator("Deborah", "operator").await;
    let feed = app
        .send(app.request_as(&token, Method::POST, "/api/v1/me/calendar-token"))
        .await;
    let feed_token = feed.ok(200)["feed_url"]
        .as_str()
        .unwrap()
        .rsplit('=')
        .next()
        .unwrap()
        .to_owned();
    let customer = app
        .customer(json!({"name": "Blanca", "consultant_id": deborah}))
        .await;
    let secret = app.rows("SELECT value FROM server_secrets").await;
    let doc = serde_json::to_value(crm_api::openapi_document()).unwrap();
    for (method, path, _) in operations(&doc) {
        if method != Method::GET {
            continue;
        }
        let id = if path.contains("customers") {
            customer
        } else {
            deborah
        };
        let reply = app
            .send(app.request(Method::GET, &concrete(&path, &id.to_string())))
            .await;
        for forbidden in ["$argon2", "password_hash", &feed_token, "calendar_token"] {
            assert!(!reply.text.contains(forbidden), "{path} leaks {forbidden}");
        }
        for row in &secret {
            assert!(
                !reply.text.contains(row["value"].as_str().unwrap()),
                "{path} leaks a secret"
            );
        }
    }
}
