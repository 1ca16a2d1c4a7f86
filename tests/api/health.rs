use crm_tests::spawn_app;

#[tokio::test]
async fn healthz_answers_without_a_token() {
    let app = spawn_app().await;
    let reply = app.send(app.client.get(app.url("/healthz"))).await;
    assert_eq!(reply.ok(200)["status"], "ok");
}

#[tokio::test]
async fn readyz_answers_when_the_database_is_reachable() {
    let app = spawn_app().await;
    let reply = app.send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(reply.ok(200)["status"], "ready");
}

#[tokio::test]
async fn readyz_answers_503_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.db.clone().close().await.unwrap();
    let reply = app.send(app.client.get(app.url("/readyz"))).await;
    reply.problem(503);
}

#[tokio::test]
async fn swagger_ui_and_the_document_are_served() {
    let app = spawn_app().await;
    let ui = app.send(app.client.get(app.url("/swagger-ui/"))).await;
    assert_eq!(ui.status, 200);
    assert!(ui.text.contains("swagger"), "{}", ui.text);
    let doc = app
        .send(app.client.get(app.url("/api-docs/openapi.json")))
        .await;
    assert_eq!(doc.ok(200)["openapi"], "3.1.0");
    assert!(doc.json["paths"]["/api/v1/auth/login"]["post"].is_object());
}
