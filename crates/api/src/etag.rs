//! `ETag` from a row's version, and `If-Match` preconditions.

use crate::error::ApiError;
use actix_web::HttpRequest;
use actix_web::http::header;

pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// The version `If-Match` requires: `None` when absent or `*`. A value that is not one of
/// our tags can never match, so it fails the precondition (412).
pub fn if_match(req: &HttpRequest) -> Result<Option<i32>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let stale = || {
        ApiError::PreconditionFailed(
            "If-Match does not name the current version; read the resource again.".into(),
        )
    };
    let text = value.to_str().map_err(|_| stale())?.trim();
    if text == "*" {
        return Ok(None);
    }
    let tag = text.strip_prefix("W/").unwrap_or(text);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse::<i32>().ok())
        .map(Some)
        .ok_or_else(stale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn parse(value: Option<&str>) -> Result<Option<i32>, ApiError> {
        let mut req = TestRequest::default();
        if let Some(v) = value {
            req = req.insert_header((header::IF_MATCH, v));
        }
        if_match(&req.to_http_request())
    }

    #[test]
    fn if_match_reads_our_tags() {
        assert_eq!(parse(None).unwrap(), None);
        assert_eq!(parse(Some("*")).unwrap(), None);
        assert_eq!(parse(Some("\"3\"")).unwrap(), Some(3));
        assert_eq!(parse(Some("W/\"3\"")).unwrap(), Some(3));
        assert!(matches!(
            parse(Some("3")),
            Err(ApiError::PreconditionFailed(_))
        ));
        assert!(matches!(
            parse(Some("\"abc\"")),
            Err(ApiError::PreconditionFailed(_))
        ));
        assert_eq!(etag(7), "\"7\"");
    }
}
