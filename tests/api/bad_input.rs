//! Malformed bodies, queries and paths for every endpoint family: a 4xx problem document
//! and not one row changed.

use crm_tests::{TestApp, spawn_app};
use reqwest::Method;
use serde_json::json;

const TABLES: [&str; 14] = [
    "teams",
    "operators",
    "task_types",
    "outcomes",
    "tags",
    "settings",
    "customers",
    "tasks",
    "task_tags",
    "timeline_entries",
    "messages",
    "calls",
    "documents",
    "idempotency_keys",
];

async fn counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for t in TABLES {
        out.push(app.count(t).await);
    }
    out
}

#[tokio::test]
async fn malformed_requests_are_4xx_problems_and_change_nothing() {
    let app = spawn_app().await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let ty = app
        .post("/api/v1/task-types", &json!({"name": "Call"}))
        .await
        .json["id"]
        .clone();
    let task = app.post("/api/v1/tasks", &json!({"customer_id": customer, "description": "x", "type_id": ty, "scheduled_date": "2026-12-01"})).await.json["id"].clone();
    let before = counts(&app).await;

    let bodies: [&[u8]; 9] = [
        b"{",
        b"[]",
        b"null",
        b"\"text\"",
        b"{\"name\": 1e999}",
        b"{\"name\": \"a\\u0000b\"}",
        b"{\"customer_id\": 99999999999999999999}",
        b"{\"customer_id\": 1.5, \"type_id\": true}",
        b"{\"outcome_id\": \"x\", \"action\": 7}",
    ];
    let writes = [
        (Method::POST, "/api/v1/teams".to_owned()),
        (Method::POST, "/api/v1/operators".to_owned()),
        (Method::PATCH, "/api/v1/settings".to_owned()),
        (Method::POST, "/api/v1/customers".to_owned()),
        (Method::PATCH, format!("/api/v1/customers/{customer}")),
        (Method::POST, "/api/v1/tasks".to_owned()),
        (Method::PATCH, format!("/api/v1/tasks/{task}")),
        (Method::POST, format!("/api/v1/tasks/{task}/next")),
        (
            Method::POST,
            format!("/api/v1/customers/{customer}/messages"),
        ),
        (Method::POST, format!("/api/v1/customers/{customer}/calls")),
        (Method::POST, "/api/v1/auth/login".to_owned()),
    ];
    for (method, path) in &writes {
        for body in bodies {
            let reply = app
                .send(
                    app.request(method.clone(), path)
                        .header("content-type", "application/json")
                        .body(body.to_vec()),
                )
                .await;
            assert!(
                (400..500).contains(&reply.status),
                "{method} {path} {:?}: {}",
                String::from_utf8_lossy(body),
                reply.status
            );
            reply.problem(reply.status);
        }
    }

    let queries = [
        "/api/v1/tasks?limit=abc",
        "/api/v1/tasks?limit=1e99",
        "/api/v1/tasks?limit=99999999999999999999",
        "/api/v1/tasks?cursor=%00%01",
        "/api/v1/tasks?scheduled_from=2026-13-01",
        "/api/v1/tasks?customer_id=-",
        "/api/v1/tasks?q=%00",
        "/api/v1/tasks?sort=,",
        "/api/v1/customers?consultant_id=1.5",
        "/api/v1/customers?q=%00",
        "/api/v1/agenda?from=2026-01-01&to=2027-01-01",
        "/api/v1/reports/outcomes?group_by=operator&from=x",
        "/api/v1/dashboard?team_id=team",
        "/api/v1/teams?active=maybe",
    ];
    for q in queries {
        let reply = app.get(q).await;
        assert_eq!(reply.status, 400, "{q}: {}", reply.text);
        reply.problem(400);
    }
    let timeline = app
        .get(&format!("/api/v1/customers/{customer}/timeline?kind=x"))
        .await;
    timeline.problem(400);

    for id in ["abc", "1.5", "99999999999999999999", "%00", "-"] {
        for path in [
            format!("/api/v1/tasks/{id}"),
            format!("/api/v1/customers/{id}"),
            format!("/api/v1/documents/{id}/content"),
        ] {
            let reply = app.get(&path).await;
            assert!(
                reply.status == 400 || reply.status == 404,
                "{path}: {}",
                reply.status
            );
            reply.problem(reply.status);
        }
    }
    for id in ["0", "-1", "424242"] {
        app.get(&format!("/api/v1/tasks/{id}")).await.problem(404);
    }
    assert_eq!(counts(&app).await, before, "nothing changed");
}
