//! The admin-managed lists and the settings: everyone reads, only admins write.

use crm_tests::{TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

/// Each list with a valid new entry.
fn lists() -> Vec<(&'static str, Value)> {
    vec![
        ("teams", json!({"name": "Front desk"})),
        (
            "task-types",
            json!({"name": "Appointment", "color": "#2E7D32", "visible_in_agenda": true, "priority": true}),
        ),
        (
            "outcomes",
            json!({"name": "No show", "resulting_status": "cancelled"}),
        ),
        ("tags", json!({"name": "supplements", "color": "#8e24aa"})),
    ]
}

async fn create(app: &TestApp, list: &str, body: &Value) -> Value {
    let reply = app.post(&format!("/api/v1/{list}"), body).await;
    let created = reply.ok(201).clone();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/{list}/{id}").as_str())
    );
    created
}

#[tokio::test]
async fn each_list_creates_reads_updates_and_deactivates() {
    let app = spawn_app().await;
    for (list, body) in lists() {
        let created = create(&app, list, &body).await;
        let id = created["id"].as_i64().unwrap();
        assert_eq!(created["name"], body["name"]);
        assert_eq!(created["active"], true);
        let path = format!("/api/v1/{list}/{id}");
        assert_eq!(app.get(&path).await.ok(200)["name"], body["name"]);

        let renamed = app.patch(&path, &json!({"name": "Renamed"})).await;
        assert_eq!(renamed.ok(200)["name"], "Renamed", "{list}");
        let off = app.patch(&path, &json!({"active": false})).await;
        assert_eq!(off.ok(200)["active"], false, "{list}");
        // Inactive entries stay readable and listed, and can be filtered.
        assert_eq!(app.get(&path).await.ok(200)["active"], false);
        let all = app.get(&format!("/api/v1/{list}")).await;
        assert!(
            all.ok(200)["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["id"] == id)
        );
        let active = app.get(&format!("/api/v1/{list}?active=true")).await;
        assert!(
            !active.ok(200)["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["id"] == id)
        );
    }
}

#[tokio::test]
async fn colours_are_normalised_to_lower_case() {
    let app = spawn_app().await;
    let created = create(&app, "task-types", &lists()[1].1).await;
    assert_eq!(created["color"], "#2e7d32");
    assert_eq!(created["priority"], true);
}

#[tokio::test]
async fn operators_read_lists_but_cannot_write_them() {
    let app = spawn_app().await;
    let (_, token) = app.operator("Deborah", "operator").await;
    for (list, body) in lists() {
        let existing = create(&app, list, &body).await;
        let id = existing["id"].as_i64().unwrap();
        let read = app
            .send(app.request_as(&token, Method::GET, &format!("/api/v1/{list}")))
            .await;
        read.ok(200);
        let read_one = app
            .send(app.request_as(&token, Method::GET, &format!("/api/v1/{list}/{id}")))
            .await;
        read_one.ok(200);
        let post = app
            .send(
                app.request_as(&token, Method::POST, &format!("/api/v1/{list}"))
                    .json(&body),
            )
            .await;
        post.problem(403);
        let patch = app
            .send(
                app.request_as(&token, Method::PATCH, &format!("/api/v1/{list}/{id}"))
                    .json(&json!({"active": false})),
            )
            .await;
        patch.problem(403);
    }
    let settings = app
        .send(
            app.request_as(&token, Method::PATCH, "/api/v1/settings")
                .json(&json!({"reopen_tasks": "all"})),
        )
        .await;
    settings.problem(403);
    let operator = app
        .send(
            app.request_as(&token, Method::POST, "/api/v1/operators")
                .json(&json!({"name": "X", "email": "x@example.com", "password": "password-123"})),
        )
        .await;
    operator.problem(403);
}

#[tokio::test]
async fn names_are_unique_per_list_ignoring_case() {
    let app = spawn_app().await;
    for (list, body) in lists() {
        create(&app, list, &body).await;
        let mut again = body.clone();
        again["name"] = json!(body["name"].as_str().unwrap().to_uppercase());
        let reply = app.post(&format!("/api/v1/{list}"), &again).await;
        reply.problem(409);
        // Renaming another entry onto the name is refused too.
        let mut other = body.clone();
        other["name"] = json!("Another");
        let other = create(&app, list, &other).await;
        let reply = app
            .patch(
                &format!("/api/v1/{list}/{}", other["id"]),
                &json!({"name": body["name"]}),
            )
            .await;
        reply.problem(409);
    }
    // The shipped outcomes are there from the start.
    app.post(
        "/api/v1/outcomes",
        &json!({"name": "sold", "resulting_status": "done"}),
    )
    .await
    .problem(409);
}

#[tokio::test]
async fn invalid_entries_are_422_and_write_nothing() {
    let app = spawn_app().await;
    let before = app.count("task_types").await;
    let cases = [
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": "x".repeat(201)}),
        json!({"name": "a\u{0}b"}),
        json!({"name": "Call", "color": "red"}),
        json!({"name": "Call", "color": "#12345"}),
        json!({"name": "Call", "priority": "yes"}),
        json!({"name": "Call", "unknown": 1}),
        json!({"color": "#123456"}),
    ];
    for body in cases {
        let reply = app.post("/api/v1/task-types", &body).await;
        let problem = reply.problem(422);
        assert!(
            !problem["errors"].as_array().unwrap().is_empty(),
            "{body}: {problem}"
        );
    }
    assert_eq!(app.count("task_types").await, before);
    let reply = app
        .post("/api/v1/task-types", &json!({"name": "", "color": "nope"}))
        .await;
    let fields: Vec<&str> = reply.problem(422)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["color", "name"],
        "every rejected field is reported"
    );
    let reply = app
        .post(
            "/api/v1/outcomes",
            &json!({"name": "Maybe", "resulting_status": "pending"}),
        )
        .await;
    assert_eq!(reply.problem(422)["errors"][0]["field"], "resulting_status");
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let app = spawn_app().await;
    for (list, _) in lists() {
        app.get(&format!("/api/v1/{list}/999999"))
            .await
            .problem(404);
        app.patch(&format!("/api/v1/{list}/999999"), &json!({"active": true}))
            .await
            .problem(404);
        app.get(&format!("/api/v1/{list}/abc")).await.problem(400);
    }
}

#[tokio::test]
async fn lists_page_with_cursors() {
    let app = spawn_app().await;
    for i in 0..7 {
        create(&app, "tags", &json!({"name": format!("tag {i}")})).await;
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/tags?limit=3".to_owned();
    loop {
        let page = app.get(&path).await;
        let body = page.ok(200);
        seen.extend(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_owned()),
        );
        match body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/tags?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, (0..7).map(|i| format!("tag {i}")).collect::<Vec<_>>());
    app.get("/api/v1/tags?limit=0").await.problem(400);
    app.get("/api/v1/tags?limit=501").await.problem(400);
    app.get("/api/v1/tags?cursor=garbage").await.problem(400);
}

#[tokio::test]
async fn settings_start_with_the_shipped_defaults() {
    let app = spawn_app().await;
    let settings = app.get("/api/v1/settings").await;
    let body = settings.ok(200);
    assert_eq!(body["reopen_tasks"], "admins");
    assert_eq!(body["delete_documents"], "admins");
    let outcome = app
        .get(&format!(
            "/api/v1/outcomes/{}",
            body["default_task_outcome_id"]
        ))
        .await;
    assert_eq!(outcome.ok(200)["name"], "Planned");
    assert_eq!(outcome.json["resulting_status"], "planned");
    let outcomes = app.get("/api/v1/outcomes").await;
    let names: Vec<(&str, &str)> = outcomes.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap(),
                o["resulting_status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("Planned", "planned"),
            ("Positive", "done"),
            ("Negative", "done"),
            ("Sold", "done"),
            ("Cancelled", "cancelled")
        ]
    );
}

