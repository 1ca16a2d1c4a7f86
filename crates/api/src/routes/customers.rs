use super::{IdPath, created};
use crate::auth::Caller;
use crate::dto::double_option;
use crate::error::{ApiError, FieldError, Problem, Result};
use crate::etag::{etag, if_match};
use crate::paging::{ListOf, PageParams, list_of};
use crate::state::AppState;
use crate::valid::{self, Valid, parsed};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use crm_domain::{Customer, CustomerPatch, Email, Name, Phone};
use crm_persistence::customers::{self, CustomerKey, CustomerQuery, CustomerSort, NewCustomer};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Customer, example = json!({
    "id": 12, "name": "Blanca Ruiz", "email": "blanca@example.com", "phone": "+34 600 123 456",
    "consultant_id": 3, "archive_code": "V1StGXR8_Z5jdHi6B-myTV1StGXR8_Z5",
    "archive_address": "V1StGXR8_Z5jdHi6B-myTV1StGXR8_Z5@archive.localhost",
    "created_at": "2026-11-23T09:30:00Z", "updated_at": "2026-11-23T09:30:00Z", "version": 1
}))]
pub struct CustomerOut {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The operator who looks after this customer; new tasks default to them.
    pub consultant_id: Option<i64>,
    /// The secret code of the archive address; `POST /api/v1/inbound/email/{archive_code}`.
    pub archive_code: String,
    /// Email forwarded to this address lands in the customer's timeline.
    pub archive_address: String,
    #[serde(serialize_with = "crate::dto_time::instant")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::dto_time::instant")]
    pub updated_at: DateTime<Utc>,
    /// Increases with every change; sent as the `ETag`.
    pub version: i32,
}

impl CustomerOut {
    fn new(c: Customer, archive_domain: &str) -> Self {
        Self {
            archive_address: format!("{}@{archive_domain}", c.archive_code),
            id: c.id,
            name: c.name,
            email: c.email,
            phone: c.phone,
            consultant_id: c.consultant_id,
            archive_code: c.archive_code,
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Blanca Ruiz", "email": "blanca@example.com", "phone": "+34 600 123 456", "consultant_id": 3}))]
pub struct NewCustomerIn {
    #[validate(custom(function = "valid::name"))]
    pub name: String,
    #[validate(custom(function = "valid::email"))]
    pub email: Option<String>,
    #[validate(custom(function = "valid::phone"))]
    pub phone: Option<String>,
    /// An active operator.
    #[validate(custom(function = "valid::id"))]
    pub consultant_id: Option<i64>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"phone": "+34 600 999 999", "consultant_id": 5}))]
pub struct CustomerChangesIn {
    #[validate(custom(function = "valid::name"))]
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// An active operator; `null` leaves the customer without a consultant.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub consultant_id: Option<Option<i64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub enum CustomerSortParam {
    #[serde(rename = "name")]
    Name,
    #[serde(rename = "-name")]
    NameDesc,
    #[serde(rename = "created_at")]
    CreatedAt,
    #[serde(rename = "-created_at")]
    CreatedAtDesc,
    #[serde(rename = "id")]
    Id,
    #[serde(rename = "-id")]
    IdDesc,
}

impl CustomerSortParam {
    fn split(self) -> (CustomerSort, bool) {
        match self {
            Self::Name => (CustomerSort::Name, false),
            Self::NameDesc => (CustomerSort::Name, true),
            Self::CreatedAt => (CustomerSort::CreatedAt, false),
            Self::CreatedAtDesc => (CustomerSort::CreatedAt, true),
            Self::Id => (CustomerSort::Id, false),
            Self::IdDesc => (CustomerSort::Id, true),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerFilter {
    /// Case-insensitive text found in the name, email or phone.
    pub q: Option<String>,
    /// Only customers of this consultant.
    pub consultant_id: Option<i64>,
    /// Order: `name` (default), `created_at` or `id`; `-` for descending. Ties go by id.
    #[param(inline)]
    pub sort: Option<CustomerSortParam>,
}

/// Where a page ended; carries its sort so it cannot be replayed under another.
#[derive(Debug, Serialize, Deserialize)]
struct CustomerCursor {
    sort: CustomerSortParam,
    name: Option<String>,
    at: Option<DateTime<Utc>>,
    id: i64,
}

fn cursor_of(c: &Customer, sort: CustomerSortParam) -> CustomerCursor {
    let (by, _) = sort.split();
    CustomerCursor {
        sort,
        name: (by == CustomerSort::Name).then(|| c.name.clone()),
        at: (by == CustomerSort::CreatedAt).then_some(c.created_at),
        id: c.id,
    }
}

fn key_of(cursor: CustomerCursor, sort: CustomerSortParam) -> Result<CustomerKey> {
    let bad = || ApiError::BadRequest {
        detail: "The cursor belongs to another sort order; start again without it.".into(),
        errors: vec![FieldError::new("cursor", "issued for another sort")],
    };
    if cursor.sort != sort {
        return Err(bad());
    }
    match (sort.split().0, cursor.name, cursor.at) {
        (CustomerSort::Name, Some(name), _) => Ok(CustomerKey::Name(name, cursor.id)),
        (CustomerSort::CreatedAt, _, Some(at)) => Ok(CustomerKey::CreatedAt(at, cursor.id)),
        (CustomerSort::Id, _, _) => Ok(CustomerKey::Id(cursor.id)),
        _ => Err(bad()),
    }
}

fn with_etag(c: Customer, state: &AppState) -> HttpResponse {
    let version = c.version;
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag(version)))
        .json(CustomerOut::new(c, &state.archive_domain))
}

/// Search and list customers.
#[utoipa::path(tag = "customers", params(PageParams, CustomerFilter),
    responses((status = 200, body = ListOf<CustomerOut>)))]
