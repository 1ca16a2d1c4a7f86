//! RFC 5545 iCalendar text for agenda feeds: escaping, line folding, all-day and timed events.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};

/// A timed event lasts this long; the CRM records a start only.
pub const DEFAULT_DURATION: Duration = Duration::minutes(30);

pub struct Event<'a> {
    pub uid: String,
    pub sequence: i32,
    pub date: NaiveDate,
    pub time: Option<NaiveTime>,
    pub summary: &'a str,
    pub description: &'a str,
    pub categories: &'a str,
}

/// Escapes TEXT values (RFC 5545 §3.3.11).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Folds a content line at 75 octets, never inside a UTF-8 character (§3.1), with CRLF.
pub fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

fn utc_stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The instant a local date and time falls on; in a DST gap, the first instant after it.
fn to_utc<Tz: TimeZone>(tz: &Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = date.and_time(time);
    tz.from_local_datetime(&local)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(local + Duration::hours(1)))
                .earliest()
        })
        .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
}

/// A whole calendar of `events`, with times read in `tz`.
pub fn calendar<Tz: TimeZone>(
    name: &str,
    tz: &Tz,
    now: DateTime<Utc>,
    events: &[Event<'_>],
) -> String {
    let mut out = String::new();
    for line in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//CRM tasks and history API//Agenda//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ] {
        fold(line, &mut out);
    }
    fold(&format!("X-WR-CALNAME:{}", escape(name)), &mut out);
    let stamp = utc_stamp(now);
    for e in events {
        fold("BEGIN:VEVENT", &mut out);
        fold(&format!("UID:{}", e.uid), &mut out);
        fold(&format!("DTSTAMP:{stamp}"), &mut out);
        fold(&format!("SEQUENCE:{}", e.sequence), &mut out);
        match e.time {
            Some(t) => {
                let start = to_utc(tz, e.date, t);
                fold(&format!("DTSTART:{}", utc_stamp(start)), &mut out);
                fold(
                    &format!("DTEND:{}", utc_stamp(start + DEFAULT_DURATION)),
                    &mut out,
                );
            }
            None => {
                let next = e.date.succ_opt().unwrap_or(e.date);
                fold(
                    &format!("DTSTART;VALUE=DATE:{}", e.date.format("%Y%m%d")),
                    &mut out,
                );
                fold(
                    &format!("DTEND;VALUE=DATE:{}", next.format("%Y%m%d")),
                    &mut out,
                );
            }
        }
        fold(&format!("SUMMARY:{}", escape(e.summary)), &mut out);
        fold(&format!("DESCRIPTION:{}", escape(e.description)), &mut out);
        fold(&format!("CATEGORIES:{}", escape(e.categories)), &mut out);
        fold("STATUS:CONFIRMED", &mut out);
        fold("END:VEVENT", &mut out);
    }
    fold("END:VCALENDAR", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a;b,c\\d\ne"), "a\\;b\\,c\\\\d\\ne");
    }

    #[test]
    fn long_lines_fold_at_75_octets_between_characters() {
        let mut out = String::new();
        fold(&format!("DESCRIPTION:{}", "é".repeat(100)), &mut out);
        for line in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= 75, "{} octets", line.len());
        }
        let unfolded = out.replace("\r\n ", "");
        assert_eq!(unfolded, format!("DESCRIPTION:{}\r\n", "é".repeat(100)));
    }

    #[test]
    fn timed_events_convert_to_utc_and_whole_days_are_dates() {
        let tz = chrono_tz::Europe::Madrid;
        let now = Utc::now();
        let date = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let timed = Event {
            uid: "task-1@crm".into(),
            sequence: 1,
            date,
            time: NaiveTime::from_hms_opt(9, 30, 0),
            summary: "Call – Blanca",
            description: "",
            categories: "Call",
        };
        let all_day = Event {
            uid: "task-2@crm".into(),
            time: None,
            ..timed
        };
        let text = calendar("Agenda", &tz, now, &[timed, all_day]);
        assert!(text.contains("DTSTART:20261201T083000Z\r\n"), "{text}");
        assert!(text.contains("DTEND:20261201T090000Z\r\n"));
        assert!(text.contains("DTSTART;VALUE=DATE:20261201\r\nDTEND;VALUE=DATE:20261202\r\n"));
        assert!(text.starts_with("BEGIN:VCALENDAR\r\n") && text.ends_with("END:VCALENDAR\r\n"));
    }
}
