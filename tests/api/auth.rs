use crm_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, spawn_app};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn login_returns_a_bearer_token_that_reads_me() {
    let app = spawn_app().await;
    let reply = app
        .send(
            app.client
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
        )
        .await;
    let body = reply.ok(200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["operator"]["email"], ADMIN_EMAIL);
    assert_eq!(body["operator"]["role"], "admin");
    assert!(body["operator"].get("password_hash").is_none());

    let token = body["access_token"].as_str().unwrap();
    let me = app
        .send(app.request_as(token, Method::GET, "/api/v1/me"))
        .await;
    assert_eq!(me.ok(200)["email"], ADMIN_EMAIL);
    assert_eq!(me.json["name"], "Administrator");
}

#[tokio::test]
async fn login_email_ignores_case_and_spaces() {
    let app = spawn_app().await;
    app.login("  Admin@Example.COM ", ADMIN_PASSWORD).await;
}

#[tokio::test]
async fn wrong_password_and_unknown_email_are_the_same_401() {
    let app = spawn_app().await;
    let wrong = app
        .send(
            app.client
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({"email": ADMIN_EMAIL, "password": "nope"})),
        )
        .await;
    let unknown = app
        .send(
            app.client
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({"email": "nobody@example.com", "password": "nope"})),
        )
        .await;
    assert_eq!(wrong.problem(401)["detail"], unknown.problem(401)["detail"]);
}

#[tokio::test]
async fn me_without_a_token_is_401() {
    let app = spawn_app().await;
    let reply = app.send(app.client.get(app.url("/api/v1/me"))).await;
    reply.problem(401);
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn me_with_a_garbage_or_foreign_token_is_401() {
    let app = spawn_app().await;
    for token in [
        "garbage",
        "a.b.c",
        &app.admin_token[..app.admin_token.len() - 2],
    ] {
        let reply = app
            .send(app.request_as(token, Method::GET, "/api/v1/me"))
            .await;
        reply.problem(401);
    }
    let basic = app
        .send(
            app.client
                .get(app.url("/api/v1/me"))
                .basic_auth("admin", Some("x")),
        )
        .await;
    basic.problem(401);
}
