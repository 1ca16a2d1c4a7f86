//! The committed document matches the code, and every operation it lists is guarded.

use crm_tests::spawn_app;
use reqwest::Method;
use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json")
}

/// Fails when `openapi/openapi.json` differs from the generated document. To update it:
/// `cargo run -p crm-api -- openapi > openapi/openapi.json` (or run this test with UPDATE_OPENAPI=1).
#[test]
fn committed_openapi_document_is_current() {
    let generated = crm_api::openapi::to_pretty_json(&crm_api::openapi_document());
    let path = committed_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date: run `cargo run -p crm-api -- openapi > openapi/openapi.json`"
    );
}

fn operations(doc: &serde_json::Value) -> Vec<(Method, String, bool)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let public = op["security"] == serde_json::json!([{}]);
            let concrete = path
                .split('/')
                .map(|s| if s.starts_with('{') { "1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            ops.push((method, concrete, public));
        }
    }
    ops
}

#[tokio::test]
async fn every_guarded_operation_refuses_missing_expired_and_tampered_tokens() {
    let app = spawn_app().await;
    let doc = serde_json::to_value(crm_api::openapi_document()).unwrap();
    let expired = crm_api::auth::TokenKeys::new(
        b"test-secret-test-secret-test-secret-0123",
        std::time::Duration::from_secs(60),
    )
    .issue_at(
        1,
        crm_domain::Role::Admin,
        chrono::Utc::now().timestamp() - 3600,
    )
    .unwrap();
    let tampered = format!("{}x", app.admin_token);
    let ops = operations(&doc);
    assert!(
        ops.iter().any(|(_, _, public)| !public),
        "some operations are guarded"
    );
    for (method, path, public) in ops {
        if public {
            continue;
        }
        let none = app
            .send(app.client.request(method.clone(), app.url(&path)))
            .await;
        assert_eq!(none.status, 401, "{method} {path} without a token");
        for token in [&expired, &tampered] {
            let reply = app.send(app.request_as(token, method.clone(), &path)).await;
            assert_eq!(reply.status, 401, "{method} {path} with a bad token");
        }
    }
}
