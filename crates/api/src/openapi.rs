//! The OpenAPI document: generated from the handlers, completed with the error responses
//! every operation shares, and turned into the route table that answers 405.

use crate::error::{FieldError, Problem};
use actix_web::http::Method;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "CRM tasks & history API",
        version = "1.0.0",
        description = "Plan and record every interaction with a customer: tasks, notes, outcomes, \
follow-up chains, agendas and a per-customer timeline.\n\n\
Log in with `POST /api/v1/auth/login`, then send `Authorization: Bearer <access_token>` \
(Swagger UI: the Authorize button).\n\n\
Errors are RFC 9457 `application/problem+json` documents whose `type` is stable: 400 malformed \
JSON, query or path; 401 missing, bad or expired token; 403 not allowed; 404 unknown id; \
409 state conflict; 412 `If-Match` mismatch; 413 body too large; 415 not JSON; 422 well-formed \
but breaks a rule (`errors` lists the fields); 503 database unavailable.\n\n\
Lists are `{\"items\": [...], \"next_cursor\": \"...\" | null}`; pass `next_cursor` back as \
`cursor` for the next page. `limit` is 1 to 500 (default 50)."
    ),
    modifiers(&BearerAuth),
    security(("bearer_auth" = [])),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "auth", description = "Logging in and the current operator"),
        (name = "settings", description = "Teams, operators, task types, outcomes, tags and settings: everyone reads, admins write"),
        (name = "customers", description = "Customer records; each change is recorded in the customer's timeline"),
        (name = "tasks", description = "Tasks and notes: create, edit while planned, Next (close, close with a note, continue), copy, reopen, take in charge, chains. Never deleted."),
        (name = "agenda", description = "Dashboard, agendas, the iCalendar feed and outcome reports"),
        (name = "timeline", description = "A customer's history: messages, forwarded email, calls, documents, and every closed task, note and change"),
        (name = "operations", description = "Liveness and readiness probes"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer_auth",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The base document: info, security scheme, shared schemas.
pub fn base() -> Document {
    ApiDoc::openapi()
}

/// Shared error responses, by status and component name.
const SHARED: [(&str, &str, &str); 6] = [
    (
        "400",
        "BadRequest",
        "Malformed JSON, query string or path parameter",
    ),
    (
        "401",
        "Unauthorized",
        "Missing, malformed, tampered or expired bearer token",
    ),
    ("413", "PayloadTooLarge", "The body is larger than 1 MiB"),
    (
        "415",
        "UnsupportedMediaType",
        "The body is not sent as application/json",
    ),
    (
        "422",
        "ValidationFailed",
        "Well-formed, but breaks a rule; `errors` lists the fields",
    ),
    (
        "503",
        "ServiceUnavailable",
        "The database is unavailable; retry after the `Retry-After` seconds",
    ),
];

fn problem_response(description: &str) -> Response {
    let mut response = Response::new(description);
    response.content.insert(
        "application/problem+json".to_owned(),
        RefOr::T(Content::new(Some(Ref::from_schema_name("Problem")))),
    );
    response
}

fn is_public(op: &Operation) -> bool {
    op.security
        .as_ref()
        .and_then(|s| serde_json::to_value(s).ok())
        .is_some_and(|v| v == serde_json::json!([{}]))
}

/// Adds the error responses that follow from an operation's shape, so that each one
/// documents every status it can return without repeating them in every handler.
fn add_shared_responses(doc: &mut Document) {
    let components = doc.components.get_or_insert_with(Default::default);
    for (_, name, description) in SHARED {
        components
            .responses
            .insert(name.to_owned(), RefOr::T(problem_response(description)));
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let touches_db = path != "/healthz";
        for op in operations_mut(item) {
            let has_input =
                op.request_body.is_some() || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let mut wanted = Vec::new();
            if has_input {
                wanted.push("400");
            }
            if !is_public(op) {
                wanted.push("401");
            }
            if op.request_body.is_some() {
                wanted.extend(["413", "415", "422"]);
            }
            if touches_db {
                wanted.push("503");
            }
            for (status, name, _) in SHARED.iter().filter(|(s, _, _)| wanted.contains(s)) {
                op.responses
                    .responses
                    .entry((*status).to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
            }
        }
    }
}

fn operations_mut(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Operation ids from method and path (`getTasksById`, `postTasksNextById`): unique by
/// construction, where handler names (`list`, `create`) repeat across resources.
fn name_operations(doc: &mut Document) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let mut words = String::new();
        let mut by_id = false;
        for segment in path
            .trim_start_matches("/api/v1")
            .split('/')
            .filter(|s| !s.is_empty())
        {
            if segment.starts_with('{') {
                by_id = true;
                continue;
            }
            for word in segment.split(['-', '.', '_']) {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    words.extend(first.to_uppercase());
                    words.push_str(chars.as_str());
                }
            }
        }
        let suffix = if by_id { "ById" } else { "" };
        for (method, op) in [
            ("get", item.get.as_mut()),
            ("post", item.post.as_mut()),
            ("put", item.put.as_mut()),
            ("patch", item.patch.as_mut()),
            ("delete", item.delete.as_mut()),
        ] {
            if let Some(op) = op {
                op.operation_id = Some(format!("{method}{words}{suffix}"));
            }
        }
    }
}

