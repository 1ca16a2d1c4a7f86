//! `HH:MM` times, as the contract writes them.

use chrono::NaiveTime;
use serde::{Deserialize, Deserializer, Serializer};

const FORMAT: &str = "%H:%M";

pub fn parse(s: &str) -> Option<NaiveTime> {
    if s.len() != 5 {
        return None;
    }
    NaiveTime::parse_from_str(s, FORMAT).ok()
}

pub mod opt {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<NaiveTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&t.format(FORMAT).to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveTime>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => parse(&s).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("'{s}' is not a time written HH:MM"))
            }),
        }
    }
}

/// For PATCH: absent leaves the time alone, `null` clears it.
pub mod patch {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<NaiveTime>>, D::Error> {
        opt::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_strictly_hh_mm() {
        assert!(super::parse("09:30").is_some());
        assert!(super::parse("23:59").is_some());
        for bad in ["9:30", "24:00", "09:30:00", "09h30", ""] {
            assert!(super::parse(bad).is_none(), "{bad}");
        }
    }
}
