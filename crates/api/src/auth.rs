//! Passwords (argon2id), access tokens (HS256 JWT) and the `Caller` extractor.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, http::header, web};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use crm_domain::Role;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

/// Hashes a password to a salted argon2id PHC string.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("password hashing failed: {e}")))
}

/// A hash of a password nobody has, verified when the email is unknown so that a login
/// takes as long whether or not the account exists.
static DECOY_HASH: LazyLock<Option<String>> =
    LazyLock::new(|| hash_password("decoy password, never valid").ok());

/// True when `password` matches `hash`; false for any mismatch or unreadable hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Spends the time of one verification, for unknown accounts.
pub fn verify_decoy(password: &str) {
    if let Some(hash) = DECOY_HASH.as_deref() {
        let _ = verify_password(password, hash);
    }
}

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The operator's id.
    pub sub: String,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
}

/// How many verified tokens [`TokenKeys`] remembers; past that it forgets them all and
/// starts again.
const VERIFIED_MAX: usize = 1024;

/// Verified tokens, each with its caller and expiry (seconds since the epoch).
type Verified = HashMap<Box<str>, (Caller, u64)>;

/// Signs and checks access tokens with one HS256 key.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub ttl: Duration,
    /// Tokens this key has verified, with their caller and expiry. A token's signature and
    /// claims do not change, so its verification is done once (decoding, the signature and
    /// the claims' JSON were a twelfth of the server's CPU on GET a task); each use still
    /// checks the expiry, by the same rule as the first check.
    verified: Arc<Mutex<Verified>>,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            verified: Arc::default(),
        }
    }

    /// A token for `operator_id` that expires after the configured time, issued at `now`.
    pub fn issue_at(&self, operator_id: i64, role: Role, now: i64) -> Result<String, ApiError> {
        let claims = Claims {
            sub: operator_id.to_string(),
            role: role.as_str().to_owned(),
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal(format!("token signing failed: {e}")))
    }

    pub fn issue(&self, operator_id: i64, role: Role) -> Result<String, ApiError> {
        self.issue_at(operator_id, role, chrono::Utc::now().timestamp())
    }

    /// The caller named by a valid, unexpired token.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        self.verify_at(token, jsonwebtoken::get_current_timestamp())
    }

    /// [`TokenKeys::verify`] at `now` (seconds since the epoch) for a token verified
    /// before; a new token is checked against the clock by `jsonwebtoken`.
    fn verify_at(&self, token: &str, now: u64) -> Result<Caller, ApiError> {
        let known = self.verified().get(token).copied();
        if let Some((caller, exp)) = known {
            // `jsonwebtoken`'s rule: expired when `exp < now - leeway`.
            if exp.saturating_add(self.validation.leeway) >= now {
                return Ok(caller);
            }
            self.verified().remove(token);
            return Err(expired());
        }
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => expired(),
                _ => ApiError::Unauthorized("The access token is not valid.".into()),
            })?;
        let invalid = || ApiError::Unauthorized("The access token is not valid.".into());
        let id = data.claims.sub.parse::<i64>().map_err(|_| invalid())?;
        let role = data.claims.role.parse::<Role>().map_err(|_| invalid())?;
        let exp = u64::try_from(data.claims.exp).map_err(|_| invalid())?;
        let caller = Caller { id, role };
        let mut verified = self.verified();
        if verified.len() >= VERIFIED_MAX {
            verified.clear();
        }
        verified.insert(token.into(), (caller, exp));
        Ok(caller)
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, Verified> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn expired() -> ApiError {
    ApiError::Unauthorized("The access token has expired; log in again.".into())
}

/// The authenticated operator making the request. Extracting it answers 401 when the
/// `Authorization: Bearer` token is missing, malformed, tampered with or expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub id: i64,
    pub role: Role,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role.is_admin()
    }

    /// Admin-only actions answer 403 for everyone else.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "Only administrators may change this.".into(),
            ))
        }
    }
}

