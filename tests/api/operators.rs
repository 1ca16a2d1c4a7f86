use crm_tests::{ADMIN_EMAIL, spawn_app};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn an_admin_creates_operators_who_can_log_in() {
    let app = spawn_app().await;
    let team = app.post("/api/v1/teams", &json!({"name": "Sales"})).await;
    let team_id = team.ok(201)["id"].clone();
    let reply = app
        .post(
            "/api/v1/operators",
            &json!({"name": "Maribel", "email": "Maribel@Example.com", "password": "a long passphrase", "team_id": team_id}),
        )
        .await;
    let body = reply.ok(201);
    assert_eq!(body["email"], "maribel@example.com");
    assert_eq!(body["role"], "operator");
    assert_eq!(body["team_id"], team_id);
    assert!(body.get("password").is_none() && body.get("password_hash").is_none());
    let token = app.login("maribel@example.com", "a long passphrase").await;
    let me = app
        .send(app.request_as(&token, Method::GET, "/api/v1/me"))
        .await;
    assert_eq!(me.ok(200)["name"], "Maribel");

    let list = app
        .get(&format!("/api/v1/operators?team_id={team_id}"))
        .await;
    assert_eq!(list.ok(200)["items"].as_array().unwrap().len(), 1);
    assert!(
        !list.text.contains("argon2"),
        "hashes never leave the server"
    );
}

#[tokio::test]
async fn operator_emails_are_unique() {
    let app = spawn_app().await;
    let reply = app
        .post("/api/v1/operators", &json!({"name": "Other", "email": ADMIN_EMAIL.to_uppercase(), "password": "password-123"}))
        .await;
    reply.problem(409);
    let (id, _) = app.operator("Deborah", "operator").await;
    let reply = app
        .patch(
            &format!("/api/v1/operators/{id}"),
            &json!({"email": ADMIN_EMAIL}),
        )
        .await;
    reply.problem(409);
}

#[tokio::test]
async fn operator_input_is_validated() {
    let app = spawn_app().await;
    let before = app.count("operators").await;
    for body in [
        json!({"name": "X", "email": "not-an-email", "password": "password-123"}),
        json!({"name": "X", "email": "x@example.com", "password": "short"}),
        json!({"name": "X", "email": "x@example.com", "password": "password-123", "role": "root"}),
        json!({"name": "X", "email": "x@example.com", "password": "password-123", "team_id": 999}),
        json!({"name": "", "email": "x@example.com", "password": "password-123"}),
    ] {
        app.post("/api/v1/operators", &body).await.problem(422);
    }
    assert_eq!(app.count("operators").await, before);
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_or_deactivated() {
    let app = spawn_app().await;
    let me = app.get("/api/v1/me").await.json["id"].as_i64().unwrap();
    let path = format!("/api/v1/operators/{me}");
    app.patch(&path, &json!({"role": "operator"}))
        .await
        .problem(409);
    app.patch(&path, &json!({"active": false}))
        .await
        .problem(409);
    assert_eq!(app.get(&path).await.json["role"], "admin");

    // With a second admin, the first may step down.
    let (second, second_token) = app.operator("Second Admin", "admin").await;
    let reply = app.patch(&path, &json!({"role": "operator"})).await;
    assert_eq!(reply.ok(200)["role"], "operator");
    let reply = app
        .send(
            app.request_as(
                &second_token,
                Method::PATCH,
                &format!("/api/v1/operators/{second}"),
            )
            .json(&json!({"active": false})),
        )
        .await;
    reply.problem(409);
}

#[tokio::test]
async fn deactivated_operators_cannot_log_in_and_keep_their_record() {
    let app = spawn_app().await;
    let (id, _) = app.operator("Temp", "operator").await;
    app.patch(
        &format!("/api/v1/operators/{id}"),
        &json!({"active": false}),
    )
    .await
    .ok(200);
    let reply = app
        .send(
            app.client
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({"email": "temp@example.com", "password": "password-123"})),
        )
        .await;
    reply.problem(401);
    assert_eq!(
        app.get(&format!("/api/v1/operators/{id}")).await.ok(200)["active"],
        false
    );
}

#[tokio::test]
async fn a_password_change_takes_effect() {
    let app = spawn_app().await;
    let (id, _) = app.operator("Deborah", "operator").await;
    app.patch(
        &format!("/api/v1/operators/{id}"),
        &json!({"password": "a brand new one"}),
    )
    .await
    .ok(200);
    app.login("deborah@example.com", "a brand new one").await;
}
