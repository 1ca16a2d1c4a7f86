//! `crm-api seed-demo`: the walkthroughs as data, visible through the API.

use crm_tests::spawn_app;
use serde_json::Value;

#[tokio::test]
async fn the_demo_data_shows_the_walkthroughs_and_loads_once() {
    let app = spawn_app().await;
    let store = crm_api::storage::LocalStore::new(app.documents.path().to_owned()).unwrap();
    let admin = app.get("/api/v1/me").await.json["id"].as_i64().unwrap();
    let today = chrono::Utc::now().date_naive();
    let report = crm_api::seed::seed_demo(&app.db, &store, today, admin)
        .await
        .unwrap();
    assert!(report.created);
    assert_eq!(report.operators.len(), 3);
    let again = crm_api::seed::seed_demo(&app.db, &store, today, admin)
        .await
        .unwrap();
    assert!(!again.created, "a second run adds nothing");

    let customers = app.get("/api/v1/customers?q=manolo").await;
    let manolo = customers.ok(200)["items"][0]["id"].as_i64().unwrap();
    let tasks = app
        .get(&format!(
            "/api/v1/tasks?customer_id={manolo}&sort=created_at"
        ))
        .await;
    let first = tasks.ok(200)["items"][0]["id"].clone();
    let chain = app.get(&format!("/api/v1/tasks/{first}/chain")).await;
    let statuses: Vec<&str> = chain.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["cancelled", "done", "planned"],
        "Manolo, Deborah and Maribel"
    );
    let quote = &chain.json["items"][2];
    assert_eq!(quote["responsible"]["name"], "Maribel");
    assert_eq!(quote["urgency"], "urgent");

    let agenda = app.get("/api/v1/agenda").await;
    assert!(
        agenda.ok(200)["items"].as_array().unwrap().len() >= 9,
        "a week of agenda"
    );
    let blanca = app.get("/api/v1/customers?q=blanca").await.json["items"][0]["id"].clone();
    let timeline = app
        .get(&format!("/api/v1/customers/{blanca}/timeline"))
        .await;
    let mut kinds: Vec<&str> = timeline.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "call",
            "document",
            "message",
            "message",
            "note",
            "task_closed"
        ]
    );
    let document = timeline.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "document")
        .unwrap()
        .clone();
    let content = app
        .get(&format!(
            "/api/v1/documents/{}/content",
            document["data"]["document_id"]
        ))
        .await;
    assert!(content.text.starts_with("Week 1"));
    let login = app
        .login("deborah@example.com", crm_api::seed::DEMO_PASSWORD)
        .await;
    assert!(!login.is_empty());
    let _: Value = app.get("/api/v1/dashboard").await.ok(200).clone();
}