/// An administrator making the request: 401 as for [`Caller`], then 403 for everyone else,
/// before the body is read, so a non-admin learns nothing from validation errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admin(pub Caller);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let result = Caller::from_request(req, payload)
            .into_inner()
            .and_then(|caller| caller.require_admin().map(|()| Admin(caller)));
        ready(result)
    }
}

/// The token in `Authorization: Bearer <token>`, if the header has that form.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = (|| {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::internal("application state missing"))?;
            let token = bearer_token(req).ok_or_else(|| {
                ApiError::Unauthorized(
                    "This operation needs an 'Authorization: Bearer <token>' header; get a token from POST /api/v1/auth/login.".into(),
                )
            })?;
            state.tokens.verify(token)
        })();
        ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(
            b"0123456789abcdef0123456789abcdef",
            Duration::from_secs(3600),
        )
    }

    #[test]
    fn passwords_hash_with_salt_and_verify() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert_ne!(a, b, "each hash has its own salt");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &a));
        assert!(!verify_password("battery staple", &a));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn tokens_round_trip_subject_and_role() {
        let token = keys().issue(42, Role::Admin).unwrap();
        assert_eq!(
            keys().verify(&token).unwrap(),
            Caller {
                id: 42,
                role: Role::Admin
            }
        );
    }

    #[test]
    fn expired_tokens_are_refused() {
        let long_ago = chrono::Utc::now().timestamp() - 7200;
        let token = keys().issue_at(42, Role::Operator, long_ago).unwrap();
        let err = keys().verify(&token).unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
    }

    #[test]
    fn a_verified_token_is_remembered_until_it_expires() {
        let keys = keys();
        let issued = chrono::Utc::now().timestamp();
        let token = keys.issue_at(7, Role::Operator, issued).unwrap();
        let caller = Caller {
            id: 7,
            role: Role::Operator,
        };
        assert_eq!(keys.verify(&token).unwrap(), caller);
        assert_eq!(keys.verified().len(), 1);
        // The expiry, and the last second the leeway allows, as for a token seen first.
        let exp = u64::try_from(issued + 3600).unwrap();
        assert_eq!(keys.verify_at(&token, exp).unwrap(), caller);
        assert_eq!(keys.verify_at(&token, exp + 5).unwrap(), caller);
        let err = keys.verify_at(&token, exp + 6).unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        assert!(keys.verified().is_empty(), "an expired token is forgotten");

        // Another key never takes this key's tokens for its own.
        assert!(keys.verify(&token).is_ok());
        let other = TokenKeys::new(
            b"another secret another secret 123",
            Duration::from_secs(60),
        );
        assert!(other.verify(&token).is_err());
        // Nor does a token refused once get remembered.
        assert!(other.verified().is_empty());
    }

    #[test]
    fn remembered_tokens_are_bounded() {
        let keys = keys();
        for id in 0..=VERIFIED_MAX as i64 {
            let token = keys.issue(id, Role::Operator).unwrap();
            assert_eq!(keys.verify(&token).unwrap().id, id);
            assert!(keys.verified().len() <= VERIFIED_MAX);
        }
        assert_eq!(
            keys.verified().len(),
            1,
            "cleared when full, then the last one"
        );
    }

    #[test]
    fn tampered_tokens_are_refused() {
        let token = keys().issue(42, Role::Operator).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        // Claim to be an admin without re-signing.
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = String::from_utf8(engine.decode(&parts[1]).unwrap()).unwrap();
        parts[1] = engine.encode(payload.replace("operator", "admin"));
        assert!(keys().verify(&parts.join(".")).is_err());

        let other = TokenKeys::new(
            b"another secret another secret 123",
            Duration::from_secs(60),
        );
        assert!(other.verify(&token).is_err());
        assert!(keys().verify("not.a.token").is_err());
    }
}
