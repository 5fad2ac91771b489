//! Times people write: in commands (`at=13:52`, RFC 3339) and in the incident
//! form's "Started at" (`2026-01-05 14:00 UTC`). Pure; every time is UTC.

use chrono::{DateTime, NaiveDateTime, Utc};

/// A time written in a command: a full RFC 3339 instant, or a UTC time of day
/// (`13:52`), meaning its latest occurrence not after the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    At(DateTime<Utc>),
    TimeOfDay(chrono::NaiveTime),
}

impl When {
    /// The instant, for a command written at `now`.
    pub fn resolve(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            When::At(t) => t,
            When::TimeOfDay(t) => {
                let today = now.date_naive().and_time(t).and_utc();
                if today > now {
                    today - chrono::Duration::days(1)
                } else {
                    today
                }
            }
        }
    }

    /// `2026-12-01T13:52:00Z`, or `13:52` (`13:52:10`, `13:52Z`) for a time of day.
    pub fn parse(s: &str) -> Option<When> {
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
            return Some(When::At(t.with_timezone(&Utc)));
        }
        let s = s.trim_end_matches(['Z', 'z']);
        ["%H:%M", "%H:%M:%S"]
            .iter()
            .find_map(|f| chrono::NaiveTime::parse_from_str(s, f).ok())
            .map(When::TimeOfDay)
    }
}

/// The form's free-text "Started at", when it is a time Responder can read:
/// RFC 3339, `YYYY-MM-DD HH:MM[:SS] [UTC]`, or a time of day on the declaration's
/// day (the day before when that would be later than the declaration).
pub fn parse_started(text: &str, declared: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let t = text.trim();
    let t = t
        .strip_suffix("UTC")
        .or_else(|| t.strip_suffix("utc"))
        .unwrap_or(t)
        .trim();
    if let Some(w) = When::parse(t) {
        return Some(w.resolve(declared));
    }
    [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .map(|n| n.and_utc())
    .filter(|s| *s <= declared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_started_at_reads_in_the_usual_spellings() {
        let declared = DateTime::parse_from_rfc3339("2026-01-05T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let want = "2026-01-05T14:00:00+00:00";
        for s in [
            "2026-01-05 14:00 UTC",
            "2026-01-05 14:00",
            "2026-01-05T14:00:00Z",
            "14:00",
            " 14:00 UTC ",
        ] {
            assert_eq!(
                parse_started(s, declared)
                    .map(|t| t.to_rfc3339())
                    .as_deref(),
                Some(want),
                "{s:?}"
            );
        }
        assert_eq!(parse_started("this morning", declared), None);
        // After the declaration: not a start time.
        assert_eq!(parse_started("2026-01-06 14:00", declared), None);
    }
}
