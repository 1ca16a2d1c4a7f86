use crm_tests::spawn_app;
use reqwest::Method;

#[tokio::test]
async fn unknown_routes_are_404_problems() {
    let app = spawn_app().await;
    let reply = app.get("/api/v1/no-such-thing").await;
    reply.problem(404);
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let app = spawn_app().await;
    let reply = app.send(app.request(Method::DELETE, "/api/v1/me")).await;
    reply.problem(405);
    assert_eq!(reply.header("allow"), Some("GET"));
    let reply = app
        .send(app.client.put(app.url("/api/v1/auth/login")))
        .await;
    reply.problem(405);
    assert_eq!(reply.header("allow"), Some("POST"));
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let reply = app
        .send(
            app.client
                .post(app.url("/api/v1/auth/login"))
                .header("content-type", "application/json")
                .body("{\"email\": "),
        )
        .await;
    reply.problem(400);
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_422_naming_the_field() {
    let app = spawn_app().await;
    let reply = app
        .send(
            app.client
                .post(app.url("/api/v1/auth/login"))
                .json(&serde_json::json!({"email": "a@b.c"})),
        )
        .await;
    let body = reply.problem(422);
    assert_eq!(body["errors"][0]["field"], "password");
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_413() {
    let app = spawn_app().await;
    let big = format!(
        "{{\"email\": \"{}\", \"password\": \"x\"}}",
        "a".repeat(1024 * 1024 + 1)
    );
    let reply = app
        .send(
            app.client
                .post(app.url("/api/v1/auth/login"))
                .header("content-type", "application/json")
                .body(big),
        )
        .await;
    reply.problem(413);
}

#[tokio::test]
async fn bodies_that_are_not_json_are_415() {
    let app = spawn_app().await;
    let reply = app
        .send(
            app.client
                .post(app.url("/api/v1/auth/login"))
                .body("email=a"),
        )
        .await;
    reply.problem(415);
}
