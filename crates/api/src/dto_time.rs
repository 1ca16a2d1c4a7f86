//! `HH:MM` times, as the contract writes them; days and instants written as chrono writes
//! them, without its formatting machinery.
//!
//! chrono serializes through `core::fmt` (and `HH:MM` through a parsed `strftime` pattern):
//! a tenth of the server's time on a page of 50 tasks went there. Here the digits are put
//! in a small buffer; years outside 0 to 9999 and leap seconds, which chrono writes in
//! other forms, are left to chrono.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
            Some(t) => {
                let mut out = *b"00:00";
                digits(&mut out[0..2], t.hour());
                digits(&mut out[3..5], t.minute());
                s.serialize_str(ascii(&out))
            }
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

/// `n`'s last `out.len()` decimal digits, zero-padded.
fn digits(out: &mut [u8], mut n: u32) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

fn ascii(out: &[u8]) -> &str {
    // Only digits and separators are written.
    std::str::from_utf8(out).unwrap_or_default()
}

/// `YYYY-MM-DD` into `out[..10]`; false for a year outside 0 to 9999.
fn write_day(out: &mut [u8], d: NaiveDate) -> bool {
    let Ok(year @ 0..=9999) = u32::try_from(d.year()) else {
        return false;
    };
    digits(&mut out[0..4], year);
    out[4] = b'-';
    digits(&mut out[5..7], d.month());
    out[7] = b'-';
    digits(&mut out[8..10], d.day());
    true
}

/// The instant as chrono's `Serialize` writes it (RFC 3339, `Z`, as many fraction digits
/// as needed: none, 3, 6 or 9); `None` where chrono's own writing is needed.
fn write_instant(out: &mut [u8; 30], t: &DateTime<Utc>) -> Option<usize> {
    let t = t.naive_utc();
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 || !write_day(out, t.date()) {
        return None;
    }
    out[10] = b'T';
    digits(&mut out[11..13], t.hour());
    out[13] = b':';
    digits(&mut out[14..16], t.minute());
    out[16] = b':';
    digits(&mut out[17..19], t.second());
    let (fraction, width) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    let mut len = 19;
    if width > 0 {
        out[19] = b'.';
        digits(&mut out[20..20 + width], fraction);
        len = 20 + width;
    }
    out[len] = b'Z';
    Some(len + 1)
}

/// `#[serde(serialize_with = "dto_time::day")]` for a `NaiveDate`.
pub fn day<S: Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
    let mut out = [0u8; 10];
    if write_day(&mut out, *d) {
        s.serialize_str(ascii(&out))
    } else {
        d.serialize(s)
    }
}

/// `#[serde(serialize_with = "dto_time::instant")]` for a `DateTime<Utc>`.
pub fn instant<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut out = [0u8; 30];
    match write_instant(&mut out, t) {
        Some(len) => s.serialize_str(ascii(&out[..len])),
        None => t.serialize(s),
    }
}

/// `#[serde(serialize_with = "dto_time::opt_instant")]` for an `Option<DateTime<Utc>>`.
pub fn opt_instant<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => instant(t, s),
        None => s.serialize_none(),
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
    use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Timelike, Utc};
    use serde::Serialize;

    #[derive(Serialize)]
    struct Written {
        #[serde(serialize_with = "super::day")]
        day: NaiveDate,
        #[serde(serialize_with = "super::instant")]
        instant: DateTime<Utc>,
        #[serde(serialize_with = "super::opt_instant")]
        none: Option<DateTime<Utc>>,
        #[serde(with = "super::opt")]
        time: Option<NaiveTime>,
    }

    #[derive(Serialize)]
    struct ByChrono {
        day: NaiveDate,
        instant: DateTime<Utc>,
        none: Option<DateTime<Utc>>,
        time: Option<String>,
    }

    /// Days and instants are written exactly as chrono writes them, fractions of a second,
    /// far years and leap seconds included.
    #[test]
    fn days_and_instants_are_written_as_chrono_writes_them() {
        let base = DateTime::parse_from_rfc3339("2026-11-26T09:05:03Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap();
        let mut instants = vec![
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            DateTime::parse_from_rfc3339("0000-01-01T00:00:00Z")
                .unwrap()
                .to_utc(),
            DateTime::parse_from_rfc3339("9999-12-31T23:59:59.999999999Z")
                .unwrap()
                .to_utc(),
            DateTime::parse_from_rfc3339("2016-12-31T23:59:60.5Z")
                .unwrap()
                .to_utc(),
        ];
        for nanos in [
            0,
            1,
            10,
            1_000,
            120_000,
            1_000_000,
            5_000_000,
            123_456_789,
            999_999_999,
        ] {
            for days in [-800_000, -1, 0, 1, 45, 365 * 3000] {
                instants.push(base + Duration::days(days) + Duration::nanoseconds(nanos));
            }
        }
        for t in instants {
            let time = Some(t.time().with_nanosecond(0).unwrap_or(t.time()));
            let ours = serde_json::to_string(&Written {
                day: t.date_naive(),
                instant: t,
                none: None,
                time,
            })
            .unwrap();
            let theirs = serde_json::to_string(&ByChrono {
                day: t.date_naive(),
                instant: t,
                none: None,
                time: time.map(|t| t.format("%H:%M").to_string()),
            })
            .unwrap();
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn times_are_strictly_hh_mm() {
        assert!(super::parse("09:30").is_some());
        assert!(super::parse("23:59").is_some());
        for bad in ["9:30", "24:00", "09:30:00", "09h30", ""] {
            assert!(super::parse(bad).is_none(), "{bad}");
        }
    }
}