#[tokio::test]
async fn settings_change_and_check_the_default_outcome() {
    let app = spawn_app().await;
    let reply = app
        .patch(
            "/api/v1/settings",
            &json!({"reopen_tasks": "all", "delete_documents": "none"}),
        )
        .await;
    assert_eq!(reply.ok(200)["reopen_tasks"], "all");
    assert_eq!(
        app.get("/api/v1/settings").await.json["delete_documents"],
        "none"
    );

    // Positive leaves tasks done: not a default for new tasks.
    let reply = app
        .patch("/api/v1/settings", &json!({"default_task_outcome_id": 2}))
        .await;
    assert_eq!(
        reply.problem(422)["errors"][0]["field"],
        "default_task_outcome_id"
    );
    let reply = app
        .patch(
            "/api/v1/settings",
            &json!({"default_task_outcome_id": 424242}),
        )
        .await;
    reply.problem(422);
    let reply = app
        .patch("/api/v1/settings", &json!({"reopen_tasks": "sometimes"}))
        .await;
    reply.problem(422);

    let waiting = create(
        &app,
        "outcomes",
        &json!({"name": "Waiting", "resulting_status": "planned"}),
    )
    .await;
    let reply = app
        .patch(
            "/api/v1/settings",
            &json!({"default_task_outcome_id": waiting["id"]}),
        )
        .await;
    assert_eq!(reply.ok(200)["default_task_outcome_id"], waiting["id"]);
    // The default cannot be deactivated or made to close tasks.
    let path = format!("/api/v1/outcomes/{}", waiting["id"]);
    app.patch(&path, &json!({"active": false}))
        .await
        .problem(409);
    app.patch(&path, &json!({"resulting_status": "done"}))
        .await
        .problem(409);
    // An inactive planned outcome cannot become the default.
    let paused = create(
        &app,
        "outcomes",
        &json!({"name": "Paused", "resulting_status": "planned", "active": false}),
    )
    .await;
    app.patch(
        "/api/v1/settings",
        &json!({"default_task_outcome_id": paused["id"]}),
    )
    .await
    .problem(422);
}