#[get("/customers")]
pub async fn list(
    state: web::Data<AppState>,
    _: Caller,
    page: web::Query<PageParams>,
    filter: web::Query<CustomerFilter>,
) -> Result<web::Json<ListOf<CustomerOut>>> {
    let filter = filter.into_inner();
    let sort = filter.sort.unwrap_or(CustomerSortParam::Name);
    let (by, descending) = sort.split();
    if filter
        .q
        .as_deref()
        .is_some_and(|q| q.contains('\0') || q.chars().count() > 200)
    {
        return Err(ApiError::BadRequest {
            detail: "q must be at most 200 characters, without NUL.".into(),
            errors: vec![FieldError::new("q", "at most 200 characters, without NUL")],
        });
    }
    let after = page
        .cursor::<CustomerCursor>()?
        .map(|c| key_of(c, sort))
        .transpose()?;
    let query = CustomerQuery {
        q: filter.q,
        consultant_id: filter.consultant_id,
        sort: by,
        descending,
        after,
        limit: page.limit()?,
    };
    let found = customers::list(&state.reader(), query).await?;
    let domain = state.archive_domain.clone();
    Ok(web::Json(list_of(
        found,
        |c| cursor_of(c, sort),
        |c| CustomerOut::new(c, &domain),
    )))
}

/// Create a customer; it gets its own archive address.
#[utoipa::path(tag = "customers", request_body = NewCustomerIn, responses(
    (status = 201, body = CustomerOut, headers(("Location" = String, description = "The new customer's URL"), ("ETag" = String, description = "The version")))))]
#[post("/customers")]
pub async fn create(
    state: web::Data<AppState>,
    _: Caller,
    body: Valid<NewCustomerIn>,
) -> Result<HttpResponse> {
    let b = body.into_inner();
    let new = NewCustomer {
        name: parsed("name", Name::parse(&b.name))?.into_inner(),
        email: b
            .email
            .as_deref()
            .map(|e| parsed("email", Email::parse(e)).map(Email::into_inner))
            .transpose()?,
        phone: b
            .phone
            .as_deref()
            .map(|p| parsed("phone", Phone::parse(p)).map(Phone::into_inner))
            .transpose()?,
        consultant_id: b.consultant_id,
    };
    let saved = customers::create(&state.db, new).await?;
    let mut response = created(
        format!("/api/v1/customers/{}", saved.id),
        CustomerOut::new(saved.clone(), &state.archive_domain),
    );
    if let Ok(v) = header::HeaderValue::from_str(&etag(saved.version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    Ok(response)
}

/// Read a customer.
#[utoipa::path(tag = "customers", params(("id" = i64, Path, description = "Customer id")), responses(
    (status = 200, body = CustomerOut, headers(("ETag" = String, description = "The version"))),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such customer")))]
#[get("/customers/{id}")]
pub async fn read(state: web::Data<AppState>, _: Caller, id: IdPath) -> Result<HttpResponse> {
    Ok(with_etag(
        customers::get(&state.db, id.into_inner()).await?,
        &state,
    ))
}

/// Change a customer. Each changed field is recorded in the timeline with its old and new value.
#[utoipa::path(tag = "customers", params(("id" = i64, Path, description = "Customer id"),
        ("If-Match" = Option<String>, Header, description = "The ETag read; the change fails with 412 if the customer changed since", pattern = r#"^(\*|(W/)?"[0-9]+")$"#)),
    request_body = CustomerChangesIn, responses(
    (status = 200, body = CustomerOut, headers(("ETag" = String, description = "The new version"))),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such customer"),
    (status = 412, body = Problem, content_type = "application/problem+json", description = "If-Match names an older version")))]
#[patch("/customers/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: IdPath,
    body: Valid<CustomerChangesIn>,
) -> Result<HttpResponse> {
    let expected = if_match(&req)?;
    let c = body.into_inner();
    let text = |field: &str,
                v: Option<Option<String>>,
                parse: fn(&str) -> Result<String, crm_domain::InvalidText>|
     -> Result<Option<Option<String>>> {
        match v {
            Some(Some(s)) => Ok(Some(Some(parsed(field, parse(&s))?))),
            other => Ok(other),
        }
    };
    if let Some(Some(id)) = c.consultant_id {
        valid::id(id)
            .map_err(|_| ApiError::invalid_field("consultant_id", "must be a positive id"))?;
    }
    let patch = CustomerPatch {
        name: c
            .name
            .as_deref()
            .map(|n| parsed("name", Name::parse(n)).map(Name::into_inner))
            .transpose()?,
        email: text("email", c.email, |s| Email::parse(s).map(Email::into_inner))?,
        phone: text("phone", c.phone, |s| Phone::parse(s).map(Phone::into_inner))?,
        consultant_id: c.consultant_id,
    };
    let saved = customers::update(&state.db, id.into_inner(), patch, caller.id, expected).await?;
    Ok(with_etag(saved, &state))
}
