//! List pages: `limit` and the opaque `cursor`, and the `{items, next_cursor}` envelope.

use crate::error::{ApiError, FieldError};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const DEFAULT_LIMIT: u64 = 50;

/// `limit` and `cursor`, shared by every list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many items, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500, example = 50)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page. Opaque; valid only with the same filters and sort.
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> Result<u64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=crm_persistence::MAX_LIMIT as i64).contains(&n) => Ok(n as u64),
            Some(n) => Err(ApiError::BadRequest {
                detail: format!("limit must be between 1 and 500, not {n}."),
                errors: vec![FieldError::new("limit", "must be between 1 and 500")],
            }),
        }
    }

    /// The cursor's content, of the shape the list wrote into it.
    pub fn cursor<K: DeserializeOwned>(&self) -> Result<Option<K>, ApiError> {
        self.cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(decode)
            .transpose()
    }
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListOf<T> {
    pub items: Vec<T>,
    /// Pass it as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

pub fn encode<K: Serialize>(key: &K) -> String {
    let json = serde_json::to_vec(key).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode<K: DeserializeOwned>(cursor: &str) -> Result<K, ApiError> {
    let bad = || ApiError::BadRequest {
        detail: "The cursor is not one this list issued; start again without it.".into(),
        errors: vec![FieldError::new("cursor", "unknown cursor")],
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

/// The envelope for `page`, with a cursor made of the last item's key.
pub fn list_of<D, T, K: Serialize>(
    page: crm_persistence::Page<D>,
    key: impl Fn(&D) -> K,
    out: impl FnMut(D) -> T,
) -> ListOf<T> {
    let next_cursor = if page.has_more {
        page.items.last().map(|last| encode(&key(last)))
    } else {
        None
    };
    ListOf {
        items: page.items.into_iter().map(out).collect(),
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let params = PageParams {
            limit: None,
            cursor: Some(encode(&("name", "Blanca", 7))),
        };
        let key: Option<(String, String, i64)> = params.cursor().unwrap();
        assert_eq!(key, Some(("name".into(), "Blanca".into(), 7)));
        let garbage = PageParams {
            limit: None,
            cursor: Some("!!".into()),
        };
        assert!(garbage.cursor::<i64>().is_err());
    }

    #[test]
    fn limits_are_bounded() {
        let at = |n| {
            PageParams {
                limit: Some(n),
                cursor: None,
            }
            .limit()
        };
        assert_eq!(at(1).unwrap(), 1);
        assert_eq!(at(500).unwrap(), 500);
        assert!(at(0).is_err());
        assert!(at(501).is_err());
        assert!(at(-1).is_err());
        assert_eq!(PageParams::default().limit().unwrap(), 50);
    }
}
