use crate::auth::{self, Caller};
use crate::dto::OperatorOut;
use crate::error::{ApiError, Problem, Result};
use crate::state::AppState;
use crate::valid::Valid;
use actix_web::{get, post, web};
use crm_persistence::throttle;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "admin@example.com", "password": "s3cret-passphrase"}))]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send it as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    #[schema(example = 3600)]
    pub expires_in: u64,
    pub operator: OperatorOut,
}

/// Exchange email and password for an access token.
#[utoipa::path(
    tag = "auth",
    security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 401, description = "Wrong email or password, or a deactivated operator", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Five failed logins for this email: locked for five minutes", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until the next attempt"))),
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    body: Valid<LoginRequest>,
) -> Result<web::Json<LoginResponse>> {
    let LoginRequest { email, password } = body.into_inner();
    let email = email.trim().to_lowercase();
    let wrong = || ApiError::Unauthorized("Wrong email or password.".into());
    if email.contains('\0') || password.contains('\0') || email.len() > 254 || password.len() > 1024
    {
        return Err(wrong());
    }
    let now = crm_persistence::now();
    if let Some(retry_after) = throttle::locked_for(&state.db, &email, now).await? {
        return Err(ApiError::TooManyRequests {
            retry_after,
            detail: format!(
                "Too many failed logins for this email; try again in {retry_after} seconds."
            ),
        });
    }
    let found = crm_persistence::operators::find_credentials(&state.db, &email).await?;
    let verified = match found {
        Some((operator, hash)) => {
            let ok = web::block(move || auth::verify_password(&password, &hash))
                .await
                .map_err(ApiError::internal)?;
            ok.then_some(operator)
        }
        None => {
            web::block(move || auth::verify_decoy(&password))
                .await
                .map_err(ApiError::internal)?;
            None
        }
    };
    let Some(operator) = verified else {
        throttle::record_failure(&state.db, &email, now).await?;
        return Err(wrong());
    };
    throttle::reset(&state.db, &email).await?;
    if !operator.active {
        return Err(ApiError::Unauthorized(
            "This operator has been deactivated.".into(),
        ));
    }
    let access_token = state.tokens.issue(operator.id, operator.role)?;
    Ok(web::Json(LoginResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.tokens.ttl.as_secs(),
        operator: operator.into(),
    }))
}

/// The operator the token belongs to.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, description = "The caller", body = OperatorOut),
    )
)]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, caller: Caller) -> Result<web::Json<OperatorOut>> {
    let operator = crm_persistence::operators::get(&state.db, caller.id)
        .await
        .map_err(|e| match e {
            crm_persistence::StoreError::NotFound => {
                ApiError::Unauthorized("The token's operator no longer exists.".into())
            }
            other => other.into(),
        })?;
    Ok(web::Json(operator.into()))
}