/// Completes a document collected from the routes.
pub fn finish(mut doc: Document) -> Document {
    add_shared_responses(&mut doc);
    name_operations(&mut doc);
    doc
}

/// The document as committed in `openapi/openapi.json`: pretty JSON with a final newline.
pub fn to_pretty_json(doc: &Document) -> String {
    let mut json = doc
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    json.push('\n');
    json
}

/// Every documented path with the methods it answers, to tell 405 from 404.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<(Vec<Segment>, Vec<Method>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
}

impl RouteTable {
    pub fn from_document(doc: &Document) -> Self {
        let mut table = RouteTable::default();
        for (path, item) in &doc.paths.paths {
            // An operation documented only to refuse (DELETE on tasks) is not allowed.
            let answers = |op: &Option<Operation>| {
                op.as_ref()
                    .is_some_and(|op| op.responses.responses.keys().any(|s| s.starts_with('2')))
            };
            let methods = [
                (answers(&item.get), Method::GET),
                (answers(&item.put), Method::PUT),
                (answers(&item.post), Method::POST),
                (answers(&item.delete), Method::DELETE),
                (answers(&item.patch), Method::PATCH),
            ]
            .into_iter()
            .filter_map(|(present, m)| present.then_some(m))
            .collect();
            table.add(path, methods);
        }
        table
    }

    pub fn add(&mut self, path: &str, methods: Vec<Method>) {
        let segments = path
            .split('/')
            .map(|s| {
                if s.starts_with('{') && s.ends_with('}') {
                    Segment::Param
                } else {
                    Segment::Literal(s.to_owned())
                }
            })
            .collect();
        self.routes.push((segments, methods));
    }

    /// The methods `path` answers, or `None` for an unknown path.
    pub fn allowed(&self, path: &str) -> Option<Vec<Method>> {
        let parts: Vec<&str> = path.split('/').collect();
        let mut found: Option<Vec<Method>> = None;
        for (segments, methods) in &self.routes {
            let matches = segments.len() == parts.len()
                && segments.iter().zip(&parts).all(|(s, p)| match s {
                    Segment::Literal(l) => l == p,
                    Segment::Param => !p.is_empty(),
                });
            if matches {
                found
                    .get_or_insert_with(Vec::new)
                    .extend(methods.iter().cloned());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table_matches_templates() {
        let mut t = RouteTable::default();
        t.add("/api/v1/tasks/{id}", vec![Method::GET, Method::PATCH]);
        t.add("/api/v1/tasks/{id}/next", vec![Method::POST]);
        assert_eq!(
            t.allowed("/api/v1/tasks/7"),
            Some(vec![Method::GET, Method::PATCH])
        );
        assert_eq!(t.allowed("/api/v1/tasks/7/next"), Some(vec![Method::POST]));
        assert_eq!(t.allowed("/api/v1/tasks/7/other"), None);
        assert_eq!(t.allowed("/api/v1/tasks//next"), None);
    }
}
